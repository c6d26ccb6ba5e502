"""Dates on the legal package's statement (PDF) and in the legal checks are written in the document
language's one date format, not as ISO."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.utils import translation

from legal.pdf import _day


def test_the_statement_writes_dates_in_the_document_language():
    with translation.override("en"):
        assert _day(date(2026, 6, 3)) == "3 Jun 2026"
        # An instant is the bank's day: 23:30 UTC on 2 June is 3 June in Beijing.
        assert _day(datetime(2026, 6, 2, 23, 30, tzinfo=ZoneInfo("UTC"))) == "3 Jun 2026"
        assert _day(None) == "—"
    with translation.override("zh-hans"):
        assert _day(date(2026, 6, 3)) == "2026年6月3日"
