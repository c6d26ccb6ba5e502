"""`{% load when %}`: a time said the way people say it when it is soon or recent - "in 2 h", "5 min ago",
"tomorrow 09:00" ("2小时后", "5分钟前", "明天 09:00") - with the exact time one hover away.

`{{ value|relative }}` renders `<time datetime="<ISO 8601>" title="<SHORT_DATETIME_FORMAT>">text</time>`;
`{{ value|relative:now }}` reads it against the page's own `now` (every time of a page against one
instant). Formatting only: the words follow the active language, the clock the active time zone (the
viewer's). Further than yesterday or tomorrow, the text is the absolute time in the locale's format.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django import template
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _

register = template.Library()

HOURS_SAID = 6  # up to this many hours away: "in 5 h"; further: "today 21:00", "tomorrow 09:00"


def relative_text(value: datetime | date, now: datetime | None = None) -> str:
    """The words for `value` seen from `now` (default: the current time), in the active language and
    time zone."""
    now = now or timezone.now()
    if not isinstance(value, datetime):
        return _relative_day(value, timezone.localdate(now))
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    seconds = (value - now).total_seconds()
    future = seconds >= 0
    minutes = int(abs(seconds) // 60)
    if minutes < 1:
        return _("just now") if not future else _("now")
    if minutes < 60:
        return (_("in %(n)s min") if future else _("%(n)s min ago")) % {"n": minutes}
    if minutes < HOURS_SAID * 60:
        hours = minutes // 60
        return (_("in %(n)s h") if future else _("%(n)s h ago")) % {"n": hours}
    local, today = timezone.localtime(value), timezone.localtime(now).date()
    clock = formats.date_format(local, "TIME_FORMAT")
    day = local.date()
    if day == today:
        return _("today %(time)s") % {"time": clock}
    if day == today + timedelta(days=1):
        return _("tomorrow %(time)s") % {"time": clock}
    if day == today - timedelta(days=1):
        return _("yesterday %(time)s") % {"time": clock}
    return formats.date_format(local, "SHORT_DATETIME_FORMAT")


def _relative_day(value: date, today: date) -> str:
    if value == today:
        return _("today")
    if value == today + timedelta(days=1):
        return _("tomorrow")
    if value == today - timedelta(days=1):
        return _("yesterday")
    return formats.date_format(value, "SHORT_DATE_FORMAT")


@register.filter
def relative(value, now=None) -> str:
    """`{{ case.next_action_at|relative }}` -> <time datetime="..." title="2026-12-03 14:05">in 2 h</time>;
    nothing given: "—"."""
    if value in (None, ""):
        return "—"
    if isinstance(value, datetime):
        aware = value if timezone.is_aware(value) else timezone.make_aware(value)
        exact = formats.date_format(timezone.localtime(aware), "SHORT_DATETIME_FORMAT")
        stamp = aware.isoformat()
    elif isinstance(value, date):
        exact, stamp = formats.date_format(value, "SHORT_DATE_FORMAT"), value.isoformat()
    else:
        return str(value)
    now = now if isinstance(now, datetime) else None
    return format_html(
        '<time class="relative-time" datetime="{}" title="{}">{}</time>',
        stamp,
        exact,
        relative_text(value, now),
    )
