"""manage.py bench: every hot path beside a fair baseline, one table (see demo.bench)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from demo.bench import report, runner


class Command(BaseCommand):
    help = (
        "Measure every hot path (nightly steps, Next case, import, API lists, pages, dashboard panels) "
        "against a baseline doing the same work on the same data in the same run. Use a database of its "
        "own: the runs change the data (each run is the next business night)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--accounts", type=int, default=0, help="generate accounts up to this many first")
        parser.add_argument("--contacts", type=int, default=0, help="and contact attempts up to this many")
        parser.add_argument(
            "--import-rows", type=int, default=None, help="account rows to import (default: --accounts)"
        )
        parser.add_argument(
            "--only",
            default=None,
            help=f"NAME[,NAME]: of {', '.join(runner.MEASURES)} "
            "(nightly:STEP and api:LIST choose one figure)",
        )
        parser.add_argument("--claim-seconds", type=float, default=10.0, help="per Next case round")
        parser.add_argument("--agents", default="16,32", help="agents pressing Next case at once, per round")
        parser.add_argument("--requests", type=int, default=50, help="requests per API list and page")
        parser.add_argument("--panel-repeat", type=int, default=5, help="runs per dashboard panel")
        parser.add_argument("--json", dest="json_path", default=None, metavar="PATH", help="write the table")

    def handle(
        self,
        *args,
        accounts,
        contacts,
        import_rows,
        only,
        claim_seconds,
        agents,
        requests,
        panel_repeat,
        json_path,
        **options,
    ):
        if connection.vendor != "postgresql":
            raise CommandError("bench measures PostgreSQL (set DATABASE_URL to a database of its own).")
        try:
            chosen = runner.parse_only(only)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        settings = runner.Options(
            accounts=accounts,
            contacts=contacts,
            import_rows=import_rows if import_rows is not None else max(accounts, 1000),
            claim_seconds=claim_seconds,
            agents=tuple(int(n) for n in agents.split(",")),
            requests=requests,
            panel_repeat=panel_repeat,
        )
        out = self.stdout.write
        runner.bring_to_size(settings, out)
        if not runner.CreditAccount.objects.exists():
            raise CommandError("No accounts: pass --accounts N (or run manage.py generate_portfolio first).")
        context = runner.context(settings)
        out(
            f"Portfolio: {context['accounts']:,} accounts, {context['contact_attempts']:,} contact attempts; "
            f"PostgreSQL {context['postgresql']}, {context['cpus']} CPUs"
        )
        results = runner.run(settings, chosen, out)
        out("")
        for line in report.table(results):
            out(line)
        if json_path:
            report.write_json(json_path, results, context)
            out(f"Written to {json_path}")
