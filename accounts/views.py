from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.forms import LanguageForm, MySettingsForm
from accounts.permissions import capabilities_of


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/home.html", {"capabilities": sorted(capabilities_of(request.user))})


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """The language switch. A signed-in user's choice is saved on their profile (it follows them to
    any machine); for the login page it is kept in the language cookie."""
    form = LanguageForm(request.POST)
    target = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/"
    response = HttpResponseRedirect(target)
    if form.is_valid():
        language = form.cleaned_data["language"]
        if request.user.is_authenticated:
            request.user.language = language
            request.user.save(update_fields=["language"])
        response.set_cookie("django_language", language, max_age=365 * 24 * 3600, samesite="Lax")
    return response


@login_required
@require_http_methods(["GET", "POST"])
def my_settings(request: HttpRequest) -> HttpResponse:
    """The signed-in user's own language and time zone (admins set them for others in the user admin)."""
    form = MySettingsForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        # The confirmation is read on the next page, in the language and zone just chosen.
        translation.activate(user.language)
        timezone.activate(user.zone)
        messages.success(request, _("Your settings are saved."))
        response = redirect("my_settings")
        response.set_cookie("django_language", user.language, max_age=365 * 24 * 3600, samesite="Lax")
        return response
    return render(
        request,
        "accounts/my_settings.html",
        {"form": form, "now": timezone.now(), "zone": timezone.get_current_timezone_name()},
    )
