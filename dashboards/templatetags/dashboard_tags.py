"""Display helpers for the dashboard templates: formatting only, no queries."""

from decimal import Decimal

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma

from accounts.permissions import Capability, has_capability
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


@register.filter
def money(value) -> str:
    if value is None:
        return "—"
    return intcomma(f"{Decimal(value):.2f}")


@register.filter
def count(value) -> str:
    return "—" if value is None else intcomma(value)


@register.filter
def kpi_value(value, unit: str) -> str:
    """A KPI value as its unit wants it shown; "—" when there is nothing to divide by."""
    if value is None:
        return "—"
    if unit == "rate":
        return percent(value)
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
