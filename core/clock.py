"""The bank's clock: days are the bank's days (settings.TIME_ZONE), whoever looks. A figure, a limitation
date or a business date must not move with the viewer's time zone. Times are stored in UTC."""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone


def bank_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def bank_date(moment: datetime) -> date:
    """The bank's calendar day of an aware moment."""
    return timezone.localtime(moment, bank_zone()).date()


def bank_today(now: datetime | None = None) -> date:
    return bank_date(now or timezone.now())


def day_start(day: date) -> datetime:
    """Midnight at the start of `day`, in the bank's zone."""
    return datetime.combine(day, time.min, tzinfo=bank_zone())
