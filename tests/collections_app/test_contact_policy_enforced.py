"""The contact policy at each boundary, through the service layer (and a few through the page): what
an agent logs is refused or allowed exactly as the rules say, on every path."""

import dataclasses
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from collections_app import services
from collections_app.models import Case, CaseEvent, Channel, EventKind
from collections_app.services import contactability
from contact_policy.models import PolicyBook
from core.exceptions import ContactNotAllowed, ValidationFailed
from tests.factories import ContactPointFactory, open_case

pytestmark = pytest.mark.django_db


def call(case, actor, point, *, outcome="no_answer", role="debtor", recording="", reason="", override=""):
    data = services.ContactInput(
        channel="outbound_call",
        outcome=outcome,
        contact_point_id=point.pk,
        party_role=role,
        recording_ref=recording,
        delinquency_reason=reason,
    )
    return services.contact_attempt_log(case_id=case.pk, actor=actor, data=data, override_reason=override)


@pytest.fixture
def cn_case(team_a):
    case = open_case(team=team_a)
    return case, ContactPointFactory(cardholder=case.account.cardholder)


@pytest.fixture
def us_case(team_a):
    case = open_case(
        team=team_a, cardholder__jurisdiction="US", cardholder__time_zone="America/New_York", currency="USD"
    )
    return case, ContactPointFactory(cardholder=case.account.cardholder, value="+12125550123")


@pytest.mark.parametrize(
    ("local_time", "allowed"),
    [("07:59", False), ("08:00", True), ("21:59", True), ("22:00", False)],
)
def test_china_window_boundaries(cn_case, agent, local_time, allowed):
    case, point = cn_case
    with time_machine.travel(f"2026-06-02 {local_time} +0800", tick=False):
        if allowed:
            call(case, agent, point)
        else:
            with pytest.raises(ContactNotAllowed) as refused:
                call(case, agent, point)
            assert refused.value.rule == "contact_window"
            assert refused.value.allowed_from is not None


@pytest.mark.parametrize(
    ("local_time", "allowed"),
    [("07:59", False), ("08:00", True), ("20:59", True), ("21:00", False)],
)
def test_us_window_boundaries_in_the_consumers_zone(us_case, agent, local_time, allowed):
    case, point = us_case
    with time_machine.travel(f"2026-06-02 {local_time} -0400", tick=False):
        if allowed:
            call(case, agent, point)
        else:
            with pytest.raises(ContactNotAllowed, match="window"):
                call(case, agent, point)


def test_unknown_us_zone_is_judged_in_every_candidate_zone(team_a, agent):
    case = open_case(team=team_a, cardholder__jurisdiction="US", cardholder__time_zone="")
    point = ContactPointFactory(cardholder=case.account.cardholder, value="+15555550100")  # unplaceable code
    # 09:00 in New York is 06:00 in Los Angeles (and earlier in Hawaii): refused.
    with time_machine.travel("2026-06-02 09:00 -0400", tick=False), pytest.raises(ContactNotAllowed):
        call(case, agent, point)


def test_sixth_call_to_a_number_in_a_day_is_allowed_the_seventh_refused(cn_case, agent):
    case, point = cn_case
    with time_machine.travel("2026-06-02 10:00 +0800", tick=True):
        for _ in range(6):
            call(case, agent, point)
        with pytest.raises(ContactNotAllowed) as refused:
            call(case, agent, point)
    assert refused.value.rule == "calls_per_number_per_day"
    # the count starts again at local midnight, but the window opens only at 08:00 the next day
    assert refused.value.allowed_from.isoformat() == "2026-06-03T00:00:00+00:00"


def test_the_per_number_cap_counts_calls_about_the_persons_other_accounts(team_a, agent):
    first = open_case(team=team_a)
    point = ContactPointFactory(cardholder=first.account.cardholder)
    second = open_case(team=team_a, cardholder=first.account.cardholder)
    with time_machine.travel("2026-06-02 10:00 +0800", tick=True):
        for _ in range(3):
            call(first, agent, point)
        for _ in range(3):
            call(second, agent, point)
        with pytest.raises(ContactNotAllowed, match=""):
            call(first, agent, point)


