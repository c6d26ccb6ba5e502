"""The rule form's condition editor: rows of (field, operator, value) instead of a JSON text box.

The rows are posted as `conditions-<n>-field`, `conditions-<n>-operator` and `conditions-<n>-value`; the
field turns them into the same list of {"field", "operator", "value"} the evaluator reads
(escalation.models.validate_conditions normalises it), so the stored JSON does not change. Each row is
checked on its own with the model's checks and its error is shown in the row ("Condition 2: ..."); what
concerns several rows together (an impossible range, at least one condition) is the model's clean.

Values are typed as text: a number, an amount ("50000" or "50000.00"), a code; "is one of" / "is none of"
take codes separated by commas, "between" takes "minimum, maximum".
"""

from __future__ import annotations

import re

from django import forms
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from escalation.models import (
    FIELDS,
    EscalationRule,
    FieldKind,
    Operator,
    _Bad,
    _condition,
)

BLANK_ROWS = 2
SELECTED = mark_safe(" selected")  # noqa: S308 - a constant
LIST_OPERATORS = (Operator.IN, Operator.NOT_IN, Operator.BETWEEN)
ROW_KEY = re.compile(r"^(?P<prefix>.+)-(?P<n>\d+)-(?P<part>field|operator|value)$")


def value_text(condition: dict) -> str:
    """A stored condition's value as the row shows it."""
    value = condition.get("value")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def typed_value(field_name: str, operator: str, text: str):
    """The row's text as the JSON value the evaluator reads: whole numbers for counts and days, strings for
    amounts and codes, lists for the list operators. What does not parse is passed on as written, so that
    the model's check names the problem."""
    spec = FIELDS.get(field_name)

    def one(piece: str):
        piece = piece.strip()
        whole = spec is not None and spec.kind in (FieldKind.COUNT, FieldKind.DAYS)
        if whole and re.fullmatch(r"\d+", piece):
            return int(piece)
        return piece

    if operator in LIST_OPERATORS:
        return [one(piece) for piece in text.split(",") if piece.strip()]
    return one(text)


class ConditionRowsWidget(forms.Widget):
    """A table of condition rows; every row has a select of the catalogue's fields, a select of the
    operators and a value box, and a cell for its own error. Two blank rows are always offered (without
    JavaScript, save to get more); the change form's script adds rows and asks for the live count."""

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.row_errors: dict[int, str] = {}

    def value_from_datadict(self, data, files, name) -> list[dict]:
        rows: dict[int, dict] = {}
        for key in data:
            match = ROW_KEY.match(key)
            if match and match["prefix"] == name:
                rows.setdefault(int(match["n"]), {})[match["part"]] = data.get(key, "")
        return [
            {
                "field": rows[n].get("field", ""),
                "operator": rows[n].get("operator", ""),
                "text": rows[n].get("value", ""),
            }
            for n in sorted(rows)
        ]

    def value_omitted_from_data(self, data, files, name) -> bool:
        return not any((m := ROW_KEY.match(key)) and m["prefix"] == name for key in data)

    def _rows(self, value) -> list[dict]:
        if not isinstance(value, list):
            return []
        rows = []
        for item in value:
            if not isinstance(item, dict):
                continue
            if "text" in item:  # posted back (a bound form): as the person typed it
                rows.append(item)
            else:  # stored: as the evaluator reads it
                rows.append(
                    {
                        "field": str(item.get("field", "")),
                        "operator": str(item.get("operator", "")),
                        "text": value_text(item),
                    }
                )
        return rows

    def render(self, name, value, attrs=None, renderer=None):
        rows = self._rows(value)
        rows += [{"field": "", "operator": "", "text": ""}] * BLANK_ROWS
        body = format_html_join("", "{}", ((self._row(name, n, row),) for n, row in enumerate(rows)))
        return format_html(
            '<table class="condition-rows" data-testid="condition-rows" data-name="{}">'
            "<thead><tr><th>{}</th><th>{}</th><th>{}</th><th></th></tr></thead>"
            "<tbody>{}</tbody></table>"
            '<p><button type="button" class="button" data-add-condition>{}</button> '
            '<span class="condition-count" data-testid="condition-count" aria-live="polite"></span></p>',
            name,
            _("field"),
            _("operator"),
            _("value"),
            body,
            _("Add a condition"),
        )

    def _row(self, name: str, n: int, row: dict) -> str:
        field_options = format_html_join(
            "",
            '<option value="{}"{}>{} ({})</option>',
            (
                (spec.name, SELECTED if spec.name == row["field"] else "", spec.label, spec.name)
                for spec in FIELDS.values()
            ),
        )
        operator_options = format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            ((op.value, SELECTED if op.value == row["operator"] else "", op.label) for op in Operator),
        )
        error = self.row_errors.get(n, "")
        return format_html(
            '<tr class="condition-row{}" data-row="{}">'
            '<td><select name="{}-{}-field" aria-label="{}"><option value="">—</option>{}</select></td>'
            '<td><select name="{}-{}-operator" aria-label="{}"><option value="">—</option>{}</select></td>'
            '<td><input type="text" name="{}-{}-value" value="{}" aria-label="{}" size="28"></td>'
            '<td class="condition-error" data-testid="condition-error-{}">{}</td></tr>',
            " errors" if error else "",
            n,
            name,
            n,
            _("field"),
            field_options,
            name,
            n,
            _("operator"),
            operator_options,
            name,
            n,
            row["text"],
            _("value"),
            n,
            format_html('<ul class="errorlist"><li>{}</li></ul>', error) if error else "",
        )


