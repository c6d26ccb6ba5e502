"""`{% load callscripts %}`: the call script's statement codes by name, in the reader's language."""

from django import template
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
