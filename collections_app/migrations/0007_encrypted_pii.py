"""National IDs encrypted at rest, and the card number (encrypted, with its keyed hash and last four).

The column becomes text (a Fernet token is about four times the clear text) and every stored ID is
encrypted with the newest key of PII_ENCRYPTION_KEYS. Fernet is not available in SQL, so the rows are
read and written back in Python, in batches of BATCH by primary key (raw SQL: the model's field would try
to decrypt the clear text it reads). A value that is already a token is left alone, so a rerun after an
interruption finishes the job. The reverse decrypts them back (with the keys configured then)."""

from django.db import migrations, models

import core.fields
from core import crypto

BATCH = 2000


def _rewrite(apps, schema_editor, *, forward: bool) -> None:
    table = schema_editor.connection.ops.quote_name(
        apps.get_model("collections_app", "Cardholder")._meta.db_table
    )
    condition = "NOT LIKE" if forward else "LIKE"
    last = 0
    with schema_editor.connection.cursor() as cursor:
        while True:
            cursor.execute(
                f"SELECT id, national_id FROM {table} WHERE id > %s AND national_id <> '' "  # noqa: S608
                f"AND national_id {condition} %s ORDER BY id LIMIT %s",
                [last, crypto.TOKEN_PREFIX + "%", BATCH],
            )
            rows = cursor.fetchall()
            if not rows:
                break
            last = rows[-1][0]
            change = crypto.encrypt if forward else (lambda token: crypto.decrypt(token, what="national ID"))
            cursor.executemany(
                f"UPDATE {table} SET national_id = %s WHERE id = %s",  # noqa: S608
                [(change(value), pk) for pk, value in rows],
            )


def encrypt_national_ids(apps, schema_editor):
    _rewrite(apps, schema_editor, forward=True)


def decrypt_national_ids(apps, schema_editor):
    _rewrite(apps, schema_editor, forward=False)


class Migration(migrations.Migration):
    dependencies = [
        ("collections_app", "0006_access_record"),
    ]

    operations = [
        migrations.AlterField(
            model_name="cardholder",
            name="national_id",
            field=core.fields.EncryptedTextField(blank=True, max_length=32, verbose_name="national ID"),
        ),
        migrations.RunPython(encrypt_national_ids, decrypt_national_ids, elidable=False),
        migrations.AddField(
            model_name="creditaccount",
            name="card_number",
            field=core.fields.EncryptedTextField(blank=True, max_length=19, verbose_name="card number"),
        ),
        migrations.AddField(
            model_name="creditaccount",
            name="card_number_hash",
            field=models.CharField(blank=True, db_index=True, editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name="creditaccount",
            name="card_last4",
            field=models.CharField(
                blank=True, editable=False, max_length=4, verbose_name="card number (last 4)"
            ),
        ),
    ]
