"""`{% load callscripts %}`: the call script's statement codes by name, in the reader's language."""

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

register = template.Library()

# The statements the shipped scripts use (contact_policy migration 0004); a code an admin adds is shown
# as it is written.
STATEMENT_LABELS = {
    "identity": _("Identity"),
    "right_party": _("Right party confirmed"),
    "purpose": _("Purpose of the call"),
    "mini_miranda": _("Mini-Miranda"),
    "validation_notice": _("Validation notice"),
    "recording": _("Recording notice"),
    "debt_advice": _("Free debt advice"),
    "data_protection": _("Data protection"),
}


@register.filter
def statement_labels(codes) -> str:
    """Statement codes (a list from an event's details) as their names, joined: "Identity, Purpose"."""
    if not codes or isinstance(codes, str):
        return codes or ""
    return ", ".join(str(STATEMENT_LABELS.get(code, code)) for code in codes)


@register.simple_tag
def disclosures(details) -> SafeString | str:
    """A contact's statements on the timeline: those the agent ticked, and those the script required that
    were not ticked (a badge), by name in the reader's language; "" when the contact records neither."""
    given, missing = details.get("disclosures"), details.get("missing_disclosures")
    if not (given or missing):
        return ""
    parts = []
    if given:
        text = "{} {}".format(gettext("Statements given:"), statement_labels(given))
        parts.append(format_html('<span class="disclosures-given">{}</span>', text))
    if missing:
        text = "{} {}".format(gettext("Required statements not ticked:"), statement_labels(missing))
        parts.append(
            format_html(' <span class="badge badge-bad" data-testid="missing-disclosures">{}</span>', text)
        )
    return format_html(
        '<div class="small disclosures" data-testid="disclosures">{}</div>',
        format_html_join("", "{}", ((part,) for part in parts)),
    )
