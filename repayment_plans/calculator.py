"""Repayment-plan arithmetic: the schedule of a plan, the limits it breaks, and who may approve it.

Pure functions over frozen values: no database and no clock (`today` is always an argument), so every
money and date rule is tested at its edges without fixtures, and the service that stores a plan
(`plan_propose`) and any page that previews one compute the same schedule.

Money is `Decimal` in whole cents (the account currencies have two minor units); a float is refused.

How bad input is reported - one rule: what no approver could accept is raised, what a higher tier could
approve is returned.

- `PlanInputError` (a `ValueError` with `code`, `field`, a translatable `message` and `params`) for terms
  that do not describe a plan: a non-positive amount, zero installments, a discount outside 0-100, a down
  payment that swallows the amount, a float or fractional cent, a field the plan kind does not have, and
  a first due date in the past. `PlanTerms` checks the shape when it is built, so a `PlanTerms` that
  exists always yields a schedule; the past date is checked by `check_limits` and `approver_for`, the
  first functions that are told `today`.
- `Violation` (`code`, `message`, `params`) returned by `check_limits` for a plan outside one tier's
  `PlanLimits`: kind not allowed, too many installments, too long a term, too deep a discount, an
  installment below the minimum, a first due date beyond the horizon. `approver_for` walks the tiers.

Both share one namespace of codes, so a page or the API turns either into a form error the same way.
`PlanKind` and `Frequency` are `TextChoices`, so the plan models can declare `choices=PlanKind.choices`.
"""

import calendar
import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import TypeVar

from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
HUNDRED = Decimal("100")

# China: the credit-card rules (商业银行信用卡业务监督管理办法, 2011, art. 70) cap a personalised
# installment agreement (个性化分期) at five years. A tier may grant less, never more by default.
PERSONALISED_MAX_TERM_MONTHS = 60


class PlanKind(models.TextChoices):
    INSTALLMENT = "installment", _("Installment plan")
    MOVED_DUE_DATE = "moved_due_date", _("Moved due date")
    SETTLEMENT = "settlement", _("Settlement")
    # 个性化分期: a long hardship plan; interest and fees stay frozen while it is kept, so the schedule
    # repays the frozen balance and nothing else.
    PERSONALISED_INSTALLMENT = "personalised_installment", _("Personalised installment plan")


class Frequency(models.TextChoices):
    WEEKLY = "weekly", _("Weekly")
    BIWEEKLY = "biweekly", _("Every two weeks")
    MONTHLY = "monthly", _("Monthly")


def _render(message: str | Promise, params: Mapping[str, object]) -> str:
    # Formatting waits until display so that the lazy message is translated in the viewer's language.
    return str(message) % params if params else str(message)


