"""Re-encrypt every encrypted column (national IDs, card numbers) with the newest key of
PII_ENCRYPTION_KEYS. The key change, step by step, is in docs/operations.md ("Encryption keys")."""

from django.core.management.base import BaseCommand, CommandError

from core import crypto
from core.key_rotation import BATCH, rotate_all


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored national ID and card number with the newest key of PII_ENCRYPTION_KEYS "
        "(the first); idempotent. --new-key prints a new key and changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--new-key", action="store_true", help="Print a new Fernet key and stop.")
        parser.add_argument("--batch-size", type=int, default=BATCH)

    def handle(self, *args, new_key=False, batch_size=BATCH, **options):
        if new_key:
            self.stdout.write(crypto.new_key())
            return
        try:
            results = rotate_all(batch_size=batch_size)
        except (crypto.UndecryptableValue, crypto.InvalidKeys) as error:
            raise CommandError(str(error)) from None
        for result in results:
            self.stdout.write(
                f"{result.label}: {result.rotated} re-encrypted, "
                f"{result.current} already under the newest key."
            )
        total = sum(r.rotated for r in results)
        self.stdout.write(self.style.SUCCESS(f"Done: {total} values re-encrypted."))