def test_seventh_call_in_seven_days_is_allowed_the_eighth_refused(us_case, agent):
    case, point = us_case
    for day in range(7):
        with time_machine.travel(f"2026-06-0{day + 1} 10:00 -0400", tick=False):
            call(case, agent, point)
    with (
        time_machine.travel("2026-06-07 15:00 -0400", tick=False),
        pytest.raises(ContactNotAllowed) as refused,
    ):
        call(case, agent, point)
    assert refused.value.rule == "calls_per_debt_per_7_days"


def test_massachusetts_layer_allows_only_two_calls_in_seven_days(team_a, agent):
    case = open_case(
        team=team_a,
        cardholder__jurisdiction="US-MA",
        cardholder__time_zone="America/New_York",
        currency="USD",
    )
    point = ContactPointFactory(cardholder=case.account.cardholder, value="+16175550123")
    with time_machine.travel("2026-06-02 10:00 -0400", tick=True):
        call(case, agent, point)
        call(case, agent, point)
        with pytest.raises(ContactNotAllowed, match=""):
            call(case, agent, point)


@pytest.mark.parametrize(("day", "allowed"), [("2026-06-08", False), ("2026-06-09", True)])
def test_no_call_for_seven_days_after_a_conversation(us_case, agent, day, allowed):
    case, point = us_case
    with time_machine.travel("2026-06-02 10:00 -0400", tick=False):
        call(case, agent, point, outcome="rpc", reason="job_loss")  # day 1
    with time_machine.travel(f"{day} 10:00 -0400", tick=False):
        if allowed:
            call(case, agent, point)
        else:
            with pytest.raises(ContactNotAllowed) as refused:
                call(case, agent, point)
            assert refused.value.rule == "quiet_after_conversation"


@pytest.mark.parametrize(
    ("flag", "rule"),
    [
        ("do_not_contact", "do_not_contact"),
        ("cease_communication", "cease_communication"),
        ("bankruptcy", "bankruptcy"),
        ("deceased", "deceased"),
    ],
)
def test_each_flag_blocks_collection_calls(team_a, agent, flag, rule):
    case = open_case(team=team_a, **{f"cardholder__{flag}": True})
    point = ContactPointFactory(cardholder=case.account.cardholder)
    with (
        time_machine.travel("2026-06-02 10:00 +0800", tick=False),
        pytest.raises(ContactNotAllowed) as refused,
    ):
        call(case, agent, point)
    assert refused.value.rule == rule


def test_an_open_dispute_blocks_collection_contact(cn_case, agent):
    case, point = cn_case
    with time_machine.travel("2026-06-02 10:00 +0800", tick=False):
        services.case_hold(case_id=case.pk, actor=agent, reason="dispute")
        with pytest.raises(ContactNotAllowed):
            call(case, agent, point)


def test_us_attorney_represented_consumer_is_called_through_the_attorney_only(team_a, agent):
    case = open_case(
        team=team_a,
        cardholder__jurisdiction="US",
        cardholder__time_zone="America/New_York",
        cardholder__attorney_represented=True,
    )
    debtor = ContactPointFactory(cardholder=case.account.cardholder, value="+12125550100")
    attorney = ContactPointFactory(
        cardholder=case.account.cardholder, value="+12125550199", party_role="attorney"
    )
    with time_machine.travel("2026-06-02 10:00 -0400", tick=True):
        with pytest.raises(ContactNotAllowed) as refused:
            call(case, agent, debtor)
        assert refused.value.rule == "attorney_represented"
        call(case, agent, attorney, role="attorney")


