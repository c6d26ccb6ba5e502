"""The API speaks UTC: every time it returns is ISO 8601 with the UTC offset, whoever asks and from
wherever. Pages show times in the viewer's zone; a program reading the API must not have to know
which zone its token's user picked."""

from datetime import datetime

from django.test import Client

from collections_app import services


def test_a_callback_is_returned_in_utc_to_a_token_client(clients, case_a, agent):
    # 15:00 the cardholder's time (Beijing) is 07:00 UTC.
    services.callback_schedule(case_id=case_a.pk, actor=agent, at=datetime.fromisoformat("2026-06-03T15:00"))

    body = clients["agent"].get(f"/api/v1/cases/{case_a.pk}/").json()

    assert body["next_action_at"] == "2026-06-03T07:00:00+00:00"


def test_a_signed_in_user_in_another_zone_gets_utc_too(case_a, agent):
    # A browser session activates the user's zone for pages; the API answers in UTC all the same.
    agent.time_zone = "America/New_York"
    agent.save(update_fields=["time_zone"])
    services.callback_schedule(case_id=case_a.pk, actor=agent, at=datetime.fromisoformat("2026-06-03T15:00"))
    browser = Client()
    browser.force_login(agent)

    body = browser.get(f"/api/v1/cases/{case_a.pk}/").json()

    assert body["next_action_at"] == "2026-06-03T07:00:00+00:00"
    assert body["opened_at"].endswith("+00:00")
