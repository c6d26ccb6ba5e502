"""The agent's agenda: their scheduled callbacks and the due dates of their pending promises, overdue
first, then one block per day of a week in the agent's time zone.

Whose items: the cases assigned to the agent, and the unassigned cases whose last callback the agent
scheduled (`callback_schedule` assigns the case to whoever schedules, so the two differ only once a
supervisor unassigns it); never a colleague's. A supervisor may read an agent of their team's agenda, an
admin anyone's (`agenda_owner`); always within the cases the viewer may see (`access.cases_visible_to`).

Cost: a fixed number of queries whatever the number of items - the callbacks, the promises, the debtors'
numbers (for the time zone a number implies) and the policy profiles (`agenda`).
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Role
from accounts.permissions import Capability, has_capability
from collections_app.access import cases_visible_to
from collections_app.models import (
    OPEN_STATES,
    Case,
    CaseEvent,
    ContactAttempt,
    ContactPoint,
    EventKind,
    PartyRole,
    PromiseStatus,
    PromiseToPay,
)
from collections_app.services import contactability
from collections_app.services.contactability import LocalClock
from contact_policy.models import PolicyBook
from core.clock import bank_zone
from core.exceptions import NotAllowed

# A callback later than this, with no contact since, is overdue (as on My work).
CALLBACK_GRACE = timedelta(minutes=15)
MAX_WEEKS_AHEAD = 12  # the agenda pages forward this many weeks (callbacks are at most 90 days ahead)

CALLBACK = "callback"
PROMISE = "promise"


@dataclass
class AgendaItem:
    kind: str  # CALLBACK or PROMISE
    case: Case
    at: datetime | None  # a callback's instant; None for a promise (a due date has no time)
    # `at` on the agent's clock, without a zone so that a template prints it as it is (the `date` filter
    # would convert an aware time to the viewer's zone, and a supervisor reads an agent's agenda).
    agent_wall: datetime | None
    cardholder_time: LocalClock | None  # `at` on the cardholder's clock
    day: date  # the agent's day the item falls on (a promise: its due date)
    callable_now: bool  # the stored contactability: may the cardholder be called now
    block_rule: str  # why not, when not ("" when callable)
    amount: Decimal | None = None  # a promise's amount, in the account's currency
    currency: str = ""
    done: bool = False  # a callback with a contact logged since its time

    @property
    def cardholder_other_day(self) -> bool:
        """The cardholder's clock reads another date than the agent's."""
        return bool(self.cardholder_time and self.cardholder_time.wall.date() != self.agent_wall.date())


@dataclass
class AgendaDay:
    day: date
    is_today: bool
    items: list[AgendaItem] = field(default_factory=list)


@dataclass
class Agenda:
    agent: object
    zone: zoneinfo.ZoneInfo
    today: date
    week_start: date
    week_offset: int
    overdue: list[AgendaItem]
    days: list[AgendaDay]

    @property
    def is_empty(self) -> bool:
        return not self.overdue and not any(day.items for day in self.days)


def agenda_owner(viewer, agent_id: int | str | None):
    """Whose agenda `viewer` reads: their own (no `agent_id`, or their own id); an agent of their team for
    a supervisor; anyone who works cases for an admin. Anything else is NotAllowed - an agent never reads a
    colleague's agenda."""
    if agent_id in (None, ""):
        return viewer
    try:
        agent_id = int(agent_id)
    except (TypeError, ValueError):
        raise NotAllowed(_("No such agent."), rule="agenda_agent") from None
    if agent_id == viewer.pk:
        return viewer
    agent = agents_whose_agenda(viewer).filter(pk=agent_id).first()
    if agent is None:
        raise NotAllowed(_("You may only read the agenda of an agent of your team."), rule="agenda_agent")
    return agent


def agents_whose_agenda(viewer) -> QuerySet:
    """The people whose agenda `viewer` may read besides their own: none for an agent; the active agents,
    team leads and supervisors of their team for a supervisor; every one for an admin or the head."""
    users = get_user_model().objects.filter(
        is_active=True, role__in=[Role.AGENT, Role.TEAM_LEAD, Role.SUPERVISOR]
    )
    if viewer.role == Role.ADMIN or has_capability(viewer, Capability.SEE_ALL_TEAMS):
        return users.order_by("username")
    if not has_capability(viewer, Capability.SUPERVISE) or viewer.team_id is None:
        return users.none()
    return users.filter(team_id=viewer.team_id).order_by("username")


def _owned_by(agent, queryset: QuerySet[Case]) -> QuerySet[Case]:
    """The cases of `queryset` whose agenda items are `agent`'s: assigned to them, or unassigned with
    the last callback scheduled by them."""
    last_callback_by = (
        CaseEvent.objects.filter(case_id=OuterRef("pk"), kind=EventKind.CALLBACK)
        .order_by("-created_at", "-id")
        .values("actor_id")[:1]
    )
    return queryset.annotate(last_callback_by=Subquery(last_callback_by)).filter(
        Q(assigned_agent=agent) | Q(assigned_agent__isnull=True, last_callback_by=agent.pk)
    )


def _week_start(today: date, offset: int) -> date:
    return today - timedelta(days=today.weekday()) + timedelta(weeks=offset)


