"""Delinquency arithmetic, in one place: days past due, bucket, the China regulatory risk class, and
how a payment pays down the balance components. The nightly refresh uses the SQL twins of these
functions (`bucket_sql`), built from the same boundaries so the two can never disagree."""

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.db.models import Case, Value, When
from django.db.models.expressions import Combinable
from django.db.models.lookups import LessThanOrEqual
from django.utils.translation import gettext_lazy as _

from collections_app.models import Bucket

ZERO = Decimal("0.00")
BUCKET_LABELS = [Bucket.M1, Bucket.M2, Bucket.M3, Bucket.M4, Bucket.M5, Bucket.M6]
COMPONENTS = ("principal", "interest", "fees", "penalties")


def bucket_boundaries() -> list[int]:
    """Upper DPD bound of M1..M6 (default 30, 60, ... 180), from COLLECTIONS_BUCKET_BOUNDARIES."""
    boundaries = list(settings.COLLECTIONS_BUCKET_BOUNDARIES)
    if len(boundaries) != len(BUCKET_LABELS) or boundaries != sorted(set(boundaries)) or boundaries[0] < 1:
        raise ValueError(
            "COLLECTIONS_BUCKET_BOUNDARIES must be six increasing whole numbers (upper DPD of M1..M6)"
        )
    return boundaries


def days_past_due(first_missed_due_date: date | None, as_of: date) -> int:
    """Days from the first missed due date to `as_of`: the day after the due date is day 1."""
    if first_missed_due_date is None or as_of <= first_missed_due_date:
        return 0
    return (as_of - first_missed_due_date).days


def bucket_for(dpd: int, boundaries: Sequence[int] | None = None) -> str:
    """M1 = 1-30 DPD ... M6 = 151-180, M6+ beyond; 0 DPD is current."""
    if dpd <= 0:
        return Bucket.CURRENT
    for label, upper in zip(BUCKET_LABELS, boundaries or bucket_boundaries(), strict=True):
        if dpd <= upper:
            return label
    return Bucket.M6_PLUS


def bucket_sql(dpd: Combinable, boundaries: Sequence[int] | None = None) -> Case:
    """The same rule as `bucket_for`, as a SQL expression over a DPD expression or field (`F(...)`),
    for set-based updates."""
    bounds = boundaries or bucket_boundaries()
    whens = [When(LessThanOrEqual(dpd, 0), then=Value(str(Bucket.CURRENT)))]
    whens += [
        When(LessThanOrEqual(dpd, upper), then=Value(str(label)))
        for label, upper in zip(BUCKET_LABELS, bounds, strict=True)
    ]
    return Case(*whens, default=Value(str(Bucket.M6_PLUS)))


class RiskClass:
    """The five-category loan classification used by Chinese banks (贷款五级分类), by DPD."""

    NORMAL = "normal"
    SPECIAL_MENTION = "special_mention"
    SUBSTANDARD = "substandard"
    DOUBTFUL = "doubtful"
    LOSS = "loss"
    LABELS = {
        NORMAL: _("Normal (正常)"),
        SPECIAL_MENTION: _("Special mention (关注)"),
        SUBSTANDARD: _("Substandard (次级)"),
        DOUBTFUL: _("Doubtful (可疑)"),
        LOSS: _("Loss (损失)"),
    }


def risk_class_cn(dpd: int) -> str:
    """关注 1-90, 次级 91-120, 可疑 121-180, 损失 over 180 days past due."""
    if dpd <= 0:
        return RiskClass.NORMAL
    if dpd <= 90:
        return RiskClass.SPECIAL_MENTION
    if dpd <= 120:
        return RiskClass.SUBSTANDARD
    if dpd <= 180:
        return RiskClass.DOUBTFUL
    return RiskClass.LOSS


def allocation_order() -> list[str]:
    order = list(settings.COLLECTIONS_ALLOCATION_ORDER)
    if sorted(order) != sorted(COMPONENTS):
        raise ValueError(f"COLLECTIONS_ALLOCATION_ORDER must name each of {', '.join(COMPONENTS)} once")
    return order


def allocate(
    amount: Decimal, components: Mapping[str, Decimal], order: Sequence[str] | None = None
) -> tuple[dict[str, Decimal], Decimal]:
    """Pay `amount` down across the balance components in `order`. Returns what each component
    receives and what is left over (an overpayment, kept as unapplied credit)."""
    if amount <= 0:
        raise ValueError("a payment amount must be positive")
    remaining = amount
    applied: dict[str, Decimal] = {}
    for name in order or allocation_order():
        take = min(remaining, components.get(name, ZERO))
        if take > 0:
            applied[name] = take
            remaining -= take
    return applied, remaining
