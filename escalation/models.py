"""Escalation rules (edited by admins) and their firings (written by `escalation.services`).

A rule is data: a list of conditions over a fixed catalogue of case fields (`FIELDS`), combined all-of or
any-of, and the actions to take on the open cases it matches. What a rule may say is checked here, on the
model (`EscalationRule.clean`), so that the admin form, an API or a data migration get the same clear
errors; how a rule becomes a query and runs lives in `escalation.services`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from collections_app.models import LEGAL_STATES, OPEN_STATES, Bucket, CaseState, Product, Queue
from contact_policy.models import ContactPolicy

# Rules work the collections department's cases: open, and not yet with legal (legal review and
# litigation are the legal reviewers' to decide).
RULE_STATES = tuple(s for s in OPEN_STATES if s not in LEGAL_STATES)
MAX_PRIORITY_POINTS = 1000
CENT = Decimal("0.01")


class MatchMode(models.TextChoices):
    ALL = "all", _("All conditions (all-of)")
    ANY = "any", _("Any condition (any-of)")


class Operator(models.TextChoices):
    EQ = "eq", "="
    NE = "ne", "≠"
    GT = "gt", ">"
    GTE = "gte", "≥"
    LT = "lt", "<"
    LTE = "lte", "≤"
    IN = "in", _("is one of")
    NOT_IN = "not_in", _("is none of")
    BETWEEN = "between", _("between (inclusive)")


NUMBER_OPERATORS = (
    Operator.EQ,
    Operator.NE,
    Operator.GT,
    Operator.GTE,
    Operator.LT,
    Operator.LTE,
    Operator.BETWEEN,
)
CHOICE_OPERATORS = (Operator.EQ, Operator.NE, Operator.IN, Operator.NOT_IN)


class FieldKind:
    COUNT = "count"  # a whole number, 0 or more
    DAYS = "days"  # a whole number of days, 0 or more
    MONEY = "money"  # a Decimal amount in the account's currency, 0 or more
    CHOICE = "choice"  # one of a list of codes


def _jurisdiction_codes() -> list[str]:
    return list(ContactPolicy.objects.order_by("code").values_list("code", flat=True))


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    kind: str
    # The Case lookup path the condition filters on. days_since_last_rpc has none: it is computed from
    # the last right-party contact and the run date (escalation.services).
    path: str | None
    choices: object = None  # a list of codes, or a callable returning one (read when validating)

    @property
    def operators(self) -> tuple[str, ...]:
        return CHOICE_OPERATORS if self.kind == FieldKind.CHOICE else NUMBER_OPERATORS

    def choice_values(self) -> list[str]:
        return list(self.choices() if callable(self.choices) else self.choices or [])


FIELDS: dict[str, FieldSpec] = {
    spec.name: spec
    for spec in [
        FieldSpec("dpd", _("days past due"), FieldKind.DAYS, "account__days_past_due"),
        FieldSpec("bucket", _("delinquency bucket"), FieldKind.CHOICE, "account__bucket", Bucket.values),
        FieldSpec("overdue_amount", _("overdue amount"), FieldKind.MONEY, "account__overdue_amount"),
        FieldSpec("balance", _("balance"), FieldKind.MONEY, "account__balance"),
        FieldSpec("broken_promises", _("broken promises"), FieldKind.COUNT, "broken_promise_count"),
        FieldSpec("broken_plans", _("broken plans"), FieldKind.COUNT, "broken_plan_count"),
        FieldSpec("days_since_last_rpc", _("days since the last right-party contact"), FieldKind.DAYS, None),
        FieldSpec("state", _("case state"), FieldKind.CHOICE, "state", list(RULE_STATES)),
        FieldSpec("product", _("product"), FieldKind.CHOICE, "account__product", Product.values),
        FieldSpec(
            "jurisdiction",
            _("jurisdiction"),
            FieldKind.CHOICE,
            "account__cardholder__jurisdiction",
            _jurisdiction_codes,
        ),
    ]
}


# --- Checking a rule's conditions -----------------------------------------------------------------


class _Bad(Exception):
    pass


def _whole_number(spec: FieldSpec, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad(
            _("%(field)s needs a whole number, not %(value)s.") % {"field": spec.name, "value": _show(value)}
        )
    if value < 0:
        raise _Bad(
            _("%(field)s cannot be negative (%(value)s).") % {"field": spec.name, "value": _show(value)}
        )
    return value


def _money(spec: FieldSpec, value) -> str:
    # Money is Decimal: a JSON number with a fraction arrives as a float, and floats are refused rather
    # than rounded; amounts with cents are written as strings.
    if isinstance(value, bool | float) or not isinstance(value, int | str):
        raise _Bad(
            _('%(field)s needs an amount such as 50000 or "50000.00" (a string for cents), not %(value)s.')
            % {"field": spec.name, "value": _show(value)}
        )
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise _Bad(
            _("%(field)s needs an amount, not %(value)s.") % {"field": spec.name, "value": _show(value)}
        ) from None
    if not amount.is_finite() or amount != amount.quantize(CENT):
        raise _Bad(
            _("%(field)s needs an amount with at most two decimals, not %(value)s.")
            % {"field": spec.name, "value": _show(value)}
        )
    if amount < 0:
        raise _Bad(
            _("%(field)s cannot be negative (%(value)s).") % {"field": spec.name, "value": _show(value)}
        )
    return str(amount.quantize(CENT))


def _choice(spec: FieldSpec, value, allowed: list[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise _Bad(
            _("%(value)s is not a known %(field)s; choose from: %(choices)s.")
            % {"value": _show(value), "field": spec.name, "choices": ", ".join(allowed) or "-"}
        )
    return value


def _show(value) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _scalar(spec: FieldSpec, value, allowed: list[str] | None):
    if spec.kind == FieldKind.MONEY:
        return _money(spec, value)
    if spec.kind == FieldKind.CHOICE:
        return _choice(spec, value, allowed or [])
    return _whole_number(spec, value)


def as_number(spec: FieldSpec, value) -> Decimal | int:
    return Decimal(value) if spec.kind == FieldKind.MONEY else value


def _condition(raw, *, choice_cache: dict) -> dict:
    """One condition checked and normalised ({field, operator, value}); raises _Bad with the reason."""
    if not isinstance(raw, dict):
        raise _Bad(_('Write each condition as {"field": ..., "operator": ..., "value": ...}.'))
    unknown_keys = sorted(set(raw) - {"field", "operator", "value"})
    if unknown_keys:
        raise _Bad(_("Unknown key(s): %(keys)s.") % {"keys": ", ".join(unknown_keys)})
    name = raw.get("field")
    spec = FIELDS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise _Bad(
            _("Unknown field %(field)s; the fields are: %(fields)s.")
            % {"field": _show(name), "fields": ", ".join(FIELDS)}
        )
    operator = raw.get("operator")
    if operator not in spec.operators:
        raise _Bad(
            _("%(field)s cannot be compared with %(operator)s; use one of: %(operators)s.")
            % {"field": spec.name, "operator": _show(operator), "operators": ", ".join(spec.operators)}
        )
    if "value" not in raw:
        raise _Bad(_("The condition needs a value."))
    value = raw["value"]
    allowed = None
    if spec.kind == FieldKind.CHOICE:
        if spec.name not in choice_cache:
            choice_cache[spec.name] = spec.choice_values()
        allowed = choice_cache[spec.name]
    if operator in (Operator.IN, Operator.NOT_IN):
        if not isinstance(value, list) or not value:
            raise _Bad(_("%(operator)s needs a non-empty list of values.") % {"operator": operator})
        normalised = [_scalar(spec, item, allowed) for item in value]
        normalised = list(dict.fromkeys(normalised))
    elif operator == Operator.BETWEEN:
        if not isinstance(value, list) or len(value) != 2:
            raise _Bad(_("between needs a list of two values: [minimum, maximum]."))
        low, high = (_scalar(spec, item, allowed) for item in value)
        if as_number(spec, low) > as_number(spec, high):
            raise _Bad(
                _("Impossible range: the minimum %(low)s is above the maximum %(high)s.")
                % {"low": low, "high": high}
            )
        normalised = [low, high]
    else:
        normalised = _scalar(spec, value, allowed)
        if operator == Operator.LT and spec.kind != FieldKind.CHOICE and as_number(spec, normalised) == 0:
            raise _Bad(
                _("%(field)s < 0 can never match: %(field)s is never negative.") % {"field": spec.name}
            )
    return {"field": spec.name, "operator": str(operator), "value": normalised}


def _interval_conflicts(conditions: list[dict]) -> list[str]:
    """All-of: the conditions on one field must leave some value possible (dpd > 90 and dpd < 30 cannot)."""
    problems = []
    for name in dict.fromkeys(c["field"] for c in conditions):
        spec = FIELDS[name]
        mine = [c for c in conditions if c["field"] == name]
        if spec.kind == FieldKind.CHOICE:
            allowed = set(spec.choice_values()) if spec.name != "jurisdiction" else None
            for c in mine:
                values = set(c["value"]) if isinstance(c["value"], list) else {c["value"]}
                if c["operator"] in (Operator.EQ, Operator.IN):
                    allowed = values if allowed is None else allowed & values
                elif allowed is not None:
                    allowed -= values
            if allowed is not None and not allowed:
                problems.append(_("The conditions on %(field)s can never all hold.") % {"field": name})
            continue
        step = CENT if spec.kind == FieldKind.MONEY else 1
        low, high = as_number(spec, "0" if spec.kind == FieldKind.MONEY else 0), None
        for c in mine:
            op, value = c["operator"], c["value"]
            if op == Operator.BETWEEN:
                bounds = [(as_number(spec, value[0]), as_number(spec, value[1]))]
            elif op == Operator.NE:
                continue
            else:
                v = as_number(spec, value)
                bounds = [
                    {
                        Operator.EQ: (v, v),
                        Operator.GT: (v + step, None),
                        Operator.GTE: (v, None),
                        Operator.LT: (None, v - step),
                        Operator.LTE: (None, v),
                    }[op]
                ]
            for lo, hi in bounds:
                if lo is not None:
                    low = max(low, lo)
                if hi is not None:
                    high = hi if high is None else min(high, hi)
        if high is not None and low > high:
            problems.append(
                _(
                    "The conditions on %(field)s can never all hold "
                    "(it would have to be at least %(low)s and at most %(high)s)."
                )
                % {"field": name, "low": low, "high": high}
            )
    return problems


def validate_conditions(conditions, match_mode: str) -> list[dict]:
    """The conditions checked and normalised; raises ValidationError listing every problem."""
    if not isinstance(conditions, list):
        raise ValidationError({"conditions": _("Write the conditions as a list.")})
    if not conditions:
        raise ValidationError(
            {"conditions": _("Give at least one condition: a rule without one would match every open case.")}
        )
    errors, normalised, choice_cache = [], [], {}
    for number, raw in enumerate(conditions, start=1):
        try:
            normalised.append(_condition(raw, choice_cache=choice_cache))
        except _Bad as bad:
            errors.append(_("Condition %(n)s: %(problem)s") % {"n": number, "problem": bad.args[0]})
    if not errors and match_mode == MatchMode.ALL:
        errors.extend(_interval_conflicts(normalised))
    if errors:
        raise ValidationError({"conditions": errors})
    return normalised


def describe_condition(condition: dict) -> str:
    op = Operator(condition["operator"])
    value = condition["value"]
    if op == Operator.BETWEEN:
        shown = f"{value[0]}–{value[1]}"
    elif isinstance(value, list):
        shown = ", ".join(str(v) for v in value)
    else:
        shown = str(value)
    return f"{condition['field']} {op.label} {shown}"


# --- The models -------------------------------------------------------------------------------------


class EscalationRule(models.Model):
    """An admin-defined rule: conditions over open cases and what to do with the cases that match.

    Rules run in `order` (then id); the first rule that matches a case is the one that acts on it. A rule
    fires at most once per case and `version`: changing what a rule says (conditions, match mode,
    actions) makes it a new version, which may fire again on a case the old one fired on. A dry-run rule
    records what it would do and changes nothing."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    order = models.PositiveIntegerField(_("order"), default=100, help_text=_("Lower runs first."))
    enabled = models.BooleanField(_("enabled"), default=False)
    dry_run = models.BooleanField(
        _("dry run"),
        default=True,
        help_text=_("Record what the rule would do, change nothing. Turn off once the preview looks right."),
    )
    match_mode = models.CharField(_("match"), max_length=8, choices=MatchMode.choices, default=MatchMode.ALL)
    conditions = models.JSONField(
        _("conditions"),
        default=list,
        blank=True,  # so that clean() explains what an empty list lacks
        help_text=_(
            'A list of {"field": ..., "operator": ..., "value": ...}, e.g. '
            '[{"field": "dpd", "operator": "gte", "value": 91}, '
            '{"field": "balance", "operator": "between", "value": ["50000.00", "500000.00"]}].'
        ),
    )

    # Actions: at least one.
    move_to_legal_review = models.BooleanField(_("move to legal review"), default=False)
    target_queue = models.ForeignKey(
        "collections_app.Queue",
        verbose_name=_("move to queue"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    raise_priority = models.PositiveIntegerField(
        _("raise priority by (points)"), default=0, help_text=_("0 leaves the priority alone.")
    )
    notify_supervisor = models.BooleanField(_("notify the team supervisor"), default=False)

    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    definition_hash = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["order", "pk"]
        verbose_name = _("escalation rule")
        verbose_name_plural = _("escalation rules")
        constraints = [
            models.CheckConstraint(
                condition=Q(match_mode__in=MatchMode.values), name="escalation_rule_match_mode_valid"
            ),
            models.CheckConstraint(
                condition=Q(raise_priority__lte=MAX_PRIORITY_POINTS), name="escalation_rule_points_capped"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        # The version counts changes of what the rule says (not of its name, order or switches), so that a
        # rule fires again on a case only for a new reason (EscalationFiring.reason_key).
        new_hash = self.compute_definition_hash()
        if self.definition_hash and new_hash != self.definition_hash:
            self.version += 1
        self.definition_hash = new_hash
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "version", "definition_hash"}
        super().save(*args, **kwargs)

    @property
    def is_live(self) -> bool:
        return self.enabled and not self.dry_run

    @property
    def reason_key(self) -> str:
        """What "the same reason" means for this rule: its version (see the class docstring)."""
        return f"v{self.version}"

    def actions(self) -> list[dict]:
        actions = []
        if self.move_to_legal_review:
            actions.append({"action": "move_to_legal_review"})
        if self.target_queue_id:
            actions.append({"action": "move_to_queue", "queue": self.target_queue_id})
        if self.raise_priority:
            actions.append({"action": "raise_priority", "points": self.raise_priority})
        if self.notify_supervisor:
            actions.append({"action": "notify_supervisor"})
        return actions

    def describe_conditions(self) -> str:
        joiner = " AND " if self.match_mode == MatchMode.ALL else " OR "
        try:
            return joiner.join(describe_condition(c) for c in self.conditions)
        except (KeyError, TypeError, ValueError, IndexError):
            return _show(self.conditions)

    def describe_conditions_for_people(self) -> str:
        """The conditions in the reader's language: each field by its label (`describe_conditions` keeps
        the field codes, for admins writing rules and for the reasons the rules store)."""
        joiner = " %s " % (_("and") if self.match_mode == MatchMode.ALL else _("or"))
        try:
            return joiner.join(
                describe_condition({**c, "field": str(FIELDS[c["field"]].label)})
                if c.get("field") in FIELDS
                else describe_condition(c)
                for c in self.conditions
            )
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            return self.describe_conditions()

    def describe_actions(self) -> str:
        parts = []
        if self.move_to_legal_review:
            parts.append(str(_("legal review")))
        if self.target_queue_id:
            parts.append(str(_("queue %(queue)s") % {"queue": self.target_queue}))
        if self.raise_priority:
            parts.append(str(_("priority +%(points)s") % {"points": self.raise_priority}))
        if self.notify_supervisor:
            parts.append(str(_("notify supervisor")))
        return ", ".join(parts)

    def compute_definition_hash(self) -> str:
        definition = {
            "match_mode": self.match_mode,
            "conditions": self.conditions,
            "actions": self.actions(),
        }
        return hashlib.sha256(json.dumps(definition, sort_keys=True, default=str).encode()).hexdigest()

    def clean(self) -> None:
        errors: dict[str, list] = {}
        try:
            self.conditions = validate_conditions(self.conditions, self.match_mode)
        except ValidationError as error:
            errors.update(error.message_dict)
        if not self.actions():
            errors.setdefault("__all__", []).append(
                _(
                    "Choose at least one action: move to legal review, move to a queue, raise the priority "
                    "or notify the supervisor."
                )
            )
        if self.raise_priority > MAX_PRIORITY_POINTS:
            errors.setdefault("raise_priority", []).append(
                _("At most %(n)s points.") % {"n": MAX_PRIORITY_POINTS}
            )
        if self.target_queue_id:
            queue = Queue.objects.filter(pk=self.target_queue_id).first()
            if queue is None:
                errors.setdefault("target_queue", []).append(
                    _("Unknown queue (id %(id)s).") % {"id": self.target_queue_id}
                )
            elif not queue.active:
                errors.setdefault("target_queue", []).append(
                    _("The queue %(queue)s is not active.") % {"queue": queue.name}
                )
        if self.move_to_legal_review and not errors.get("conditions"):
            only_hold = [
                c
                for c in self.conditions
                if c["field"] == "state" and c["operator"] == Operator.EQ and c["value"] == CaseState.ON_HOLD
            ]
            if only_hold and self.match_mode == MatchMode.ALL:
                errors.setdefault("move_to_legal_review", []).append(
                    _("Cases on hold cannot go to legal review; the hold must be released first.")
                )
        if errors:
            raise ValidationError(errors)


class FiringOutcome(models.TextChoices):
    FIRED = "fired", _("Fired")
    SKIPPED = "skipped", _("Refused")


class SkipReason(models.TextChoices):
    OPEN_DISPUTE = "open_dispute", _("A dispute is open")
    LIMITATION_EXPIRED = "limitation_expired", _("Past the limitation date")
    ON_HOLD = "on_hold", _("The case is on hold")


class EscalationFiring(models.Model):
    """One rule acting (or refusing to act, or in dry run: what it would have done) on one case.
    Written by escalation.services.run_rules only; never edited."""

    rule = models.ForeignKey(EscalationRule, on_delete=models.PROTECT, related_name="firings")
    case = models.ForeignKey(
        "collections_app.Case", on_delete=models.PROTECT, related_name="escalation_firings"
    )
    reason_key = models.CharField(_("reason"), max_length=64)
    rule_version = models.PositiveIntegerField(_("rule version"))
    dry_run = models.BooleanField(_("dry run"), default=False)
    outcome = models.CharField(_("outcome"), max_length=8, choices=FiringOutcome.choices)
    skip_reason = models.CharField(
        _("refused because"), max_length=24, choices=SkipReason.choices, blank=True
    )
    detail = models.TextField(_("detail"), blank=True)
    actions = models.JSONField(_("actions"), default=list, blank=True)
    # The lasting effects of a live firing, for the nightly steps that recompute assignment: the points
    # the rule added to the case's priority, and the queue it pinned the case to (see escalation.py).
    priority_points = models.PositiveIntegerField(_("priority points"), default=0)
    queue = models.ForeignKey(
        "collections_app.Queue",
        verbose_name=_("queue"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    as_of = models.DateField(_("run date"))
    created_at = models.DateTimeField(_("recorded"), default=timezone.now)

    class Meta:
        verbose_name = _("escalation firing")
        verbose_name_plural = _("escalation firings")
        constraints = [
            # A rule never acts twice on a case for the same reason.
            models.UniqueConstraint(
                fields=["rule", "case", "reason_key"],
                condition=Q(dry_run=False, outcome="fired"),
                name="escalation_fires_once_per_reason",
            ),
            # Dry runs and refusals are recorded once each, however many nights they repeat.
            models.UniqueConstraint(
                fields=["rule", "case", "reason_key", "dry_run", "outcome", "skip_reason"],
                name="escalation_firing_recorded_once",
            ),
            models.CheckConstraint(
                condition=Q(outcome__in=FiringOutcome.values), name="firing_outcome_valid"
            ),
            models.CheckConstraint(
                condition=Q(outcome="fired", skip_reason="") | (Q(outcome="skipped") & ~Q(skip_reason="")),
                name="firing_skip_reason_iff_skipped",
            ),
        ]
        indexes = [models.Index(fields=["case", "-created_at"], name="firing_case_time_idx")]

    def __str__(self) -> str:
        return f"{self.rule} → {self.case_id} ({self.get_outcome_display()})"
