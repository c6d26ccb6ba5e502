from imports.services import ImportFileCommand, import_payments


class Command(ImportFileCommand):
    help = (
        "Record the payments of a payment file (one row per payment; docs/imports.md). Replayable: a "
        "payment already recorded is left as it is. Exit code 0: all rows applied, 1: some rows "
        "rejected, 2: file not imported."
    )

    def handle(self, *args, file, encoding, report, **options):
        self.run_import(file, report, lambda: import_payments(file, encoding=encoding))
