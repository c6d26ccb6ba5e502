"""`{% load money %}`: money as the reader's language writes it, on every page (formatting only)."""

from collections.abc import Mapping

from django import template
from django.utils.translation import get_language

from core.money import Amounts, format_money

register = template.Library()


@register.filter
def money(value, currency: str = "") -> str:
    """`{{ amount|money:account.currency }}` for one amount ("¥1,234.00", "$12,345.00"), `{{ amounts|money }}`
    for a figure per currency (an Amounts: "¥1,234,567.00 · $12,345.00", never one sum). An amount without
    a currency gets grouping only; no amount at all is "—"."""
    if value is None or value == "":
        return "—"
    if isinstance(value, Mapping):
        return Amounts(value).format(get_language())
    return format_money(value, currency, get_language())
