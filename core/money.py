"""Money: Decimal amounts with two places, in the account's currency (never float).

Amounts in different currencies are never added together: a figure over accounts of several currencies
is an `Amounts` (currency -> amount), shown one line per currency. `format_money` writes one amount with
its currency's symbol and the grouping of the reader's language (Babel's CLDR data)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal

from babel.numbers import format_currency, format_decimal

ZERO = Decimal("0.00")
# The field arguments of every money column.
MONEY = {"max_digits": 14, "decimal_places": 2}

# Django language code -> the CLDR locale whose symbols and grouping we show. English readers get the
# US conventions ("$12,345.00", "CN¥1,234,567.00"); Chinese readers the mainland ones ("¥", "US$").
LOCALES = {"en": "en_US", "zh-hans": "zh_Hans_CN"}
DEFAULT_LOCALE = "en_US"
SEPARATOR = " · "


def locale_for(language: str | None) -> str:
    if not language:
        return DEFAULT_LOCALE
    language = language.lower()
    return LOCALES.get(language) or LOCALES.get(language.split("-")[0], DEFAULT_LOCALE)


def format_money(amount, currency: str = "", language: str | None = None) -> str:
    """One amount as the reader's language writes it: "¥1,234,567.00", "$12,345.00". Without a
    currency (an amount whose currency the caller does not know), the number with grouping only."""
    value = Decimal(amount).quantize(ZERO)
    locale = locale_for(language)
    if not currency:
        return format_decimal(value, format="#,##0.00", locale=locale)
    return format_currency(value, currency, locale=locale)


class Amounts(Mapping):
    """Money in one or more currencies: currency -> Decimal, never summed across currencies.

    Adding two Amounts adds per currency. An Amounts compares equal to a plain dict with the same
    (non-zero) amounts, so tests can write `{"CNY": Decimal("10.00")}`. Zero amounts are dropped: a
    currency appears only when something was counted in it."""

    __slots__ = ("_amounts",)

    def __init__(self, amounts: Mapping | Iterable[tuple[str, object]] = ()):
        items = amounts.items() if isinstance(amounts, Mapping) else amounts
        totals: dict[str, Decimal] = {}
        for currency, amount in items:
            value = Decimal(str(amount or 0))
            totals[currency or ""] = totals.get(currency or "", ZERO) + value
        self._amounts = {c: v.quantize(ZERO) for c, v in sorted(totals.items()) if v}

    def __getitem__(self, currency: str) -> Decimal:
        return self._amounts[currency]

    def __iter__(self) -> Iterator[str]:
        return iter(self._amounts)

    def __len__(self) -> int:
        return len(self._amounts)

    def get(self, currency: str, default=ZERO) -> Decimal:  # noqa: D102 - a missing currency is zero
        return self._amounts.get(currency, default)

    def __add__(self, other: Mapping) -> Amounts:
        return Amounts([*self.items(), *other.items()])

    def __eq__(self, other) -> bool:
        if isinstance(other, Mapping):
            return self._amounts == {c: Decimal(v) for c, v in other.items() if v}
        return NotImplemented

    __hash__ = None  # mutable-looking mapping semantics; not used as a key

    def __repr__(self) -> str:
        return f"Amounts({self._amounts!r})"

    def format(self, language: str | None = None, separator: str = SEPARATOR) -> str:
        """Every currency's amount, one after the other ("¥1,234.00 · $12.00"); "0.00" when empty."""
        if not self._amounts:
            return format_money(ZERO, "", language)
        return separator.join(format_money(v, c, language) for c, v in self._amounts.items())
