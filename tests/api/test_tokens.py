"""API tokens (django-rest-knox): created with a password, stored hashed, expiring, revocable by the user
(logout) and by admins (the admin pages); sessions work too, with CSRF on writes."""

from datetime import timedelta

import pytest
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.api.conftest import token_for
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db


def with_token(token: str) -> APIClient:
    client = APIClient()
    client.default_format = "json"
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_a_token_for_username_and_password(anonymous, agent):
    response = anonymous.post("/api/v1/auth/token/", {"username": "agent_a", "password": TEST_PASSWORD})

    assert response.status_code == 201
    body = response.json()
    assert body["user"]["username"] == "agent_a"
    assert body["expiry"]
    assert with_token(body["token"]).get("/api/v1/me/").status_code == 200


def test_the_token_is_stored_hashed(anonymous, agent):
    token = anonymous.post("/api/v1/auth/token/", {"username": "agent_a", "password": TEST_PASSWORD}).json()[
        "token"
    ]

    stored = AuthToken.objects.get(user=agent)
    assert token not in (stored.digest, stored.token_key)
    assert len(stored.digest) == 128  # sha512 hex


def test_a_wrong_password_is_401_with_the_envelope(anonymous, agent):
    response = anonymous.post("/api/v1/auth/token/", {"username": "agent_a", "password": "guess"})

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["code"] == "authentication_failed"
    assert not AuthToken.objects.exists()


def test_an_inactive_user_gets_no_token(anonymous, agent):
    agent.is_active = False
    agent.save(update_fields=["is_active"])

    response = anonymous.post("/api/v1/auth/token/", {"username": "agent_a", "password": TEST_PASSWORD})

    assert response.status_code == 401


def test_an_expired_token_is_refused(agent, office_hours):
    client = with_token(token_for(agent, ttl=timedelta(hours=1)))
    assert client.get("/api/v1/me/").status_code == 200

    office_hours.shift(timedelta(hours=2))

    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"
    assert not AuthToken.objects.filter(user=agent).exists()  # knox deletes it


def test_logout_revokes_the_token(agent):
    client = with_token(token_for(agent))

    assert client.post("/api/v1/auth/logout/").status_code == 204
    assert client.get("/api/v1/me/").status_code == 401


def test_logout_all_revokes_every_token_of_the_user(agent, supervisor):
    first, second = with_token(token_for(agent)), with_token(token_for(agent))
    colleague = with_token(token_for(supervisor))

    assert first.post("/api/v1/auth/logout-all/").status_code == 204
    assert second.get("/api/v1/me/").status_code == 401
    assert colleague.get("/api/v1/me/").status_code == 200


def test_an_admin_revokes_a_token_in_the_admin_pages(client, admin_user, agent):
    token = token_for(agent)
    stored = AuthToken.objects.get(user=agent)
    client.force_login(admin_user)

    listing = client.get("/admin/knox/authtoken/")
    assert listing.status_code == 200
    deleted = client.post(f"/admin/knox/authtoken/{stored.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302

    assert with_token(token).get("/api/v1/me/").status_code == 401


def test_an_admin_issues_a_token_in_the_admin_pages(client, admin_user, agent):
    client.force_login(admin_user)

    response = client.post(
        "/admin/knox/authtoken/add/", {"user": agent.pk, "expiry_0": "2026-06-30", "expiry_1": "18:00:00"}
    )

    assert response.status_code == 302
    assert AuthToken.objects.filter(user=agent).count() == 1


def test_only_admins_open_the_token_admin(client, supervisor):
    client.force_login(supervisor)

    assert client.get("/admin/knox/authtoken/").status_code == 302  # to the admin login


def test_token_requests_are_throttled_per_address(anonymous, agent, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"auth": "2/min"}}
    for _ in range(2):
        anonymous.post("/api/v1/auth/token/", {"username": "agent_a", "password": "guess"})

    response = anonymous.post("/api/v1/auth/token/", {"username": "agent_a", "password": TEST_PASSWORD})

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert response.json()["code"] == "throttled"


def test_a_browser_session_works_and_needs_csrf_for_writes(agent, case_a):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(agent)

    assert client.get("/api/v1/me/").status_code == 200
    refused = client.post(f"/api/v1/cases/{case_a.pk}/notes/", {"text": "x"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "permission_denied"