@pytest.mark.parametrize(
    ("role", "unreachable_days", "allowed"),
    [
        ("guarantor", 0, True),
        ("related_third_party", 0, True),
        ("unrelated_third_party", 0, False),
        ("unrelated_third_party", 8, True),
    ],
)
def test_third_parties_in_the_china_profile(team_a, agent, role, unreachable_days, allowed):
    with time_machine.travel(f"2026-06-{2 - 0:02d} 10:00 +0800", tick=False):
        pass
    opened = (
        f"2026-05-{25 - unreachable_days + 7:02d} 10:00 +0800"
        if unreachable_days
        else "2026-06-02 09:00 +0800"
    )
    with time_machine.travel(opened, tick=False):
        case = open_case(team=team_a)
    point = ContactPointFactory(cardholder=case.account.cardholder, party_role=role)
    with time_machine.travel("2026-06-02 10:00 +0800", tick=False):
        if allowed:
            call(case, agent, point, role=role)
        else:
            with pytest.raises(ContactNotAllowed) as refused:
                call(case, agent, point, role=role)
            assert refused.value.rule == "unrelated_third_party"


def test_unrelated_third_party_is_never_texted(team_a, agent):
    case = open_case(team=team_a)
    point = ContactPointFactory(cardholder=case.account.cardholder, party_role="unrelated_third_party")
    with time_machine.travel("2026-06-02 10:00 +0800", tick=False), pytest.raises(ContactNotAllowed):
        services.contact_attempt_log(
            case_id=case.pk,
            actor=agent,
            data=services.ContactInput(
                channel="sms", outcome="sent", contact_point_id=point.pk, party_role="unrelated_third_party"
            ),
        )


def test_a_completed_call_needs_a_recording_in_china(cn_case, agent):
    case, point = cn_case
    with time_machine.travel("2026-06-02 10:00 +0800", tick=True):
        with pytest.raises(ContactNotAllowed) as refused:
            call(case, agent, point, outcome="rpc", reason="forgot")
        assert refused.value.rule == "recording_required"
        call(case, agent, point, outcome="rpc", reason="forgot", recording="REC-1")


def test_supervisor_may_override_a_frequency_limit_with_a_reason(cn_case, agent, supervisor):
    case, point = cn_case
    with time_machine.travel("2026-06-02 10:00 +0800", tick=True):
        for _ in range(6):
            call(case, agent, point)
        with pytest.raises(ContactNotAllowed):
            call(case, agent, point, override="customer asked to be called back")  # agents may not
        attempt = call(case, supervisor, point, override="Customer asked to be called back at once")
    assert attempt.policy_override_reason
    override = CaseEvent.objects.get(case=case, kind=EventKind.POLICY_OVERRIDE)
    assert override.actor == supervisor


def test_a_window_refusal_cannot_be_overridden(cn_case, supervisor):
    case, point = cn_case
    with time_machine.travel("2026-06-02 23:00 +0800", tick=False), pytest.raises(ContactNotAllowed):
        call(case, supervisor, point, override="urgent")


def test_refusals_are_written_on_the_timeline(cn_case, agent):
    case, point = cn_case
    with time_machine.travel("2026-06-02 23:00 +0800", tick=False), pytest.raises(ContactNotAllowed):
        call(case, agent, point)
    refusal = CaseEvent.objects.get(case=case, kind=EventKind.POLICY_REFUSED)
    assert refusal.details["rule"] == "contact_window"
    assert not case.contact_attempts.exists()


