"""The demo's ninety days hold together as a supervisor would check them: every promise follows the
conversation that produced it, the legal referrals were made by the shipped escalation rules, promises are
kept and broken (the nightly check broke them, after their date and the grace days), accounts roll forward
and cure, plans run, complete and break - and so every KPI on /dashboards/kpis/ shows a real figure.

One portfolio is seeded for the module (a running clock; the seed rolls up the dashboards at its end) and
rolled back afterwards; each test runs in a savepoint inside it."""

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role, User
from collections_app import selectors, services
from collections_app.models import (
    RIGHT_PARTY_OUTCOMES,
    Bucket,
    Case,
    CaseEvent,
    CaseState,
    ContactAttempt,
    EventKind,
    Outcome,
    PromiseStatus,
    PromiseToPay,
    ResolutionReason,
)
from collections_app.services import contactability
from core.clock import bank_date
from dashboards.models import RollTransitionMonthly
from dashboards.rollups import complaint_q
from demo.seed import seed_portfolio
from escalation.models import EscalationFiring, EscalationRule, FiringOutcome
from legal.models import LegalReferral
from repayment_plans.models import PlanState, RepaymentPlan

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

NOW = "2026-06-20 18:00 +0800"
TODAY = date(2026, 6, 20)
BUCKET_ORDER = list(Bucket.values)


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), transaction.atomic():
        # A running clock: the seed dates each step's writes by the wall-clock interval it ran in.
        with time_machine.travel(NOW, tick=True):
            summary = seed_portfolio(cardholders=200, seed=7, today=TODAY)
        yield summary
        transaction.set_rollback(True)


def is_nonzero(value) -> bool:
    """A KPI's value: a number, a rate, or (money) one figure per currency."""
    if isinstance(value, Mapping):
        return bool(value) and any(is_nonzero(v) for v in value.values())
    return value is not None and value > 0


