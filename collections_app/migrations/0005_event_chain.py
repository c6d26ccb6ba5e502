"""Case events form one hash chain per case (core.chains): the columns, the hashes of the events already
there (in id order, set-based), the INSERT trigger that links new ones, and the trigger that refuses
UPDATE and DELETE."""

from django.db import migrations

import core.chains


class Migration(migrations.Migration):
    dependencies = [
        ("collections_app", "0004_attempt_disclosures"),
    ]

    operations = [
        migrations.AddField(
            model_name="caseevent",
            name="prev_hash",
            field=core.chains.ChainHashField(verbose_name="previous hash"),
        ),
        migrations.AddField(
            model_name="caseevent",
            name="row_hash",
            field=core.chains.ChainHashField(verbose_name="row hash"),
        ),
        core.chains.InstallChain(
            "caseevent",
            chain_by="case",
            content=[
                "id",
                "case",
                "kind",
                "from_state",
                "to_state",
                "actor",
                "reason",
                "details",
                "created_at",
            ],
        ),
    ]
