"""Reads for the workspace pages and the API: each function does its joins up front so that a page
costs a fixed number of queries however long a case's history is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import (
    BooleanField,
    Count,
    ExpressionWrapper,
    FilteredRelation,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.http import Http404
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from collections_app.access import case_scope, cases_visible_to
from collections_app.models import (
    OPEN_STATES,
    Case,
    CaseEvent,
    CaseHold,
    ContactPoint,
    CreditAccount,
    Payment,
    PromiseStatus,
    PromiseToPay,
    Queue,
)
from collections_app.services import (
    CLAIM_ORDER,
    agent_queue_ids,
    contactability,
    not_ready_summary,
    ready_now,
)
from contact_policy.models import PolicyBook
from core.compiled import CompiledRead, Param

CALLBACK_GRACE = timedelta(minutes=15)  # a callback later than this is overdue
TIMELINE_PAGE_SIZE = 25


# My work counts each queue's open and ready cases up to this many ("200+" beyond): an agent needs to
# know there is work, not how much beyond a day's worth (an outbound agent dials 150-250 times a day);
# the dashboards count whole queues. The ready count reads a row per case counted (its lease and
# callback are on the row), so the cap is its cost: 1,000 took 11 of My work's 26 ms at 1M accounts.
MY_WORK_COUNT_CAP = 200


@dataclass
class QueueLine:
    queue: Queue
    open_cases: int  # exact up to MY_WORK_COUNT_CAP; MY_WORK_COUNT_CAP + 1 means more than that
    ready_now: int

    @staticmethod
    def _shown(count: int) -> str:
        if count > MY_WORK_COUNT_CAP:
            return number_format(MY_WORK_COUNT_CAP, force_grouping=True) + "+"
        return number_format(count, force_grouping=True)

    @property
    def open_shown(self) -> str:
        return self._shown(self.open_cases)

    @property
    def ready_shown(self) -> str:
        return self._shown(self.ready_now)


class CappedCount(Subquery):
    """How many rows the (sliced) queryset has, counted by the database: with the slice at cap + 1 it
    reads at most that many rows of an index, however many the queue holds."""

    template = "(SELECT count(*) FROM (%(subquery)s) capped)"
    output_field = IntegerField()


@dataclass
class MyWork:
    queues: list[QueueLine]
    callbacks_due: list[Case]
    callbacks_overdue: list[Case]
    assigned: list[Case]
    current: Case | None
    # No queue has a case ready: the page asks why (`held_back`) in a request of its own.
    nothing_ready: bool = False


def _case_list(qs: QuerySet[Case]) -> QuerySet[Case]:
    return qs.select_related("account__cardholder", "queue")


def my_work(user, *, now: datetime | None = None) -> MyWork:
    """The agent's day: each queue's open and ready cases (counted up to MY_WORK_COUNT_CAP), callbacks
    due and overdue, assigned cases, the case they hold, and whether no queue has a case ready (then the
    page asks why, `held_back`, after it is shown)."""
    now = now or timezone.now()
    queue_ids = agent_queue_ids(user)
    in_queue = Case.objects.filter(queue_id=OuterRef("pk")).values("pk")
    cap = MY_WORK_COUNT_CAP + 1
    queue_map = {
        q.pk: q
        for q in Queue.objects.filter(pk__in=queue_ids)
        .select_related("team")
        .annotate(
            # case_state_queue_idx and case_ready_queue_idx: at most `cap` index entries each.
            open_count=CappedCount(in_queue.filter(state__in=OPEN_STATES)[:cap]),
            # In index order: with a LIMIT and a misestimate ("3 % of the queue is ready" when nothing
            # is) PostgreSQL would rather scan the table hoping to stop early, and read all of it (240 ms
            # a queue at 1M); asked for the index's own order it reads only the entries callable by now.
            ready_count=CappedCount(in_queue.filter(ready_now(now)).order_by("contactable_from")[:cap]),
        )
    }
    queues = [
        QueueLine(
            queue=queue_map[pk], open_cases=queue_map[pk].open_count, ready_now=queue_map[pk].ready_count
        )
        for pk in queue_ids
        if pk in queue_map
    ]
    callbacks, assigned, current = _my_cases(user, now=now)
    return MyWork(
        queues=queues,
        callbacks_due=[c for c in callbacks if c.next_action_at >= now - CALLBACK_GRACE],
        callbacks_overdue=[c for c in callbacks if c.next_action_at < now - CALLBACK_GRACE],
        assigned=assigned,
        current=current,
        nothing_ready=bool(queues) and not any(line.ready_now for line in queues),
    )


@dataclass
class HeldBack:
    """Why nothing is handed out now: the open cases of the agent's queues by reason, and when the
    first held back by the contact policy may be called."""

    passed_over: dict[str, int]
    next_ready_at: datetime | None


def held_back(user, *, now: datetime | None = None) -> HeldBack:
    """My work's "not handed out now" (`not_ready_summary`: a pass over every claimable case of the
    agent's queues, a fraction of a second at a million accounts): read by its own request after the page,
    only when no queue has a case ready."""
    now = now or timezone.now()
    passed_over, next_ready_at = not_ready_summary(agent_queue_ids(user), now=now)
    return HeldBack(passed_over, next_ready_at)


ASSIGNED_SHOWN = 50  # My work lists the agent's assigned cases of highest priority, this many


def _my_cases(user, *, now: datetime) -> tuple[list[Case], list[Case], Case | None]:
    """My work's three lists of cases in one query: the agent's open cases with a callback due (all of
    them, by time), their ASSIGNED_SHOWN assigned open cases of highest priority, and the case they hold
    (a live lease). The rows are those of the three; the top assigned ones come from a LIMIT subquery, so
    sorting every open assigned row read by priority and keeping the first ASSIGNED_SHOWN gives exactly
    them (a row read only for its callback ranks after them)."""
    mine = Q(assigned_agent=user, state__in=OPEN_STATES)
    top = Case.objects.filter(mine).order_by("-priority", "pk").values("pk")[:ASSIGNED_SHOWN]
    held = Q(lease_owner=user, lease_expires_at__gte=now)
    rows = list(_case_list(Case.objects.filter((mine & (Q(next_action_at__lte=now) | Q(pk__in=top))) | held)))
    open_mine = [c for c in rows if c.assigned_agent_id == user.pk and c.state in OPEN_STATES]
    callbacks = sorted(
        (c for c in open_mine if c.next_action_at is not None and c.next_action_at <= now),
        key=lambda c: (c.next_action_at, c.pk),
    )
    assigned = sorted(open_mine, key=lambda c: (-c.priority, c.pk))[:ASSIGNED_SHOWN]
    current = min(
        (c for c in rows if c.lease_owner_id == user.pk and c.lease_expires_at and c.lease_expires_at >= now),
        key=lambda c: c.pk,
        default=None,
    )
    return callbacks, assigned, current


def queue_cases(
    user, queue_id: int, *, limit: int = 100, now: datetime | None = None
) -> tuple[Queue, list[Case]]:
    """A queue's open cases in the order Next case takes them, among those the user may see; each with
    `ready` (Next case may hand it out now: `ready_now`)."""
    now = now or timezone.now()
    queue = Queue.objects.select_related("team").get(pk=queue_id)
    cases = list(
        cases_visible_to(user, _case_list(Case.objects.filter(queue=queue, state__in=OPEN_STATES)))
        .select_related("lease_owner")
        .annotate(ready=ExpressionWrapper(ready_now(now), output_field=BooleanField()))
        .order_by(*CLAIM_ORDER)[:limit]
    )
    return queue, cases


def _case_for_page_query(scope: Q) -> QuerySet[Case]:
    return (
        Case.objects.select_related("account__cardholder", "queue__team", "assigned_agent", "lease_owner")
        .annotate(
            page_active_hold=FilteredRelation("holds", condition=Q(holds__released_at__isnull=True)),
            page_pending_promise=FilteredRelation(
                "promises", condition=Q(promises__status=PromiseStatus.PENDING)
            ),
        )
        .select_related("page_active_hold", "page_pending_promise")
        .filter(scope, pk=Param("case"))
    )


# Compiled once per visibility scope (the scope's SQL differs by role, team and user; the case is a Param).
_case_for_page_read = CompiledRead(_case_for_page_query)


def case_for_page(user, case_id: int) -> Case:
    """The case the case page (and the API's case detail) shows, in one query: what
    `access.get_case_for_user` loads (404 outside the user's reach, the same scope), plus what the
    page reads of it - the agent holding its lease, its queue's team, its active hold and its pending
    promise (a case has at most one of each: the constraints one_active_hold_per_case and
    one_pending_promise_per_case), joined as `page_active_hold` and `page_pending_promise`. The query is
    compiled once per scope, and prepared (core.compiled): the page is opened for every case worked."""
    scope = case_scope(user)
    found = _case_for_page_read(scope, case=int(case_id)) if scope is not None else []
    if not found:
        raise Http404(_("No such case"))
    case = found[0]
    case.page_rows_joined = True
    return case


@dataclass
class CasePage:
    case: Case
    contact_points: list[ContactPoint]
    active_hold: CaseHold | None
    pending_promise: PromiseToPay | None
    timeline: list[CaseEvent]
    timeline_has_more: bool
    timeline_page: int
    other_accounts: list

    @property
    def open_dispute(self) -> bool:
        return contactability.is_open_dispute(self.active_hold)


def case_hold_and_promise(case: Case) -> tuple[CaseHold | None, PromiseToPay | None]:
    """The case's active hold and pending promise: joined already when `case_for_page` loaded the case
    (no query), else one query each."""
    if getattr(case, "page_rows_joined", False):
        # select_related of a FilteredRelation sets a plain attribute, and none when nothing was joined.
        return getattr(case, "page_active_hold", None), getattr(case, "page_pending_promise", None)
    return (
        case.holds.filter(released_at__isnull=True).first(),
        case.promises.filter(status=PromiseStatus.PENDING).first(),
    )


def case_page(
    case: Case, *, page: int = 1, now: datetime | None = None, policies: PolicyBook | None = None
) -> CasePage:
    """The case page's reads, a fixed number of queries however long the history: the contact points
    with today's calls counted (`contactability.contact_points_for_page`), one page of the timeline,
    the cardholder's other accounts; the active hold and pending promise come with a case loaded by
    `case_for_page` (else one query each)."""
    holder = case.account.cardholder
    contact_points = contactability.contact_points_for_page(
        case, now=now or timezone.now(), policies=policies
    )
    active_hold, pending_promise = case_hold_and_promise(case)
    timeline, has_more = case_timeline(case, page=page)
    other_accounts = _other_accounts_read(None, holder=holder.pk, account=case.account_id)
    return CasePage(
        case=case,
        contact_points=contact_points,
        active_hold=active_hold,
        pending_promise=pending_promise,
        timeline=timeline,
        timeline_has_more=has_more,
        timeline_page=page,
        other_accounts=other_accounts,
    )


def _other_accounts_query(_key=None) -> QuerySet[CreditAccount]:
    return (
        CreditAccount.objects.filter(cardholder_id=Param("holder"))
        .exclude(pk=Param("account"))
        .annotate(open_cases=Count("cases", filter=Q(cases__state__in=OPEN_STATES)))
        .order_by("external_ref")
    )


_other_accounts_read = CompiledRead(_other_accounts_query)


@dataclass(frozen=True)
class NextAction:
    """What the case page's header suggests doing now, and the action (a drawer of the page) it opens."""

    text: str
    action: str  # "contact", "callback", "promise", "hold" or "" (nothing to open)


def next_best_action(case: Case, *, page: CasePage, compliance, now: datetime) -> NextAction | None:
    """One suggestion from what the page has read already (no query): the hold first, then a callback
    that is due, a promise past its date, a call when the policy allows one, a callback when it does
    not yet, and why nothing can be done when it never will. None for a closed case."""
    if not case.is_open:
        return None
    if page.active_hold is not None:
        return NextAction(
            _("On hold (%(reason)s): review whether the hold still applies.")
            % {"reason": page.active_hold.get_reason_display()},
            "hold",
        )
    call = compliance.call_decision
    why = (call.text or "").rstrip(".。")  # the policy's sentence, inside this one
    promise = page.pending_promise
    callback = compliance.next_callback
    if callback is not None and callback.at <= now + CALLBACK_GRACE and call.allowed:
        return NextAction(_("The callback is due: call the cardholder now."), "contact")
    if promise is not None and promise.due_date < timezone.localdate(now) and call.allowed:
        return NextAction(_("The promised payment is late: call and ask about it."), "contact")
    if call.allowed:
        if promise is not None:
            return NextAction(_("A promise is pending: call to confirm the payment date."), "contact")
        return NextAction(_("Call the cardholder and ask for a promise to pay."), "contact")
    if compliance.allowed_from_local is not None:
        return NextAction(_("No call now (%(why)s): schedule a callback.") % {"why": why}, "callback")
    return NextAction(_("No call possible: %(why)s.") % {"why": why}, "")


HISTORY_LIMIT = 100


@dataclass
class CaseHistory:
    """The History tab: the account's payments and the case's promises, newest first (the last
    HISTORY_LIMIT of each; the timeline has everything)."""

    payments: list[Payment]
    promises: list[PromiseToPay]
    more_payments: bool
    more_promises: bool


def case_history(case: Case) -> CaseHistory:
    """Two queries whatever the history."""
    payments = list(
        Payment.objects.filter(account_id=case.account_id)
        .select_related("recorded_by")
        .order_by("-paid_at", "-id")[: HISTORY_LIMIT + 1]
    )
    promises = list(
        PromiseToPay.objects.filter(case=case)
        .select_related("created_by", "contact_attempt")
        .order_by("-created_at", "-id")[: HISTORY_LIMIT + 1]
    )
    return CaseHistory(
        payments=payments[:HISTORY_LIMIT],
        promises=promises[:HISTORY_LIMIT],
        more_payments=len(payments) > HISTORY_LIMIT,
        more_promises=len(promises) > HISTORY_LIMIT,
    )


MAX_TIMELINE_PAGE = 1_000_000


def case_timeline(case: Case, *, page: int = 1) -> tuple[list[CaseEvent], bool]:
    """One page of the timeline, newest first; fetches one extra row to know if there is more."""
    # A page number from the URL: a huge one would be an OFFSET beyond PostgreSQL's bigint (a 500);
    # no timeline has a million pages, so past that every page is simply empty.
    page = min(max(1, page), MAX_TIMELINE_PAGE)
    start = (page - 1) * TIMELINE_PAGE_SIZE
    rows = _timeline_read(start, case=case.pk)
    return rows[:TIMELINE_PAGE_SIZE], len(rows) > TIMELINE_PAGE_SIZE


def _timeline_query(start: int) -> QuerySet[CaseEvent]:
    return (
        CaseEvent.objects.filter(case_id=Param("case"))
        .select_related("actor")
        .order_by("-created_at", "-id")[start : start + TIMELINE_PAGE_SIZE + 1]
    )


# Compiled once per page of the timeline (its OFFSET is in the SQL): the first is read on every case page.
_timeline_read = CompiledRead(_timeline_query, keys=32)


def search_cases(user, query: str, *, limit: int = 50) -> list[Case]:
    """By case or account reference, cardholder name, or the last four digits of a phone number.
    Only cases the user may see; results are shown masked."""
    query = (query or "").strip()
    if not query:
        return []
    scope = cases_visible_to(user, _case_list(Case.objects.all()))
    match = (
        Q(reference__iexact=query)
        | Q(account__external_ref__iexact=query)
        | Q(account__cardholder__external_ref__iexact=query)
        | Q(account__cardholder__name__icontains=query)
    )
    if query.isdigit() and len(query) == 4:
        holders = ContactPoint.objects.filter(kind="phone", value__endswith=query).values("cardholder_id")
        match |= Q(account__cardholder_id__in=holders)
    return list(scope.filter(match).order_by("-opened_at")[:limit])
