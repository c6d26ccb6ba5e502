from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from core import chains


class Command(BaseCommand):
    help = (
        "Recompute the hash chains of every chained table (case events, audit rows): prints each table's "
        "row count and OK, or the first broken link; exits with status 1 when a chain is broken or its "
        "triggers are missing or disabled."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch", type=int, default=chains.VERIFY_BATCH, help="ids per query (default %(default)s)"
        )

    def handle(self, *args, batch: int, **options):
        if connection.vendor != "postgresql":
            self.stdout.write(
                "Hash chains are kept by PostgreSQL triggers; this database has none to verify."
            )
            return
        failed = 0
        for report in chains.verify_chains(batch=batch):
            if report.broken is not None:
                failed += 1
                self.stdout.write(f"{report.table}: {report.rows:,} rows, BROKEN - {report.broken.message}")
            elif not report.installed:
                failed += 1
                self.stdout.write(
                    f"{report.table}: {report.rows:,} rows, NOT PROTECTED - its chain triggers are missing "
                    "or disabled"
                )
            else:
                self.stdout.write(f"{report.table}: {report.rows:,} rows, OK")
        if failed:
            raise CommandError(f"{failed} chained table(s) failed verification.", returncode=1)
