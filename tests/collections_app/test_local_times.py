"""The case page shows the cardholder's clock where the cardholder's time matters - the contact-policy
panel, and callbacks (the case header, the callback form, the timeline) with the agent's own time beside
them - and the agent's zone everywhere else. The agent here works from London, so a page that showed the
viewer's clock (or Beijing's, the bank's default) in place of the cardholder's would show it."""

import re
import zoneinfo
from datetime import datetime

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from collections_app import services
from collections_app.services import contactability
from tests.factories import ContactPointFactory, open_case

pytestmark = pytest.mark.django_db

UTC = zoneinfo.ZoneInfo("UTC")
LONDON = "Europe/London"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def london_agent(agent):
    agent.time_zone = LONDON
    agent.save(update_fields=["time_zone"])
    return agent


def case_in(zone: str, team):
    jurisdiction = "CN" if zone.startswith("Asia/") else "US"
    case = open_case(team=team, cardholder__jurisdiction=jurisdiction, cardholder__time_zone=zone)
    ContactPointFactory(cardholder=case.account.cardholder)
    return case


def compliance(case, now: datetime) -> contactability.ComplianceStatus:
    points = list(case.account.cardholder.contact_points.all())
    # The viewer's zone is active while the panel's data is computed and formatted: it must not leak in.
    with timezone.override(zoneinfo.ZoneInfo(LONDON)):
        return contactability.compliance_status(case=case, contact_points=points, now=now)


def section(html: str, start: str, end: str) -> str:
    """The text of the page from the first `start` to the next `end` after it."""
    begin = html.index(start)
    return html[begin : html.index(end, begin)]


def text_of(fragment: str) -> str:
    """The visible text of an HTML fragment, on one line."""
    return " ".join(re.sub(r"<[^>]+>", " ", fragment).split())


# (cardholder's zone, the instant, the cardholder's wall clock then, the zone's offset then)
LOCAL_TIMES = [
    ("Asia/Shanghai", "2026-06-02 02:35", "10:35", "UTC+08:00"),
    ("Asia/Urumqi", "2026-06-02 02:35", "08:35", "UTC+06:00"),
    ("America/New_York", "2026-06-02 01:35", "21:35", "UTC-04:00"),
    ("America/Los_Angeles", "2026-06-02 01:35", "18:35", "UTC-07:00"),
    # Sunday 8 March 2026: clocks go forward at 02:00 local time.
    ("America/New_York", "2026-03-08 06:59", "01:59", "UTC-05:00"),
    ("America/New_York", "2026-03-08 07:01", "03:01", "UTC-04:00"),
    ("America/Los_Angeles", "2026-03-08 09:59", "01:59", "UTC-08:00"),
    ("America/Los_Angeles", "2026-03-08 10:01", "03:01", "UTC-07:00"),
    # Sunday 1 November 2026: clocks go back at 02:00 local time; 01:30 happens twice.
    ("America/New_York", "2026-11-01 05:30", "01:30", "UTC-04:00"),
    ("America/New_York", "2026-11-01 06:30", "01:30", "UTC-05:00"),
    ("America/Los_Angeles", "2026-11-01 08:30", "01:30", "UTC-07:00"),
    ("America/Los_Angeles", "2026-11-01 09:30", "01:30", "UTC-08:00"),
]


@pytest.mark.parametrize(("zone", "instant", "wall", "offset"), LOCAL_TIMES)
def test_the_panel_data_is_the_cardholders_clock(team_a, zone, instant, wall, offset):
    now = utc(instant)
    with time_machine.travel(now, tick=False):
        case = case_in(zone, team_a)
        status = compliance(case, now)
    clock = status.local_times[0]
    assert (clock.zone, f"{clock.wall:%H:%M}", clock.utc_offset) == (zone, wall, offset)
    assert clock.at == now
    assert status.zone == zone


@pytest.mark.parametrize(("zone", "instant", "wall", "offset"), LOCAL_TIMES)
def test_the_case_page_shows_the_cardholders_clock_to_an_agent_elsewhere(
    client, london_agent, team_a, zone, instant, wall, offset
):
    with time_machine.travel(utc(instant), tick=False):
        case = case_in(zone, team_a)
        client.force_login(london_agent)
        html = client.get(reverse("case_detail", args=[case.pk])).content.decode()
    panel = text_of(section(html, 'data-testid="compliance"', "</section>"))
    assert f"Local time {wall} {zone} ({offset})" in panel


def test_a_cardholder_judged_in_two_zones_sees_both_clocks(client, london_agent, team_a):
    # A Urumqi cardholder is judged in Beijing's zone as well (the China profile); both clocks are shown.
    with time_machine.travel(utc("2026-06-02 02:35"), tick=False):
        case = case_in("Asia/Urumqi", team_a)
        client.force_login(london_agent)
        html = client.get(reverse("case_detail", args=[case.pk])).content.decode()
    panel = text_of(section(html, 'data-testid="compliance"', "</section>"))
    assert "Local time 08:35 Asia/Urumqi (UTC+06:00)" in panel
    assert "Local time 10:35 Asia/Shanghai (UTC+08:00)" in panel
    assert panel.index("Asia/Urumqi") < panel.index("Asia/Shanghai")


