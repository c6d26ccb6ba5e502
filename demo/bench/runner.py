"""Running the measures: the portfolio brought to size, then each chosen measure in turn."""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection

from collections_app.models import ContactAttempt, CreditAccount
from demo.bench import claim, imports, nightly, panels, web
from demo.bench.report import Result
from demo.management.commands.generate_portfolio import generate

MEASURES = ("nightly", "claim", "pages", "api", "panels", "import")


@dataclass(frozen=True)
class Options:
    accounts: int
    contacts: int
    import_rows: int
    claim_seconds: float = 10.0
    agents: tuple[int, ...] = (16, 32)
    requests: int = 50
    panel_repeat: int = 5


def parse_only(only: str | None) -> dict[str, list[str] | None]:
    """ "nightly,claim" -> every measure of both; "nightly:queues,api:cases" -> just those figures."""
    if not only:
        return dict.fromkeys(MEASURES)
    chosen: dict[str, list[str] | None] = {}
    for item in only.split(","):
        group, _sep, part = item.strip().partition(":")
        if group not in MEASURES:
            raise ValueError(f"unknown measure {group!r}; the measures are {', '.join(MEASURES)}")
        if part:
            if chosen.get(group, []) is not None:
                chosen.setdefault(group, []).append(part)
        else:
            chosen[group] = None
    return chosen


def bring_to_size(options: Options, out) -> dict:
    """Generate what the database lacks of `accounts` and `contacts` (COPY, generate_portfolio). Attempts
    missing on a portfolio that has its accounts come with a tenth as many new accounts again."""
    have_accounts = CreditAccount.objects.count()
    have_contacts = ContactAttempt.objects.count()
    missing = max(options.accounts - have_accounts, 0)
    if missing or options.contacts > have_contacts:
        contacts = max(options.contacts - have_contacts, 0)
        accounts = missing or max(options.accounts // 10, 1)
        out(f"Generating {accounts:,} accounts and {contacts:,} contact attempts ...")
        prefix = f"GEN{have_accounts}"
        totals = generate(accounts=accounts, contacts=contacts, prefix=prefix, out=out)
        out(f"  generated in {totals['seconds']} s (COPY; {totals['seconds_by_table']})")
        return totals
    return {}


def context(options: Options) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    return {
        "accounts": CreditAccount.objects.count(),
        "contact_attempts": ContactAttempt.objects.count(),
        "postgresql": version,
        "machine": f"{platform.machine()}, {platform.processor() or platform.system()}",
        "cpus": _cpus(),
        "options": options.__dict__,
    }


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


def run(options: Options, only: dict[str, list[str] | None], out) -> list[Result]:
    results: list[Result] = []
    as_of = nightly.next_business_date()
    if "nightly" in only:
        results += nightly.measure(out=out, steps=only["nightly"])
        as_of = nightly.next_business_date() - timedelta(days=1)  # the night just measured
    if "claim" in only:
        results += claim.measure(
            out=out, as_of=as_of, seconds=options.claim_seconds, agent_counts=options.agents
        )
    if {"pages", "api", "panels"} & set(only):
        settle(out)
    if "pages" in only:
        results += web.measure_pages(out=out, repeat=options.requests)
    if "api" in only:
        results += web.measure_api(out=out, repeat=options.requests, lists=only["api"])
    if "panels" in only:
        results += panels.measure(out=out, repeat=options.panel_repeat)
    if "import" in only:
        results += imports.measure(out=out, rows=options.import_rows, as_of=as_of)
    return results


SETTLE_SECONDS = 300


def settle(out, *, limit: float = SETTLE_SECONDS) -> float:
    """Wait (up to `limit` seconds) until no autovacuum worker runs on this database: after the night's
    million updates it vacuums the case and account tables for minutes, taking a core of two from
    whichever side of an interleaved web measure it lands on. Returns the seconds waited (printed)."""
    if connection.vendor != "postgresql":
        return 0.0
    started = time.monotonic()
    while time.monotonic() - started < limit:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE backend_type = 'autovacuum worker' AND datname = current_database()"
            )
            (running,) = cursor.fetchone()
        if not running:
            break
        time.sleep(2)
    waited = time.monotonic() - started
    if waited >= 1:
        out(f"  waited {waited:.0f} s for autovacuum to finish before the web measures")
    return waited