class TestTheDemoHistory:
    def test_every_promise_follows_a_right_party_contact_on_its_case(self, demo):
        promises = PromiseToPay.objects.select_related("contact_attempt")
        assert promises.count() == demo.promises > 0
        for promise in promises:
            attempt = promise.contact_attempt
            # Recorded on the conversation that produced it, that same day, after it.
            assert attempt is not None and attempt.case_id == promise.case_id, promise.pk
            assert attempt.outcome == Outcome.PROMISE_TO_PAY
            assert attempt.started_at <= promise.created_at
            assert bank_date(promise.created_at) == bank_date(attempt.started_at)
        earlier_rpc = ContactAttempt.objects.filter(
            case_id=OuterRef("case_id"),
            outcome__in=RIGHT_PARTY_OUTCOMES,
            started_at__lte=OuterRef("created_at"),
        )
        assert not PromiseToPay.objects.filter(~Exists(earlier_rpc)).exists()

    def test_history_spans_ninety_days_and_nothing_is_dated_in_the_future(self, demo):
        with time_machine.travel(NOW, tick=False):
            start = TODAY - timedelta(days=90)
            events = CaseEvent.objects.exclude(kind=EventKind.OPENED)
            first, last = (
                events.order_by("created_at").first().created_at,
                events.order_by("-created_at").first().created_at,
            )
            assert bank_date(first) >= start and bank_date(first) <= start + timedelta(days=7)
            assert last <= timezone.now()
        assert ContactAttempt.objects.filter(started_at__date__lt=start).count() == 0

    def test_escalation_rules_exist_and_every_legal_referral_cites_one(self, demo):
        live = EscalationRule.objects.filter(enabled=True, dry_run=False)
        assert live.filter(move_to_legal_review=True).count() >= 2
        referrals = LegalReferral.objects.select_related("rule", "case__account__cardholder")
        assert referrals.count() == demo.referrals > 0
        for referral in referrals:
            assert referral.rule is not None and referral.rule_name == referral.rule.name, referral.pk
            # The rule's own firing is recorded, and the case is of the rule's country.
            assert EscalationFiring.objects.filter(
                rule=referral.rule, case=referral.case, outcome=FiringOutcome.FIRED, dry_run=False
            ).exists()
            country = referral.case.account.cardholder.jurisdiction.split("-")[0]
            assert referral.rule.name.startswith(f"{country}:")
        assert referrals.exclude(decision="pending").exists()  # legal decided on some

    def test_some_promises_are_kept_and_some_broken_by_the_nightly_check(self, demo):
        grace = settings.COLLECTIONS_PROMISE_GRACE_DAYS
        kept = PromiseToPay.objects.filter(status=PromiseStatus.KEPT)
        broken = PromiseToPay.objects.filter(status=PromiseStatus.BROKEN)
        assert kept.exists() and broken.exists()
        assert not kept.filter(paid_amount__lt=F("amount")).exists()
        assert not broken.filter(paid_amount__gte=F("amount")).exists()
        for promise in broken:
            # Broken on the night after its date plus the grace days, not before.
            assert bank_date(promise.settled_at) == promise.due_date + timedelta(days=grace + 1), promise.pk
            assert promise.case.events.filter(kind=EventKind.PROMISE_BROKEN).exists()
        assert not PromiseToPay.objects.filter(
            status=PromiseStatus.PENDING, due_date__lt=TODAY - timedelta(days=grace)
        ).exists()

    def test_accounts_roll_forward_and_some_cure(self, demo):
        moves = list(RollTransitionMonthly.objects.values_list("from_bucket", "to_bucket", "accounts"))
        forward = sum(n for a, b, n in moves if BUCKET_ORDER.index(b) > BUCKET_ORDER.index(a))
        cured = sum(n for a, b, n in moves if a != Bucket.CURRENT and b == Bucket.CURRENT)
        assert forward > 0 and cured > 0
        assert Case.objects.filter(
            state=CaseState.RESOLVED,
            resolution_reason__in=(ResolutionReason.CURED, ResolutionReason.PAID_IN_FULL),
        ).exists()

    def test_plans_are_active_completed_and_broken(self, demo):
        states = set(RepaymentPlan.objects.values_list("state", flat=True))
        assert {PlanState.ACTIVE, PlanState.COMPLETED, PlanState.BROKEN} <= states
        completed = RepaymentPlan.objects.filter(state=PlanState.COMPLETED).select_related("case")
        for plan in completed:
            assert plan.case.resolution_reason == ResolutionReason.PLAN_COMPLETED
            assert not plan.installments.filter(paid_amount__lt=F("amount")).exists()

    def test_the_compliance_figures_have_their_facts(self, demo):
        assert CaseEvent.objects.filter(kind=EventKind.POLICY_REFUSED).exists()
        overridden = ContactAttempt.objects.exclude(policy_override_reason="").select_related("agent")
        assert overridden.exists()
        assert {a.agent.role for a in overridden} == {Role.SUPERVISOR}
        assert CaseEvent.objects.filter(kind=EventKind.POLICY_OVERRIDE).exists()
        assert CaseEvent.objects.filter(complaint_q("reason"), kind=EventKind.NOTE).exists()

    # West works every stage (US early, all late cases); East works Chinese M1-M2 cases only, which the
    # shipped rules never refer to legal (they look for the charge-off stage): its escalations are truly 0.
    @pytest.mark.parametrize(
        ("username", "truly_zero"), [("supervisor2", []), ("supervisor1", ["escalations"])]
    )
    def test_every_kpi_on_the_page_is_a_real_nonzero_figure(self, demo, client, username, truly_zero):
        supervisor = User.objects.get(username=username, role=Role.SUPERVISOR)
        client.force_login(supervisor)
        with time_machine.travel(NOW, tick=False):
            response = client.get(reverse("dashboards:kpis"))
        assert response.status_code == 200
        values = {row["kpi"].key: row["value"] for _title, rows in response.context["groups"] for row in rows}
        assert values, "the page shows no KPI"
        zero = sorted(key for key, value in values.items() if not is_nonzero(value))
        assert zero == truly_zero, f"{username}: KPIs at zero or empty: {zero}"
        assert response.context["plans_active"] > 0
        trend = response.context["trend"]
        assert sum(1 for day in trend if day["attempts"]) > 20  # most days of the month had calls
        cells = [c for row in response.context["roll"].rows for c in row["cells"]]
        assert any(c["side"] == "forward" and c["n"] for c in cells)
        page = response.content.decode()
        for key in values:
            assert f'data-testid="kpi-value-{key}"' in page