def test_a_contact_is_judged_at_its_start_and_a_start_in_the_future_is_no_policy_refusal(cn_case, agent):
    case, point = cn_case
    with time_machine.travel("2026-06-02 23:30 +0800", tick=False):  # the window is closed now
        # A dialer posting tonight a call it made this afternoon: judged at 15:00, allowed.
        afternoon = timezone.now() - timedelta(hours=8, minutes=30)
        data = services.ContactInput(channel="outbound_call", outcome="no_answer", contact_point_id=point.pk)
        services.contact_attempt_log(
            case_id=case.pk, actor=agent, data=dataclasses.replace(data, started_at=afternoon)
        )
        # A start tomorrow is bad input, refused before the policy is asked: no refusal on the timeline.
        with pytest.raises(ValidationFailed, match="cannot start in the future"):
            services.contact_attempt_log(
                case_id=case.pk,
                actor=agent,
                data=dataclasses.replace(data, started_at=afternoon + timedelta(days=1)),
            )
    assert case.contact_attempts.count() == 1
    assert not CaseEvent.objects.filter(case=case, kind=EventKind.POLICY_REFUSED).exists()


def test_daylight_saving_change_moves_the_us_window_with_local_time(us_case, agent):
    case, point = us_case
    # 2026-03-08: New York springs forward. 08:30 EDT (12:30 UTC) is inside; 12:30 UTC the day before
    # was 07:30 EST, outside.
    with time_machine.travel("2026-03-07 12:30 +0000", tick=False), pytest.raises(ContactNotAllowed):
        call(case, agent, point)
    with time_machine.travel("2026-03-09 12:30 +0000", tick=False):
        call(case, agent, point)


@pytest.mark.parametrize(("local_time", "refused"), [("21:59", False), ("22:00", True)])
def test_the_page_enforces_the_window_too(client, cn_case, agent, local_time, refused):
    case, point = cn_case
    client.force_login(agent)
    with time_machine.travel(f"2026-06-02 {local_time} +0800", tick=False):
        response = client.post(
            reverse("case_log_contact", args=[case.pk]),
            {
                "channel": "outbound_call",
                "contact_point": point.pk,
                "party_role": "debtor",
                "outcome": "no_answer",
            },
            HTTP_HX_REQUEST="true",
        )
    html = response.content.decode()
    assert ('data-testid="refusal"' in html) == refused
    assert case.contact_attempts.count() == (0 if refused else 1)


def test_a_sixth_and_seventh_call_through_the_page(client, cn_case, agent):
    case, point = cn_case
    client.force_login(agent)
    form = {
        "channel": "outbound_call",
        "contact_point": point.pk,
        "party_role": "debtor",
        "outcome": "no_answer",
    }
    with time_machine.travel("2026-06-02 10:00 +0800", tick=True):
        for _ in range(6):
            client.post(reverse("case_log_contact", args=[case.pk]), form, HTTP_HX_REQUEST="true")
        response = client.post(reverse("case_log_contact", args=[case.pk]), form, HTTP_HX_REQUEST="true")
    assert "calls_per_number_per_day" in response.content.decode()
    assert case.contact_attempts.count() == 6


# --- What the policy costs in queries ----------------------------------------------------------------
# The stored profiles are read once per request or batch (one PolicyBook); what remains per case is the
# ledger: China counts the calls to the number today (its per-number cap); the US reads the calls on the
# debt this week and the last conversation (7-in-7 and the waiting period) in one query
# (contactability.read_ledger). Both check for an open dispute. The cardholder's zone is known, so no
# phone numbers are read to place them.
PER_CASE_LEDGER_READS = {"CN": 2, "US": 2}
BOTH_WINDOWS_OPEN = "2026-06-02 13:00 +0000"  # 21:00 in Beijing, 09:00 in New York


def cases_of(jurisdiction: str, n: int) -> list[tuple[Case, object]]:
    fields = {"cardholder__jurisdiction": jurisdiction}
    if jurisdiction == "US":
        fields["cardholder__time_zone"] = "America/New_York"
    made = []
    for i in range(n):
        case = open_case(**fields)
        value = f"+1212555{i:04d}" if jurisdiction == "US" else f"+86139{i:08d}"
        made.append((case, ContactPointFactory(cardholder=case.account.cardholder, value=value)))
    ids = [case.pk for case, _point in made]
    loaded = Case.objects.select_related("account__cardholder").in_bulk(ids)
    return [(loaded[case.pk], point) for case, point in made]