class ConditionRowsField(forms.Field):
    """The rows -> the list of conditions; a bad row is refused with its reason, in its row."""

    widget = ConditionRowsWidget

    def to_python(self, value):
        if not isinstance(value, list):
            return []
        return value

    def clean(self, value):
        rows = self.to_python(value)
        self.widget.row_errors = {}
        conditions, errors, cache = [], [], {}
        number = 0
        for n, row in enumerate(rows):
            if not (row.get("field") or row.get("operator") or str(row.get("text", "")).strip()):
                continue  # a blank row
            number += 1
            raw = {
                "field": row.get("field", ""),
                "operator": row.get("operator", ""),
                "value": typed_value(row.get("field", ""), row.get("operator", ""), str(row.get("text", ""))),
            }
            if raw["value"] in ("", []):
                problem = str(_("The condition needs a value."))
            else:
                try:
                    conditions.append(_condition(raw, choice_cache=cache))
                    continue
                except _Bad as bad:
                    problem = str(bad.args[0])
            self.widget.row_errors[n] = problem
            errors.append(_("Condition %(n)s: %(problem)s") % {"n": number, "problem": problem})
        if errors:
            raise ValidationError(errors)
        return conditions


def rows_to_conditions(data, prefix: str = "conditions") -> tuple[list[dict], dict[int, str]]:
    """Posted rows -> (conditions, {row index: error}) without a whole form (the live count uses it)."""
    field = ConditionRowsField()
    rows = field.widget.value_from_datadict(data, None, prefix)
    try:
        return field.clean(rows), {}
    except ValidationError:
        return [], dict(field.widget.row_errors)


class EscalationRuleForm(forms.ModelForm):
    conditions = ConditionRowsField(
        label=_("conditions"),
        required=False,  # the model's clean explains what an empty list lacks
        help_text=_(
            "One condition per row. Values: a whole number for days and counts, an amount such as 50000 or "
            "50000.00, a code for a choice; “is one of” and “is none of” take codes separated by commas, "
            "“between” takes “minimum, maximum”. Empty rows are ignored."
        ),
    )

    class Meta:
        model = EscalationRule
        fields = [
            "name",
            "description",
            "order",
            "enabled",
            "dry_run",
            "match_mode",
            "conditions",
            "move_to_legal_review",
            "target_queue",
            "raise_priority",
            "notify_supervisor",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 2, "cols": 100})}