class PlanInputError(ValueError):
    """Terms that no approver could accept. `field` names the input to point at (empty: the whole plan)."""

    def __init__(
        self,
        code: str,
        message: str | Promise,
        *,
        field: str = "",
        params: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(code)
        self.code = code
        self.message = message
        self.field = field
        self.params = dict(params or {})

    def __str__(self) -> str:
        return _render(self.message, self.params)


@dataclass(frozen=True)
class Violation:
    """One limit of one tier that the plan breaks; a higher tier may still approve the plan."""

    code: str
    message: str | Promise
    params: dict[str, object] = dataclasses.field(default_factory=dict)

    def __str__(self) -> str:
        return _render(self.message, self.params)


@dataclass(frozen=True, kw_only=True)
class PlanTerms:
    """What the agent and the customer agreed, before any limit is applied.

    `amount` is what the plan repays: the overdue amount for an installment plan or a moved due date, the
    balance being settled for a settlement (of which `discount_percent` is waived when the plan is kept),
    the frozen balance for a personalised installment. A down payment is part of what is repaid; it is
    due on `down_payment_due_date`, or on `first_due_date` when none is given.
    """

    kind: PlanKind
    amount: Decimal
    first_due_date: date
    installments: int = 1
    frequency: Frequency = Frequency.MONTHLY
    down_payment: Decimal = ZERO
    down_payment_due_date: date | None = None
    discount_percent: Decimal = ZERO

    def __post_init__(self) -> None:
        # Strings from a form or a model field become enum members, so `is` and `in` work downstream.
        object.__setattr__(self, "kind", _choice(PlanKind, self.kind, "kind", "unknown_kind"))
        object.__setattr__(
            self, "frequency", _choice(Frequency, self.frequency, "frequency", "unknown_frequency")
        )
        _require_money(self.amount, "amount")
        _require_money(self.down_payment, "down_payment")
        _require_decimal(self.discount_percent, "discount_percent")
        _require_date(self.first_due_date, "first_due_date")
        if self.down_payment_due_date is not None:
            _require_date(self.down_payment_due_date, "down_payment_due_date")
        if not isinstance(self.installments, int) or isinstance(self.installments, bool):
            raise PlanInputError(
                "not_an_integer",
                _("The number of installments must be a whole number."),
                field="installments",
            )
        self._check_values()
        self._check_fields_fit_kind()
        self._check_amounts()

    def _check_values(self) -> None:
        if self.amount <= ZERO:
            raise PlanInputError(
                "amount_not_positive",
                _("The amount must be more than zero (it is %(amount)s)."),
                field="amount",
                params={"amount": self.amount},
            )
        if self.installments <= 0:
            raise PlanInputError(
                "count_not_positive",
                _("A plan needs at least one installment (it has %(installments)s)."),
                field="installments",
                params={"installments": self.installments},
            )
        if not ZERO <= self.discount_percent <= HUNDRED:
            raise PlanInputError(
                "discount_out_of_range",
                _("The discount must be between 0%% and 100%% (it is %(discount)s%%)."),
                field="discount_percent",
                params={"discount": self.discount_percent},
            )
        if self.down_payment < ZERO:
            raise PlanInputError(
                "down_payment_negative",
                _("The down payment cannot be negative (it is %(down_payment)s)."),
                field="down_payment",
                params={"down_payment": self.down_payment},
            )

    def _check_fields_fit_kind(self) -> None:
        # A field the kind does not have is refused rather than ignored: a silently dropped discount or
        # installment count would leave the customer with a plan other than the one agreed.
        not_applicable = []
        if self.kind != PlanKind.SETTLEMENT and self.discount_percent != ZERO:
            not_applicable.append("discount_percent")
        if self.kind == PlanKind.MOVED_DUE_DATE:
            if self.installments != 1:
                not_applicable.append("installments")
            if self.down_payment != ZERO:
                not_applicable.append("down_payment")
        if self.down_payment == ZERO and self.down_payment_due_date is not None:
            not_applicable.append("down_payment_due_date")
        if not_applicable:
            raise PlanInputError(
                "not_applicable",
                _("%(field)s does not apply to this kind of plan (%(kind)s)."),
                field=not_applicable[0],
                params={"kind": self.kind.label, "field": not_applicable[0]},
            )

    def _check_amounts(self) -> None:
        payable = self.payable
        if payable <= ZERO:
            raise PlanInputError(
                "nothing_payable",
                _("A %(discount)s%% discount leaves nothing to pay; that is a write-off, not a plan."),
                field="discount_percent",
                params={"discount": self.discount_percent},
            )
        if self.down_payment >= payable:
            raise PlanInputError(
                "down_payment_not_below_amount",
                _("The down payment (%(down_payment)s) must be less than the amount to pay (%(payable)s)."),
                field="down_payment",
                params={"down_payment": self.down_payment, "payable": payable},
            )
        if payable - self.down_payment < self.installments * CENT:
            raise PlanInputError(
                "amount_too_small_to_split",
                _("%(rest)s cannot be split into %(installments)s installments of at least one cent."),
                field="installments",
                params={"rest": payable - self.down_payment, "installments": self.installments},
            )
        if self.down_payment_due_date is not None and self.down_payment_due_date >= self.first_due_date:
            raise PlanInputError(
                "down_payment_date_not_before_first_due",
                _("The down payment must fall due before the first installment (%(first_due_date)s)."),
                field="down_payment_due_date",
                params={"first_due_date": self.first_due_date},
            )

    @property
    def payable(self) -> Decimal:
        """What the customer pays: the settled share of a settlement, otherwise the whole amount."""
        if self.kind != PlanKind.SETTLEMENT:
            return self.amount
        return (self.amount * (HUNDRED - self.discount_percent) / HUNDRED).quantize(CENT, ROUND_HALF_UP)

    @property
    def waived(self) -> Decimal:
        """Forgiven once the plan is kept; only a settlement waives anything."""
        return self.amount - self.payable


@dataclass(frozen=True)
class ScheduledInstallment:
    number: int  # 1-based position in the schedule, the down payment included
    due_date: date
    amount: Decimal
    is_down_payment: bool = False


@dataclass(frozen=True)
class Schedule:
    """The lines the customer pays, in due-date order; `total` is their sum, `waived` what is forgiven."""

    lines: tuple[ScheduledInstallment, ...]
    total: Decimal
    waived: Decimal

    @property
    def first_due_date(self) -> date:
        return self.lines[0].due_date

    @property
    def last_due_date(self) -> date:
        return self.lines[-1].due_date


@dataclass(frozen=True, kw_only=True)
class PlanLimits:
    """What one approval tier may grant. `None` means no limit on that dimension.

    A personalised installment is bounded by its own term (`max_personalised_term_months`) instead of
    `max_installments` and `max_term_months`: its point is to be longer than any ordinary plan.
    The minimum installment applies to every line, the down payment included, unless the schedule is a
    single payment (nothing was split, so there is nothing to keep from being too small).
    """

    allowed_kinds: frozenset[PlanKind] = frozenset(PlanKind)
    min_installment_amount: Decimal | None = None
    max_installments: int | None = None
    max_term_months: int | None = None
    max_personalised_term_months: int | None = PERSONALISED_MAX_TERM_MONTHS
    max_discount_percent: Decimal | None = None
    first_due_horizon_days: int | None = None

    def __post_init__(self) -> None:
        # Limits come from admin configuration; a float there would compare inexactly with cents.
        for name in ("min_installment_amount", "max_discount_percent"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Decimal):
                raise TypeError(f"PlanLimits.{name} must be a Decimal or None, not {type(value).__name__}")
        object.__setattr__(self, "allowed_kinds", frozenset(PlanKind(kind) for kind in self.allowed_kinds))


def split_amount(amount: Decimal, count: int) -> list[Decimal]:
    """`count` whole-cent parts of `amount`: equal parts rounded down, the leftover cents on the last."""
    if count <= 0:
        raise ValueError("count must be positive")
    part = (amount / count).quantize(CENT, ROUND_DOWN)
    return [part] * (count - 1) + [amount - part * (count - 1)]


def due_dates(first_due_date: date, frequency: Frequency, count: int, *, offset: int = 0) -> list[date]:
    """Due dates `offset` .. `offset + count - 1` periods after `first_due_date`.

    Monthly dates always count from the first due date's day of the month, clamped to the month end, so
    a plan from 31 January falls on 28 (29) February and again on 31 March instead of drifting to the 28th.
    """
    steps = range(offset, offset + count)
    if frequency == Frequency.MONTHLY:
        return [_add_months(first_due_date, step) for step in steps]
    days = {Frequency.WEEKLY: 7, Frequency.BIWEEKLY: 14}[Frequency(frequency)]
    return [first_due_date + timedelta(days=days * step) for step in steps]


def build_schedule(terms: PlanTerms) -> Schedule:
    """The payment lines of `terms`: the down payment first, then the rest split across the installments.

    Without its own date the down payment is due on the first due date and the installments follow one
    period after each other from there; with an earlier date of its own, the installments start on the
    first due date.
    """
    payable = terms.payable
    rows: list[tuple[date, Decimal, bool]] = []
    offset = 0
    if terms.down_payment > ZERO:
        rows.append((terms.down_payment_due_date or terms.first_due_date, terms.down_payment, True))
        offset = 0 if terms.down_payment_due_date else 1
    amounts = split_amount(payable - terms.down_payment, terms.installments)
    dates = due_dates(terms.first_due_date, terms.frequency, terms.installments, offset=offset)
    rows.extend((due, amount, False) for due, amount in zip(dates, amounts, strict=True))
    lines = tuple(
        ScheduledInstallment(number=number, due_date=due, amount=amount, is_down_payment=down)
        for number, (due, amount, down) in enumerate(rows, start=1)
    )
    return Schedule(lines=lines, total=sum((line.amount for line in lines), ZERO), waived=terms.waived)


def term_months(schedule: Schedule, today: date) -> int:
    """Whole months from `today` until the last payment, rounded up: how long the customer is bound."""
    months = (schedule.last_due_date.year - today.year) * 12 + schedule.last_due_date.month - today.month
    return months if _add_months(today, months) >= schedule.last_due_date else months + 1


def check_limits(terms: PlanTerms, schedule: Schedule, limits: PlanLimits, today: date) -> list[Violation]:
    """Every limit of `limits` that the plan breaks; empty when the tier may approve it.

    `schedule` must be `build_schedule(terms)`. Raises `PlanInputError` ("first_due_in_past") when a
    payment would fall due before `today`: no tier can approve a date that has gone.
    """
    _require_not_in_past(schedule, today)
    violations: list[Violation] = []
    if terms.kind not in limits.allowed_kinds:
        violations.append(
            Violation(
                "kind_not_allowed",
                _("%(kind)s needs a higher approval."),
                {"kind": terms.kind.label},
            )
        )
    personalised = terms.kind == PlanKind.PERSONALISED_INSTALLMENT
    max_installments = None if personalised else limits.max_installments
    if max_installments is not None and terms.installments > max_installments:
        violations.append(
            Violation(
                "max_installments",
                _("%(installments)s installments is more than the %(max_installments)s allowed."),
                {"installments": terms.installments, "max_installments": max_installments},
            )
        )
    max_term = limits.max_personalised_term_months if personalised else limits.max_term_months
    term = term_months(schedule, today)
    if max_term is not None and term > max_term:
        violations.append(
            Violation(
                "max_term",
                _("A term of %(term_months)s months is longer than the %(max_term_months)s months allowed."),
                {"term_months": term, "max_term_months": max_term},
            )
        )
    if limits.max_discount_percent is not None and terms.discount_percent > limits.max_discount_percent:
        violations.append(
            Violation(
                "max_discount",
                _("A discount of %(discount)s%% is more than the %(max_discount)s%% allowed."),
                {"discount": terms.discount_percent, "max_discount": limits.max_discount_percent},
            )
        )
    smallest = _smallest_split_line(schedule.lines)
    if (
        limits.min_installment_amount is not None
        and smallest is not None
        and smallest < limits.min_installment_amount
    ):
        violations.append(
            Violation(
                "min_installment",
                _("An installment of %(amount)s is below the minimum of %(min_amount)s."),
                {"amount": smallest, "min_amount": limits.min_installment_amount},
            )
        )
    days_ahead = (schedule.first_due_date - today).days
    if limits.first_due_horizon_days is not None and days_ahead > limits.first_due_horizon_days:
        violations.append(
            Violation(
                "first_due_beyond_horizon",
                _("The first payment is due in %(days)s days; at most %(horizon_days)s days are allowed."),
                {"days": days_ahead, "horizon_days": limits.first_due_horizon_days},
            )
        )
    return violations


def approver_for(
    terms: PlanTerms, schedule: Schedule, tiers: Sequence[tuple[str, PlanLimits]], today: date
) -> str | None:
    """The role of the first tier (lowest first) whose limits the plan fits, i.e. who may approve it.

    `None` means no tier may: the plan is beyond everyone and goes to legal review. Raises
    `PlanInputError` for a payment due in the past rather than sending an impossible plan to legal.
    """
    _require_not_in_past(schedule, today)
    for role, limits in tiers:
        if not check_limits(terms, schedule, limits, today):
            return role
    return None


def _add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _smallest_split_line(lines: Iterable[ScheduledInstallment]) -> Decimal | None:
    amounts = [line.amount for line in lines]
    return min(amounts) if len(amounts) > 1 else None


def _require_not_in_past(schedule: Schedule, today: date) -> None:
    if schedule.first_due_date < today:
        raise PlanInputError(
            "first_due_in_past",
            _("The first payment cannot fall due in the past (%(due_date)s is before %(today)s)."),
            field="first_due_date",
            params={"due_date": schedule.first_due_date, "today": today},
        )


_Choice = TypeVar("_Choice", bound=models.TextChoices)


def _choice(choices: type[_Choice], value: object, field: str, code: str) -> _Choice:
    try:
        return choices(value)
    except ValueError:
        raise PlanInputError(
            code,
            _("%(value)r is not a known %(field)s."),
            field=field,
            params={"value": value, "field": field},
        ) from None


def _require_decimal(value: object, field: str) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise PlanInputError(
            "not_a_decimal",
            _("%(field)s must be a finite Decimal, never a float."),
            field=field,
            params={"field": field},
        )
    return value


def _require_money(value: object, field: str) -> None:
    amount = _require_decimal(value, field)
    if amount != amount.quantize(CENT):
        raise PlanInputError(
            "not_whole_cents",
            _("%(field)s must be in whole cents (it is %(value)s)."),
            field=field,
            params={"field": field, "value": amount},
        )


def _require_date(value: object, field: str) -> None:
    # A datetime is a date subclass, but it cannot be compared with `today` and carries a time zone question.
    if not isinstance(value, date) or isinstance(value, datetime):
        raise PlanInputError(
            "not_a_date", _("%(field)s must be a date."), field=field, params={"field": field}
        )
