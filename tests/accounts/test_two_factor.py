"""The second factor (accounts.two_factor): with COLLECTIONS_REQUIRE_2FA on, supervisors, legal
reviewers and admins give a code from an authenticator app (or a recovery code) after their password,
on the pages and at the API's token endpoint; until then they reach only the second-factor pages and
logout. Agents are never asked, and nobody is when the setting is off (the suite's default).

Personas: `supervisor` (sup_a) sets up and uses the second factor; `agent` (agent_a) is never asked;
`admin_user` resets the supervisor's second factor (and, being an admin, gives a code first). Codes are
computed here from the device's key, as the app on the phone computes them; the clock is frozen and
moved on explicitly, since a TOTP code is valid for its 30-second step only, once."""

import base64
import re
from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessFailureLog
from django.contrib.admin.models import LogEntry
from django.contrib.auth import SESSION_KEY
from django.core.cache import cache
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db

DESK = "192.0.2.10"
VERIFY = "/accounts/two-factor/"
ENROL = "/accounts/two-factor/set-up/"


@pytest.fixture(autouse=True)
def _two_factor_on(settings):
    settings.COLLECTIONS_REQUIRE_2FA = True  # tests/settings.py switches it off for the rest of the suite


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()  # the API's token throttle counts in the cache, which outlives a test's transaction
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel("2026-06-02 10:00 +0800", tick=False) as traveller:
        yield traveller


def next_step(clock) -> None:
    """Past the current 30-second step: a TOTP code is accepted once, so the next one must be new."""
    clock.shift(timedelta(seconds=31))