def test_the_window_closes_and_opens_on_the_cardholders_clock(client, london_agent, team_a):
    # 20:30 in New York: the window (08:00-21:00) closes at 21:00 there - 02:00 in London.
    with time_machine.travel(utc("2026-06-03 00:30"), tick=False):
        case = case_in("America/New_York", team_a)
        client.force_login(london_agent)
        url = reverse("case_detail", args=[case.pk])
        open_panel = text_of(
            section(client.get(url).content.decode(), 'data-testid="compliance"', "</section>")
        )
    assert "closes 21:00" in open_panel
    # 22:00 in New York: closed until 08:00 tomorrow there (13:00 in London).
    with time_machine.travel(utc("2026-06-03 02:00"), tick=False):
        html = client.get(url).content.decode()
    closed_panel = text_of(section(html, 'data-testid="compliance"', "</section>"))
    assert "opens 2026-06-03 08:00" in closed_panel
    form = text_of(section(html, 'id="act-callback"', "</form>"))
    assert "The window opens at 2026-06-03 08:00 America/New_York (UTC-04:00) (your time 13:00)" in form


def test_a_callback_is_the_cardholders_time_with_the_agents_beside_it(team_a, london_agent):
    with time_machine.travel(utc("2026-06-02 14:00"), tick=False):
        case = case_in("America/New_York", team_a)
        # Written as the cardholder's wall clock, as the callback form takes it.
        services.callback_schedule(case_id=case.pk, actor=london_agent, at=datetime(2026, 6, 3, 10, 0))
        case.refresh_from_db()
        status = compliance(case, timezone.now())
    callback = status.next_callback
    assert callback.at == utc("2026-06-03 14:00")
    assert (f"{callback.wall:%Y-%m-%d %H:%M}", callback.zone, callback.utc_offset) == (
        "2026-06-03 10:00",
        "America/New_York",
        "UTC-04:00",
    )


@pytest.mark.parametrize(
    ("zone", "scheduled_at", "cardholder", "agent_time"),
    [
        ("America/New_York", "2026-06-02 14:00", "2026-06-03 10:00 America/New_York (UTC-04:00)", "15:00"),
        (
            "America/Los_Angeles",
            "2026-06-02 14:00",
            "2026-06-03 10:00 America/Los_Angeles (UTC-07:00)",
            "18:00",
        ),
        ("Asia/Urumqi", "2026-06-02 02:00", "2026-06-03 10:00 Asia/Urumqi (UTC+06:00)", "05:00"),
        # Scheduled in winter time for the Monday after the change: the callback's own offset counts.
        ("America/New_York", "2026-03-06 15:00", "2026-03-09 10:00 America/New_York (UTC-04:00)", "14:00"),
        ("America/New_York", "2026-10-30 14:00", "2026-11-02 10:00 America/New_York (UTC-05:00)", "15:00"),
    ],
)
def test_the_case_page_shows_a_callback_on_both_clocks(
    client, london_agent, team_a, zone, scheduled_at, cardholder, agent_time
):
    with time_machine.travel(utc(scheduled_at), tick=False):
        case = case_in(zone, team_a)
        day = cardholder.split()[0]
        services.callback_schedule(
            case_id=case.pk, actor=london_agent, at=datetime.fromisoformat(f"{day} 10:00"), note="Payday"
        )
        client.force_login(london_agent)
        html = client.get(reverse("case_detail", args=[case.pk])).content.decode()
    shown = f"{cardholder} (your time {agent_time})"  # the same day on both clocks
    header = text_of(section(html, 'class="card case-header"', "</section>"))
    assert f"Callback {shown}" in header
    timeline = text_of(section(html, 'data-testid="timeline"', "</ol>"))
    assert shown in timeline
    # When the event was written is the agent's own time, as every other time on the page.
    written = utc(scheduled_at).astimezone(zoneinfo.ZoneInfo(LONDON))
    assert f"{written:%Y-%m-%d %H:%M} · " in timeline


def test_the_agents_own_zone_is_not_repeated_when_it_is_the_cardholders(client, agent, team_a):
    # The Beijing agent of a Beijing cardholder: one clock is enough.
    with time_machine.travel(utc("2026-06-02 02:00"), tick=False):
        case = case_in("Asia/Shanghai", team_a)
        services.callback_schedule(case_id=case.pk, actor=agent, at=datetime(2026, 6, 3, 10, 0))
        client.force_login(agent)
        html = client.get(reverse("case_detail", args=[case.pk])).content.decode()
    header = text_of(section(html, 'class="card case-header"', "</section>"))
    assert "Callback 2026-06-03 10:00 Asia/Shanghai (UTC+08:00)" in header
    assert "your time" not in header
