"""Form pieces shared by every app's pages.

Dates: a browser's `<input type="date">` holds and sends only ISO dates (YYYY-MM-DD), whatever the page's
language. Django's own DateInput renders a date in the language's first input format - for Simplified
Chinese "2026/12/17" - which the browser silently drops, so a prefilled form comes back without its date.
`IsoDateField` renders ISO always, and still accepts the language's own formats on input (an API client,
a hand-typed URL)."""

from __future__ import annotations

from datetime import date, datetime

from django import forms
from django.utils import formats

ISO_DATE = "%Y-%m-%d"


def parse_date(value: str) -> date | None:
    """`value` read as ISO or in one of the active language's date input formats; None if it is neither."""
    text = value.strip()
    for fmt in (ISO_DATE, *formats.get_format("DATE_INPUT_FORMATS")):
        try:
            return datetime.strptime(text, fmt).date()
        except (ValueError, TypeError):
            continue
    return None


class IsoDateInput(forms.DateInput):
    """`<input type="date">` with its value in ISO. A value sent back in another format (the language's,
    re-shown after an error elsewhere in the form) is rewritten in ISO so that the browser keeps it; a
    value that is no date at all is shown as sent, beside its error."""

    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format=ISO_DATE)

    def format_value(self, value):
        if isinstance(value, str):
            parsed = parse_date(value)
            return parsed.isoformat() if parsed else value
        return super().format_value(value)


class IsoDateField(forms.DateField):
    """A date typed in a date picker: rendered in ISO, read as ISO or in the language's formats."""

    widget = IsoDateInput
