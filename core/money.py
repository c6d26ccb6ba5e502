"""Money: Decimal amounts with two places, in the account's currency (never float)."""

from decimal import Decimal

ZERO = Decimal("0.00")
# The field arguments of every money column.
MONEY = {"max_digits": 14, "decimal_places": 2}
