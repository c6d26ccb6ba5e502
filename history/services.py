"""Operations on the recorded history itself."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection, transaction

from history import models as events

# The personal columns the history keeps of a cardholder and of their contact points: what a purge that
# anonymises the cardholder must also blank in the history (the figures and the who/when stay).
CARDHOLDER_PERSONAL = ("name", "national_id", "email", "address", "attorney_contact")
CONTACT_POINT_PERSONAL = ("value", "party_name")


def _blank(table: str, columns: tuple[str, ...], where_column: str, ids: list[int]) -> int:
    assignments = ", ".join(f"\"{c}\" = ''" for c in columns)
    # Column and table names are this module's constants; the ids are parameters.
    sql = (
        f'UPDATE "{table}" SET {assignments}, pgh_diff = pgh_diff - %s::text[] '  # noqa: S608
        f'WHERE "{where_column}" = ANY(%s)'
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(columns), ids])
        return cursor.rowcount


def history_forget_cardholders(*, cardholder_ids: Iterable[int]) -> int:
    """Blank the personal values (name, national ID, e-mail, address, attorney contact, contact numbers
    and addresses, names of the persons reached) that the history of changes keeps of these cardholders
    and their contact points, old and new values alike; the rest of each event (the time, the actor, the
    other fields) stays. For the retention purge and the erasure of a subject's data: call it in the
    same transaction as the anonymisation of the cardholders themselves. Set-based (two statements);
    idempotent. Returns the number of event rows blanked."""
    ids = list(cardholder_ids)
    if not ids:
        return 0
    with transaction.atomic():
        return _blank(
            events.CardholderChange._meta.db_table, CARDHOLDER_PERSONAL, "pgh_obj_id", ids
        ) + _blank(events.ContactPointChange._meta.db_table, CONTACT_POINT_PERSONAL, "cardholder_id", ids)
