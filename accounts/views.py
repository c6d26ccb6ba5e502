from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.forms import LanguageForm
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
