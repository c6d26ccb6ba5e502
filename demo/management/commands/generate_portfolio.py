"""Benchmark data: a synthetic portfolio as it stands on the evening before a nightly run.

Per account: a cardholder (90 % in China, 10 % in the US) with a mobile number and often an e-mail; a
product (70 % credit card, 20 % consumer credit line, 10 % instalment loan); a spread of days past due
(5 % current, then M1 40 %, M2 18 %, M3 12 %, M4 8 %, M5 6 %, M6 5 %, M6+ 6 %) with amounts that grow
with it. DPD and bucket are stored as of yesterday, so the nightly run has real work. Every account that
was already late yesterday has an open case (new, in progress, or promised with a pending promise -
some of them past their date); 1 % of the accounts were paid up by today's bank file while their case is
still open (the nightly run resolves them); accounts that went late yesterday have no case yet.

Open cases sit in the bench queue of their bucket (early M1-M2, middle M3-M4, late M5+). With
`--contacts N`, exactly N contact attempts are spread over the cases, over the last `--days` days (90),
by twenty generated agents, with an outbound floor's outcome mix; each has its CONTACT event on the case
timeline, and about one case in twelve has a payment in that period.

PostgreSQL: the rows are streamed with COPY in batches (on two cores: 100,000 accounts and a million
attempts in under two minutes; a million accounts and ten million attempts in about twenty-four).
The case events are hash-chained (core.chains):
they are copied into a staging table and appended by `chains.bulk_append`, which gives them the hashes the
trigger would (set-based, the same content function) with the trigger off for that one INSERT - so the
chains verify (`manage.py verify_chains`) without a trigger call per event; its cost is the "events" time
printed. That needs the table's ownership, as the rest of this tool does. Elsewhere: bulk_create in large
batches. Run it on a database of its own: IDs are reserved by moving the sequences, which assumes nobody
else inserts meanwhile.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Role, Team, User
from collections_app.delinquency import bucket_boundaries, bucket_for
from collections_app.models import (
    Cardholder,
    Case,
    CaseEvent,
    ContactAttempt,
    ContactPoint,
    CreditAccount,
    Payment,
    PromiseToPay,
    Queue,
)
from collections_app.services import contactability
from core import chains
from core.masking import pii_hash

BATCH = 50_000
STAGED_EVENTS = "generated_events"
CENT = Decimal("0.01")
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
)
GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀英",
]
US_FIRST = ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Susan"]
US_LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Lopez", "Wilson"]
CN_CITIES = ["北京市朝阳区", "上海市浦东新区", "广州市天河区", "深圳市南山区", "成都市武侯区", "杭州市西湖区"]
US_PLACES = [
    ("MA", "Boston", "617"),
    ("NY", "New York", "212"),
    ("IL", "Chicago", "312"),
    ("CA", "Los Angeles", "213"),
]
# (share, lowest DPD, highest DPD) per bucket, after the 5 % that are current.
DPD_SPREAD = [
    (40, 1, 30),
    (18, 31, 60),
    (12, 61, 90),
    (8, 91, 120),
    (6, 121, 150),
    (5, 151, 180),
    (6, 181, 720),
]
PRODUCTS = [("credit_card", 70), ("consumer_credit", 20), ("installment_loan", 10)]
# An outbound call floor's outcomes (no answer dominates); reasons only after a right-party conversation.
OUTCOMES = [
    ("no_answer", 38),
    ("busy", 8),
    ("voicemail", 12),
    ("rpc", 13),
    ("ptp", 8),
    ("callback", 4),
    ("refused", 4),
    ("third_party", 5),
    ("wrong_number", 5),
    ("dispute", 3),
]
RIGHT_PARTY = {"rpc", "ptp", "dispute", "callback", "refused"}
REASONS = ["job_loss", "illness", "business_trouble", "forgot", "over_indebted", "family", "other"]
AGENTS = 20


def money(value: float) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass
class Batch:
    cardholders: list = field(default_factory=list)
    contact_points: list = field(default_factory=list)
    accounts: list = field(default_factory=list)
    cases: list = field(default_factory=list)
    events: list = field(default_factory=list)
    promises: list = field(default_factory=list)
    attempts: list = field(default_factory=list)
    payments: list = field(default_factory=list)
    holder_of: dict = field(default_factory=dict)  # account id -> cardholder id, built once per batch


class PortfolioGenerator:
    def __init__(
        self,
        *,
        as_of: date,
        seed: int,
        prefix: str,
        queue_of_bucket: dict[str, int] | None = None,
        agent_ids: list[int] | None = None,
        days: int = 90,
    ):
        self.rng = random.Random(seed)
        self.as_of = as_of
        self.prefix = prefix
        self.now = timezone.now()
        self.bounds = bucket_boundaries()
        weights = [share for share, _lo, _hi in DPD_SPREAD]
        self.dpd_weights = weights
        self.queue_of_bucket = queue_of_bucket or {}
        self.agent_ids = agent_ids or []
        self.days = days
        self.outcomes = [o for o, _w in OUTCOMES]
        self.outcome_weights = [w for _o, w in OUTCOMES]

    def attempts(self, out: Batch, count: int, ids: dict[str, int]) -> None:
        """`count` contact attempts on the batch's cases, each with its CONTACT event; the attempts fall
        in the last `days` days and after the case opened. A promised case's promise is recorded by an
        agent in a call of its own first (a right-party "ptp" attempt it names), as the case page records
        one - so the bench's promises count in the dashboards like real ones; the rest at random."""
        if not out.cases or count <= 0:
            return
        rng = self.rng
        by_case = {case[0]: case for case in out.cases}
        for index, promise in enumerate(out.promises):
            if count <= 0:
                break
            attempt_id, agent, started = self._attempt(out, by_case[promise[0]], "ptp", ids)
            out.promises[index] = (*promise[:5], attempt_id, agent, started, *promise[8:])
            count -= 1
        outcomes = rng.choices(self.outcomes, weights=self.outcome_weights, k=max(count, 0))
        for outcome in outcomes:
            self._attempt(out, out.cases[rng.randrange(len(out.cases))], outcome, ids)

    def _attempt(self, out: Batch, case: tuple, outcome: str, ids: dict[str, int]) -> tuple:
        """One attempt on `case` and its CONTACT event; (its id, the agent, when it started)."""
        rng, now = self.rng, self.now
        holder_of = self._holder_of(out)
        case_id, account_id, opened = case[0], case[2], case[5]
        span = min((now - opened).total_seconds(), self.days * 86400)
        started = now - timedelta(seconds=rng.uniform(0, max(span, 60)))
        agent = rng.choice(self.agent_ids) if self.agent_ids else None
        talk = outcome in RIGHT_PARTY
        duration = (
            0 if outcome in ("no_answer", "busy") else rng.randint(40, 440) if talk else rng.randint(15, 60)
        )
        attempt_id = ids["attempt"]
        ids["attempt"] += 1
        out.attempts.append(
            (
                attempt_id,
                case_id,
                holder_of[account_id],
                "outbound_call",
                "debtor",
                "",
                outcome,
                rng.choice(REASONS) if talk else "",
                started,
                duration,
                agent,
                "",
                "",
                "",
                started,
                "[]",
            )
        )
        details = f'{{"contact_attempt": {attempt_id}, "channel": "outbound_call", "outcome": "{outcome}"}}'
        out.events.append((self.event_id(ids), case_id, "contact", "", "", agent, "", details, started))
        return attempt_id, agent, started

    @staticmethod
    def _holder_of(out: Batch) -> dict:
        if not out.holder_of:
            out.holder_of.update((account[0], account[2]) for account in out.accounts)
        return out.holder_of

    def payments(self, out: Batch, first_ref: int) -> None:
        """A payment in the last `days` days for about one case in twelve (of the accounts still owing)."""
        rng, now = self.rng, self.now
        currency_of = {account[0]: (account[4], account[10]) for account in out.accounts}
        for n, case in enumerate(out.cases):
            if rng.random() >= 1 / 12:
                continue
            currency, overdue = currency_of[case[2]]
            amount = money(max(float(overdue) * rng.uniform(0.1, 0.5), 50))
            paid = now - timedelta(seconds=rng.uniform(0, self.days * 86400))
            out.payments.append(
                (
                    f"{self.prefix}-P{first_ref + n:09d}",
                    case[2],
                    case[0],
                    amount,
                    currency,
                    paid,
                    "bank_file",
                    "{}",
                    now,
                )
            )

    @staticmethod
    def event_id(ids: dict[str, int]) -> int:
        """Events get their ids here, in the order they are generated: that order is each case's chain."""
        ids["event"] += 1
        return ids["event"] - 1

    def dpd(self) -> int:
        if self.rng.random() < 0.05:
            return 0
        _share, low, high = self.rng.choices(DPD_SPREAD, weights=self.dpd_weights)[0]
        return self.rng.randint(low, high)

    def batch(self, start: int, count: int, ids: dict[str, int]) -> Batch:
        """Rows for accounts number start .. start+count-1; `ids` holds the next ID of each table."""
        rng, as_of, now = self.rng, self.as_of, self.now
        out = Batch()
        for n in range(start, start + count):
            holder_id, account_id = ids["cardholder"], ids["account"]
            ids["cardholder"] += 1
            ids["account"] += 1
            us = rng.random() < 0.10
            if us:
                state, city, area = rng.choice(US_PLACES)
                name = f"{rng.choice(US_FIRST)} {rng.choice(US_LAST)}"
                holder = (
                    f"US-{state}" if state == "MA" else "US",
                    "America/New_York" if state != "IL" else "America/Chicago",
                    "en",
                )
                address = f"{rng.randint(1, 999)} Main St, {city}, {state}"
                phone = f"+1{area}555{n % 10000:04d}"
                currency = "USD"
            else:
                name = (
                    rng.choice(SURNAMES)
                    + rng.choice(GIVEN)
                    + (rng.choice(GIVEN) if rng.random() < 0.5 else "")
                )
                holder = ("CN", "Asia/Shanghai", "zh-hans")
                street, block, flat = rng.randint(1, 300), rng.randint(1, 30), rng.randint(101, 3302)
                address = f"{rng.choice(CN_CITIES)}{street}号{block}栋{flat}室"
                phone = f"+86138{n % 100_000_000:08d}"
                currency = "CNY"
            email = f"{self.prefix.lower()}{n}@example.com" if rng.random() < 0.6 else ""
            out.cardholders.append(
                (
                    holder_id,
                    f"{self.prefix}-H{n:09d}",
                    name,
                    "",
                    email,
                    address,
                    holder[1],
                    holder[2],
                    holder[0],
                    rng.random() < 0.01,
                    rng.random() < 0.005,
                    False,
                    "",
                    False,
                    False,
                    rng.random() < 0.01,
                    now,
                    now,
                    "",  # national_id_hash: no national ID in a generated portfolio
                )
            )
            out.contact_points.append(
                (holder_id, "phone", phone, "debtor", "", "mobile", True, True, pii_hash(phone))
            )

            dpd = self.dpd()
            product = rng.choices([p for p, _w in PRODUCTS], weights=[w for _p, w in PRODUCTS])[0]
            limit = money(rng.randrange(5_000, 100_000, 1_000))
            principal = money(float(limit) * rng.uniform(0.3, 1.0))
            months = max(1, (dpd + 29) // 30)
            overdue = min(principal, money(float(principal) * 0.1 * months)) if dpd else Decimal("0.00")
            interest = money(float(principal) * 0.015 * min(months, 12))
            fees = money(rng.choice([0, 0, 50, 100, 200]))
            penalties = money(float(overdue) * 0.05)
            cured = dpd == 0 and rng.random() < 0.2  # 1 % of all: paid up today, the case still open
            stale = max(dpd - 1, 0)
            missed = as_of - timedelta(days=dpd) if dpd else None
            out.accounts.append(
                (
                    account_id,
                    f"{self.prefix}-A{n:09d}",
                    holder_id,
                    product,
                    currency,
                    limit,
                    principal,
                    interest,
                    fees,
                    penalties,
                    overdue,
                    overdue + money(float(principal) * 0.1) if dpd else Decimal("0.00"),
                    missed,
                    as_of + timedelta(days=rng.randint(1, 28)),
                    stale,
                    bucket_for(stale, self.bounds),
                    as_of - timedelta(days=1),
                    None,
                    None,
                    as_of - timedelta(days=rng.randint(200, 3000)),
                    now,
                    now,
                    "",  # card_number, its hash and last four: no card number in a generated portfolio
                    "",
                    "",
                )
            )
            if dpd < 2 and not cured:
                continue  # current, or late since yesterday only: no case yet
            case_id = ids["case"]
            ids["case"] += 1
            opened = datetime.combine(
                as_of - timedelta(days=max(dpd, 5) - 1),
                datetime.min.time(),
                tzinfo=timezone.get_current_timezone(),
            )
            draw = rng.random()
            state = "in_progress" if cured or draw < 0.55 else "new" if draw < 0.9 else "promised"
            out.cases.append(
                (
                    case_id,
                    f"C{account_id:08d}-1",
                    account_id,
                    state,
                    "",
                    opened,
                    None,
                    self.queue_of_bucket.get(bucket_for(stale, self.bounds)),
                    None,
                    0,
                    None,
                    None,
                    None,
                    0,
                    0,
                    None,
                    1,
                    "",  # contact_block_rule, contact_zones: computed by the roll at the end
                    "",
                )
            )
            out.events.append(
                (
                    self.event_id(ids),
                    case_id,
                    "opened",
                    "",
                    "new",
                    None,
                    "Account became delinquent",
                    "{}",
                    opened,
                )
            )
            if state == "promised":
                due = as_of + timedelta(days=rng.randint(-6, 10))
                out.promises.append(
                    (
                        case_id,
                        money(max(float(overdue) * 0.5, 100)),
                        due,
                        "pending",
                        Decimal("0.00"),
                        None,
                        None,
                        opened,
                        None,
                    )
                )
        return out


TABLES = {
    "cardholders": (
        Cardholder,
        "id external_ref name national_id email address time_zone language jurisdiction do_not_contact "
        "cease_communication attorney_represented attorney_contact bankruptcy deceased vulnerable created_at "
        "updated_at national_id_hash",
    ),
    "contact_points": (
        ContactPoint,
        "cardholder_id kind value party_role party_name label is_primary active value_hash",
    ),
    "accounts": (
        CreditAccount,
        "id external_ref cardholder_id product currency credit_limit principal interest fees penalties "
        "overdue_amount minimum_due first_missed_due_date next_due_date days_past_due bucket dpd_as_of "
        "last_payment_at last_payment_amount opened_on created_at updated_at card_number card_number_hash "
        "card_last4",
    ),
    "cases": (
        Case,
        "id reference account_id state resolution_reason opened_at closed_at queue_id assigned_agent_id "
        "priority next_action_at lease_owner_id lease_expires_at broken_promise_count broken_plan_count "
        "last_right_party_contact_at version contact_block_rule contact_zones",
    ),
    "events": (CaseEvent, "id case_id kind from_state to_state actor_id reason details created_at"),
    "promises": (
        PromiseToPay,
        "case_id amount due_date status paid_amount contact_attempt_id created_by_id created_at settled_at",
    ),
    "attempts": (
        ContactAttempt,
        "id case_id cardholder_id channel party_role person_reached outcome delinquency_reason started_at "
        "duration_seconds agent_id notes recording_ref policy_override_reason created_at disclosures_given",
    ),
    "payments": (
        Payment,
        "external_ref account_id case_id amount currency paid_at source allocation created_at",
    ),
}


def next_ids() -> dict[str, int]:
    ids = {}
    for key, model in (
        ("cardholder", Cardholder),
        ("account", CreditAccount),
        ("case", Case),
        ("attempt", ContactAttempt),
        ("event", CaseEvent),
    ):
        last = model.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        ids[key] = last + 1
    return ids


def write_batch(
    batch: Batch, seconds: dict[str, float] | None = None, tables=None, *, staged_events: bool = False
) -> None:
    """The batch's rows, table by table (COPY on PostgreSQL) - all of them, or `tables`; the time each
    table took added to `seconds`. The events go through the chain trigger one by one, or with
    `staged_events` (after `_stage_events()`) through the staging table and chains.bulk_append."""
    postgres = connection.vendor == "postgresql"
    for attr, (model, columns) in TABLES.items():
        if tables is not None and attr not in tables:
            continue
        rows = getattr(batch, attr)
        if not rows:
            continue
        started = time.perf_counter()
        names = columns.split()
        if postgres:
            chained = staged_events and model is CaseEvent
            table = STAGED_EVENTS if chained else model._meta.db_table
            sql = f"COPY {table} ({', '.join(names)}) FROM STDIN"
            with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
            if chained:
                chains.bulk_append(CaseEvent, STAGED_EVENTS)
                with connection.cursor() as cursor:
                    cursor.execute(f"TRUNCATE {STAGED_EVENTS}")
        else:
            objects = [model(**dict(zip(names, row, strict=True))) for row in rows]
            model.objects.bulk_create(objects, batch_size=5000)
        if seconds is not None:
            seconds[attr] = seconds.get(attr, 0.0) + time.perf_counter() - started


def _stage_events() -> None:
    """The staging table the events are copied into before chains.bulk_append (dropped at commit)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGED_EVENTS} "
                f"(LIKE {CaseEvent._meta.db_table} INCLUDING DEFAULTS) ON COMMIT DROP"
            )


def _fix_sequences() -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in (Cardholder, CreditAccount, Case, ContactAttempt, CaseEvent):
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"  # noqa: S608
            )


def ensure_queues() -> dict[str, int]:
    """The three bench queues (by bucket) of one team, with twenty agents on all three; bucket -> queue id."""
    team, _ = Team.objects.get_or_create(name="Generated team")
    specs = [
        ("Bench early (M1-M2)", 10, ["M1", "M2"]),
        ("Bench middle (M3-M4)", 20, ["M3", "M4"]),
        ("Bench late (M5+)", 30, ["M5", "M6", "M6+"]),
    ]
    by_bucket = {}
    for name, order, buckets in specs:
        queue, _ = Queue.objects.get_or_create(
            name=name, defaults={"order": order, "buckets": buckets, "team": team}
        )
        by_bucket.update(dict.fromkeys(queue.buckets, queue.pk))
    return by_bucket


def ensure_agents() -> list[int]:
    """Twenty agents of the generated team, on the bench queues (they made the generated attempts)."""
    team = Team.objects.get(name="Generated team")
    password = make_password(None)
    queues = list(Queue.objects.filter(name__startswith="Bench ", team=team))
    ids = []
    for n in range(AGENTS):
        user, created = User.objects.get_or_create(
            username=f"gen_agent_{n:02d}",
            defaults={"role": Role.AGENT, "team": team, "password": password, "language": "zh-hans"},
        )
        if created:
            user.work_queues.set(queues)
        ids.append(user.pk)
    return ids


def generate(
    *,
    accounts: int,
    contacts: int = 0,
    days: int = 90,
    seed: int = 20260602,
    as_of: date | None = None,
    prefix: str = "GEN",
    out=None,
) -> dict:
    """Write the portfolio (see the module docstring); returns the rows written per table, the seconds in
    all and per table ("seconds_by_table": the events' share includes hashing their chains)."""
    as_of = as_of or timezone.localdate()
    if CreditAccount.objects.filter(external_ref__startswith=f"{prefix}-A").exists():
        raise CommandError(f"Accounts with the prefix {prefix!r} exist already; choose another --prefix.")
    totals = dict.fromkeys(TABLES, 0)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    with transaction.atomic():
        generator = PortfolioGenerator(
            as_of=as_of,
            seed=seed,
            prefix=prefix,
            queue_of_bucket=ensure_queues(),
            agent_ids=ensure_agents(),
            days=days,
        )
        ids = next_ids()
        _stage_events()
        for start in range(0, accounts, BATCH):
            done = start + min(BATCH, accounts - start)
            batch = generator.batch(start, done - start, ids)
            # Exactly `contacts` in all: each batch takes its share of what is left.
            generator.attempts(batch, contacts * done // accounts - totals["attempts"], ids)
            generator.payments(batch, first_ref=start)
            write_batch(batch, seconds, tables=[t for t in TABLES if t != "attempts"], staged_events=True)
            # Who may be called now, stored on each open case (what Next case and My work read) - decided
            # before the batch's contact history is written, as it stood when the cases were opened: the
            # grouped path, one UPDATE per group, instead of one decision per recently called cardholder.
            first_case = batch.cases[0][0] if batch.cases else 0
            contactability.contactability_recompute(
                Case.objects.filter(pk__gte=first_case, pk__lt=ids["case"])
            )
            write_batch(batch, seconds, tables=["attempts"])
            for attr in TABLES:
                totals[attr] += len(getattr(batch, attr))
            if out:
                out(
                    f"  {done:>9,} accounts, {totals['attempts']:,} attempts "
                    f"({time.perf_counter() - started:.1f} s)"
                )
        _fix_sequences()
    # Windows that closed while the portfolio was written, rolled (grouped; nothing left to compute).
    contactability.contactability_roll()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for model, _columns in TABLES.values():
                cursor.execute(f"ANALYZE {model._meta.db_table}")
    totals["seconds"] = round(time.perf_counter() - started, 2)
    totals["seconds_by_table"] = {attr: round(value, 2) for attr, value in seconds.items()}
    return totals


class Command(BaseCommand):
    help = "Generate a synthetic portfolio for benchmarks (COPY on PostgreSQL). See the module docstring."

    def add_arguments(self, parser):
        parser.add_argument("--accounts", type=int, required=True)
        parser.add_argument("--contacts", type=int, default=0, help="contact attempts in all (default none)")
        parser.add_argument("--days", type=int, default=90, help="over which the attempts are spread")
        parser.add_argument("--seed", type=int, default=20260602, help="same seed, same portfolio")
        parser.add_argument("--as-of", type=date.fromisoformat, help="the business date (default today)")
        parser.add_argument("--prefix", default="GEN", help="of the generated references (default GEN)")

    def handle(self, *args, accounts, contacts, days, seed, as_of, prefix, **options):
        if accounts <= 0 or contacts < 0 or days <= 0:
            raise CommandError("--accounts and --days must be positive numbers, --contacts not negative.")
        totals = generate(
            accounts=accounts,
            contacts=contacts,
            days=days,
            seed=seed,
            as_of=as_of,
            prefix=prefix,
            out=self.stdout.write,
        )
        by_table = ", ".join(f"{attr} {value} s" for attr, value in totals["seconds_by_table"].items())
        self.stdout.write(
            self.style.SUCCESS(
                f"{totals['accounts']:,} accounts, {totals['cardholders']:,} cardholders, "
                f"{totals['cases']:,} open cases, {totals['promises']:,} pending promises, "
                f"{totals['attempts']:,} contact attempts, {totals['payments']:,} payments, "
                f"{totals['events']:,} case events in {totals['seconds']} s ({by_table})."
            )
        )
