"""The case events' INSERT trigger keeps each chain's head (the last event's id, month and row_hash) in the
chain's lock row, which it updates anyway, and links the next event to it: it no longer searches the
(case, id) index of every monthly partition for the previous event (core.chains, KeepChainHeads). The
heads of the chains already there are recorded set-based; a chain without a head falls back to the
search. The access records' chain (one chain, not partitioned) gets the same trigger."""

from django.db import migrations

import core.chains


class Migration(migrations.Migration):
    dependencies = [
        ("collections_app", "0015_case_claimable_idx_across_queues"),
    ]

    operations = [
        core.chains.KeepChainHeads(
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
        core.chains.KeepChainHeads(
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
