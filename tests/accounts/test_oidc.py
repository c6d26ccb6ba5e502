"""Single sign-on (accounts.oidc) against a real OpenID provider on a loopback port: the browser's round
trip goes through Django's test client and plain HTTP to the provider below, and the callback's calls
(token, JWKS, UserInfo) are real HTTP requests from mozilla-django-oidc. The provider signs its ID
tokens RS256 with a key made here; nothing of ours is mocked.

People at the provider: a supervisor of "Debt Recovery", whose groups change between sign-ins; someone
in no mapped group; and `supervisor` (sup_a), an existing user linked by e-mail address, then locked out
by wrong passwords."""

import base64
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from axes.models import AccessAttempt, AccessFailureLog
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.auth import SESSION_KEY
from django.urls import reverse

from accounts.models import User
from tests.factories import TEST_PASSWORD, TeamFactory

pytestmark = pytest.mark.django_db

CLIENT_ID = "collections"
CLIENT_SECRET = "client-secret-for-tests"  # noqa: S105
KEY_ID = "test-key-1"
DESK = "192.0.2.10"
ELSEWHERE = "198.51.100.20"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_b64(number: int) -> str:
    return _b64(number.to_bytes((number.bit_length() + 7) // 8, "big"))


class Provider:
    """A tiny OpenID provider: /authorize hands out a code for `person` and redirects back, /token
    answers the code with an RS256 ID token, /userinfo gives `person`'s claims, /jwks the public key."""

    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.signing_key = self.key  # a test may sign with another key, as an impostor would
        self.person: dict = {}
        self.amr: list[str] = ["pwd"]
        self.audience = CLIENT_ID
        self.codes: dict[str, dict] = {}
        self.access_tokens: dict[str, dict] = {}
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet: the suite's output stays readable
                pass

            def _json(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlsplit(self.path)
                if url.path == "/authorize":
                    query = {name: values[0] for name, values in parse_qs(url.query).items()}
                    if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
                        return self._json(400, {"error": "invalid_request"})
                    code = secrets.token_urlsafe(16)
                    provider.codes[code] = {
                        "nonce": query.get("nonce"),
                        "redirect_uri": query["redirect_uri"],
                        "person": dict(provider.person),
                        "amr": list(provider.amr),
                    }
                    back = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
                    self.send_response(302)
                    self.send_header("Location", back)
                    self.end_headers()
                elif url.path == "/userinfo":
                    token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    if token not in provider.access_tokens:
                        return self._json(401, {"error": "invalid_token"})
                    self._json(200, provider.access_tokens[token])
                elif url.path == "/jwks":
                    numbers = provider.key.public_key().public_numbers()
                    jwk = {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": KEY_ID}
                    self._json(200, {"keys": [{**jwk, "n": _int_b64(numbers.n), "e": _int_b64(numbers.e)}]})
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self):
                if urlsplit(self.path).path != "/token":
                    return self._json(404, {"error": "not_found"})
                length = int(self.headers.get("Content-Length", 0))
                form = {
                    name: values[0] for name, values in parse_qs(self.rfile.read(length).decode()).items()
                }
                grant = provider.codes.pop(form.get("code", ""), None)  # a code is good once
                if (
                    grant is None
                    or form.get("client_id") != CLIENT_ID
                    or form.get("client_secret") != CLIENT_SECRET
                    or form.get("redirect_uri") != grant["redirect_uri"]
                ):
                    return self._json(400, {"error": "invalid_grant"})
                access_token = secrets.token_urlsafe(16)
                provider.access_tokens[access_token] = grant["person"]
                now = int(time.time())
                claims = {
                    "iss": provider.url,
                    "sub": grant["person"]["sub"],
                    "aud": provider.audience,
                    "iat": now,
                    "exp": now + 300,
                    "nonce": grant["nonce"],
                    "amr": grant["amr"],
                }
                self._json(
                    200,
                    {
                        "access_token": access_token,
                        "token_type": "Bearer",
                        "expires_in": 300,
                        "id_token": provider.id_token(claims),
                    },
                )

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def id_token(self, claims: dict) -> str:
        header = {"alg": "RS256", "typ": "JWT", "kid": KEY_ID}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = self.signing_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"


@pytest.fixture(scope="module")
def running_provider():
    provider = Provider()
    thread = threading.Thread(target=provider.server.serve_forever, daemon=True)
    thread.start()
    yield provider
    provider.server.shutdown()
    provider.server.server_close()


@pytest.fixture
def provider(running_provider):
    running_provider.signing_key = running_provider.key
    running_provider.audience = CLIENT_ID
    running_provider.amr = ["pwd"]
    running_provider.person = {
        "sub": "idp-user-7f3a",
        "preferred_username": "wang.fang",
        "email": "wang.fang@bank.example",
        "email_verified": True,
        "given_name": "Fang",
        "family_name": "Wang",
        "groups": ["collections-supervisors", "everyone"],
        "department": "Debt Recovery",
    }
    return running_provider


@pytest.fixture
def sso(settings, provider):
    """Single sign-on on, as config/settings.py sets it up from the environment."""
    settings.OIDC_ENABLED = True
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_RP_SIGN_ALGO = "RS256"
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = f"{provider.url}/authorize"
    settings.OIDC_OP_TOKEN_ENDPOINT = f"{provider.url}/token"
    settings.OIDC_OP_USER_ENDPOINT = f"{provider.url}/userinfo"
    settings.OIDC_OP_JWKS_ENDPOINT = f"{provider.url}/jwks"
    settings.OIDC_PROVIDER_NAME = "Bank Login"
    settings.OIDC_GROUPS_CLAIM = "groups"
    settings.OIDC_TEAM_CLAIM = "department"
    settings.OIDC_ROLE_GROUPS = {
        "admin": ["collections-admins"],
        "supervisor": ["collections-supervisors"],
        "legal": ["collections-legal"],
        "agent": ["collections-agents"],
    }
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, "accounts.oidc.OIDCBackend"]
    return settings


@pytest.fixture
def debt_recovery(db):
    return TeamFactory(name="Debt Recovery")


def sso_sign_in(client, next_url: str = "", address: str = DESK):
    """The browser's round trip: our /oidc/authenticate/, the provider's /authorize, our callback."""
    query = f"?{urlencode({'next': next_url})}" if next_url else ""
    start = client.get(f"/oidc/authenticate/{query}", REMOTE_ADDR=address)
    assert start.status_code == 302
    assert start["Location"].startswith(f"{client.provider_url}/authorize?")
    at_provider = requests.get(start["Location"], allow_redirects=False, timeout=5)
    assert at_provider.status_code == 302
    back = urlsplit(at_provider.headers["Location"])
    assert (back.netloc, back.path) == ("testserver", "/oidc/callback/")
    return client.get(f"{back.path}?{back.query}", REMOTE_ADDR=address)


@pytest.fixture
def browser(client, sso):
    client.provider_url = sso.OIDC_OP_AUTHORIZATION_ENDPOINT.removesuffix("/authorize")
    return client


def signed_in_user(client) -> User | None:
    pk = client.session.get(SESSION_KEY)
    return User.objects.get(pk=pk) if pk else None


# --- Off unless configured -------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
PROVIDER_ENV = {
    "OIDC_RP_CLIENT_ID": CLIENT_ID,
    "OIDC_RP_CLIENT_SECRET": CLIENT_SECRET,
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "https://login.bank.example/authorize",
    "OIDC_OP_TOKEN_ENDPOINT": "https://login.bank.example/token",
    "OIDC_OP_USER_ENDPOINT": "https://login.bank.example/userinfo",
    "OIDC_OP_JWKS_ENDPOINT": "https://login.bank.example/jwks",
    "OIDC_ROLE_GROUPS": "admin=it-admins, agent=collections-agents, agent=call-centre",
}
SHOW_WIRING = (
    "from django.conf import settings as s; "
    "print(s.OIDC_ENABLED, s.AUTHENTICATION_BACKENDS[-1], sorted(s.OIDC_ROLE_GROUPS.items()))"
)


def settings_read_with(env: dict) -> subprocess.CompletedProcess:
    """The settings module as a fresh process reads it from this environment (and no other OIDC_ value)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "OIDC_", "DATABASE_URL"))}
    clean.update({"DJANGO_DEBUG": "1", **env})
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", SHOW_WIRING],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_environment_switches_single_sign_on_on_with_its_backend_and_role_groups():
    assert settings_read_with({}).stdout.startswith("False django.contrib.auth.backends.ModelBackend")
    answer = settings_read_with(PROVIDER_ENV)
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip() == (
        "True accounts.oidc.OIDCBackend "
        "[('admin', ['it-admins']), ('agent', ['collections-agents', 'call-centre'])]"
    )


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"OIDC_OP_JWKS_ENDPOINT": ""}, "single sign-on also needs ['OIDC_OP_JWKS_ENDPOINT']"),
        ({"OIDC_ROLE_GROUPS": "boss=it-admins"}, "OIDC_ROLE_GROUPS: 'boss=it-admins' is not role=group"),
        ({"OIDC_ROLE_GROUPS": ""}, "OIDC_ROLE_GROUPS must map a group to a role"),
        ({"OIDC_RP_CLIENT_ID": "", "OIDC_ONLY": "1"}, "OIDC_ONLY is set but single sign-on is not"),
    ],
)
def test_an_incomplete_configuration_refuses_to_start_naming_what_is_wrong(change, complaint):
    answer = settings_read_with({**PROVIDER_ENV, **change})
    assert answer.returncode != 0
    assert complaint in answer.stderr


def test_without_configuration_the_oidc_pages_do_not_exist_and_the_page_has_no_button(client):
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=abc&state=xyz").status_code == 404
    assert client.post("/oidc/logout/").status_code == 404
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert "/oidc/authenticate/" not in page.content.decode()
    assert 'name="password"' in page.content.decode()


def test_the_sign_in_page_offers_the_provider_beside_the_password(browser):
    page = browser.get(reverse("login") + "?next=/accounts/settings/").content.decode()
    assert "Sign in with Bank Login" in page
    assert 'href="/oidc/authenticate/?next=/accounts/settings/"' in page
    assert 'name="password"' in page


def test_without_a_provider_name_the_button_says_single_sign_on(browser, settings):
    settings.OIDC_PROVIDER_NAME = ""
    assert "Sign in with single sign-on" in browser.get(reverse("login")).content.decode()


def test_oidc_only_shows_the_button_alone_and_refuses_a_password_unchecked(browser, settings, agent):
    settings.OIDC_ONLY = True
    page = browser.get(reverse("login")).content.decode()
    assert "Sign in with Bank Login" in page
    assert 'name="password"' not in page
    answer = browser.post(reverse("login"), {"username": agent.username, "password": TEST_PASSWORD})
    assert answer.status_code == 403
    assert "passwords are not accepted here" in answer.content.decode()
    assert signed_in_user(browser) is None
    assert not AccessFailureLog.objects.exists()  # not checked, so not a failed guess either


# --- Roles and teams from the provider ------------------------------------------------------------


def test_a_first_sign_in_makes_the_user_with_the_mapped_role_and_team(browser, debt_recovery):
    answer = sso_sign_in(browser, next_url="/accounts/settings/")
    assert answer.status_code == 302
    assert answer["Location"] == "/accounts/settings/"
    user = signed_in_user(browser)
    assert user is not None
    assert (user.username, user.oidc_subject, user.role, user.team) == (
        "wang.fang",
        "idp-user-7f3a",
        "supervisor",
        debt_recovery,
    )
    assert (user.first_name, user.last_name, user.email) == ("Fang", "Wang", "wang.fang@bank.example")
    assert not user.has_usable_password()
    assert LogEntry.objects.get(object_id=str(user.pk)).action_flag == ADDITION


def test_the_highest_mapped_role_wins(browser, provider):
    provider.person["groups"] = ["collections-agents", "collections-admins", "collections-legal"]
    sso_sign_in(browser)
    assert signed_in_user(browser).role == "admin"


def test_the_next_sign_in_takes_the_role_and_team_the_provider_says_now(browser, provider, debt_recovery):
    sso_sign_in(browser)
    user = signed_in_user(browser)
    hardship = TeamFactory(name="Hardship")
    provider.person["groups"] = ["collections-agents"]
    provider.person["department"] = "Hardship"
    browser.logout()

    sso_sign_in(browser)

    user.refresh_from_db()
    assert (user.role, user.team) == ("agent", hardship)
    assert User.objects.filter(oidc_subject="idp-user-7f3a").count() == 1
    change = LogEntry.objects.filter(object_id=str(user.pk), action_flag=CHANGE).get()
    assert "role" in change.change_message and "team" in change.change_message


def test_an_unknown_team_leaves_the_user_without_one_and_the_log_says_so(browser, provider, caplog):
    provider.person["department"] = "Nowhere Team"
    with caplog.at_level("WARNING", logger="accounts.oidc"):
        sso_sign_in(browser)
    user = signed_in_user(browser)
    assert user.team is None
    assert "no team is named 'Nowhere Team'" in caplog.text


def test_someone_in_no_mapped_group_is_refused_and_no_user_is_made(browser, provider):
    provider.person["groups"] = ["everyone", "marketing"]
    users_before = User.objects.count()

    answer = sso_sign_in(browser)

    assert answer.status_code == 302
    assert answer["Location"] == reverse("login")
    page = browser.get(answer["Location"]).content.decode()
    assert "Your Bank Login account is not in any group that may use this system" in page
    assert signed_in_user(browser) is None
    assert User.objects.count() == users_before
    # A refusal by the provider's answer is no password guess: nothing counts towards a lockout.
    assert not AccessFailureLog.objects.exists()
    assert not AccessAttempt.objects.exists()


def test_an_existing_user_is_linked_by_e_mail_on_the_first_sign_in_then_by_subject(
    browser, provider, supervisor
):
    supervisor.email = "Wang.Fang@bank.example"
    supervisor.save(update_fields=["email"])

    sso_sign_in(browser)

    supervisor.refresh_from_db()
    assert signed_in_user(browser) == supervisor
    assert supervisor.oidc_subject == "idp-user-7f3a"
    assert supervisor.has_usable_password()  # the password is the user's: single sign-on leaves it
    # Later the subject decides, whatever the address says now.
    provider.person["email"] = "fang.wang@bank.example"
    browser.logout()
    sso_sign_in(browser)
    assert signed_in_user(browser) == supervisor


def test_an_unverified_address_does_not_link_an_existing_user(browser, provider, supervisor):
    supervisor.email = "wang.fang@bank.example"
    supervisor.save(update_fields=["email"])
    provider.person["email_verified"] = False

    sso_sign_in(browser)

    assert signed_in_user(browser) != supervisor
    supervisor.refresh_from_db()
    assert supervisor.oidc_subject == ""


def test_a_deactivated_user_is_refused(browser, provider, supervisor):
    supervisor.oidc_subject = "idp-user-7f3a"
    supervisor.is_active = False
    supervisor.save(update_fields=["oidc_subject", "is_active"])
    answer = sso_sign_in(browser)
    assert answer["Location"] == reverse("login")
    assert signed_in_user(browser) is None


# --- The provider's word is checked ---------------------------------------------------------------


def test_an_id_token_signed_by_another_key_is_refused(browser, provider):
    provider.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert sso_sign_in(browser).status_code == 400
    assert signed_in_user(browser) is None
    assert not User.objects.filter(oidc_subject="idp-user-7f3a").exists()


def test_an_id_token_meant_for_another_client_is_refused(browser, provider):
    provider.audience = "another-application"
    assert sso_sign_in(browser).status_code == 400
    assert signed_in_user(browser) is None


# --- The second factor and the lockout stay ours ------------------------------------------------------


def test_a_supervisor_signed_in_by_the_provider_still_gives_the_second_factor(browser, settings):
    settings.COLLECTIONS_REQUIRE_2FA = True
    settings.OIDC_TRUSTS_IDP_MFA = False
    answer = sso_sign_in(browser, next_url="/accounts/settings/")
    assert signed_in_user(browser).role == "supervisor"
    page = browser.get(answer["Location"])
    assert page.status_code == 302
    assert page["Location"].startswith(reverse("two_factor_enrol"))


@pytest.mark.parametrize(
    ("trusted", "amr", "asked"),
    [
        (True, ["pwd", "mfa"], False),
        (True, ["pwd", "otp"], False),
        (True, ["pwd"], True),  # the provider did not ask one: we do
        (False, ["pwd", "mfa"], True),  # the setting does not trust the provider's
    ],
)
def test_the_providers_second_factor_counts_only_when_trusted_and_given(
    browser, settings, provider, trusted, amr, asked
):
    settings.COLLECTIONS_REQUIRE_2FA = True
    settings.OIDC_TRUSTS_IDP_MFA = trusted
    provider.amr = amr
    answer = sso_sign_in(browser, next_url="/accounts/settings/")
    page = browser.get(answer["Location"])
    if asked:
        assert page.status_code == 302
        assert page["Location"].startswith(reverse("two_factor_enrol"))
    else:
        assert page.status_code == 200


def test_a_later_sign_in_without_the_providers_second_factor_is_asked_for_ours(browser, settings, provider):
    settings.COLLECTIONS_REQUIRE_2FA = True
    settings.OIDC_TRUSTS_IDP_MFA = True
    provider.amr = ["pwd", "mfa"]
    sso_sign_in(browser)
    provider.amr = ["pwd"]
    sso_sign_in(browser)  # the same browser, the same user, without the provider's second factor
    page = browser.get("/accounts/settings/")
    assert page.status_code == 302
    assert page["Location"].startswith(reverse("two_factor_enrol"))


def test_a_user_locked_out_by_wrong_passwords_is_refused_through_the_provider(browser, supervisor):
    supervisor.oidc_subject = "idp-user-7f3a"
    supervisor.save(update_fields=["oidc_subject"])
    for _ in range(5):
        browser.post(reverse("login"), {"username": "sup_a", "password": "wrong"}, REMOTE_ADDR=ELSEWHERE)
    failures = AccessFailureLog.objects.count()

    answer = sso_sign_in(browser, address=DESK)

    assert answer.status_code == 429
    assert "Too many failed sign-in attempts" in answer.content.decode()
    assert signed_in_user(browser) is None
    assert AccessFailureLog.objects.count() == failures


def test_an_address_locked_out_by_wrong_passwords_is_refused_through_the_provider(browser, provider):
    for number in range(5):
        browser.post(reverse("login"), {"username": f"guess{number}", "password": "wrong"}, REMOTE_ADDR=DESK)
    failures = AccessFailureLog.objects.count()

    answer = sso_sign_in(browser, address=DESK)

    assert answer.status_code == 429
    assert signed_in_user(browser) is None
    assert not User.objects.filter(oidc_subject="idp-user-7f3a").exists()
    assert AccessFailureLog.objects.count() == failures


def test_a_sign_in_the_provider_turned_down_returns_to_the_sign_in_page_uncounted(browser):
    answer = browser.get("/oidc/callback/?error=access_denied&state=unknown")
    assert answer.status_code == 302
    assert answer["Location"] == reverse("login")
    assert "Signing in with Bank Login did not complete." in browser.get(reverse("login")).content.decode()
    assert not AccessFailureLog.objects.exists()
