"""One way to write a date per language (config/formats/<locale>/formats.py, named in templates), and
callbacks in lists on the cardholder's clock with the viewer's own beside it."""

import re
import zoneinfo
from datetime import date, datetime
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.urls import reverse
from django.utils import formats, translation

from collections_app import services
from tests.factories import ContactPointFactory, open_case

UTC = zoneinfo.ZoneInfo("UTC")
TEMPLATES = Path(settings.BASE_DIR) / "templates"
NAMED = {
    "DATE_FORMAT",
    "DATETIME_FORMAT",
    "TIME_FORMAT",
    "YEAR_MONTH_FORMAT",
    "MONTH_DAY_FORMAT",
    "SHORT_DATE_FORMAT",
    "SHORT_DATETIME_FORMAT",
}
# Machine formats: written for a program, not a person (ISO 8601 in a URL or a data attribute).
MACHINE = {"c", "U"}
# Hard-coded display formats that are meant to stay, as (template, format): none today. Add one only
# with the reason beside it.
# The agenda's day headings name the weekday ("Monday", "星期一") beside the day's short date.
ALLOWED: set[tuple[str, str]] = {("collections_app/agenda.html", "l")}

# `|date:"..."`, `|time:'...'`, `{% now "..." %}`, and a format given to dual_time / callback_time.
FORMAT_USES = re.compile(
    r"""\|(?:date|time):(["'])(?P<filter>.*?)\1"""
    r"""|\{%\s*now\s+(["'])(?P<now>.*?)\3"""
    r"""|\{%\s*(?:dual_time|callback_time)\s[^%]*?(["'])(?P<tag>.*?)\5"""
)


def hard_coded_formats(text: str) -> list[str]:
    found = []
    for match in FORMAT_USES.finditer(text):
        fmt = match.group("filter") or match.group("now") or match.group("tag") or ""
        if fmt not in NAMED and fmt not in MACHINE:
            found.append(fmt)
    return found


def test_the_scan_finds_a_hard_coded_format():
    sample = (
        '{{ a|date:"m-d H:i" }} {{ b|time:\'H:i\' }} {% now "Y" %} {% dual_time c z "Y/m/d" %}'
        ' {{ d|date:"SHORT_DATE_FORMAT" }} <a href="?m={{ e|date:"c" }}">'
    )
    assert hard_coded_formats(sample) == ["m-d H:i", "H:i", "Y", "Y/m/d"]


def test_templates_name_their_date_formats():
    offenders = [
        f"{path.relative_to(TEMPLATES)}: {fmt!r}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for fmt in hard_coded_formats(path.read_text(encoding="utf-8"))
        if (str(path.relative_to(TEMPLATES)), fmt) not in ALLOWED
    ]
    assert offenders == [], 'use a named format (config/formats/), e.g. |date:"SHORT_DATETIME_FORMAT"'


@pytest.mark.parametrize(
    ("language", "name", "shown"),
    [
        ("en", "DATE_FORMAT", "3 Jun 2026"),
        ("en", "DATETIME_FORMAT", "3 Jun 2026 14:05"),
        ("en", "SHORT_DATE_FORMAT", "2026-06-03"),
        ("en", "SHORT_DATETIME_FORMAT", "2026-06-03 14:05"),
        ("en", "TIME_FORMAT", "14:05"),
        ("en", "YEAR_MONTH_FORMAT", "Jun 2026"),
        ("en", "MONTH_DAY_FORMAT", "3 Jun"),
        ("zh-hans", "DATE_FORMAT", "2026年6月3日"),
        ("zh-hans", "DATETIME_FORMAT", "2026年6月3日 14:05"),
        ("zh-hans", "SHORT_DATE_FORMAT", "2026-06-03"),
        ("zh-hans", "SHORT_DATETIME_FORMAT", "2026-06-03 14:05"),
        ("zh-hans", "TIME_FORMAT", "14:05"),
        ("zh-hans", "YEAR_MONTH_FORMAT", "2026年6月"),
        ("zh-hans", "MONTH_DAY_FORMAT", "6月3日"),
    ],
)
def test_each_language_writes_a_date_one_way(language, name, shown):
    moment = datetime(2026, 6, 3, 14, 5)
    with translation.override(language):
        value = (
            formats.time_format(moment, name) if name == "TIME_FORMAT" else formats.date_format(moment, name)
        )
    assert value == shown


def test_a_date_is_written_the_same_way_on_every_page_of_a_language():
    with translation.override("zh-hans"):
        assert formats.date_format(date(2026, 6, 3), "SHORT_DATE_FORMAT") == "2026-06-03"
        assert formats.date_format(date(2026, 6, 3)) == "2026年6月3日"  # the default: DATE_FORMAT


