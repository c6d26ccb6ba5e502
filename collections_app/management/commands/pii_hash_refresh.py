from django.core.management.base import BaseCommand

from collections_app.pii import pii_hash_refresh


class Command(BaseCommand):
    help = (
        "Recompute the keyed hashes of national IDs and contact values (after changing DJANGO_PII_HASH_KEY "
        "or DJANGO_SECRET_KEY, or after a bulk load that wrote the values without them)."
    )

    def handle(self, *args, **options):
        changed = pii_hash_refresh()
        self.stdout.write(
            f"{changed['cardholders']} cardholder(s), {changed['contact_points']} contact point(s) updated."
        )
