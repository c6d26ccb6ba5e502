"""The case events' INSERT trigger locks the case (FOR KEY SHARE, what the foreign key's check takes at
commit) before the chain: a writer that had written an event and one that had locked the case FOR UPDATE
could otherwise deadlock (core.chains, ChainSQL.link_function)."""

from django.db import migrations

import core.chains


class Migration(migrations.Migration):
    dependencies = [
        ("collections_app", "0009_access_record_chain"),
    ]

    operations = [
        core.chains.RelinkChain(
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
