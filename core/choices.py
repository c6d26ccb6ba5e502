"""`get_FOO_display()` that does not translate every label of the field to show one.

Django's `Model._get_FIELD_display` builds `dict(make_hashable(field.flatchoices))` at every call: it hashes
each (value, label) pair, and hashing a lazy label translates it. A page that shows a field's label for
each of its rows (the case page's timeline, My work's states, the contact points, the forms' choices)
translated every label of the field for every row shown: about nine hundred translations per case page.
"""

from __future__ import annotations

from django.utils.encoding import force_str
from django.utils.hashable import make_hashable


def choice_labels(field) -> dict:
    """The field's value -> label (lazy, translated when shown), built once per field and built again if
    its choices are replaced."""
    cached = field.__dict__.get("_choice_labels")
    if cached is None or cached[0] is not field.choices:
        cached = (field.choices, {make_hashable(value): label for value, label in field.flatchoices})
        field.__dict__["_choice_labels"] = cached
    return cached[1]


class ChoiceLabels:
    """Mixin for a model (before `models.Model` among its bases): its `get_FOO_display()` looks the value
    up in `choice_labels(field)`, with the answer Django's would give (the label in the active language,
    the value itself when it is not among the choices)."""

    def _get_FIELD_display(self, field):
        value = getattr(self, field.attname)
        return force_str(choice_labels(field).get(make_hashable(value), value), strings_only=True)
