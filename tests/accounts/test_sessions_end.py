"""A new password or a deactivation ends the user's access everywhere (accounts.services.user_access_revoke,
called from accounts.signals on save): every page session and every API token, whichever path made the
change - the admin's set-password page, the admin's user form, or set_password() anywhere in the code.

Personas: `agent` (agent_a) is signed in on a browser and holds an API token; `admin_user` changes them;
`other_agent` is signed in too and must stay so."""

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.models import User
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-brand-new-passphrase-2026"


def browser_of(user) -> Client:
    browser = Client()
    browser.force_login(user)
    assert browser.get(reverse("home")).status_code == 200
    return browser


def api_of(user) -> APIClient:
    _instance, token = AuthToken.objects.create(user=user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/v1/me/").status_code == 200
    return api


def sessions_of(user) -> int:
    return sum(1 for s in Session.objects.all() if s.get_decoded().get(SESSION_KEY) == str(user.pk))


def assert_locked_out(user, browser, api):
    page = browser.get(reverse("home"))
    assert page.status_code == 302
    assert page["Location"].startswith(reverse("login"))
    assert api.get("/api/v1/me/").status_code == 401
    assert sessions_of(user) == 0
    assert not AuthToken.objects.filter(user=user).exists()


def assert_still_in(browser, api):
    assert browser.get(reverse("home")).status_code == 200
    assert api.get("/api/v1/me/").status_code == 200


def admin_form_data(user: User, **changes) -> dict:
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "language": user.language,
        "time_zone": user.time_zone,
        "role": user.role,
        "team": user.team_id or "",
        "is_active": "on",
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "last_login_0": "",
        "last_login_1": "",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_the_admins_set_password_page_ends_the_users_sessions_and_tokens(
    client, admin_user, agent, other_agent
):
    browser, api = browser_of(agent), api_of(agent)
    bystander, bystander_api = browser_of(other_agent), api_of(other_agent)
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:auth_user_password_change", args=[agent.pk]),
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert_locked_out(agent, browser, api)
    assert_still_in(bystander, bystander_api)
    assert client.get(reverse("admin:index")).status_code == 200  # the admin who did it stays in
    assert Client().login(username="agent_a", password=NEW_PASSWORD)


def test_deactivating_in_the_admins_user_form_ends_the_users_sessions_and_tokens(client, admin_user, agent):
    browser, api = browser_of(agent), api_of(agent)
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:accounts_user_change", args=[agent.pk]), admin_form_data(agent, is_active=None)
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    agent.refresh_from_db()
    assert not agent.is_active
    assert_locked_out(agent, browser, api)


def test_editing_a_user_in_the_admin_otherwise_ends_nothing(client, admin_user, agent):
    browser, api = browser_of(agent), api_of(agent)
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:accounts_user_change", args=[agent.pk]), admin_form_data(agent, first_name="Renamed")
    )

    assert response.status_code == 302
    assert_still_in(browser, api)


def test_set_password_anywhere_ends_the_users_sessions_and_tokens(agent):
    browser, api = browser_of(agent), api_of(agent)

    agent.set_password(NEW_PASSWORD)
    agent.save()

    assert_locked_out(agent, browser, api)


def test_a_deactivation_saved_with_its_field_alone_is_caught(agent):
    browser, api = browser_of(agent), api_of(agent)

    agent.is_active = False
    agent.save(update_fields=["is_active"])

    assert_locked_out(agent, browser, api)


def test_disabling_password_sign_in_ends_the_users_sessions_and_tokens(agent):
    browser, api = browser_of(agent), api_of(agent)

    agent.set_unusable_password()
    agent.save()

    assert_locked_out(agent, browser, api)


def test_an_admin_changing_their_own_password_stays_in_on_this_browser_only(client, admin_user):
    elsewhere, elsewhere_api = browser_of(admin_user), api_of(admin_user)
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:auth_user_password_change", args=[admin_user.pk]),
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )

    assert response.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200
    assert elsewhere.get(reverse("home")).status_code == 302
    assert elsewhere_api.get("/api/v1/me/").status_code == 401
    assert sessions_of(admin_user) == 1


def test_ordinary_saves_of_the_user_end_nothing(client, agent):
    browser, api = browser_of(agent), api_of(agent)

    saved = browser.post(reverse("my_settings"), {"language": "en", "time_zone": "Europe/London"})
    agent.refresh_from_db()
    agent.first_name = "Renamed"
    agent.save()

    assert saved.status_code == 302
    assert_still_in(browser, api)


def test_a_password_hash_upgrade_at_sign_in_ends_nothing(settings, agent):
    api = api_of(agent)
    # The stored hash is MD5; with PBKDF2 preferred, signing in re-hashes the same password.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    browser = Client()

    response = browser.post(reverse("login"), {"username": "agent_a", "password": TEST_PASSWORD})

    agent.refresh_from_db()
    assert response.status_code == 302
    assert agent.password.startswith("pbkdf2_sha256$")
    assert_still_in(browser, api)
