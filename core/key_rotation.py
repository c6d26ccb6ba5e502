"""Re-encrypting what is stored under an older key (`manage.py rotate_pii_keys`; docs/operations.md,
"Encryption keys"): every EncryptedTextField column of every model, in batches by primary key.

A token the newest key already opens is left as it is, so a rerun (after an interruption, or twice by
mistake) writes nothing. Each row is written back only if its column still holds the token that was read
(compare-and-set): a value an agent or the import changes meanwhile is never overwritten with the old one.
Fernet is not available in SQL, so the tokens are read and written in Python; the statements are raw SQL
because the field itself would decrypt what it reads."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from django.apps import apps
from django.db import connection, transaction

from core import crypto
from core.fields import EncryptedTextField

BATCH = 1000


@dataclass
class ColumnRotation:
    label: str  # "collections_app.Cardholder.national_id"
    rotated: int = 0
    current: int = 0  # already under the newest key


def encrypted_columns() -> list[tuple[type, EncryptedTextField]]:
    return [
        (model, field)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedTextField) and not model._meta.proxy
    ]


def rotate_all(*, batch_size: int = BATCH) -> list[ColumnRotation]:
    newest = Fernet(crypto.configured_keys()[0])
    return [rotate_column(model, field, newest, batch_size) for model, field in encrypted_columns()]


def rotate_column(model, field, newest: Fernet, batch_size: int = BATCH) -> ColumnRotation:
    quote = connection.ops.quote_name
    table, column, pk = quote(model._meta.db_table), quote(field.column), quote(model._meta.pk.column)
    result = ColumnRotation(label=f"{model._meta.label}.{field.name}")
    last = None
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            after = "" if last is None else f"AND {pk} > %s "
            cursor.execute(
                f"SELECT {pk}, {column} FROM {table} WHERE {column} <> '' {after}"  # noqa: S608
                f"ORDER BY {pk} LIMIT %s",
                [*([] if last is None else [last]), batch_size],
            )
            rows = cursor.fetchall()
            if not rows:
                return result
            last = rows[-1][0]
            changes = []
            for key, token in rows:
                if _opens(newest, token):
                    result.current += 1
                    continue
                changes.append((crypto.rotate(token, what=result.label), key, token))
            if changes:
                cursor.executemany(
                    f"UPDATE {table} SET {column} = %s WHERE {pk} = %s AND {column} = %s",  # noqa: S608
                    changes,
                )
            result.rotated += len(changes)


def _opens(fernet: Fernet, token: str) -> bool:
    try:
        fernet.decrypt(token.encode())
    except InvalidToken:
        return False
    return True
