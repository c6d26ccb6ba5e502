"""Finding a person by a national ID, a card number or a phone number without the value ever being in a
URL, a log line or a query: the admin's POST search (collections_app.admin) matches keyed hashes
(core.masking.pii_hash) stored beside the values (Cardholder.national_id_hash,
CreditAccount.card_number_hash, ContactPoint.value_hash). National IDs and card numbers are encrypted at
rest (core.crypto), so their hashes are the only way to find them.

The hashes are set by the models' save() and by every bulk path that writes the values (the daily
import); `pii_hash_refresh` recomputes them all, in chunks (after a key change, or after a bulk load
that wrote values without them, such as demo.seed)."""

from __future__ import annotations

import re

from django.db.models import Q, QuerySet

from collections_app.models import Cardholder, ContactPoint, CreditAccount
from core.masking import pii_hash, pii_normal

REFRESH_CHUNK = 2000


def pii_search_hashes(value: str) -> set[str]:
    """The hashes a typed value may be stored under: as typed, and a Chinese mobile number with and
    without its +86 prefix (the import stores what the bank's file has)."""
    normal = pii_normal(value)
    variants = {normal}
    if re.fullmatch(r"1[3-9]\d{9}", normal):
        variants.add("+86" + normal)
    elif re.fullmatch(r"(\+|00)?861[3-9]\d{9}", normal):
        variants.add(normal[-11:])
    return {h for h in map(pii_hash, variants) if h}


def cardholders_matching_pii(value: str) -> QuerySet[Cardholder]:
    """Cardholders whose national ID, one of whose card numbers, or one of whose numbers or addresses, is
    `value` (exact match on the keyed hash; indexed)."""
    hashes = pii_search_hashes(value)
    if not hashes:
        return Cardholder.objects.none()
    points = ContactPoint.objects.filter(value_hash__in=hashes).values("cardholder_id")
    cards = CreditAccount.objects.filter(card_number_hash__in=hashes).values("cardholder_id")
    return Cardholder.objects.filter(Q(national_id_hash__in=hashes) | Q(pk__in=points) | Q(pk__in=cards))


def pii_hash_refresh() -> dict[str, int]:
    """Recompute every stored hash that differs from its value's; returns the number of rows changed per
    table. Loops over chunks with bulk_update (there is no HMAC in SQL without an extension, and national
    IDs and card numbers are encrypted: the model decrypts them as it reads each chunk)."""
    changed = {"cardholders": 0, "contact_points": 0, "accounts": 0}
    for model, source, target, key in (
        (Cardholder, "national_id", "national_id_hash", "cardholders"),
        (ContactPoint, "value", "value_hash", "contact_points"),
        (CreditAccount, "card_number", "card_number_hash", "accounts"),
    ):
        last = 0
        while True:
            rows = list(
                model.objects.filter(pk__gt=last).order_by("pk").only("pk", source, target)[:REFRESH_CHUNK]
            )
            if not rows:
                break
            last = rows[-1].pk
            stale = []
            for row in rows:
                wanted = pii_hash(getattr(row, source))
                if getattr(row, target) != wanted:
                    setattr(row, target, wanted)
                    stale.append(row)
            model.objects.bulk_update(stale, [target])
            changed[key] += len(stale)
    return changed