def agenda(viewer, agent, *, now: datetime | None = None, week_offset: int = 0) -> Agenda:
    """`agent`'s agenda as `viewer` may see it (see the module docstring), for the week `week_offset`
    weeks after the current one (Monday to Sunday in the agent's zone). Overdue items come first whatever
    the week: callbacks past their time by more than CALLBACK_GRACE with no contact since, and pending
    promises whose due date has passed."""
    now = now or timezone.now()
    week_offset = min(max(0, week_offset), MAX_WEEKS_AHEAD)
    zone = agent.zone
    today = timezone.localtime(now, zone).date()
    week_start = _week_start(today, week_offset)
    week_end = week_start + timedelta(days=7)
    start_at = datetime.combine(week_start, time.min, tzinfo=zone)
    end_at = datetime.combine(week_end, time.min, tzinfo=zone)
    overdue_before = now - CALLBACK_GRACE

    scope = _owned_by(agent, cases_visible_to(viewer, Case.objects.filter(state__in=OPEN_STATES)))
    contact_since = ContactAttempt.objects.filter(
        case_id=OuterRef("pk"), started_at__gte=OuterRef("next_action_at")
    )
    callbacks = list(
        scope.filter(next_action_at__isnull=False)
        .annotate(callback_done=Exists(contact_since))
        .filter(
            Q(next_action_at__gte=start_at, next_action_at__lt=end_at)
            | Q(next_action_at__lt=overdue_before, callback_done=False)
        )
        .select_related("account__cardholder")
        .order_by("next_action_at", "pk")
    )
    promises = list(
        PromiseToPay.objects.filter(status=PromiseStatus.PENDING, case__in=Subquery(scope.values("pk")))
        .filter(Q(due_date__gte=week_start, due_date__lt=week_end) | Q(due_date__lt=today))
        .select_related("case__account__cardholder")
        .order_by("due_date", "pk")
    )
    _load_debtor_phones(callbacks)
    book = PolicyBook()

    overdue: list[AgendaItem] = []
    days = [
        AgendaDay(day=week_start + timedelta(days=i), is_today=week_start + timedelta(days=i) == today)
        for i in range(7)
    ]
    for case in callbacks:
        item = _callback_item(case, zone=zone, now=now, book=book)
        if not item.done and case.next_action_at < overdue_before:
            overdue.append(item)
        elif start_at <= case.next_action_at < end_at:
            days[(item.day - week_start).days].items.append(item)
    for promise in promises:
        item = _promise_item(promise, now=now)
        if promise.due_date < today:
            overdue.append(item)
        else:
            days[(promise.due_date - week_start).days].items.append(item)
    # Overdue: oldest first. A day: its promises (due all day) first, then the callbacks by time.
    overdue.sort(key=lambda i: (i.day, i.kind == CALLBACK, i.at or now))
    for day in days:
        day.items.sort(key=lambda i: (i.kind == CALLBACK, i.at or now))
    return Agenda(
        agent=agent,
        zone=zone,
        today=today,
        week_start=week_start,
        week_offset=week_offset,
        overdue=overdue,
        days=days,
    )


def _load_debtor_phones(cases: list[Case]) -> None:
    """The debtors' active numbers of every case in one query, kept on each case for
    `contactability.primary_zone` (a US number tells the zone of a cardholder whose zone is unknown)."""
    holder_ids = {c.account.cardholder_id for c in cases}
    phones: dict[int, list[str]] = {pk: [] for pk in holder_ids}
    rows = ContactPoint.objects.filter(
        cardholder_id__in=holder_ids, kind="phone", party_role=PartyRole.DEBTOR, active=True
    ).values_list("cardholder_id", "value")
    for holder_id, value in rows:
        phones[holder_id].append(value)
    for case in cases:
        case.loaded_debtor_phones = phones[case.account.cardholder_id]


def _cardholder_zone(case: Case, book: PolicyBook) -> str:
    try:
        return contactability.primary_zone(case, policies=book)
    except LookupError:  # no contact policy for the jurisdiction: the cardholder's own zone, else the bank's
        return case.account.cardholder.time_zone or str(bank_zone())


def _callable_now(case: Case, now: datetime) -> bool:
    return (
        case.contactable_from is not None
        and case.contactable_from <= now
        and (case.contactable_until is None or case.contactable_until > now)
    )


def _callback_item(case: Case, *, zone, now: datetime, book: PolicyBook) -> AgendaItem:
    at = case.next_action_at
    callable_now = _callable_now(case, now)
    return AgendaItem(
        kind=CALLBACK,
        case=case,
        at=at,
        agent_wall=timezone.localtime(at, zone).replace(tzinfo=None),
        cardholder_time=LocalClock(at=at, zone=_cardholder_zone(case, book)),
        day=timezone.localtime(at, zone).date(),
        callable_now=callable_now,
        block_rule="" if callable_now else case.contact_block_rule,
        done=case.callback_done,
    )


def _promise_item(promise: PromiseToPay, *, now: datetime) -> AgendaItem:
    case = promise.case
    callable_now = _callable_now(case, now)
    return AgendaItem(
        kind=PROMISE,
        case=case,
        at=None,
        agent_wall=None,
        cardholder_time=None,
        day=promise.due_date,
        callable_now=callable_now,
        block_rule="" if callable_now else case.contact_block_rule,
        amount=promise.amount,
        currency=case.account.currency,
    )
