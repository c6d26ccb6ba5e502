from django.db import migrations, models

from core.masking import pii_hash

CHUNK = 2000


def fill_hashes(apps, schema_editor):
    """The keyed hashes of the rows that exist already (collections_app.pii.pii_hash_refresh, with the
    historical models)."""
    for name, source, target in (
        ("Cardholder", "national_id", "national_id_hash"),
        ("ContactPoint", "value", "value_hash"),
    ):
        model = apps.get_model("collections_app", name)
        last = 0
        while True:
            rows = list(model.objects.filter(pk__gt=last).order_by("pk").only("pk", source)[:CHUNK])
            if not rows:
                break
            last = rows[-1].pk
            for row in rows:
                setattr(row, target, pii_hash(getattr(row, source)))
            model.objects.bulk_update(rows, [target])


class Migration(migrations.Migration):
    dependencies = [
        ("collections_app", "0002_case_stored_contactability"),
    ]

    operations = [
        migrations.AddField(
            model_name="cardholder",
            name="national_id_hash",
            field=models.CharField(blank=True, db_index=True, editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name="contactpoint",
            name="value_hash",
            field=models.CharField(blank=True, db_index=True, editable=False, max_length=64),
        ),
        migrations.RunPython(fill_hashes, migrations.RunPython.noop, elidable=True),
    ]