def code_of(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


def sign_in(client, user, address=DESK):
    return client.post(
        reverse("login"), {"username": user.username, "password": TEST_PASSWORD}, REMOTE_ADDR=address
    )


def enrol(client, user, clock) -> list[str]:
    """Signs in with the password and sets up the authenticator through the pages; the recovery codes."""
    sign_in(client, user)
    client.get(ENROL)
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    page = client.post(ENROL, {"code": code_of(device), "next": "/"}, REMOTE_ADDR=DESK).content.decode()
    next_step(clock)
    return re.findall(r"<li><code>([a-z2-7]{8})</code></li>", page)


def token_request(user, otp=None):
    body = {"username": user.username, "password": TEST_PASSWORD}
    if otp is not None:
        body["otp"] = otp
    return APIClient().post("/api/v1/auth/token/", body, format="json", REMOTE_ADDR=DESK)


# --- Setting up ---------------------------------------------------------------------------------------


def test_a_supervisor_without_an_authenticator_is_sent_to_set_one_up_after_the_password(client, supervisor):
    answer = sign_in(client, supervisor)
    assert answer.status_code == 302
    assert SESSION_KEY in client.session, "the password step itself is unchanged"

    home = client.get(answer["Location"])
    assert home.status_code == 302
    assert home["Location"] == f"{ENROL}?next=%2F"

    page = client.get(home["Location"])
    assert page.status_code == 200
    device = TOTPDevice.objects.get(user=supervisor, confirmed=False)
    html = page.content.decode()
    qr = re.search(r'<img class="two-factor-qr" src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', html)
    assert qr, "the QR code is an inline data: image (the CSP allows data: images only)"
    assert b"<svg" in base64.b64decode(qr.group(1))
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    shown = re.search(r'data-testid="two-factor-secret">([A-Z2-7 ]+)<', html).group(1)
    assert shown.replace(" ", "") == secret, "the secret is shown for apps that cannot scan"
    assert "style=" not in html and "<script>" not in html and "<style" not in html

    assert client.get(ENROL).status_code == 200
    assert TOTPDevice.objects.filter(user=supervisor).count() == 1, "a reload shows the same secret"


def test_the_first_code_confirms_the_authenticator_and_shows_ten_recovery_codes_once(
    client, supervisor, clock
):
    sign_in(client, supervisor)
    client.get(ENROL)
    device = TOTPDevice.objects.get(user=supervisor)

    wrong = client.post(ENROL, {"code": "000000", "next": "/work/"})
    assert wrong.status_code == 400
    assert "That code is not right" in wrong.content.decode()
    assert not TOTPDevice.objects.get(pk=device.pk).confirmed
    assert client.get("/work/").status_code == 302, "still not verified"

    clock.shift(timedelta(seconds=5))  # django-otp makes the next try wait after a wrong code
    device.refresh_from_db()
    answer = client.post(ENROL, {"code": code_of(device), "next": "/work/"})
    assert answer.status_code == 200
    codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", answer.content.decode())
    assert len(set(codes)) == 10
    assert sorted(
        StaticToken.objects.filter(device__user=supervisor).values_list("token", flat=True)
    ) == sorted(codes)
    assert TOTPDevice.objects.get(pk=device.pk).confirmed
    assert 'href="/work/"' in answer.content.decode()

    assert client.get("/work/").status_code == 200, "this session is verified"
    assert client.get(ENROL).status_code == 302, "set up once; a new one takes an admin's reset"


# --- Signing in ------------------------------------------------------------------------------------


def test_signing_in_again_asks_for_the_code_and_refuses_a_wrong_one(client, supervisor, clock):
    enrol(client, supervisor, clock)
    client.post(reverse("logout"))

    sign_in(client, supervisor)
    assert client.get("/").status_code == 302
    assert client.get("/")["Location"] == f"{VERIFY}?next=%2F"
    assert client.get(VERIFY).status_code == 200

    wrong = client.post(VERIFY, {"code": "123456", "next": "/work/"}, REMOTE_ADDR=DESK)
    assert wrong.status_code == 400
    assert "That code is not right" in wrong.content.decode()
    assert client.get("/work/").status_code == 302

    next_step(clock)
    device = TOTPDevice.objects.get(user=supervisor)
    session_before = client.session.session_key
    answer = client.post(VERIFY, {"code": code_of(device), "next": "/work/"}, REMOTE_ADDR=DESK)
    assert answer.status_code == 302
    assert answer["Location"] == "/work/"
    assert client.session.session_key != session_before, "a new session key once verified"
    assert client.get("/work/").status_code == 200
    assert client.get("/").status_code == 200


def test_a_code_is_accepted_once(client, supervisor, clock):
    enrol(client, supervisor, clock)
    client.post(reverse("logout"))
    device = TOTPDevice.objects.get(user=supervisor)
    code = code_of(device)
    sign_in(client, supervisor)
    assert client.post(VERIFY, {"code": code}, REMOTE_ADDR=DESK).status_code == 302
    client.post(reverse("logout"))

    sign_in(client, supervisor)
    assert client.post(VERIFY, {"code": code}, REMOTE_ADDR=DESK).status_code == 400, "replayed in its step"


def test_a_recovery_code_signs_in_once(client, supervisor, clock):
    codes = enrol(client, supervisor, clock)
    client.post(reverse("logout"))

    sign_in(client, supervisor)
    answer = client.post(VERIFY, {"code": codes[3].upper(), "next": "/"}, REMOTE_ADDR=DESK, follow=True)
    assert answer.status_code == 200
    assert "9 are left" in answer.content.decode()
    assert StaticToken.objects.filter(device__user=supervisor).count() == 9
    client.post(reverse("logout"))

    clock.shift(timedelta(seconds=5))
    sign_in(client, supervisor)
    again = client.post(VERIFY, {"code": codes[3]}, REMOTE_ADDR=DESK)
    assert again.status_code == 400
    assert client.get("/").status_code == 302


def test_wrong_codes_count_towards_the_sign_in_lockout(client, supervisor, clock):
    enrol(client, supervisor, clock)
    client.post(reverse("logout"))
    sign_in(client, supervisor)

    answers = []
    for _ in range(5):
        clock.shift(timedelta(seconds=40))  # past django-otp's own growing wait, so every code is checked
        answers.append(client.post(VERIFY, {"code": "999999"}, REMOTE_ADDR=DESK))

    assert [a.status_code for a in answers[:4]] == [400] * 4
    assert answers[4].status_code == 429
    assert "Too many failed sign-in attempts" in answers[4].content.decode()
    assert SESSION_KEY not in client.session, "signed out: the password is asked again after the lockout"
    assert AccessFailureLog.objects.filter(username="sup_a").count() == 5
    assert sign_in(client, supervisor).status_code == 429


def test_signing_in_again_with_the_password_does_not_wipe_the_count_of_wrong_codes(client, supervisor, clock):
    enrol(client, supervisor, clock)
    client.post(reverse("logout"))
    statuses = []
    for _ in range(5):  # a guesser who knows the password signs in again before each wrong code
        sign_in(client, supervisor)
        clock.shift(timedelta(seconds=40))
        statuses.append(client.post(VERIFY, {"code": "999999"}, REMOTE_ADDR=DESK).status_code)

    assert statuses == [400] * 4 + [429]
    assert sign_in(client, supervisor).status_code == 429


def test_the_right_code_ends_the_count_of_earlier_failures(client, supervisor, clock):
    enrol(client, supervisor, clock)
    client.post(reverse("logout"))
    sign_in(client, supervisor)
    for _ in range(4):
        clock.shift(timedelta(seconds=40))
        client.post(VERIFY, {"code": "999999"}, REMOTE_ADDR=DESK)
    clock.shift(timedelta(seconds=40))
    device = TOTPDevice.objects.get(user=supervisor)
    assert client.post(VERIFY, {"code": code_of(device)}, REMOTE_ADDR=DESK).status_code == 302

    client.post(reverse("logout"))
    sign_in(client, supervisor)
    clock.shift(timedelta(seconds=40))
    assert client.post(VERIFY, {"code": "999999"}, REMOTE_ADDR=DESK).status_code == 400  # not the fifth


def test_an_agent_is_never_asked(client, agent):
    sign_in(client, agent)
    assert client.get("/").status_code == 200
    assert client.get("/work/").status_code == 200
    assert client.get(ENROL).status_code == 302
    assert not TOTPDevice.objects.exists()


def test_with_the_setting_off_nobody_is_asked(client, supervisor, clock, settings):
    enrol(client, supervisor, clock)
    client.post(reverse("logout"))
    settings.COLLECTIONS_REQUIRE_2FA = False

    sign_in(client, supervisor)
    assert client.get("/").status_code == 200
    assert client.get("/dashboards/").status_code == 200


# --- Until verified ----------------------------------------------------------------------------------


def test_an_unverified_supervisor_is_sent_from_every_page_to_the_code_page(client, supervisor, clock):
    enrol(client, supervisor, clock)
    client.post(reverse("logout"))
    sign_in(client, supervisor)

    for path in ("/work/", "/dashboards/", "/admin/"):
        answer = client.get(path)
        assert answer.status_code == 302, path
        assert answer["Location"].startswith(f"{VERIFY}?next="), path
    assert client.get("/dashboards/")["Location"] == f"{VERIFY}?next=%2Fdashboards%2F"

    htmx = client.get("/work/", headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/work/"})
    assert htmx.status_code == 401
    assert htmx["HX-Redirect"] == f"{VERIFY}?next=%2Fwork%2F"

    api = client.get("/api/v1/me/")
    assert api.status_code == 403
    assert api.json()["code"] == "otp_required"

    assert client.post(reverse("logout")).status_code == 302
    assert SESSION_KEY not in client.session, "logout stays open"


def test_the_token_endpoint_asks_these_roles_for_the_code(client, supervisor, clock):
    not_set_up = token_request(supervisor)
    assert not_set_up.status_code == 403
    assert not_set_up.json()["code"] == "otp_not_set_up"

    enrol(client, supervisor, clock)
    device = TOTPDevice.objects.get(user=supervisor)

    missing = token_request(supervisor)
    assert missing.status_code == 401
    assert missing.json()["code"] == "otp_required"
    wrong = token_request(supervisor, otp="111111")
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "otp_invalid"
    assert not AuthToken.objects.exists()
    assert AccessFailureLog.objects.filter(username="sup_a").count() == 1, "a wrong code counts"

    clock.shift(timedelta(seconds=5))
    device.refresh_from_db()
    right = token_request(supervisor, otp=code_of(device))
    assert right.status_code == 201, right.json()
    assert AuthToken.objects.filter(user=supervisor).count() == 1


def test_the_token_endpoint_does_not_ask_an_agent(agent):
    assert token_request(agent).status_code == 201


# --- The admin's reset -------------------------------------------------------------------------------


def test_the_admin_reset_removes_the_devices_and_the_user_sets_up_again(
    client, supervisor, admin_user, clock
):
    enrol(client, supervisor, clock)
    assert client.get("/work/").status_code == 200
    admin_client = client.__class__()
    enrol(admin_client, admin_user, clock)

    answer = admin_client.post(
        "/admin/accounts/user/",
        {"action": "reset_second_factor", "_selected_action": [supervisor.pk]},
        follow=True,
    )
    assert answer.status_code == 200
    assert "Second factor reset for 1 user" in answer.content.decode()
    assert not TOTPDevice.objects.filter(user=supervisor).exists()
    assert not StaticDevice.objects.filter(user=supervisor).exists()
    assert TOTPDevice.objects.filter(user=admin_user, confirmed=True).exists(), "only the selected user"
    entry = LogEntry.objects.get(object_id=str(supervisor.pk))
    assert entry.user == admin_user
    assert "Deleted TOTP device" in entry.get_change_message()

    # The supervisor's open session was verified by the deleted device: no longer.
    assert client.get("/work/")["Location"] == f"{ENROL}?next=%2Fwork%2F"
    assert client.get(ENROL).status_code == 200


def test_django_otp_device_admin_is_hidden(client, admin_user, clock):
    enrol(client, admin_user, clock)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/otp_totp/totpdevice/").status_code == 404
    assert client.get("/admin/otp_static/staticdevice/").status_code == 404