def _a_day_of_instants() -> list[datetime]:
    """Every hour of the day after the seed, plus the minute before and the first minute of each window
    change of the demo's zones (08:00 / 22:00 in Beijing, 08:00 / 21:00 in New York and Los Angeles,
    summer time)."""
    start = datetime(2026, 6, 20, 10, 5, tzinfo=UTC)  # 18:05 in Beijing, just after the seed
    steps = {start + timedelta(hours=i) for i in range(25)}
    for day, hour in ((20, 14), (21, 0), (20, 12), (21, 1), (20, 15), (21, 4)):
        edge = datetime(2026, 6, day, hour, 0, tzinfo=UTC)
        steps |= {edge - timedelta(minutes=1), edge}
    return sorted(t for t in steps if start <= t <= start + timedelta(hours=25))


class TestTheDemoAgentsDay:
    def test_whenever_my_work_shows_a_ready_case_next_case_hands_one_out_that_may_be_called(self, demo):
        """The issue's "done when", on the demo itself: for every demo agent, all through the day after the
        seed, My work's ready count and Next case agree, and the case handed out may be called now."""
        agents = list(User.objects.filter(role=Role.AGENT, is_active=True).order_by("username"))
        assert len(agents) >= 4
        seen = {"ready": 0, "none": 0}
        for instant in _a_day_of_instants():
            with time_machine.travel(instant, tick=False):
                contactability.contactability_roll()  # as beat runs it every five minutes
                now = timezone.now()
                for agent in agents:
                    shown = sum(line.ready_now for line in selectors.my_work(agent, now=now).queues)
                    case = services.case_claim_next(actor=agent, now=now).case
                    assert (case is not None) == (shown > 0), (instant, agent.username, shown, case)
                    seen["ready" if shown else "none"] += 1
                    if case is None:
                        continue
                    case = Case.objects.select_related("account__cardholder").get(pk=case.pk)
                    page = selectors.case_page(case)
                    panel = contactability.compliance_status(
                        case=case, contact_points=page.contact_points, now=now
                    )
                    assert panel.call_decision.allowed, (instant, agent.username, case.reference)
                    services.case_release(case_id=case.pk, actor=agent)
        # The day had both: hours with work to hand out and hours (the Chinese night) with none for some.
        assert seen["ready"] and seen["none"], seen

    @pytest.mark.parametrize(
        "instant",
        [
            datetime(2026, 6, 20, 10, 5, tzinfo=UTC),  # 18:05 Beijing; 06:05 New York, before its window
            datetime(2026, 6, 20, 14, 30, tzinfo=UTC),  # 22:30 Beijing, closed; 10:30 New York, open
            datetime(2026, 6, 21, 2, 0, tzinfo=UTC),  # 10:00 Beijing; 22:00 New York, closed
        ],
    )
    def test_every_queued_case_the_page_allows_is_ready_and_no_other(self, demo, instant):
        """The other direction: across the whole demo, a case is counted ready exactly when its page allows
        a call now."""
        with time_machine.travel(instant, tick=False):
            contactability.contactability_roll()
            now = timezone.now()
            ready = set(Case.objects.filter(services.ready_now(now)).values_list("pk", flat=True))
            queued = Case.objects.filter(
                queue__isnull=False, state__in=[CaseState.NEW, CaseState.IN_PROGRESS]
            )
            disagree = []
            for case in queued.select_related("account__cardholder"):
                page = selectors.case_page(case)
                panel = contactability.compliance_status(
                    case=case, contact_points=page.contact_points, now=now
                )
                if panel.call_decision.allowed != (case.pk in ready):
                    disagree.append((case.reference, panel.call_decision.rule))
            assert ready and not disagree, disagree
