"""`manage.py purge_personal_data [--dry-run] [--as-of YYYY-MM-DD]`: the purge of privacy.purge."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from privacy.purge import purge_run, purge_with_dry_run


class Command(BaseCommand):
    help = (
        "Anonymise the cardholders whose personal data is past retention (per jurisdiction policy, no "
        "open case, no legal hold), after a recorded dry run. --dry-run only counts what would change."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="count, change nothing")
        parser.add_argument("--as-of", help="the day retention is judged on (default: today)")

    def handle(self, *args, dry_run: bool, as_of: str | None, **options):
        day = None
        if as_of:
            try:
                day = date.fromisoformat(as_of)
            except ValueError:
                raise CommandError("--as-of must be a date, YYYY-MM-DD") from None
        if dry_run:
            runs = [purge_run(as_of=day, dry_run=True, trigger="command")]
        else:
            runs = purge_with_dry_run(as_of=day, trigger="command")
        for run in runs:
            label = "Dry run" if run.dry_run else "Purge"
            self.stdout.write(f"{label} {run.pk} as of {run.as_of}: {run.cardholders} cardholders.")
            for table, count in sorted(run.counts.items()):
                self.stdout.write(f"  {table}: {count}")
