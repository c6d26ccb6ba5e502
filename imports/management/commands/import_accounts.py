from datetime import date

from django.core.management.base import CommandError
from django.utils import timezone

from imports.services import ImportFileCommand, import_accounts


class Command(ImportFileCommand):
    help = (
        "Load the daily accounts file (one row per account with its cardholder; docs/imports.md). "
        "Idempotent. Exit code 0: all rows applied, 1: some rows rejected, 2: file not imported."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--as-of",
            metavar="YYYY-MM-DD",
            help="the file's business date, for days past due and buckets (default: today, local time)",
        )

    def handle(self, *args, file, encoding, report, as_of, **options):
        try:
            day = date.fromisoformat(as_of) if as_of else timezone.localdate()
        except ValueError:
            raise CommandError(
                f"--as-of must be a date like 2026-11-27, not {as_of!r}.", returncode=2
            ) from None
        self.run_import(file, report, lambda: import_accounts(file, encoding=encoding, as_of=day))
