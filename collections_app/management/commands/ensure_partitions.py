from django.core.management.base import BaseCommand
from django.db import connection

from collections_app import partitions


class Command(BaseCommand):
    help = (
        "Create the monthly partitions of contact attempts and case events for this month and the next "
        "ones where missing (what the daily beat task does); list the partitions with --list. Idempotent. "
        "Needs the tables' owner (the role that runs migrations)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--months-ahead",
            type=int,
            default=partitions.MONTHS_AHEAD,
            help=f"months after the current one to create (default {partitions.MONTHS_AHEAD})",
        )
        parser.add_argument(
            "--list", action="store_true", dest="show_list", help="list every partition and its bounds"
        )

    def handle(self, *args, months_ahead, show_list, **options):
        if connection.vendor != "postgresql":
            self.stdout.write("Nothing to do: the tables are partitioned on PostgreSQL only.")
            return
        created = partitions.ensure_partitions(months_ahead=months_ahead)
        names = [name for table in created.values() for name in table]
        self.stdout.write(f"Partitions created: {', '.join(names) or 'none (all present)'}.")
        if show_list:
            for table, _column in partitions.partitioned_tables():
                for part in partitions.partitions_of(table):
                    self.stdout.write(f"{part.name}  {part.bounds}  ~{max(part.rows, 0)} rows")
