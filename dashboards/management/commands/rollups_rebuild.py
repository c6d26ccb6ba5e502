"""manage.py rollups_rebuild: rebuild the day rollups of a month (or of any days) in full, every table -
after a correction of the history, or to check the nightly ones (the nightly refresh rebuilds only the
days whose rows changed; see dashboards.rollups.nightly_ranges)."""

from __future__ import annotations

from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError

from dashboards import rollups


class Command(BaseCommand):
    help = "Rebuild every day rollup of --month YYYY-MM, or of --from DAY --to DAY (inclusive)."

    def add_arguments(self, parser):
        parser.add_argument("--month", help="YYYY-MM")
        parser.add_argument("--from", dest="first", help="YYYY-MM-DD")
        parser.add_argument("--to", dest="last", help="YYYY-MM-DD")

    def handle(self, *args, month, first, last, **options):
        try:
            if month:
                d1 = date.fromisoformat(f"{month}-01")
                d2 = rollups.next_month(d1) - timedelta(days=1)
            elif first and last:
                d1, d2 = date.fromisoformat(first), date.fromisoformat(last)
            else:
                raise CommandError("Give --month, or --from and --to.")
        except ValueError as error:
            raise CommandError(str(error)) from None
        if d2 < d1:
            raise CommandError("--to is before --from.")
        result = rollups.rebuild(d1, d2)
        self.stdout.write(f"Rebuilt {result['from']}..{result['to']} in {result['seconds']} s: {result}")
