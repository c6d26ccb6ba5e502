"""The rules of maker-checker (authority.services): routing to the lowest role whose limit covers the
request, the requester never approving, two different approvers above a limit, a reason for every
decision, and the write-off applied through the kernel only when the approvals are complete."""

from decimal import Decimal

import pytest

from authority import services
from authority.models import ActionKind, AuthorityLimit, AuthorityRequest, RequestStatus
from collections_app.models import CaseEvent, CaseState, EventKind
from core.exceptions import InvalidTransition, NotAllowed, ValidationFailed
from tests.authority.conftest import ask_write_off, case_owing

pytestmark = pytest.mark.django_db


def route(amount: str, currency: str = "CNY", kind: str = ActionKind.WRITE_OFF, **extra):
    return services.route(services.Ask(kind=kind, amount=Decimal(amount), currency=currency, **extra))


# --- Routing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "role", "approvals", "beyond"),
    [
        ("8900.00", "team_lead", 1, False),
        ("10000.00", "team_lead", 1, False),
        ("10000.01", "supervisor", 1, False),
        ("100000.00", "supervisor", 1, False),
        ("150000.00", "head", 1, False),
        ("200000.01", "head", 2, False),  # the head's dual-control threshold
        ("600000.00", "head", 2, True),  # beyond every limit: two heads
    ],
)
def test_a_write_off_goes_to_the_lowest_role_whose_limit_covers_it(amount, role, approvals, beyond):
    assert route(amount) == services.Routing(
        role=role, required_approvals=approvals, beyond_every_limit=beyond
    )


def test_limits_are_per_currency():
    # 8,900 is a team lead's in CNY but a supervisor's in USD (a team lead writes off up to 1,500 USD).
    assert route("8900.00", "CNY").role == "team_lead"
    assert route("8900.00", "USD").role == "supervisor"
    assert route("40000.00", "USD") == services.Routing(role="head", required_approvals=2)
    # A currency without limits of its own is nobody's alone.
    assert route("10.00", "EUR") == services.Routing(
        role="head", required_approvals=2, beyond_every_limit=True
    )


def test_a_blank_currency_limit_applies_where_the_currency_has_none():
    AuthorityLimit.objects.create(
        role="supervisor", kind=ActionKind.WRITE_OFF, currency="", max_amount=Decimal("50")
    )
    assert route("40.00", "EUR").role == "supervisor"
    assert route("40.00", "CNY").role == "team_lead"  # CNY's own rows come first


def test_percent_and_months_limits_route_too():
    discount = ActionKind.SETTLEMENT_DISCOUNT
    assert route("1000.00", kind=discount, percent=Decimal("10")).role == "agent"
    assert route("1000.00", kind=discount, percent=Decimal("25")).role == "supervisor"
    assert route("6000.00", kind=discount, percent=Decimal("10")).role == "team_lead"  # agent: 5,000 CNY
    assert services.route(services.Ask(kind=ActionKind.PLAN_LENGTH, months=18)).role == "supervisor"
    assert services.within_authority("agent", services.Ask(kind=ActionKind.PLAN_LENGTH, months=12))


def test_a_request_records_its_routing_and_the_timeline_says_so(case, supervisor):
    request = ask_write_off(case, supervisor)

    assert (request.status, request.routed_to_role, request.required_approvals) == ("pending", "team_lead", 1)
    assert request.amount == Decimal("8900.00") and request.currency == "CNY"
    event = CaseEvent.objects.get(case=case, kind=EventKind.AUTHORITY_REQUEST)
    assert event.actor == supervisor
    assert event.details["authority_request"] == request.pk
    assert event.details["routed_to_role"] == "team_lead"
    case.refresh_from_db()
    assert case.state != CaseState.WRITTEN_OFF


def test_an_agent_may_not_ask_for_a_write_off(case, agent):
    with pytest.raises(NotAllowed):
        ask_write_off(case, agent)
    assert not AuthorityRequest.objects.exists()


def test_one_open_write_off_request_per_case(case, supervisor, team_lead):
    ask_write_off(case, supervisor)
    with pytest.raises(InvalidTransition) as refused:
        ask_write_off(case, team_lead)
    assert refused.value.rule == "one_open_request"


def test_a_request_needs_a_reason(case, supervisor):
    with pytest.raises(ValidationFailed) as refused:
        ask_write_off(case, supervisor, reason="  ")
    assert refused.value.rule == "reason_required"
    assert not AuthorityRequest.objects.exists()


# --- Maker-checker -------------------------------------------------------------------------------


def test_the_requester_never_approves_their_own_request(team_a, supervisor):
    case = case_owing(team_a, "50000.00")  # a supervisor's to approve
    request = ask_write_off(case, supervisor)

    with pytest.raises(NotAllowed) as refused:
        services.request_approve(request_id=request.pk, actor=supervisor, reason="Fine by me")

    assert refused.value.rule == "maker_checker"
    assert "Someone else" in refused.value.message
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING
    assert not request.decisions.exists()


def test_a_decision_without_a_reason_is_refused_and_writes_nothing(case, supervisor, team_lead):
    request = ask_write_off(case, supervisor)
    events = CaseEvent.objects.filter(case=case).count()

    for decide in (services.request_approve, services.request_reject):
        with pytest.raises(ValidationFailed) as refused:
            decide(request_id=request.pk, actor=team_lead, reason="")
        assert refused.value.rule == "reason_required"

    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING
    assert CaseEvent.objects.filter(case=case).count() == events


