"""Import: `manage.py import_accounts` on N generated account rows against COPY of the same rows into the
same indexed tables (cardholders, contact points, accounts, cases and their OPENED events).

The rows come from generate_portfolio's generator (same seed: the same rows twice). The baseline COPYs
them in a transaction that is rolled back; then the project's command imports the CSV of the same rows in
a child process (its own Django, its own connection), whose peak RSS is read from the kernel (wait4).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from django.conf import settings
from django.db import connection

from demo.bench.report import IMPORT, Result
from demo.bench.timing import timed_rolled_back
from demo.management.commands import generate_portfolio as portfolio

CSV_COLUMNS = [
    "account_ref",
    "cardholder_ref",
    "name",
    "email",
    "address",
    "time_zone",
    "language",
    "jurisdiction",
    "phone",
    "do_not_contact",
    "cease_communication",
    "vulnerable",
    "product",
    "currency",
    "credit_limit",
    "principal",
    "interest",
    "fees",
    "penalties",
    "overdue_amount",
    "minimum_due",
    "first_missed_due_date",
    "next_due_date",
    "opened_on",
]
SEED = 7


def _batches(rows: int, prefix: str, as_of: date, ids: dict):
    generator = portfolio.PortfolioGenerator(as_of=as_of, seed=SEED, prefix=prefix)
    for start in range(0, rows, portfolio.BATCH):
        yield generator.batch(start, min(portfolio.BATCH, rows - start), ids)


def write_csv(path: Path, rows: int, prefix: str, as_of: date) -> None:
    """The accounts file of the generated rows (docs/imports.md columns)."""
    ids = {"cardholder": 1, "account": 1, "case": 1, "event": 1}
    flag = {True: "1", False: "0"}
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for batch in _batches(rows, prefix, as_of, ids):
            for holder, point, account in zip(
                batch.cardholders, batch.contact_points, batch.accounts, strict=True
            ):
                writer.writerow(
                    (
                        account[1],
                        holder[1],
                        holder[2],
                        holder[4],
                        holder[5],
                        holder[6],
                        holder[7],
                        holder[8],
                        point[2],
                        flag[holder[9]],
                        flag[holder[10]],
                        flag[holder[15]],
                        account[3],
                        account[4],
                        account[5],
                        account[6],
                        account[7],
                        account[8],
                        account[9],
                        account[10],
                        account[11],
                        account[12] or "",
                        account[13],
                        account[19],
                    )
                )


def copy_rows(rows: int, prefix: str, as_of: date) -> int:
    """The baseline: COPY of the same rows into the same tables (indexes, triggers and all)."""
    ids = portfolio.next_ids()
    written = 0
    for batch in _batches(rows, prefix, as_of, ids):
        batch.promises.clear()  # an import makes no promises
        portfolio.write_batch(batch)
        written += sum(len(getattr(batch, attr)) for attr in portfolio.TABLES)
    return written


CHILD = """
import json, sys, time
import django
django.setup()
from django.core.management import call_command
started = time.perf_counter()
code = 0
try:
    call_command("import_accounts", sys.argv[1], as_of=sys.argv[2], report=sys.argv[3])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"seconds": time.perf_counter() - started, "code": code}))
"""


def database_url() -> str:
    """This connection's database as a DATABASE_URL (under pytest: the test database)."""
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


def run_import_in_child(path: Path, as_of: date) -> dict:
    """`import_accounts` in a child process: its seconds (inside the child) and peak RSS (MB)."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings"),
    }
    report = path.with_suffix(".report.csv")
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as errors:
        child = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-c", CHILD, str(path), as_of.isoformat(), str(report)],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        stdout = child.stdout.read()
        child.stdout.close()
        _pid, status, usage = os.wait4(child.pid, 0)
        errors.seek(0)
        stderr = errors.read()
    child.returncode = os.waitstatus_to_exitcode(status)
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if child.returncode != 0 or not lines:
        raise RuntimeError(f"import_accounts failed ({child.returncode}): {stderr[-2000:]}")
    outcome = json.loads(lines[-1])
    outcome["peak_rss_mb"] = usage.ru_maxrss / 1024  # kilobytes on Linux
    with report.open(encoding="utf-8") as handle:
        outcome["rejected"] = sum(1 for _ in handle) - 1
    return outcome


def measure(*, out, rows: int, as_of: date) -> list[Result]:
    prefix = f"IMP{int(time.time())}"
    with tempfile.TemporaryDirectory(prefix="bench-import-") as folder:
        path = Path(folder) / "accounts.csv"
        write_csv(path, rows, prefix, as_of)
        base_s, copied = timed_rolled_back(lambda: copy_rows(rows, prefix, as_of))
        project = run_import_in_child(path, as_of)
    out(
        f"  import {rows:,} account rows: {project['seconds']:.1f} s, "
        f"peak RSS {project['peak_rss_mb']:.0f} MB, "
        f"{project['rejected']} rejected; COPY of the same {copied:,} rows {base_s:.1f} s"
    )
    return [
        Result(
            measure="import:accounts",
            project=project["seconds"],
            baseline=base_s,
            unit="s",
            target=IMPORT,
            details={"rows": rows, "copied_rows": copied, **project},
        )
    ]