def decide(case, point, policies):
    return contactability.decide(
        case=case, channel=Channel.OUTBOUND_CALL, now=timezone.now(), contact_point=point, policies=policies
    )


@pytest.mark.parametrize("jurisdiction", ["CN", "US"])
def test_deciding_for_one_case_twice_reads_the_profiles_once(jurisdiction, django_assert_num_queries):
    ((case, point),) = cases_of(jurisdiction, 1)
    per_case = PER_CASE_LEDGER_READS[jurisdiction]
    with time_machine.travel(BOTH_WINDOWS_OPEN, tick=False):
        book = PolicyBook()
        with django_assert_num_queries(1 + 2 * per_case):
            first, second = decide(case, point, book), decide(case, point, book)
        assert first == second and first.allowed
        # Without a book each call reads the profiles itself: nothing is cached behind the caller's back.
        with django_assert_num_queries(1 + per_case):
            decide(case, point, None)


@pytest.mark.parametrize("jurisdiction", ["CN", "US"])
def test_twenty_cases_of_one_jurisdiction_read_the_profiles_once(jurisdiction, django_assert_num_queries):
    cases = cases_of(jurisdiction, 20)
    per_case = PER_CASE_LEDGER_READS[jurisdiction]
    with time_machine.travel(BOTH_WINDOWS_OPEN, tick=False):
        book = PolicyBook()
        with django_assert_num_queries(1 + 20 * per_case):
            decisions = [decide(case, point, book) for case, point in cases]
        assert all(d.allowed for d in decisions)


def test_my_work_counts_what_next_case_passes_over_by_the_engines_rule(
    request, team_a, agent, django_assert_num_queries
):
    # 22:30 in New York is 10:30 in Beijing: the US window is closed, the China one open.
    traveller = time_machine.travel("2026-06-02 22:30 -0400", tick=False)
    traveller.start()
    request.addfinalizer(traveller.stop)
    flagged = [
        open_case(team=team_a, **{f"cardholder__{flag}": True})
        for flag in ("do_not_contact", "cease_communication", "bankruptcy", "deceased")
    ]
    flagged.append(open_case(team=team_a, cardholder__do_not_contact=True, cardholder__deceased=True))
    flagged.append(
        open_case(
            team=team_a,
            cardholder__jurisdiction="US",
            cardholder__time_zone="America/New_York",
            cardholder__attorney_represented=True,
        )
    )
    late_in_new_york = [
        open_case(team=team_a, cardholder__jurisdiction="US", cardholder__time_zone="America/New_York")
        for _ in range(3)
    ]
    fine = open_case(team=team_a)
    everyone = [*flagged, *late_in_new_york, fine]
    for case in everyone:
        ContactPointFactory(cardholder=case.account.cardholder)
    contactability.contactability_refresh(case_ids=[c.pk for c in everyone])  # the numbers were added
    now = timezone.now()
    queue_ids = services.agent_queue_ids(agent)
    with django_assert_num_queries(2):  # grouped in SQL (one pass over the claimable), however many cases
        counts, _next = services.not_ready_summary(queue_ids, now=now)
    # Each case's stored rule is the engine's own decision for a call now.
    by_engine: dict[str, int] = {}
    for case in Case.objects.filter(pk__in=[c.pk for c in everyone]).select_related("account__cardholder"):
        decision = contactability.decide(case=case, channel=Channel.OUTBOUND_CALL, now=now)
        if not decision.allowed:
            by_engine[str(decision.rule)] = by_engine.get(str(decision.rule), 0) + 1
    claimed = services.case_claim_next(actor=agent)
    assert claimed.case == fine
    assert (
        counts
        == by_engine
        == {
            "do_not_contact": 1,
            "cease_communication": 1,
            "bankruptcy": 1,
            "deceased": 2,
            "attorney_represented": 1,
            "contact_window": 3,
        }
    )
