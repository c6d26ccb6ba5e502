"""The stored contact policies as the application reads them (contact_policy.models.PolicyBook): one query
per request or batch, layered rows resolved in memory, and an admin's edit in force from the next
request on (never a stale copy)."""

from datetime import time

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from collections_app import services, tasks
from collections_app.models import Channel
from collections_app.services import contactability
from contact_policy.engine import CHINA_RULES, US_RULES, Rule, builtin_rules
from contact_policy.models import ContactPolicy, PolicyBook, profiles_changed
from tests.factories import ContactPointFactory, UserFactory, open_case

pytestmark = pytest.mark.django_db


def test_a_book_reads_every_profile_in_one_query_and_then_answers_from_memory(django_assert_num_queries):
    book = PolicyBook()
    with django_assert_num_queries(1):
        rules = [book.rules_for(code) for code in ("CN", "US", "US-MA", "us-ny", "CN", "US-MA")]
    # The seeded rows (migration 0002) hold the built-in rules, layered: US-MA on US.
    assert rules[:4] == [CHINA_RULES, US_RULES, builtin_rules("US-MA"), US_RULES]
    with django_assert_num_queries(0):
        assert book.rules_for("US-MA") is rules[2]


def test_a_layered_row_resolves_through_its_parents_without_further_queries(django_assert_num_queries):
    us = ContactPolicy.objects.get(code="US")
    state = ContactPolicy.objects.create(code="US-NY", name="New York", parent=us, window_end=time(20, 0))
    ContactPolicy.objects.create(
        code="US-NY-X", name="A portfolio", parent=state, max_calls_per_debt_per_7_days=3
    )
    book = PolicyBook()
    with django_assert_num_queries(1):
        rules = book.rules_for("US-NY-X")
    assert (rules.window_start, rules.window_end) == (
        time(8, 0),
        time(20, 0),
    )  # the state's, on the country's
    assert rules.max_calls_per_debt_per_7_days == 3
    assert rules.code == "US+US-NY+US-NY-X"


def test_without_a_row_the_built_in_rules_apply_and_an_unknown_country_has_none():
    ContactPolicy.objects.filter(code="US-MA").delete()
    book = PolicyBook()
    assert book.rules_for("US-MA") == US_RULES  # the stored US row governs its states
    ContactPolicy.objects.create(code="ZZ", name="Test", fallback_time_zone="UTC")
    assert PolicyBook().rules_for("ZZ").fallback_time_zones == ("UTC",)
    with pytest.raises(LookupError):
        PolicyBook().rules_for("XX")


def test_a_blank_jurisdiction_is_the_cardholders_default_profile():
    assert contactability.rules_for("") == CHINA_RULES


@pytest.fixture
def late_evening_call(team_a):
    """A call at 21:30 in Beijing: inside the shipped window (08:00-22:00)."""
    case = open_case(team=team_a)
    point = ContactPointFactory(cardholder=case.account.cardholder)

    def decide():
        now = timezone.now()
        return contactability.decide(case=case, channel=Channel.OUTBOUND_CALL, now=now, contact_point=point)

    return decide


def test_an_edit_saved_by_an_admin_is_in_force_for_the_next_request(admin_client, late_evening_call):
    with time_machine.travel("2026-06-02 21:30 +0800", tick=False):
        assert late_evening_call().allowed
        china = ContactPolicy.objects.get(code="CN")
        form = {
            "code": "CN",
            "name": china.name,
            "window_start": "08:00",
            "window_end": "21:00",  # the bank closes the window an hour earlier
            "fallback_time_zone": china.fallback_time_zone,
            "always_judge_in_fallback_zone": "true",
            "max_calls_per_number_per_day": "6",
            "count_unanswered_only": "false",
            "sms_counts_toward_debt_cap": "false",
            "quiet_days_after_conversation": "0",
            "unrelated_third_party_forbidden": "false",
            "unrelated_third_party_min_unreachable_days": "7",
            "unrelated_third_party_calls_only": "true",
            "recording_required_for_completed_call": "true",
            "attorney_contact_only": "false",
            "notes": china.notes,
        }
        response = admin_client.post(
            reverse("admin:contact_policy_contactpolicy_change", args=[china.pk]), form
        )
        assert response.status_code == 302, response.content.decode()[:2000]
        assert ContactPolicy.objects.get(code="CN").window_end == time(21, 0)

        decision = late_evening_call()
    assert (decision.allowed, decision.rule) == (False, Rule.CONTACT_WINDOW)


def test_next_case_sees_a_policy_edit_once_the_profiles_cases_are_recomputed(
    team_a, agent, django_capture_on_commit_callbacks
):
    with time_machine.travel("2026-06-02 21:30 +0800", tick=False):
        case = open_case(team=team_a)
        ContactPointFactory(cardholder=case.account.cardholder)
        assert services.case_claim_next(actor=agent).case == case
        services.case_release(case_id=case.pk, actor=agent)
        china = ContactPolicy.objects.get(code="CN")
        china.window_end = time(21, 0)
        china.save()
        # What the admin's save does: the recompute of the profile's cases is queued after commit.
        with django_capture_on_commit_callbacks() as queued:
            profiles_changed(["CN"])
        assert len(queued) == 1
        tasks.contactability_recompute_profiles(["CN"])  # what the worker then runs
        other = UserFactory(role="agent", team=team_a)
        result = services.case_claim_next(actor=other)
        assert (result.case, result.passed_over) == (None, {"contact_window": 1})
        china.window_end = time(22, 0)
        china.save()
        tasks.contactability_recompute_profiles(["CN"])
        assert services.case_claim_next(actor=other).case == case
