"""Each user reads times in their own zone (User.time_zone; empty = the bank's, settings.TIME_ZONE),
set by themselves on My settings or by an admin in the user admin. The cardholder's clock (contact
window, callbacks) is not the user's: tests/collections_app/test_local_times.py."""

import zoneinfo
from datetime import datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.models import User
from collections_app import services
from tests.factories import UserFactory, open_case

pytestmark = pytest.mark.django_db

UTC = zoneinfo.ZoneInfo("UTC")
# Tuesday 2 June 2026, 02:05 UTC: 10:05 in Beijing, 22:05 the evening before in New York.
NOTE_WRITTEN = datetime(2026, 6, 2, 2, 5, tzinfo=UTC)


def timeline_of(client, case) -> str:
    html = client.get(reverse("case_detail", args=[case.pk])).content.decode()
    start = html.index('data-testid="timeline"')
    return html[start : html.index("</ol>", start)]


@pytest.fixture
def noted_case(team_a, agent):
    with time_machine.travel(NOTE_WRITTEN, tick=False):
        case = open_case(team=team_a)
        services.note_add(case_id=case.pk, actor=agent, text="Asked for the payslip")
    return case


def test_a_user_in_new_york_sees_the_timeline_in_new_york_time(client, agent, noted_case):
    agent.time_zone = "America/New_York"
    agent.save(update_fields=["time_zone"])
    client.force_login(agent)

    timeline = timeline_of(client, noted_case)

    assert "2026-06-01 22:05" in timeline
    assert "2026-06-02 10:05" not in timeline


def test_a_user_without_a_zone_sees_the_banks(client, agent, noted_case, settings):
    assert settings.TIME_ZONE == "Asia/Shanghai"
    agent.time_zone = ""
    agent.save(update_fields=["time_zone"])
    client.force_login(agent)

    assert "2026-06-02 10:05" in timeline_of(client, noted_case)


def test_a_user_follows_the_bank_when_the_banks_zone_changes(client, agent, noted_case, settings):
    agent.time_zone = ""
    agent.save(update_fields=["time_zone"])
    settings.TIME_ZONE = "Europe/London"
    client.force_login(agent)

    assert "2026-06-02 03:05" in timeline_of(client, noted_case)


def test_a_new_user_has_no_zone_of_their_own():
    user = User.objects.create_user(username="newcomer", password="x" * 12)
    assert user.time_zone == ""
    assert user.zone == zoneinfo.ZoneInfo("Asia/Shanghai")


def test_a_zone_the_system_does_not_know_is_refused():
    user = UserFactory.build(username="mars", time_zone="Mars/Olympus_Mons")
    with pytest.raises(ValidationError) as refused:
        user.full_clean(exclude=["password"])
    assert "time_zone" in refused.value.message_dict


def test_a_stored_zone_that_no_longer_exists_falls_back_to_the_banks(client, agent, noted_case):
    # Written past the validator (an old row, a tz database update): the page still opens.
    User.objects.filter(pk=agent.pk).update(time_zone="Mars/Olympus_Mons")
    client.force_login(agent)

    assert "2026-06-02 10:05" in timeline_of(client, noted_case)


# --- My settings ---------------------------------------------------------------------------------


def test_my_settings_changes_my_zone_and_language(client, agent, noted_case):
    client.force_login(agent)
    page = client.get(reverse("my_settings"))
    assert page.status_code == 200
    assert '<option value="America/New_York">' in page.content.decode()

    response = client.post(
        reverse("my_settings"), {"language": "zh-hans", "time_zone": "America/New_York"}, follow=True
    )

    assert response.redirect_chain == [(reverse("my_settings"), 302)]
    confirmed = response.content.decode()
    assert 'class="msg msg-success"' in confirmed
    assert '<html lang="zh-hans">' in confirmed
    agent.refresh_from_db()
    assert (agent.time_zone, agent.language) == ("America/New_York", "zh-hans")
    assert "2026-06-01 22:05" in timeline_of(client, noted_case)


def test_my_settings_can_go_back_to_the_banks_zone(client, agent):
    agent.time_zone = "Europe/London"
    agent.save(update_fields=["time_zone"])
    client.force_login(agent)

    client.post(reverse("my_settings"), {"language": "en", "time_zone": ""})

    agent.refresh_from_db()
    assert agent.time_zone == ""


def test_my_settings_refuses_an_unknown_zone(client, agent):
    client.force_login(agent)

    response = client.post(reverse("my_settings"), {"language": "en", "time_zone": "Europe/Atlantis"})

    assert response.status_code == 200
    assert "Europe/Atlantis" in response.content.decode()  # named in the error
    agent.refresh_from_db()
    assert agent.time_zone == "Asia/Shanghai"


def test_my_settings_changes_only_my_own_profile(client, agent, other_agent):
    client.force_login(agent)
    client.post(reverse("my_settings"), {"language": "en", "time_zone": "America/Chicago"})
    other_agent.refresh_from_db()
    assert other_agent.time_zone == "Asia/Shanghai"


def test_my_settings_needs_a_signed_in_user(client):
    response = client.get(reverse("my_settings"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_the_name_in_the_top_bar_opens_my_settings(client, agent):
    client.force_login(agent)
    html = client.get(reverse("home")).content.decode()
    assert f'href="{reverse("my_settings")}"' in html


# --- The user admin --------------------------------------------------------------------------------


def test_an_admin_sets_a_users_zone_from_the_list_of_zones(client, admin_user, agent):
    client.force_login(admin_user)
    url = reverse("admin:accounts_user_change", args=[agent.pk])
    form = client.get(url).content.decode()
    assert '<select name="time_zone"' in form
    assert '<option value="America/New_York">' in form

    data = {
        "username": agent.username,
        "first_name": agent.first_name,
        "last_name": agent.last_name,
        "email": "",
        "language": "en",
        "time_zone": "America/New_York",
        "role": "agent",
        "team": agent.team_id,
        "is_active": "on",
        "last_login_0": "",
        "last_login_1": "",
        "date_joined_0": "2026-06-01",
        "date_joined_1": "09:00:00",
    }
    response = client.post(url, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    agent.refresh_from_db()
    assert agent.time_zone == "America/New_York"
