"""Ninety days of demo history, lived in order: every case's scenario is a script of steps, each step a
call to the same service an agent, a supervisor, legal or a job would make, and between the days the
nightly steps run as the pipeline runs them (snapshots, days past due, cases opened, promises and plans
kept or broken, escalation rules, queue placement).

Why in order: a promise follows the conversation that produced it, a broken promise is broken by the night
after its date plus the grace days, an escalation rule sees the days past due and the last right-party
contact as they stood that night, and the month-end snapshots that the roll and cure rates read are taken
at the month's end. The scripts are generators that yield the moment of their next step; the engine
resumes them in time order from a heap, running each night's steps when the clock passes 01:30.

Services stamp what they write with the wall clock, so each step runs inside `_Redater.at(moment)`, which
notes the wall-clock interval; at the end every timestamp written during a step is moved to the step's
business moment (one UPDATE per column). Explicit business times (a contact's start, a payment's date, a
case's opening) are passed to the services as they take them.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall_time
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from django.apps import apps
from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from accounts.models import Role, Team, User
from authority import services as authority
from authority.models import ActionKind
from automation import pipeline
from collections_app import services
from collections_app.models import (
    Bucket,
    Case,
    Channel,
    ContactAttempt,
    ContactPoint,
    ContactPointKind,
    CreditAccount,
    DelinquencyReason,
    HoldReason,
    Outcome,
    PartyRole,
    ResolutionReason,
)
from collections_app.services import queues
from contact_policy import scripts as call_scripts
from core import chains
from core.clock import bank_date, bank_zone
from core.exceptions import DomainError
from dashboards import rollups
from escalation import services as escalation
from escalation.models import EscalationRule
from legal import services as legal_services
from legal.models import LegalDecision, LegalReferral
from repayment_plans import services as plan_services
from repayment_plans.models import RepaymentPlan

HISTORY_DAYS = 90
CENT = Decimal("0.01")
NIGHT = wall_time(1, 30)  # when the nightly pipeline runs (automation.setup_schedules)
# The shipped rules (escalation migration 0002) the demo bank has switched on, live. The demo's legal
# referrals are made by the first two. The bank switched them on when the history begins, so the first
# night refers the backlog of charge-off-stage cases nobody had reached; later nights refer the cases that
# cross the thresholds.
DEMO_RULES = (
    "CN: charge-off stage, no right-party contact for 60 days",
    "US: charge-off stage, no right-party contact for 60 days",
    "CN: broken promise at M2 or later",
    "US: broken promise at M2 or later",
)
APPS_REDATED = ("collections_app", "legal", "repayment_plans", "escalation", "messaging")

# Scenario weights per stage. "new" cases are left untouched; "unreached" cases are called and never
# reached (the escalation rules send the late ones to legal); the others get a history through services.
EARLY_SCENARIOS = {
    "new": 25, "reminded": 8, "no_answer": 12, "rpc": 9, "complaint": 2, "promise": 8, "promise_broken": 6,
    "promise_partial": 3, "promise_kept": 6, "cured": 8, "dispute": 2, "hardship": 2, "override": 2,
    "plan_active": 4, "plan_completed": 6, "plan_broken": 5,
}  # fmt: skip
LATE_SCENARIOS = {
    "new": 18, "reminded": 3, "no_answer": 10, "unreached": 14, "rpc": 9, "complaint": 2, "promise": 5,
    "promise_broken": 6, "promise_partial": 3, "promise_kept": 5, "cured": 5, "dispute": 3, "hardship": 4,
    "override": 2, "plan_active": 4, "plan_completed": 3, "plan_broken": 4,
}  # fmt: skip
CHARGE_OFF_SCENARIOS = {
    "new": 14, "no_answer": 8, "unreached": 30, "rpc": 6, "complaint": 2, "promise": 3, "promise_broken": 5,
    "promise_partial": 2, "promise_kept": 3, "cured": 3, "dispute": 2, "hardship": 3, "plan_active": 3,
    "plan_broken": 3, "written_off": 13,
}  # fmt: skip
# What legal decides on a referral, some days after it: (decision, weight); None leaves it pending.
LEGAL_OUTCOMES = ((LegalDecision.LITIGATION, 40), (LegalDecision.RETURNED, 30), (None, 30))

RPC_REASONS = [
    DelinquencyReason.JOB_LOSS, DelinquencyReason.ILLNESS, DelinquencyReason.BUSINESS_TROUBLE,
    DelinquencyReason.FORGOT, DelinquencyReason.OVER_INDEBTED, DelinquencyReason.FAMILY,
    DelinquencyReason.OTHER,
]  # fmt: skip
RPC_REASON_WEIGHTS = [25, 15, 15, 20, 12, 10, 3]

NOTES = {
    "zh-hans": {
        Outcome.NO_ANSWER: "无人接听。",
        Outcome.BUSY: "占线。",
        Outcome.VOICEMAIL: "转语音信箱，已留言请客户回电。",
        Outcome.CALLBACK_REQUESTED: "客户正在开会，要求稍后回电。",
        Outcome.REFUSED_TO_PAY: "客户拒绝还款，态度消极，已告知逾期后果。",
        Outcome.DISPUTE_RAISED: "客户对一笔交易有异议，称未收到商品，要求核实。",
        DelinquencyReason.JOB_LOSS: "客户称近期失业，收入减少，暂时无力全额还款。",
        DelinquencyReason.ILLNESS: "客户称家人住院，资金紧张。",
        DelinquencyReason.BUSINESS_TROUBLE: "客户经营困难，货款回笼慢。",
        DelinquencyReason.FORGOT: "客户称忘记还款日，同意尽快处理。",
        DelinquencyReason.OVER_INDEBTED: "客户多头借贷，还款压力大。",
        DelinquencyReason.FAMILY: "客户家庭变故，需要时间筹款。",
        DelinquencyReason.OTHER: "客户称资金周转问题。",
        "ptp": "客户承诺于{date}前还款{amount}元。",
        "sms": "还款提醒短信已送达。",
        "hardship": "客户申请困难减免评估，已提交材料。",
        "hardship_release": "困难评估完成，恢复正常催收。",
    },
    "en": {
        Outcome.NO_ANSWER: "No answer.",
        Outcome.BUSY: "Line busy.",
        Outcome.VOICEMAIL: "Left a limited-content message asking for a call back.",
        Outcome.CALLBACK_REQUESTED: "Customer at work, asked to be called back later.",
        Outcome.REFUSED_TO_PAY: "Customer refuses to pay; explained the consequences.",
        Outcome.DISPUTE_RAISED: "Customer disputes a purchase (goods not received); asks for verification.",
        DelinquencyReason.JOB_LOSS: "Customer lost their job last month; income reduced.",
        DelinquencyReason.ILLNESS: "Customer was in hospital; medical bills.",
        DelinquencyReason.BUSINESS_TROUBLE: "Customer's small business is struggling; clients paying late.",
        DelinquencyReason.FORGOT: "Customer forgot the due date; will pay shortly.",
        DelinquencyReason.OVER_INDEBTED: "Customer has several loans and cannot keep up.",
        DelinquencyReason.FAMILY: "Divorce in progress; finances being split.",
        DelinquencyReason.OTHER: "Temporary cash-flow problem.",
        "ptp": "Customer promises to pay {amount} by {date}.",
        "sms": "Payment reminder text delivered.",
        "hardship": "Customer applied for a hardship review; documents received.",
        "hardship_release": "Hardship review completed; collection resumes.",
    },
}

# Texts only the new scenarios use (the complaint tags are how the dashboards count complaints).
EXTRA_NOTES = {
    "zh-hans": {
        "complaint": "#投诉 客户投诉催收电话过于频繁，已致歉并记录，转主管复核。",
        "override": "客户本人要求今天18点前回电（主管已批准超出当日次数）。",
        "override_reason": "客户本人主动要求今日回电。",
        "plan": "客户同意分期还款，已确认每期金额和日期。",
        "legal_litigation": "材料齐全，同意起诉。",
        "legal_returned": "余额低于起诉标准，退回继续催收。",
        "write_off": "已达核销条件，无回收可能。",
        "write_off_approved": "已核查档案，同意核销。",
    },
    "en": {
        "complaint": "#complaint Customer complains about the number of calls; apologised, noted for review.",
        "override": "Customer asked to be called back today before 6 pm (the supervisor approved the call).",
        "override_reason": "The customer asked for a call back today.",
        "plan": "Customer accepted an installment plan; amounts and dates confirmed.",
        "legal_litigation": "Documentation complete; lawsuit approved.",
        "legal_returned": "Balance below the litigation threshold; continue collection.",
        "write_off": "Charged off; no recovery expected.",
        "write_off_approved": "File checked; write-off approved.",
    },
}


# The days a case must have been open for a scenario to fit in (its conversation, then the promise's or the
# plan's dates inside the history): a younger case trades scenarios with an older one of its stage.
MIN_AGE = {
    "promise_kept": 20,
    "promise_broken": 20,
    "promise_partial": 20,
    "plan_broken": 26,
    "plan_completed": 30,
}


def _fit_to_age(accounts: Sequence[CreditAccount], deck: list[str]) -> None:
    """Swap scenarios within a stage so that each needing MIN_AGE days goes to a case that old (the deck
    keeps its proportions; deterministic: first fitting partner in reference order)."""
    for i, account in enumerate(accounts):
        need = MIN_AGE.get(deck[i], 0)
        if account.days_past_due >= need:
            continue
        for j, other in enumerate(accounts):
            if (
                other.days_past_due >= need
                and MIN_AGE.get(deck[j], 0) <= account.days_past_due
                and deck[j] not in MIN_AGE
            ):
                deck[i], deck[j] = deck[j], deck[i]
                break


# --- Re-dating what the services stamp with the wall clock ----------------------------------------------


class _Redater:
    """Each step runs between two wall-clock readings; `apply` moves every timestamp written between them to
    the step's business moment. The intervals are contiguous (each starts where the last ended), so one
    lookup per row finds its step: the last interval that started before the row was written."""

    def __init__(self) -> None:
        self.spans: list[tuple[datetime, datetime]] = []  # (wall-clock start, business moment)
        self.started: datetime | None = None
        self.ended: datetime | None = None

    @contextmanager
    def at(self, moment: datetime):
        start = timezone.now()
        if self.spans and start <= self.spans[-1][0]:
            # Under a stopped clock (a test's frozen time) every step would share one instant.
            raise RuntimeError("The demo history needs a running clock to date each step's writes.")
        self.started = self.started or start
        self.spans.append((start, moment))
        try:
            yield
        finally:
            self.ended = timezone.now() + timedelta(microseconds=1)

    def apply(self) -> int:
        if not self.spans:
            return 0
        columns = [
            (model._meta.db_table, f.column)
            for app_label in APPS_REDATED
            for model in apps.get_app_config(app_label).get_models()
            if not model._meta.proxy and model._meta.managed
            for f in model._meta.concrete_fields
            if isinstance(f, models.DateTimeField)
        ]
        qn = connection.ops.quote_name
        changed = 0
        # The case timeline is hash-chained and refuses UPDATE: the seed, owner of the tables it has just
        # filled, moves its events too and hashes the chains again afterwards (core.chains.rewriting).
        tables = {table for table, _column in columns}
        chained = [chain for chain in chains.CHAINS.values() if chain.table in tables]
        with transaction.atomic(), chains.rewriting(chained), connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMPORARY TABLE demo_redate ("
                "t0 TIMESTAMP WITH TIME ZONE, at TIMESTAMP WITH TIME ZONE)"
            )
            try:
                cursor.executemany("INSERT INTO demo_redate (t0, at) VALUES (%s, %s)", self.spans)
                cursor.execute("CREATE INDEX demo_redate_t0 ON demo_redate (t0)")
                cursor.execute("ANALYZE demo_redate") if connection.vendor == "postgresql" else None
                for table, column in columns:
                    col = qn(column)
                    cursor.execute(
                        f"UPDATE {qn(table)} SET {col} = (SELECT r.at FROM demo_redate r WHERE r.t0 <= "  # noqa: S608
                        f"{qn(table)}.{col} ORDER BY r.t0 DESC LIMIT 1) WHERE {col} >= %s AND {col} <= %s",
                        [self.started, self.ended],
                    )
                    changed += max(cursor.rowcount, 0)
            finally:
                cursor.execute("DROP TABLE demo_redate")
        return changed


# --- One case and its script ------------------------------------------------------------------------------


@dataclass
class _CaseWork:
    """One case, the people who work it, its own random stream and the first day it may be worked."""

    case_id: int
    account: CreditAccount
    rng: random.Random
    phone: ContactPoint | None
    first_day: date
    agents_by_team: dict[int, User] = field(default_factory=dict)

    @property
    def holder(self):
        return self.account.cardholder

    @property
    def notes(self) -> dict:
        language = "zh-hans" if self.holder.language == "zh-hans" else "en"
        return NOTES[language] | EXTRA_NOTES[language]

    @property
    def cny(self) -> bool:
        return self.account.currency == "CNY"


Script = Generator[datetime, None, None]


class History:
    """The ninety days before `today`, lived in order (see the module docstring)."""

    def __init__(
        self,
        *,
        seed: int,
        today: date,
        now: datetime,
        points: dict[int, list[ContactPoint]],
        days: int = HISTORY_DAYS,
    ):
        self.seed = seed
        self.today = today
        self.now = now
        # Nothing is dated in the future, nor quite now; whole hours, so that two runs started in the
        # same hour write the same history.
        end_of_today = datetime.combine(today + timedelta(days=1), wall_time(0, 0), bank_zone())
        this_hour = now.replace(minute=0, second=0, microsecond=0)
        self.latest = min(this_hour, end_of_today) - timedelta(minutes=10)
        self.start = today - timedelta(days=days)
        self.points = points
        self.counts: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.horizon = settings.COLLECTIONS_PROMISE_HORIZON_DAYS
        self.redate = _Redater()
        self.heap: list[tuple[datetime, int, Script]] = []
        self.sequence = itertools.count()
        self.scenarios: dict[int, str] = {}
        self.scripts: dict[tuple[str, str, str], dict] = {}  # the call scripts' ticks (_statements_given)
        self.opening: dict[date, list[int]] = {}
        self.accounts: dict[int, CreditAccount] = {}
        teams = Team.objects.select_related("supervisor")
        self.supervisors = {team.pk: team.supervisor for team in teams}
        self.any_supervisor = next((s for s in self.supervisors.values() if s is not None), None)
        self.agents: dict[int, list[User]] = {}
        for user in User.objects.filter(role=Role.AGENT, is_active=True, team__isnull=False).order_by(
            "username"
        ):
            self.agents.setdefault(user.team_id, []).append(user)
        self.legal = User.objects.filter(role=Role.LEGAL, is_active=True).order_by("username").first()
        # The approvers of write-offs (maker-checker): a team's lead, and the head of collections.
        self.team_leads = {
            user.team_id: user
            for user in User.objects.filter(role=Role.TEAM_LEAD, is_active=True, team__isnull=False).order_by(
                "-username"
            )
        }
        self.head = User.objects.filter(role=Role.HEAD, is_active=True).order_by("username").first()

    # --- Planning ---

    def plan(self, accounts: Sequence[CreditAccount]) -> None:
        """A scenario per delinquent account, from a deck per stage (by today's bucket), and the night each
        account's case opens (the night after its first missed due date)."""
        from demo.seed import _deck  # the same shuffled-deck helper as the portfolio

        stages: dict[str, list[CreditAccount]] = {"early": [], "late": [], "charge_off": []}
        for account in sorted(accounts, key=lambda a: a.external_ref):
            if account.first_missed_due_date is None or account.overdue_amount <= 0:
                continue
            self.accounts[account.pk] = account
            self.opening.setdefault(account.first_missed_due_date + timedelta(days=1), []).append(account.pk)
            bucket = account.bucket
            if bucket in (Bucket.M1, Bucket.M2):
                stages["early"].append(account)
            elif bucket in (Bucket.M3, Bucket.M4, Bucket.M5, Bucket.M6):
                stages["late"].append(account)
            else:
                stages["charge_off"].append(account)
        deck_rng = random.Random(f"{self.seed}:scenarios")
        weights = {"early": EARLY_SCENARIOS, "late": LATE_SCENARIOS, "charge_off": CHARGE_OFF_SCENARIOS}
        for stage, stage_accounts in stages.items():
            deck = _deck(deck_rng, weights[stage], len(stage_accounts))
            _fit_to_age(stage_accounts, deck)
            for account, scenario in zip(stage_accounts, deck, strict=True):
                self.scenarios[account.pk] = scenario

    # --- The engine ---

    def run(self) -> None:
        """Open the cases of the days before the window, then live the window day by day."""
        for day in sorted(d for d in self.opening if d < self.start):
            self._open_cases(day, start_scripts=False)
        self._start_scripts(
            Case.objects.filter(account_id__in=list(self.accounts), closed_at__isnull=True).values_list(
                "pk", "account_id"
            )
        )
        day = self.start
        while day <= self.today:
            night = min(datetime.combine(day, NIGHT, bank_zone()), self.latest)
            while self.heap and self.heap[0][0] < night:
                self._resume(heapq.heappop(self.heap))
            with self.redate.at(night):
                self._nightly(day, night)
            day += timedelta(days=1)
        while self.heap:
            self._resume(heapq.heappop(self.heap))

    def _push(self, script: Script) -> None:
        try:
            moment = next(script)
        except StopIteration:
            return
        heapq.heappush(self.heap, (moment, next(self.sequence), script))

    def _resume(self, item: tuple[datetime, int, Script]) -> None:
        moment, _n, script = item
        with self.redate.at(moment):
            self._push(script)

    def _nightly(self, day: date, night: datetime) -> None:
        """The pipeline's steps for business date `day`, in the pipeline's order (automation.pipeline).

        The dashboard snapshots of the day that ended are taken on the nights the dashboards read: every
        night of the last 35 days (the open balance at the start of any period up to a month) and at each
        month's end (the roll and cure rates); queue placement runs weekly (and once at the end)."""
        ctx = SimpleNamespace(as_of=day, now=night, run=None)
        last = day - timedelta(days=1)
        month_end = day.day == 1 or day == self.today
        if month_end or day >= self.today - timedelta(days=35):
            rollups.snapshot_portfolio(last)
        if month_end:
            rollups.snapshot_month_end(rollups.month_of(last))
            rollups.build_transitions(rollups.month_of(last))
        pipeline.refresh_delinquency(ctx)
        self._open_cases(day, start_scripts=True, night=night)
        self.counts["promises_broken"] += services.promises_check_broken(as_of=day)
        self.counts["plans_broken"] += plan_services.plans_check_broken(as_of=day)
        before = set(LegalReferral.objects.values_list("pk", flat=True)) if self.legal else set()
        escalation.run_rules(as_of=day)
        if self.legal is not None:
            for referral in LegalReferral.objects.exclude(pk__in=before).select_related("case__account"):
                self._push(self._legal_review(referral, night))
        if day.weekday() == 0:
            with transaction.atomic():
                queues.place_cases_in_queues()

    def _open_cases(self, day: date, *, start_scripts: bool, night: datetime | None = None) -> None:
        ids = self.opening.get(day)
        if not ids:
            return
        night = night or datetime.combine(day, wall_time(2, 0), bank_zone())
        with transaction.atomic():
            services.cases_open_for_delinquent_accounts(account_ids=ids, now=night)
        if start_scripts:
            self._start_scripts(
                Case.objects.filter(account_id__in=ids, opened_at=night).values_list("pk", "account_id")
            )

    def _start_scripts(self, rows: Iterable[tuple[int, int]]) -> None:
        for case_id, account_id in sorted(rows, key=lambda r: self.accounts[r[1]].external_ref):
            account = self.accounts[account_id]
            opened = account.first_missed_due_date + timedelta(days=1)
            work = _CaseWork(
                case_id=case_id,
                account=account,
                rng=random.Random(f"{self.seed}:{account.external_ref}"),
                phone=next(
                    (
                        p
                        for p in self.points.get(account.cardholder_id, [])
                        if p.kind == ContactPointKind.PHONE and p.party_role == PartyRole.DEBTOR
                    ),
                    None,
                ),
                first_day=max(self.start, opened),
            )
            self._push(self._script(work, self.scenarios.get(account_id, "new")))

    # --- Helpers for the scripts ---

    def _try(self, service: Callable, **kwargs):
        try:
            return service(**kwargs)
        except DomainError as refused:
            self.refused[refused.rule or type(refused).__name__] += 1
            return None

    def _team_of(self, work: _CaseWork) -> int | None:
        return Case.objects.filter(pk=work.case_id).values_list("queue__team_id", flat=True).first()

    def _agent(self, work: _CaseWork) -> User | None:
        """The agent of the team whose queue holds the case now (cases move queues as they roll)."""
        team = self._team_of(work)
        if team not in work.agents_by_team:
            agents = self.agents.get(team, [])
            work.agents_by_team[team] = work.rng.choice(agents) if agents else None
        return work.agents_by_team[team]

    def _supervisor(self, work: _CaseWork) -> User | None:
        return self.supervisors.get(self._team_of(work)) or self.any_supervisor

    def _moment(
        self, work: _CaseWork, day: date, first_hour: int = 9, last_hour: int = 20
    ) -> datetime | None:
        """A moment on `day` (the cardholder's calendar) between first_hour and last_hour local time, or
        None when that is not in the past yet."""
        zone, rng = work.holder.time_zone, work.rng
        if not zone:
            # Unknown zone: the policy judges every candidate zone, and those of an area code it cannot
            # place are all of the US, Hawaii included. 14:00-19:00 Eastern is 08:00-13:00 in Honolulu
            # in summer and still before 21:00 in New York.
            zone, first_hour, last_hour = "America/New_York", 14, 19
        minute = rng.randrange(first_hour * 60, last_hour * 60)
        local = datetime.combine(day, wall_time(minute // 60, minute % 60, rng.randrange(60)), ZoneInfo(zone))
        moment = local.astimezone(UTC)
        return moment if moment <= self.latest else None

    def _day(self, work: _CaseWork, *, after: date | None = None, room: int = 0) -> date | None:
        """A day to act on: from the case's first day (or the day after `after`) up to today, leaving
        `room` days after it; None when there is no such day."""
        first = max(work.first_day, after + timedelta(days=1)) if after else work.first_day
        last = self.today - timedelta(days=room)
        if last < first:
            return None
        return first + timedelta(days=work.rng.randrange((last - first).days + 1))

    def _statements_given(self, work: _CaseWork) -> dict:
        """The demo's agents give every statement of the call script and tick them (ContactInput's
        `disclosures` and `script_id`); the scripts are read once per jurisdiction, language and stage."""
        holder = work.holder
        key = (holder.jurisdiction, holder.language, work.account.bucket)
        cache = self.scripts
        if key not in cache:
            script = call_scripts.script_for(*key)
            cache[key] = (
                {"disclosures": tuple(s.code for s in script.statements.all()), "script_id": script.pk}
                if script is not None
                else {}
            )
        return cache[key]

    def _tries(self, work: _CaseWork) -> int:
        """How many calls it takes to reach the debtor: mostly the first or second."""
        return work.rng.choices((1, 2, 3), weights=(55, 35, 10))[0]

    def _contact(
        self,
        work: _CaseWork,
        at: datetime,
        outcome: str,
        *,
        reason: str = "",
        channel=Channel.OUTBOUND_CALL,
        actor=None,
        override_reason: str = "",
        note: str = "",
    ) -> ContactAttempt | None:
        rng, notes = work.rng, work.notes
        answered = outcome in (
            Outcome.RIGHT_PARTY_CONTACT,
            Outcome.PROMISE_TO_PAY,
            Outcome.DISPUTE_RAISED,
            Outcome.CALLBACK_REQUESTED,
            Outcome.REFUSED_TO_PAY,
        )
        if channel == Channel.SMS:
            actor, duration, note, recording = None, 0, notes["sms"], ""
        else:
            actor = actor or self._agent(work)
            duration = rng.randint(90, 600) if answered else rng.randint(5, 45)
            note = note or notes.get(reason) or notes.get(outcome, "")
            # Calls are recorded (China requires it for every completed collection call).
            recording = f"REC-{at:%Y%m%d}-{rng.randrange(10**6):06d}"
        attempt = self._try(
            services.contact_attempt_log,
            case_id=work.case_id,
            actor=actor,
            override_reason=override_reason,
            data=services.ContactInput(
                channel=channel,
                outcome=outcome,
                contact_point_id=work.phone.pk if work.phone else None,
                party_role=PartyRole.DEBTOR,
                person_reached=work.holder.name if answered else "",
                delinquency_reason=reason,
                duration_seconds=duration,
                notes=note,
                recording_ref=recording,
                started_at=at,
                **(self._statements_given(work) if answered and channel != Channel.SMS else {}),
            ),
        )
        if attempt is not None:
            self.counts["contacts"] += 1
        return attempt

    def _unanswered(self, work: _CaseWork, day: date, n: int) -> Script:
        """`n` unanswered calls on the days before `day` (one a day)."""
        for back in range(n, 0, -1):
            earlier = day - timedelta(days=back)
            at = self._moment(work, earlier) if earlier >= work.first_day else None
            if at is None:
                continue
            yield at
            outcome = work.rng.choices(
                (Outcome.NO_ANSWER, Outcome.BUSY, Outcome.VOICEMAIL), weights=(6, 2, 1 if work.cny else 3)
            )[0]
            self._contact(work, at, outcome)

    def _rpc_reason(self, work: _CaseWork) -> str:
        return work.rng.choices(RPC_REASONS, weights=RPC_REASON_WEIGHTS)[0]

    def _fresh_account(self, work: _CaseWork) -> CreditAccount:
        work.account.refresh_from_db()
        return work.account

    def _round(self, work: _CaseWork, amount: Decimal, *, cap: Decimal) -> Decimal:
        """Promises are round figures: hundreds of yuan, tens of dollars."""
        step = Decimal(100 if work.cny else 10)
        rounded = (amount / step).quantize(Decimal(1)) * step
        return min(max(rounded, step), cap).quantize(CENT)

    def _pay(self, work: _CaseWork, amount: Decimal, at: datetime) -> object:
        sources = ("bank_transfer", "wechat_pay", "alipay", "unionpay") if work.cny else ("ach", "debit_card")
        self.counts["payment_refs"] += 1
        result = self._try(
            services.payment_record,
            account=work.account,
            external_ref=f"{work.account.external_ref}-P{at:%Y%m%d%H%M%S}",
            amount=amount,
            paid_at=at,
            source=work.rng.choice(sources),
        )
        if result is not None:
            self.counts["payments"] += 1
        return result

    def _payment_moment(self, work: _CaseWork, day: date) -> datetime | None:
        return self._moment(work, day, 7, 23)

    # --- The scripts ---

    def _script(self, work: _CaseWork, scenario: str) -> Script:
        holder = work.holder
        # What the bank already knows decides first: these cases are put on hold, not worked.
        for flag, reason, note in (
            ("deceased", HoldReason.DECEASED, "Notice of death received; estate to be contacted."),
            ("bankruptcy", HoldReason.BANKRUPTCY, "Bankruptcy filing notified; automatic stay."),
            ("cease_communication", HoldReason.CEASE_COMMUNICATION, "Written cease-communication request."),
        ):
            if getattr(holder, flag):
                at = datetime.combine(work.first_day, wall_time(10, 0), bank_zone())
                if at <= self.latest:
                    yield at
                    self._try(services.case_hold, case_id=work.case_id, actor=None, reason=reason, note=note)
                return
        yield from getattr(self, f"_scenario_{scenario}")(work)

    def _scenario_new(self, work: _CaseWork) -> Script:
        return
        yield

    def _scenario_reminded(self, work: _CaseWork) -> Script:
        day = self._day(work)
        at = self._moment(work, day) if day else None
        if at is not None:
            yield at
            self._contact(work, at, Outcome.DELIVERED, channel=Channel.SMS)

    def _scenario_no_answer(self, work: _CaseWork) -> Script:
        day = self._day(work)
        if day is None:
            return
        n = work.rng.choices((1, 2, 3), weights=(60, 30, 10))[0]
        if work.rng.random() < 0.5:
            at = (
                self._moment(work, day - timedelta(days=n))
                if day - timedelta(days=n) >= work.first_day
                else None
            )
            if at is not None:
                yield at
                self._contact(work, at, Outcome.DELIVERED, channel=Channel.SMS)
        yield from self._unanswered(work, day + timedelta(days=1), n)

    def _scenario_unreached(self, work: _CaseWork) -> Script:
        """Called every couple of weeks, never reached: what the charge-off escalation rules look for."""
        day = work.first_day + timedelta(days=work.rng.randrange(1, 8))
        while day <= self.today:
            at = self._moment(work, day)
            if at is None:
                return
            yield at
            outcome = work.rng.choices(
                (Outcome.NO_ANSWER, Outcome.BUSY, Outcome.WRONG_NUMBER), weights=(8, 2, 1)
            )[0]
            if self._contact(work, at, outcome) is None and work.rng.random() < 0.5:
                return
            day += timedelta(days=work.rng.randint(10, 20))

    def _reached(
        self, work: _CaseWork, outcome: str, *, room: int = 0, reason: str = "", after: date | None = None
    ) -> Script:
        """A few unanswered calls, then a conversation (on a day after `after`, `room` days before today):
        returns (the attempt, its moment) or (None, None)."""
        day = self._day(work, after=after, room=room)
        if day is None:
            return None, None
        yield from self._unanswered(work, day, self._tries(work) - 1)
        at = self._moment(work, day)
        if at is None:
            return None, None
        yield at
        attempt = self._contact(work, at, outcome, reason=reason or self._rpc_reason(work))
        return attempt, at

    def _scenario_rpc(self, work: _CaseWork) -> Script:
        outcome = work.rng.choices(
            (Outcome.RIGHT_PARTY_CONTACT, Outcome.CALLBACK_REQUESTED, Outcome.REFUSED_TO_PAY),
            weights=(5, 3, 2),
        )[0]
        reason = DelinquencyReason.REFUSES if outcome == Outcome.REFUSED_TO_PAY else ""
        yield from self._reached(work, outcome, reason=reason)

    def _scenario_complaint(self, work: _CaseWork) -> Script:
        """A conversation in which the cardholder complains; the agent notes it with the complaint tag."""
        recently = self.today - timedelta(days=40)
        attempt, at = yield from self._reached(
            work, Outcome.REFUSED_TO_PAY, reason=DelinquencyReason.REFUSES, after=recently
        )
        if attempt is None:
            return
        yield at + timedelta(minutes=15)
        if self._try(
            services.note_add, case_id=work.case_id, actor=attempt.agent, text=work.notes["complaint"]
        ):
            self.counts["complaints"] += 1

    def _promise(self, work: _CaseWork, *, share: float, room: int) -> Script:
        """A conversation ending in a promise to pay, recorded on the contact that produced it: returns
        (the promise, the moment of the call)."""
        attempt, at = yield from self._reached(work, Outcome.PROMISE_TO_PAY, room=room)
        if attempt is None:
            return None, None
        account = self._fresh_account(work)
        amount = self._round(work, account.overdue_amount * Decimal(str(share)), cap=account.overdue_amount)
        called_on = bank_date(at)
        due = called_on + timedelta(days=work.rng.randint(3, min(14, self.horizon)))
        promise = self._try(
            services.promise_record,
            case_id=work.case_id,
            actor=attempt.agent,
            amount=amount,
            due_date=due,
            today=called_on,
            contact_attempt_id=attempt.pk,
        )
        if promise is not None:
            self.counts["promises"] += 1
        return promise, at

    def _scenario_promise(self, work: _CaseWork) -> Script:
        """A promise made in the last fortnight, not due yet (or paid on time when it is)."""
        day = self._day(work, after=self.today - timedelta(days=14))
        if day is None:
            return
        work.first_day = day
        promise, at = yield from self._promise(work, share=work.rng.choice((0.5, 0.8, 1.0)), room=0)
        if promise is not None:
            pay_day = promise.due_date - timedelta(days=work.rng.randint(0, 2))
            at2 = self._payment_moment(work, max(pay_day, bank_date(at) + timedelta(days=1)))
            if at2 is not None:
                yield at2
                self._pay(work, promise.amount, at2)

    def _scenario_promise_kept(self, work: _CaseWork) -> Script:
        promise, at = yield from self._promise(work, share=work.rng.choice((0.5, 1.0)), room=16)
        if promise is not None:
            days = max((promise.due_date - bank_date(at)).days, 1)
            at2 = self._payment_moment(work, bank_date(at) + timedelta(days=work.rng.randint(1, days)))
            if at2 is not None:
                yield at2
                self._pay(work, promise.amount, at2)

    def _scenario_promise_broken(self, work: _CaseWork) -> Script:
        """Promised, never paid: the nightly check breaks it after the date plus the grace days."""
        yield from self._promise(work, share=work.rng.choice((0.5, 1.0)), room=16)

    def _scenario_promise_partial(self, work: _CaseWork) -> Script:
        promise, at = yield from self._promise(work, share=1.0, room=16)
        if promise is not None:
            part = self._round(work, promise.amount * Decimal("0.4"), cap=promise.amount)
            if part < promise.amount:
                at2 = self._payment_moment(work, bank_date(at) + timedelta(days=1))
                if at2 is not None:
                    yield at2
                    self._pay(work, part, at2)

    def _scenario_cured(self, work: _CaseWork) -> Script:
        day = self._day(work, room=1)
        if day is None:
            return
        yield from self._unanswered(work, day, self._tries(work) - 1)
        if work.rng.random() < 0.6:
            at = self._moment(work, day)
            if at is not None:
                yield at
                self._contact(work, at, Outcome.RIGHT_PARTY_CONTACT, reason=DelinquencyReason.FORGOT)
        at2 = self._payment_moment(work, day + timedelta(days=work.rng.randint(0, 3)))
        if at2 is None:
            return
        yield at2
        account = self._fresh_account(work)
        # Some pay everything they owe; most bring the account current.
        amount = account.balance if work.rng.random() < 0.25 else account.overdue_amount
        if amount > 0:
            self._pay(work, amount, at2)

    def _scenario_dispute(self, work: _CaseWork) -> Script:
        reason = work.rng.choice((DelinquencyReason.DISPUTE, DelinquencyReason.FRAUD_CLAIM))
        attempt, at = yield from self._reached(work, Outcome.DISPUTE_RAISED, reason=reason)
        if attempt is not None:
            yield at + timedelta(minutes=10)
            hold = HoldReason.DISPUTE if reason == DelinquencyReason.DISPUTE else HoldReason.FRAUD_CLAIM
            self._try(
                services.case_hold, case_id=work.case_id, actor=attempt.agent, reason=hold, note=attempt.notes
            )

    def _scenario_hardship(self, work: _CaseWork) -> Script:
        reason = work.rng.choice((DelinquencyReason.JOB_LOSS, DelinquencyReason.ILLNESS))
        attempt, at = yield from self._reached(work, Outcome.RIGHT_PARTY_CONTACT, reason=reason, room=10)
        if attempt is None:
            return
        yield at + timedelta(minutes=10)
        held = self._try(
            services.case_hold,
            case_id=work.case_id,
            actor=attempt.agent,
            reason=HoldReason.HARDSHIP,
            note=work.notes["hardship"],
        )
        if held is not None and work.rng.random() < 0.4:
            later = self._moment(work, bank_date(at) + timedelta(days=work.rng.randint(5, 10)))
            if later is not None:
                yield later
                self._try(
                    services.case_release_hold,
                    case_id=work.case_id,
                    actor=self._supervisor(work),
                    note=work.notes["hardship_release"],
                )

    def _scenario_override(self, work: _CaseWork) -> Script:
        """A number called to the daily cap; the next call is refused by the contact policy, and the
        supervisor makes it anyway with a recorded reason (the cardholder asked for it)."""
        day = self._day(work, after=self.today - timedelta(days=25))
        at = self._moment(work, day, 9, 11) if day else None
        if at is None:
            return
        for n in range(7):
            moment = at + timedelta(minutes=25 * n)
            if moment > self.latest:
                return
            yield moment
            self._contact(work, moment, Outcome.NO_ANSWER)
        moment = at + timedelta(minutes=25 * 7)
        if moment > self.latest:
            return
        yield moment
        attempt = self._contact(
            work,
            moment,
            Outcome.RIGHT_PARTY_CONTACT,
            reason=self._rpc_reason(work),
            actor=self._supervisor(work),
            override_reason=work.notes["override_reason"],
            note=work.notes["override"],
        )
        if attempt is not None:
            self.counts["overrides"] += 1

    def _plan(self, work: _CaseWork, *, after: date, room: int, pay: int | None) -> Script:
        """A conversation (on a day after `after`, `room` days before today), an installment plan of three
        weekly payments from a week later, accepted at once, then `pay` installments paid on their dates
        (None: all)."""
        attempt, at = yield from self._reached(work, Outcome.RIGHT_PARTY_CONTACT, room=room, after=after)
        if attempt is None:
            return
        yield at + timedelta(minutes=5)
        account = self._fresh_account(work)
        called_on = bank_date(at)
        # Three installments, fewer when they would fall under the agent's minimum installment (100.00).
        count = max(1, min(3, int(account.overdue_amount // Decimal("100.00"))))
        plan = self._try(
            plan_services.plan_propose,
            case_id=work.case_id,
            actor=attempt.agent,
            data=plan_services.PlanInput(
                kind="installment",
                amount=account.overdue_amount,
                first_due_date=called_on + timedelta(days=7),
                installments=count,
                frequency="weekly",
            ),
            reason=work.notes["plan"],
            cardholder_accepted=True,
            acceptance_note=work.notes["plan"],
            today=called_on,
        )
        if plan is None:
            return
        self.counts["plans"] += 1
        installments = list(plan.installments.order_by("due_date").values_list("due_date", "amount"))
        for due, amount in installments[:pay]:
            moment = self._payment_moment(work, due - timedelta(days=work.rng.randint(0, 2)))
            if moment is None:
                return
            yield moment
            self._pay(work, amount, moment)

    # The plans' dates put their start, completion or break inside the dashboards' default month.

    def _scenario_plan_active(self, work: _CaseWork) -> Script:
        yield from self._plan(work, after=self.today - timedelta(days=20), room=3, pay=None)

    def _scenario_plan_completed(self, work: _CaseWork) -> Script:
        yield from self._plan(work, after=self.today - timedelta(days=50), room=24, pay=None)

    def _scenario_plan_broken(self, work: _CaseWork) -> Script:
        yield from self._plan(work, after=self.today - timedelta(days=45), room=20, pay=1)

    def _scenario_written_off(self, work: _CaseWork) -> Script:
        day = self._day(work, room=2)
        if day is None:
            return
        yield from self._unanswered(work, day, work.rng.randint(1, 2))
        at = datetime.combine(day, wall_time(16, 0), bank_zone())
        if at > self.latest:
            return
        yield at
        account = self._fresh_account(work)
        # Nobody writes a debt off alone: the supervisor asks, the approver its amount needs decides the
        # next morning (a request that needs two heads waits in the inbox for the second one).
        request = self._try(
            authority.request_create,
            case_id=work.case_id,
            actor=self._supervisor(work),
            kind=ActionKind.WRITE_OFF,
            resolution_reason=ResolutionReason.CHARGED_OFF,
            reason=f"{work.notes['write_off']} ({account.days_past_due} DPD)",
        )
        if request is None:
            return
        approver = (
            self.team_leads.get(self._team_of(work)) if request.routed_to_role == Role.TEAM_LEAD else None
        )
        approver = approver or self.head
        at = datetime.combine(day + timedelta(days=1), wall_time(10, 0), bank_zone())
        if approver is None or at > self.latest:
            return
        yield at
        self._try(
            authority.request_approve,
            request_id=request.pk,
            actor=approver,
            reason=work.notes["write_off_approved"],
        )

    def _legal_review(self, referral: LegalReferral, night: datetime) -> Script:
        """Legal decides on a referral some days later: litigation, back to collections, or not yet."""
        rng = random.Random(f"{self.seed}:legal:{referral.case.account.external_ref}")
        decision = rng.choices([d for d, _w in LEGAL_OUTCOMES], weights=[w for _d, w in LEGAL_OUTCOMES])[0]
        if decision is None:
            return
        day = bank_date(night) + timedelta(days=rng.randint(2, 15))
        at = datetime.combine(day, wall_time(rng.randint(10, 16), rng.randrange(60)), bank_zone())
        if at > self.latest:
            return
        yield at
        cny = referral.case.account.currency == "CNY"
        language = "zh-hans" if cny else "en"
        if decision == LegalDecision.LITIGATION:
            number = rng.randint(1000, 29999)
            court = f"（{day:%Y}）沪0115民初{number}号" if cny else f"{day:%y}-CV-{number:05d}"
            self._try(
                legal_services.legal_decide,
                case_id=referral.case_id,
                actor=self.legal,
                decision=decision,
                note=EXTRA_NOTES[language]["legal_litigation"],
                court_reference=court,
                as_of=day,
            )
        else:
            self._try(
                legal_services.legal_decide,
                case_id=referral.case_id,
                actor=self.legal,
                decision=decision,
                note=EXTRA_NOTES[language]["legal_returned"],
                as_of=day,
            )


def demo_rules_switch_on() -> list[EscalationRule]:
    """The demo bank runs the shipped rules live (a real bank turns them on after a preview)."""
    rules = list(EscalationRule.objects.filter(name__in=DEMO_RULES))
    for rule in rules:
        if not rule.enabled or rule.dry_run:
            rule.enabled, rule.dry_run = True, False
            rule.save()
    return rules


def plans_count() -> dict[str, int]:
    return dict(RepaymentPlan.objects.values_list("state").annotate(n=models.Count("pk")).order_by())
