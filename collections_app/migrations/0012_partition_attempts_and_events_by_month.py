"""Contact attempts and case events become monthly range partitions (collections_app.partitions): each
table is rebuilt as a partitioned table with its rows, ids, indexes, constraints and - for case events -
its hash chain, the months of the existing rows plus the next ones, and a DEFAULT partition. On SQLite it
does nothing. Takes an exclusive lock on both tables while their rows are copied: on a large database,
run it in a maintenance window. The database foreign keys pointing at these tables were removed first
(0011 here, telephony 0002, dashboards 0005): a partitioned table's primary key includes the month."""

from django.db import migrations

import collections_app.partitions


class Migration(migrations.Migration):
    dependencies = [
        ("collections_app", "0011_partition_keys_without_db_constraint"),
        ("telephony", "0002_attempt_without_db_constraint"),
        ("dashboards", "0005_inbox_event_without_db_constraint"),
    ]

    operations = [
        collections_app.partitions.PartitionByMonth("contactattempt", "started_at"),
        collections_app.partitions.PartitionByMonth(
            "caseevent",
            "created_at",
            # The hash chain of collections_app 0005, installed again on the partitioned table.
            chain={
                "chain_by": "case",
                "content": [
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
            },
        ),
    ]