def test_a_write_off_above_the_limit_needs_a_second_different_approver(team_a, supervisor, head, head2):
    case = case_owing(team_a, "300000.00")  # above the head's dual-control threshold
    request = ask_write_off(case, supervisor)
    assert (request.routed_to_role, request.required_approvals) == ("head", 2)

    services.request_approve(request_id=request.pk, actor=head, reason="Debtor deceased, estate empty")
    case.refresh_from_db()
    request.refresh_from_db()
    assert case.state != CaseState.WRITTEN_OFF  # one person is not enough
    assert request.status == RequestStatus.PENDING

    with pytest.raises(NotAllowed) as twice:
        services.request_approve(request_id=request.pk, actor=head, reason="Approving again")
    assert twice.value.rule == "maker_checker"
    case.refresh_from_db()
    assert case.state != CaseState.WRITTEN_OFF  # the same approver twice does not count

    services.request_approve(request_id=request.pk, actor=head2, reason="Agreed, file checked")

    case.refresh_from_db()
    request.refresh_from_db()
    assert case.state == CaseState.WRITTEN_OFF
    assert request.status == RequestStatus.APPLIED
    assert {d.approver for d in request.decisions.all()} == {head, head2}
    written = CaseEvent.objects.get(case=case, kind=EventKind.WRITTEN_OFF)
    assert written.details["authority_request"] == request.pk
    assert written.actor == head2
    assert CaseEvent.objects.filter(case=case, kind=EventKind.AUTHORITY_DECISION).count() == 2


def test_an_approver_below_the_routed_role_is_refused(team_a, supervisor, team_lead):
    case = case_owing(team_a, "50000.00")
    request = ask_write_off(case, supervisor)
    assert request.routed_to_role == "supervisor"

    with pytest.raises(NotAllowed) as refused:
        services.request_approve(request_id=request.pk, actor=team_lead, reason="OK")

    assert refused.value.rule == "approval_level"
    assert "Supervisor" in refused.value.message


def test_a_rejection_ends_the_request_and_leaves_the_case(case, supervisor, team_lead):
    request = ask_write_off(case, supervisor)

    services.request_reject(request_id=request.pk, actor=team_lead, reason="Cardholder is paying again")

    request.refresh_from_db()
    case.refresh_from_db()
    assert request.status == RequestStatus.REJECTED
    assert case.is_open
    decision = CaseEvent.objects.get(case=case, kind=EventKind.AUTHORITY_DECISION)
    assert (decision.details["decision"], decision.reason) == ("reject", "Cardholder is paying again")
    with pytest.raises(NotAllowed):  # decided: nothing more to approve
        services.request_approve(request_id=request.pk, actor=team_lead, reason="Changed my mind")


def test_only_the_requester_withdraws_a_request(case, supervisor, team_lead):
    request = ask_write_off(case, supervisor)
    with pytest.raises(NotAllowed):
        services.request_cancel(request_id=request.pk, actor=team_lead, reason="Not mine")

    services.request_cancel(request_id=request.pk, actor=supervisor, reason="Payment arrived")

    request.refresh_from_db()
    assert request.status == RequestStatus.CANCELLED
    ask_write_off(case, supervisor)  # a new one may be made


def test_an_approver_outside_the_team_does_not_reach_the_request(case, supervisor, supervisor_b):
    request = ask_write_off(case, supervisor)
    with pytest.raises(NotAllowed) as refused:
        services.request_approve(request_id=request.pk, actor=supervisor_b, reason="OK")
    assert refused.value.rule == "case_scope"


def test_a_case_closed_another_way_cancels_its_pending_requests(case, supervisor):
    from collections_app.services import case_close

    request = ask_write_off(case, supervisor)
    case_close(case_id=case.pk, actor=supervisor, write_off=False, resolution_reason="paid_in_full")

    request.refresh_from_db()
    assert request.status == RequestStatus.CANCELLED


# --- The ladder ----------------------------------------------------------------------------------


def test_the_team_lead_ladder(case, team_a, supervisor, team_lead, head, agent):
    # Within a team lead's limit: the team lead approves, alone.
    request = ask_write_off(case, supervisor)
    assert services.may_decide(agent, request)  # an agent approves nothing
    services.request_approve(request_id=request.pk, actor=team_lead, reason="Uncollectable, checked")
    case.refresh_from_db()
    assert case.state == CaseState.WRITTEN_OFF

    # Above it: the supervisor's, and anyone higher - the head - may approve too.
    bigger = case_owing(team_a, "50000.00")
    request = ask_write_off(bigger, team_lead)
    assert request.routed_to_role == "supervisor"
    assert services.may_decide(team_lead, request)  # their own, and below the level anyway
    assert services.may_decide(head, request) is None
    services.request_approve(request_id=request.pk, actor=head, reason="Approved at head level")
    bigger.refresh_from_db()
    assert bigger.state == CaseState.WRITTEN_OFF


def test_the_inbox_lists_what_each_approver_may_decide(
    case, team_a, supervisor, team_lead, head, supervisor_b
):
    small = ask_write_off(case, supervisor)
    big = ask_write_off(case_owing(team_a, "50000.00"), team_lead)

    assert set(services.requests_awaiting(team_lead)) == {small}
    assert set(services.requests_awaiting(supervisor)) == {big}  # `small` is their own
    assert set(services.requests_awaiting(head)) == {small, big}
    assert not services.requests_awaiting(supervisor_b).exists()  # team B
    assert set(services.requests_of(supervisor)) == {small}
