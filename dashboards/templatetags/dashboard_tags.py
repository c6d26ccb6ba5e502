"""Display helpers for the dashboard templates: formatting only, no queries."""

from collections.abc import Mapping
from decimal import Decimal

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma

from accounts.permissions import Capability, has_capability
from core.money import SEPARATOR
from core.templatetags.money import money
from dashboards.kpis import MEASURES

register = template.Library()


@register.filter
def can(user, capability: str) -> bool:
    return has_capability(user, Capability(capability))


@register.filter
def percent(value) -> str:
    if value is None or value == "":
        return "—"
    return f"{Decimal(value) * 100:.1f}%"


def _rates(value: Mapping) -> str:
    """A rate per currency ("CNY 80.0% · USD 50.0%"); "—" when no currency has a denominator."""
    shown = [f"{currency} {percent(rate)}" for currency, rate in sorted(value.items()) if rate is not None]
    return SEPARATOR.join(shown) or "—"


@register.filter
def count(value) -> str:
    return "—" if value is None else intcomma(value)


@register.filter
def kpi_value(value, unit: str) -> str:
    """A KPI value as its unit wants it shown; "—" when there is nothing to divide by."""
    if value is None:
        return "—"
    if unit == "rate":
        return _rates(value) if isinstance(value, Mapping) else percent(value)
    if unit == "money":
        return money(value)
    if unit == "seconds":
        seconds = int(Decimal(value))
        return f"{seconds // 60}:{seconds % 60:02d}"
    if unit == "per_hour":
        return f"{Decimal(value):.1f}"
    return intcomma(value)


@register.filter
def part_value(value, key: str) -> str:
    if value is None:
        return "—"
    measure = MEASURES.get(key)
    if key == "open_start" or (measure and measure.money):
        return money(value)
    return intcomma(value)


@register.filter
def get(mapping, key):
    return mapping.get(key) if mapping else None


@register.filter
def bar(value, total) -> str:
    """A width in percent for an inline bar (0-100)."""
    try:
        return f"{min(100, max(0, float(value) / float(total) * 100)):.1f}"
    except (TypeError, ValueError, ZeroDivisionError):
        return "0"
