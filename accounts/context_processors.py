from accounts.navigation import navigation_for


def navigation(request):
    user = getattr(request, "user", None)
    if user is None:
        return {}
    return {"nav_items": navigation_for(user)}
