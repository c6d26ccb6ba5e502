"""The supervisor floor: every case a supervisor may see, filtered, and bulk actions on a choice of them.

A bulk action is planned first (`bulk_plan`: per case, what would change or why it is skipped; nothing is
written), then applied (`bulk_apply`): one case at a time through the same service a single-case action
uses - dashboards.team.case_reassign, collections_app.services.case_hold / case_move_queue,
messaging.services.case_message_send - each case in its own transaction, so every case gets its own
timeline entry with the reason, and a case that is refused is reported without undoing the others.
The plan is computed again when applying (from the same ordered list of cases), so what is already done
is skipped and a second run changes nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_fsm import can_proceed, has_transition_perm

from accounts.permissions import Capability, has_capability
from collections_app.models import OPEN_STATES, Case, CaseState, HoldReason
from collections_app.services import case_hold, case_move_queue
from core.clock import bank_today, day_start
from core.exceptions import DomainError, NotAllowed, ValidationFailed
from dashboards import team
from dashboards.scope import Filters, teams_for
from dashboards.selectors import scoped_cases
from messaging.models import MessageTemplate, OutboundMessage
from messaging.services import case_message_preview, case_message_send, templates_for_case

# Cases per bulk action: applied one case at a time in the request (each through its service, in its own
# transaction), so it must end well inside the web server's timeout; narrow the filter for more.
MAX_CASES = 1_000
ANY_STATE = "any"

SORTS = {
    "priority": ("-priority", "pk"),
    "dpd": ("-account__days_past_due", "pk"),
    "amount": ("-account__overdue_amount", "pk"),
    "reference": ("reference",),
    "opened": ("-opened_at", "pk"),
}
SORT_LABELS = {
    "priority": gettext_lazy("Priority"),
    "dpd": gettext_lazy("Days past due"),
    "amount": gettext_lazy("Overdue amount"),
    "reference": gettext_lazy("Reference"),
    "opened": gettext_lazy("Newest first"),
}
DEFAULT_SORT = "priority"


# --- The list ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseFilter:
    """What the supervisor asked for on the Cases page. Empty fields match everything; `state` empty
    means the open states, ANY_STATE every state."""

    team: int | None = None
    queue: int | None = None
    agent: int | None = None
    unassigned: bool = False
    state: str = ""
    bucket: str = ""
    dpd_min: int | None = None
    dpd_max: int | None = None
    jurisdiction: str = ""
    on_hold: bool | None = None
    text: str = ""

    def q(self) -> Q:
        q = Q()
        if not self.state:
            q &= Q(state__in=OPEN_STATES)
        elif self.state != ANY_STATE:
            q &= Q(state=self.state)
        if self.unassigned:
            q &= Q(assigned_agent__isnull=True)
        if self.dpd_min is not None:
            q &= Q(account__days_past_due__gte=self.dpd_min)
        if self.dpd_max is not None:
            q &= Q(account__days_past_due__lte=self.dpd_max)
        if self.on_hold is True:
            q &= Q(state=CaseState.ON_HOLD)
        elif self.on_hold is False:
            q &= ~Q(state=CaseState.ON_HOLD)
        text = self.text.strip()
        if text:
            q &= Q(reference__icontains=text) | Q(account__cardholder__name__icontains=text)
        return q


def floor_cases(user, criteria: CaseFilter, *, sort: str = DEFAULT_SORT) -> QuerySet[Case]:
    """The cases `user` may see on the dashboards (their team's queues; every case for an admin), as
    `criteria` narrows them, sorted, with what a row shows joined in (one query for a page)."""
    filters = Filters(
        teams=teams_for(user),
        team=criteria.team,
        queue=criteria.queue,
        agent=None if criteria.unassigned else criteria.agent,
        jurisdiction=criteria.jurisdiction,
        bucket=criteria.bucket,
    )
    return (
        scoped_cases(user, filters)
        .filter(criteria.q())
        .select_related("account__cardholder", "queue", "assigned_agent")
        .order_by(*SORTS.get(sort, SORTS[DEFAULT_SORT]))
    )


# --- Bulk actions ---------------------------------------------------------------------------------------


class Action:
    REASSIGN = "reassign"
    HOLD = "hold"
    MOVE_QUEUE = "queue"
    MESSAGE = "message"


ACTION_LABELS = {
    Action.REASSIGN: gettext_lazy("Reassign"),
    Action.HOLD: gettext_lazy("Put on hold"),
    Action.MOVE_QUEUE: gettext_lazy("Move to a queue"),
    Action.MESSAGE: gettext_lazy("Send a message template"),
}


@dataclass(frozen=True)
class BulkRequest:
    action: str
    reason: str
    agent_ids: tuple[int, ...] = ()
    hold_reason: str = ""
    queue_id: int | None = None
    template_id: int | None = None


@dataclass
class PlannedCase:
    case: Case
    change: str = ""  # what will change, e.g. "Agent: Li → Wang"
    skip: str = ""  # why nothing will, e.g. "closed"
    target: int | None = None  # the agent a reassignment gives the case to; the template a message uses


@dataclass
class BulkPlan:
    request: BulkRequest
    rows: list[PlannedCase]
    unreachable: int = 0  # IDs asked for that are not (or no longer) among the actor's cases

    @property
    def changes(self) -> list[PlannedCase]:
        return [r for r in self.rows if not r.skip]

    @property
    def skips(self) -> list[PlannedCase]:
        return [r for r in self.rows if r.skip]

    @property
    def skip_totals(self) -> list[tuple[str, int]]:
        counts = Counter(r.skip for r in self.skips)
        if self.unreachable:
            counts[_("not among your team's cases")] += self.unreachable
        return counts.most_common()

    @property
    def case_ids(self) -> list[int]:
        return [r.case.pk for r in self.rows]


@dataclass
class BulkOutcome:
    changed: list[Case] = field(default_factory=list)
    skipped: list[PlannedCase] = field(default_factory=list)
    failed: list[tuple[Case, str]] = field(default_factory=list)
    unreachable: int = 0

    @property
    def skip_totals(self) -> list[tuple[str, int]]:
        counts = Counter(r.skip for r in self.skipped)
        counts.update(_("refused: %(reason)s") % {"reason": message} for _case, message in self.failed)
        if self.unreachable:
            counts[_("not among your team's cases")] += self.unreachable
        return counts.most_common()

    @property
    def skipped_count(self) -> int:
        return len(self.skipped) + len(self.failed) + self.unreachable


def _ensure_supervisor(actor) -> None:
    if not has_capability(actor, Capability.SUPERVISE):
        raise NotAllowed(_("Only a supervisor may manage the team's work."), rule=str(Capability.SUPERVISE))


def _targets(actor, request: BulkRequest) -> dict:
    """The agents, queue or template the action names, checked against what the actor manages."""
    if not (request.reason or "").strip():
        raise ValidationFailed(_("Say why: the reason goes on each case's timeline."), field="reason")
    if request.action == Action.REASSIGN:
        ids = list(dict.fromkeys(request.agent_ids))
        if not ids:
            raise ValidationFailed(_("Choose the agent to give the cases to."), field="agents")
        found = {a.pk: a for a in team.agents_managed_by(actor).filter(pk__in=ids)}
        if len(found) != len(ids):
            raise NotAllowed(_("Cases can only go to active agents of your team."), rule="agent_outside_team")
        agents = [found[pk] for pk in ids if has_capability(found[pk], Capability.WORK_CASES)]
        if not agents:
            raise ValidationFailed(_("None of those people works cases."), field="agents")
        return {"agents": agents}
    if request.action == Action.HOLD:
        if request.hold_reason not in HoldReason.values:
            raise ValidationFailed(_("Choose why the cases go on hold."), field="hold_reason")
        return {}
    if request.action == Action.MOVE_QUEUE:
        queue = team.queues_managed_by(actor).filter(pk=request.queue_id).first()
        if queue is None:
            raise NotAllowed(_("That queue is not one of your team's."), rule="queue_outside_team")
        return {"queue": queue}
    if request.action == Action.MESSAGE:
        template = MessageTemplate.objects.filter(pk=request.template_id, active=True).first()
        if template is None:
            raise ValidationFailed(_("Choose the template to send."), field="template")
        return {"template": template}
    raise ValidationFailed(_("Choose an action."), field="action")


def _candidates(actor, case_ids: Sequence[int]) -> tuple[list[Case], int]:
    """The actor's cases among `case_ids`, in the order given (one query); and how many IDs were not."""
    ids = list(dict.fromkeys(int(pk) for pk in case_ids))
    if len(ids) > MAX_CASES:
        raise ValidationFailed(
            _("At most %(max)s cases at a time: narrow the filter.") % {"max": MAX_CASES}, rule="too_many"
        )
    found = {
        c.pk: c
        for c in scoped_cases(actor, Filters(teams=teams_for(actor)))
        .filter(pk__in=ids)
        .select_related("account__cardholder", "queue", "assigned_agent")
    }
    return [found[pk] for pk in ids if pk in found], len(ids) - len(found)


def _agent_name(agent) -> str:
    return str(agent) if agent is not None else _("nobody")


def _plan_reassign(cases: list[Case], agents: list) -> list[PlannedCase]:
    rows = []
    for i, case in enumerate(cases):
        # Dealt out in turn over the list as given (highest priority first): the same list gives the same
        # deal when applying, so the preview is what happens.
        agent = agents[i % len(agents)]
        if not case.is_open:
            rows.append(PlannedCase(case, skip=_("closed")))
        elif case.assigned_agent_id == agent.pk:
            rows.append(PlannedCase(case, skip=_("already with %(agent)s") % {"agent": agent}))
        else:
            change = _("Agent: %(old)s → %(new)s") % {
                "old": _agent_name(case.assigned_agent),
                "new": agent,
            }
            rows.append(PlannedCase(case, change=change, target=agent.pk))
    return rows


def _plan_hold(cases: list[Case], actor, hold_reason: str) -> list[PlannedCase]:
    label = HoldReason(hold_reason).label
    rows = []
    for case in cases:
        if not case.is_open:
            rows.append(PlannedCase(case, skip=_("closed")))
        elif case.state == CaseState.ON_HOLD:
            rows.append(PlannedCase(case, skip=_("already on hold")))
        elif not can_proceed(case.hold):
            state = case.get_state_display()
            rows.append(PlannedCase(case, skip=_("refused: a case in state '%(state)s'") % {"state": state}))
        elif not has_transition_perm(case.hold, actor):
            rows.append(PlannedCase(case, skip=_("refused: your role may not put it on hold")))
        else:
            rows.append(PlannedCase(case, change=_("Hold: none → %(reason)s") % {"reason": label}))
    return rows


def _plan_queue(cases: list[Case], queue) -> list[PlannedCase]:
    rows = []
    for case in cases:
        if not case.is_open:
            rows.append(PlannedCase(case, skip=_("closed")))
        elif case.queue_id == queue.pk:
            rows.append(PlannedCase(case, skip=_("already in %(queue)s") % {"queue": queue.name}))
        else:
            old = case.queue.name if case.queue else _("no queue")
            change = _("Queue: %(old)s → %(new)s") % {"old": old, "new": queue.name}
            rows.append(PlannedCase(case, change=change))
    return rows


def _template_for(case: Case, chosen: MessageTemplate) -> MessageTemplate | None:
    """The chosen template, or its twin (same purpose and channel) in the cardholder's language and
    jurisdiction: a bulk send reaches each cardholder in their own language."""
    offered = templates_for_case(case)
    if any(t.pk == chosen.pk for t in offered):
        return chosen
    return next((t for t in offered if (t.purpose, t.channel) == (chosen.purpose, chosen.channel)), None)


def _plan_message(cases: list[Case], actor, chosen: MessageTemplate) -> list[PlannedCase]:
    # A re-run skips the cases that got this kind of message from a person today.
    sent_today = set(
        OutboundMessage.objects.filter(
            case_id__in=[c.pk for c in cases],
            purpose=chosen.purpose,
            channel=chosen.channel,
            requested_by__isnull=False,
            created_at__gte=day_start(bank_today()),
        ).values_list("case_id", flat=True)
    )
    rows = []
    for case in cases:
        if not case.is_open:
            rows.append(PlannedCase(case, skip=_("closed")))
            continue
        if case.pk in sent_today:
            rows.append(PlannedCase(case, skip=_("already sent today")))
            continue
        template = _template_for(case, chosen)
        if template is None:
            rows.append(PlannedCase(case, skip=_("no such template for this cardholder now")))
            continue
        try:
            preview = case_message_preview(case_id=case.pk, actor=actor, template_id=template.pk)
        except DomainError as exc:
            rows.append(PlannedCase(case, skip=_("refused: %(reason)s") % {"reason": exc.message}))
            continue
        if not preview.allowed:
            rows.append(PlannedCase(case, skip=_("refused: %(reason)s") % {"reason": preview.refusal}))
        else:
            change = _("Message (%(channel)s): %(body)s") % {
                "channel": template.get_channel_display(),
                "body": Truncator(preview.body).chars(120),
            }
            rows.append(PlannedCase(case, change=change, target=template.pk))
    return rows


def bulk_plan(*, actor, request: BulkRequest, case_ids: Sequence[int]) -> BulkPlan:
    """What `request` would do to each of `case_ids` (in the order given: a spread reassignment deals the
    cases out in that order), and which cases it would skip and why. Reads only; refuses (DomainError) a
    request without a reason, with targets outside the actor's team, or more than MAX_CASES cases."""
    _ensure_supervisor(actor)
    targets = _targets(actor, request)
    cases, unreachable = _candidates(actor, case_ids)
    if request.action == Action.REASSIGN:
        rows = _plan_reassign(cases, targets["agents"])
    elif request.action == Action.HOLD:
        rows = _plan_hold(cases, actor, request.hold_reason)
    elif request.action == Action.MOVE_QUEUE:
        rows = _plan_queue(cases, targets["queue"])
    else:
        rows = _plan_message(cases, actor, targets["template"])
    return BulkPlan(request=request, rows=rows, unreachable=unreachable)


def _apply_one(actor, request: BulkRequest, row: PlannedCase) -> None:
    reason = request.reason.strip()
    if request.action == Action.REASSIGN:
        team.case_reassign(case_id=row.case.pk, actor=actor, agent_id=row.target, reason=reason)
    elif request.action == Action.HOLD:
        case_hold(case_id=row.case.pk, actor=actor, reason=request.hold_reason, note=reason)
    elif request.action == Action.MOVE_QUEUE:
        case_move_queue(case_id=row.case.pk, actor=actor, queue_id=request.queue_id, reason=reason)
    else:
        case_message_send(case_id=row.case.pk, actor=actor, template_id=row.target, reason=reason)


def bulk_apply(*, actor, request: BulkRequest, case_ids: Sequence[int]) -> BulkOutcome:
    """Carry out `request` on `case_ids`: plan again (what is done already, or closed meanwhile, is
    skipped), then one case at a time through the single-case service, each in its own transaction and
    with its own timeline event carrying the reason. A case the service refuses is reported in `failed`
    and the others go on. Not wrapped in a transaction on purpose: a refusal must not undo the rest."""
    plan = bulk_plan(actor=actor, request=request, case_ids=case_ids)
    outcome = BulkOutcome(unreachable=plan.unreachable)
    for row in plan.rows:
        if row.skip:
            outcome.skipped.append(row)
            continue
        try:
            _apply_one(actor, request, row)
        except DomainError as exc:
            outcome.failed.append((row.case, exc.message))
        else:
            outcome.changed.append(row.case)
    return outcome


__all__ = [
    "ACTION_LABELS",
    "ANY_STATE",
    "MAX_CASES",
    "SORTS",
    "SORT_LABELS",
    "Action",
    "BulkOutcome",
    "BulkPlan",
    "BulkRequest",
    "CaseFilter",
    "PlannedCase",
    "bulk_apply",
    "bulk_plan",
    "floor_cases",
]
