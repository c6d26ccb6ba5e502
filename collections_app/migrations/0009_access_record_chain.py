"""The access records form one hash chain (core.chains), like the case events: who looked at whose
data, and why, cannot be edited or removed without verify_chains naming the first broken link."""

from django.db import migrations

import core.chains


class Migration(migrations.Migration):
    dependencies = [
        ("collections_app", "0008_authority_events"),
    ]

    operations = [
        migrations.AddField(
            model_name="accessrecord",
            name="prev_hash",
            field=core.chains.ChainHashField(verbose_name="previous hash"),
        ),
        migrations.AddField(
            model_name="accessrecord",
            name="row_hash",
            field=core.chains.ChainHashField(verbose_name="row hash"),
        ),
        core.chains.InstallChain(
            "accessrecord",
            chain_by=None,
            content=[
                "id",
                "at",
                "actor",
                "kind",
                "reason",
                "reason_text",
                "cardholder",
                "case",
                "what",
                "masked",
                "rows",
                "source",
                "request_id",
            ],
        ),
    ]