# --- Callbacks in lists: the cardholder's clock first, the viewer's beside it ----------------------

# Scheduled on Tuesday 2 June 2026, 10:00 in Beijing, for 09:00 the next morning in Beijing (01:00 UTC).
SCHEDULED = datetime(2026, 6, 2, 2, 0, tzinfo=UTC)
SHANGHAI_0900 = "2026-06-03 09:00 Asia/Shanghai (UTC+08:00)"


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def set_zone(user, zone: str):
    user.time_zone = zone
    user.save(update_fields=["time_zone"])
    return user


@pytest.fixture
def callback_case(team_a, agent):
    with time_machine.travel(SCHEDULED, tick=False):
        case = open_case(team=team_a, cardholder__jurisdiction="CN", cardholder__time_zone="Asia/Shanghai")
        ContactPointFactory(cardholder=case.account.cardholder)
        services.callback_schedule(case_id=case.pk, actor=agent, at=datetime(2026, 6, 3, 9, 0))
    return case


@pytest.mark.django_db
def test_my_work_shows_a_0900_shanghai_callback_with_the_agents_london_time(client, agent, callback_case):
    client.force_login(set_zone(agent, "Europe/London"))
    with time_machine.travel(datetime(2026, 6, 3, 1, 5, tzinfo=UTC), tick=False):  # due now
        page = text_of(client.get(reverse("my_work")).content.decode())
    # Due now and in the assigned list: both on the cardholder's clock, 02:00 in London beside it.
    assert page.count(f"{SHANGHAI_0900} (your time 02:00)") == 2


@pytest.mark.django_db
def test_the_agents_own_time_names_its_day_when_it_is_another_day(client, agent, callback_case):
    # 09:00 in Shanghai is still the evening before in New York.
    client.force_login(set_zone(agent, "America/New_York"))
    with time_machine.travel(SCHEDULED, tick=False):
        page = text_of(client.get(reverse("my_work")).content.decode())
    assert f"{SHANGHAI_0900} (your time 2026-06-02 21:00)" in page


@pytest.mark.django_db
def test_a_beijing_agent_sees_one_clock(client, agent, callback_case):
    client.force_login(set_zone(agent, ""))  # the bank's zone: Beijing, as the cardholder
    with time_machine.travel(SCHEDULED, tick=False):
        page = text_of(client.get(reverse("my_work")).content.decode())
    assert SHANGHAI_0900 in page
    assert "your time" not in page


@pytest.mark.django_db
def test_the_supervisors_overdue_callbacks_show_both_clocks(client, supervisor, callback_case):
    client.force_login(set_zone(supervisor, "America/New_York"))
    with time_machine.travel(datetime(2026, 6, 3, 3, 0, tzinfo=UTC), tick=False):  # two hours late
        html = client.get(reverse("dashboards:home")).content.decode()
    start = html.index('aria-labelledby="h-callbacks"')
    overdue = text_of(html[start : html.index("</section>", start)])
    assert callback_case.reference in overdue
    assert f"{SHANGHAI_0900} (your time 2026-06-02 21:00)" in overdue


@pytest.mark.django_db
def test_the_callback_form_says_whose_clock_it_reads(client, agent, callback_case):
    client.force_login(set_zone(agent, "Europe/London"))
    with time_machine.travel(SCHEDULED, tick=False):
        html = client.get(reverse("case_detail", args=[callback_case.pk])).content.decode()
    start = html.index('id="act-callback"')
    form = html[start : html.index("</form>", start)]
    assert "Call back at, the cardholder's local time: Asia/Shanghai (UTC+08:00)" in form
    # The agent's own time beside the field (filled in as they type: static/js/app.js).
    assert 'data-cardholder-zone="Asia/Shanghai"' in form
    assert 'data-your-zone="Europe/London"' in form
    header_start = html.index('data-testid="next-callback"')
    header = text_of(html[header_start : html.index("</p>", header_start)])
    assert f"{SHANGHAI_0900} (your time 02:00)" in header


@pytest.mark.django_db
def test_why_this_case_is_here_gives_a_due_callback_in_the_agents_zone(client, agent, callback_case):
    client.force_login(set_zone(agent, "Europe/London"))
    with time_machine.travel(datetime(2026, 6, 3, 1, 5, tzinfo=UTC), tick=False):  # due now
        html = client.get(reverse("case_detail", args=[callback_case.pk])).content.decode()
    start = html.index("Why this case is here")
    factors = text_of(html[start : html.index("</table>", start)])
    assert "Callback due 2026-06-03 02:00" in factors  # London; stored as 01:00 UTC
