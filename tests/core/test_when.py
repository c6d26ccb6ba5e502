"""`{% load when %}`: relative times in English and Chinese, the exact time in the title; and the one set
of date and time formats per language (config/formats): numeric ISO dates in lists, tables and messages,
the month in words (年月日) in letters and agreements, a 24-hour clock everywhere."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.template import Context, Template
from django.utils import formats, timezone, translation

from core.templatetags.when import relative, relative_text

BEIJING = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 3, 14, 5, tzinfo=BEIJING)  # a Thursday afternoon in Beijing


@pytest.fixture(autouse=True)
def _beijing():
    with timezone.override(BEIJING):
        yield


CASES = [
    # (offset from NOW, English, Chinese)
    (timedelta(seconds=20), "now", "现在"),
    (timedelta(seconds=-20), "just now", "刚刚"),
    (timedelta(minutes=-5), "5 min ago", "5分钟前"),
    (timedelta(minutes=25), "in 25 min", "25分钟后"),
    (timedelta(hours=2, minutes=10), "in 2 h", "2小时后"),
    (timedelta(hours=-3), "3 h ago", "3小时前"),
    (timedelta(hours=7), "today 21:05", "今天 21:05"),
    (timedelta(hours=18, minutes=55), "tomorrow 09:00", "明天 09:00"),
    (timedelta(hours=-20), "yesterday 18:05", "昨天 18:05"),
    (timedelta(days=5), "2026-12-08 14:05", "2026-12-08 14:05"),
]


@pytest.mark.parametrize(("offset", "english", "chinese"), CASES)
def test_relative_text_in_both_languages(offset, english, chinese):
    with translation.override("en"):
        assert relative_text(NOW + offset, NOW) == english
    with translation.override("zh-hans"):
        assert relative_text(NOW + offset, NOW) == chinese


def test_a_day_without_a_time():
    with translation.override("en"):
        assert relative_text(date(2026, 12, 4), NOW) == "tomorrow"
        assert relative_text(date(2026, 12, 1), NOW) == "2026-12-01"
    with translation.override("zh-hans"):
        assert relative_text(date(2026, 12, 2), NOW) == "昨天"


def test_the_words_follow_the_viewers_time_zone():
    """09:00 tomorrow in Beijing is 20:00 today in New York (seen from 01:05 there)."""
    with timezone.override(ZoneInfo("America/New_York")), translation.override("en"):
        assert relative_text(NOW + timedelta(hours=18, minutes=55), NOW) == "today 20:00"


def test_the_filter_wraps_the_words_in_a_time_element_with_the_exact_time():
    with translation.override("en"):
        html = Template("{% load when %}{{ at|relative:now }}").render(
            Context({"at": NOW + timedelta(hours=2), "now": NOW})
        )
    assert html == (
        '<time class="relative-time" datetime="2026-12-03T16:05:00+08:00" title="2026-12-03 16:05">'
        "in 2 h</time>"
    )
    with translation.override("zh-hans"):
        html = relative(NOW - timedelta(minutes=5), NOW)
    assert 'title="2026-12-03 14:00"' in html and ">5分钟前</time>" in html
    assert relative(None) == "—"


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", ["3 Dec 2026", "2026-12-03", "3 Dec 2026 14:05", "2026-12-03 14:05", "14:05", "Dec 2026"]),
        (
            "zh-hans",
            [
                "2026年12月3日",
                "2026-12-03",
                "2026年12月3日 14:05",
                "2026-12-03 14:05",
                "14:05",
                "2026年12月",
            ],
        ),
    ],
)
def test_one_date_and_time_format_per_language(language, expected):
    names = [
        "DATE_FORMAT",
        "SHORT_DATE_FORMAT",
        "DATETIME_FORMAT",
        "SHORT_DATETIME_FORMAT",
        "TIME_FORMAT",
        "YEAR_MONTH_FORMAT",
    ]
    with translation.override(language):
        assert [formats.date_format(NOW, name) for name in names] == expected
