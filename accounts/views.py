from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from accounts import oidc, two_factor
from accounts.forms import LanguageForm, MySettingsForm
from accounts.lockout import lockout_response
from accounts.permissions import capabilities_of


class SignInView(auth_views.LoginView):
    """The sign-in page: the password form and, when single sign-on is configured (accounts.oidc), the
    provider's button. With OIDC_ONLY the button alone, and a password posted anyway is refused before
    it is checked (so it is not counted towards a lockout either)."""

    template_name = "accounts/login.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["sso_enabled"] = oidc.oidc_enabled()
        context["sso_provider"] = oidc.provider_name() if context["sso_enabled"] else ""
        context["password_sign_in"] = not oidc.password_sign_in_closed()
        return context

    def post(self, request, *args, **kwargs):
        if oidc.password_sign_in_closed():
            context = self.get_context_data(
                password_closed=_("Sign in with %(provider)s: passwords are not accepted here.")
                % {"provider": oidc.provider_name()}
            )
            return self.render_to_response(context, status=403)
        return super().post(request, *args, **kwargs)


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


# --- The second factor (accounts.two_factor) ------------------------------------------------------


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return resolve_url(settings.LOGIN_REDIRECT_URL)
    return target


def _code_of(request: HttpRequest) -> str:
    return (request.POST.get("code") or "")[:64]


def _locked_out(request: HttpRequest) -> HttpResponse:
    """The lockout page, signed out: the password must be given again once the lockout ends."""
    logout(request)
    return lockout_response(request)


@login_required
@require_http_methods(["GET", "POST"])
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    """The second step of signing in: a code from the authenticator app, or a recovery code."""
    user = request.user
    next_url = _next_url(request)
    if not two_factor.two_factor_required(user) or user.is_verified():
        return redirect(next_url)
    if two_factor.authenticator_of(user) is None:
        return redirect(f"{reverse('two_factor_enrol')}?{urlencode({'next': next_url})}")
    if not two_factor.sign_in_allowed(request=request, user=user):
        return _locked_out(request)
    error = ""
    if request.method == "POST":
        check = two_factor.second_factor_check(user=user, code=_code_of(request))
        if check.accepted:
            two_factor.second_factor_passed(request=request, device=check.device)
            if check.recovery_code:
                left = two_factor.recovery_codes_left(user)
                messages.warning(
                    request,
                    ngettext(
                        "You signed in with a recovery code; %(count)s is left. Each code works once.",
                        "You signed in with a recovery code; %(count)s are left. Each code works once.",
                        left,
                    )
                    % {"count": left},
                )
            return redirect(next_url)
        if check.throttled:
            error = ngettext(
                "Too many wrong codes: wait %(seconds)s second before the next try.",
                "Too many wrong codes: wait %(seconds)s seconds before the next try.",
                check.wait_seconds,
            ) % {"seconds": check.wait_seconds}
        elif two_factor.second_factor_failed(request=request, user=user):
            return _locked_out(request)
        else:
            error = _("That code is not right. Try the current code from your app, or a recovery code.")
    return render(
        request,
        "accounts/two_factor_verify.html",
        {"error": error, "next": next_url},
        status=400 if error else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def two_factor_enrol(request: HttpRequest) -> HttpResponse:
    """Setting up the authenticator: a QR code and the secret, confirmed by a first code; then the ten
    recovery codes, shown on this one answer only."""
    user = request.user
    next_url = _next_url(request)
    if not two_factor.two_factor_required(user) or user.is_verified():
        return redirect(next_url)
    if two_factor.authenticator_of(user) is not None:
        # Replacing an authenticator takes an admin's reset, not the password alone.
        return redirect(f"{reverse('two_factor_verify')}?{urlencode({'next': next_url})}")
    device = two_factor.enrolment_device(user)
    error = ""
    if request.method == "POST":
        codes = two_factor.second_factor_enrol(request=request, device=device, code=_code_of(request))
        if codes is not None:
            return render(
                request, "accounts/two_factor_recovery_codes.html", {"codes": codes, "next": next_url}
            )
        error = _("That code is not right. Type the 6-digit code your app shows now.")
    context = {
        "qr_code": two_factor.qr_code_data_uri(device),
        "secret": two_factor.secret_of(device),
        "error": error,
        "next": next_url,
    }
    return render(request, "accounts/two_factor_enrol.html", context, status=400 if error else 200)
