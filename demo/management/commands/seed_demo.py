from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.demo import create_demo_users, demo_logins_text
from collections_app.models import CreditAccount
from collections_app.services import contactability
from demo.history import HISTORY_DAYS
from demo.seed import DEFAULT_SEED, seed_portfolio


class Command(BaseCommand):
    help = "Create the demo users of every role and a synthetic portfolio. Prints the logins."

    def add_arguments(self, parser):
        parser.add_argument("--cardholders", type=int, default=2000)
        parser.add_argument(
            "--days",
            type=int,
            default=HISTORY_DAYS,
            help=f"days of history before today (default {HISTORY_DAYS}; fewer is quicker)",
        )
        parser.add_argument(
            "--seed", type=int, default=DEFAULT_SEED, help="random seed (same seed, same data)"
        )
        parser.add_argument("--force", action="store_true", help="run even if the database already has data")
        parser.add_argument("--if-empty", action="store_true", help="do nothing (quietly) if there is data")
        parser.add_argument("--print-logins", action="store_true", help="only print the demo logins")

    def handle(self, *args, cardholders, days, seed, force, if_empty, print_logins, **options):
        if print_logins:
            self.stdout.write(demo_logins_text())
            return
        if cardholders < 0:
            raise CommandError("--cardholders must be zero or more.")
        if days < 1:
            raise CommandError("--days must be one or more.")
        has_data = CreditAccount.objects.exists()
        if has_data and if_empty:
            return
        if has_data and not force:
            raise CommandError(
                "The database already holds accounts; seed_demo refuses to mix demo data with them. "
                "Use --force if this really is a demo database."
            )
        with transaction.atomic():
            create_demo_users()
        summary = seed_portfolio(cardholders=cardholders, seed=seed, history_days=days)
        contactability.contactability_roll()  # who may be called now (then every few minutes by beat)
        self.stdout.write(self.style.SUCCESS(summary.line()))
        self.stdout.write(demo_logins_text())
