from django.utils.functional import SimpleLazyObject

from accounts.navigation import navigation_for


def navigation(request):
    """The navigation bar's entries, built when a template shows them: base.html does, once per page; a
    fragment rendered with the request (a case page panel, an HTMX answer) runs the context processors
    too, and never shows them."""
    user = getattr(request, "user", None)
    if user is None:
        return {}
    return {"nav_items": SimpleLazyObject(lambda: navigation_for(user))}
