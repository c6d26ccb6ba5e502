"""The contact-policy rules engine (contact_policy.engine), each rule at its boundary.

No database and no clock: every test passes `now` explicitly, so none depends on the wall clock.
Instants are written in the person's local time and converted with `local()`.
"""

import json
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.utils.functional import Promise
from hypothesis import given, settings
from hypothesis import strategies as st

from collections_app.models import Cardholder, Channel, PartyRole
from collections_app.services.contactability import flags_of
from contact_policy import engine as policy
from contact_policy.engine import (
    ATTORNEY,
    CHINA_RULES,
    DEBTOR,
    EMAIL,
    GUARANTOR,
    INBOUND_CALL,
    LETTER,
    OUTBOUND_CALL,
    PURPOSE_CEASE_NOTICE,
    PURPOSE_DISPUTE_VERIFICATION,
    RELATED_THIRD_PARTY,
    SMS,
    UNRELATED_THIRD_PARTY,
    US_MA_RULES,
    US_RULES,
    US_ZONES,
    VISIT,
    CardholderFlags,
    ContactContext,
    PolicyRules,
    Rule,
    builtin_rules,
    candidate_time_zones,
    counting_window_start,
    evaluate,
    merge_strictest,
    next_allowed_time,
    window_status,
)
from contact_policy.models import ContactPolicy

SHANGHAI = "Asia/Shanghai"
NEW_YORK = "America/New_York"
LOS_ANGELES = "America/Los_Angeles"
HONOLULU = "Pacific/Honolulu"
LONDON = "Europe/London"
US_MA_RULES_MERGED = builtin_rules("US-MA")


def local(zone: str, *args: int) -> datetime:
    """An instant given as wall-clock time in `zone`, returned in UTC."""
    return datetime(*args, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def check(rules: PolicyRules, now: datetime, channel: str = OUTBOUND_CALL, **context) -> policy.Decision:
    return evaluate(rules, ContactContext(channel=channel, now=now, **context))


# --- The time window --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hour", "minute", "allowed"),
    [(21, 59, True), (22, 0, False), (7, 59, False), (8, 0, True)],
)
def test_china_quiet_hours_run_from_22_00_to_08_00_beijing_time(hour, minute, allowed):
    decision = check(CHINA_RULES, local(SHANGHAI, 2025, 6, 10, hour, minute))
    assert decision.allowed is allowed
    if not allowed:
        assert decision.rule == Rule.CONTACT_WINDOW
        assert not decision.overridable


def test_a_call_refused_at_22_00_in_china_is_allowed_from_08_00_next_morning():
    decision = check(CHINA_RULES, local(SHANGHAI, 2025, 6, 10, 22, 0))
    assert decision.allowed_from == local(SHANGHAI, 2025, 6, 11, 8, 0)


def test_a_call_refused_at_07_59_in_china_is_allowed_from_08_00_the_same_morning():
    decision = check(CHINA_RULES, local(SHANGHAI, 2025, 6, 10, 7, 59))
    assert decision.allowed_from == local(SHANGHAI, 2025, 6, 10, 8, 0)


@pytest.mark.parametrize(
    ("hour", "minute", "allowed"),
    [(7, 59, False), (8, 0, True), (20, 59, True), (21, 0, False)],
)
@pytest.mark.parametrize("channel", [OUTBOUND_CALL, SMS, EMAIL])
def test_us_window_is_08_00_to_21_00_local_for_calls_texts_and_emails(channel, hour, minute, allowed):
    decision = check(US_RULES, local(LOS_ANGELES, 2025, 6, 10, hour, minute), channel, zones=[LOS_ANGELES])
    assert decision.allowed is allowed
    if not allowed:
        assert decision.rule == Rule.CONTACT_WINDOW


def test_letters_are_not_held_to_the_window():
    assert check(US_RULES, local(NEW_YORK, 2025, 6, 10, 23, 30), LETTER, zones=[NEW_YORK]).allowed


def test_inbound_calls_are_never_refused_whatever_the_time_counts_or_flags():
    flags = CardholderFlags(do_not_contact=True, cease_communication=True, bankruptcy=True)
    decision = check(
        CHINA_RULES,
        local(SHANGHAI, 2025, 6, 10, 23, 30),
        INBOUND_CALL,
        flags=flags,
        calls_to_number_today=50,
        on_hold=True,
    )
    assert decision.allowed


# --- Daylight saving (America/New_York switches on 2025-03-09 and 2025-11-02) --------------------------


@pytest.mark.parametrize(
    ("wall", "utc", "allowed"),
    [
        ((7, 59), (11, 59), False),
        ((8, 0), (12, 0), True),  # EDT from 02:00 this morning: 08:00 is 12:00 UTC, not 13:00
        ((20, 59), (0, 59), True),
        ((21, 0), (1, 0), False),
    ],
)
def test_new_york_window_follows_the_wall_clock_on_the_march_switch(wall, utc, allowed):
    now = local(NEW_YORK, 2025, 3, 9, *wall)
    day = 9 if utc[0] >= 11 else 10
    assert now == datetime(2025, 3, day, *utc, tzinfo=UTC)
    assert check(US_RULES, now, zones=[NEW_YORK]).allowed is allowed


@pytest.mark.parametrize(
    ("utc", "allowed"),
    [((12, 30), False), ((12, 59), False), ((13, 0), True)],  # EST again: 08:00 is 13:00 UTC
)
def test_new_york_window_follows_the_wall_clock_on_the_november_switch(utc, allowed):
    now = datetime(2025, 11, 2, *utc, tzinfo=UTC)
    assert check(US_RULES, now, zones=[NEW_YORK]).allowed is allowed


def test_next_window_opening_across_the_spring_forward_night_is_08_00_edt():
    after = local(NEW_YORK, 2025, 3, 8, 21, 0)  # Saturday evening, EST
    assert next_allowed_time(US_RULES, [NEW_YORK], after) == datetime(2025, 3, 9, 12, 0, tzinfo=UTC)


def test_next_window_opening_across_the_fall_back_night_is_08_00_est():
    after = local(NEW_YORK, 2025, 11, 1, 22, 0)  # Saturday evening, EDT
    assert next_allowed_time(US_RULES, [NEW_YORK], after) == datetime(2025, 11, 2, 13, 0, tzinfo=UTC)


# --- Unknown and conflicting time zones ------------------------------------------------------------


def test_area_code_and_address_in_different_zones_give_both_as_candidates():
    zones = candidate_time_zones(
        US_RULES, jurisdiction="US", address_state="NY", phone_numbers=["+1 (808) 555-0100"]
    )
    assert set(zones) == {NEW_YORK, HONOLULU}


@pytest.mark.parametrize(
    ("wall", "allowed"),
    [((13, 59), False), ((14, 0), True), ((20, 59), True), ((21, 0), False)],
)
def test_summer_call_to_new_york_address_with_hawaii_phone_is_allowed_14_00_to_21_00_eastern(wall, allowed):
    # US-05: 08:00 HST is 14:00 EDT; 21:00 EDT closes first.
    now = local(NEW_YORK, 2025, 7, 15, *wall)
    assert check(US_RULES, now, zones=[NEW_YORK, HONOLULU]).allowed is allowed


@pytest.mark.parametrize(("wall", "allowed"), [((12, 59), False), ((13, 0), True)])
def test_winter_call_to_new_york_address_with_hawaii_phone_opens_at_13_00_eastern(wall, allowed):
    now = local(NEW_YORK, 2025, 1, 15, *wall)
    assert check(US_RULES, now, zones=[NEW_YORK, HONOLULU]).allowed is allowed


def test_a_refusal_in_one_candidate_zone_names_every_zone_and_when_they_all_open():
    decision = check(US_RULES, local(NEW_YORK, 2025, 7, 15, 10, 0), zones=[NEW_YORK, HONOLULU])
    assert decision.rule == Rule.CONTACT_WINDOW
    assert decision.params["zones"] == f"{NEW_YORK}, {HONOLULU}"
    assert decision.allowed_from == local(HONOLULU, 2025, 7, 15, 8, 0)


@pytest.mark.parametrize(
    ("wall", "allowed"),
    [((12, 59), False), ((13, 0), True), ((20, 59), True), ((21, 0), False)],
)
def test_us_person_with_no_known_zone_is_judged_in_every_us_zone(wall, allowed):
    decision = check(US_RULES, local(NEW_YORK, 2025, 1, 15, *wall), zones=[])
    assert decision.allowed is allowed


def test_a_known_zone_wins_over_area_code_and_address():
    zones = candidate_time_zones(
        US_RULES, known_zone=LOS_ANGELES, jurisdiction="US", address_state="NY", phone_numbers=["808"]
    )
    assert zones == (LOS_ANGELES,)


def test_a_state_layer_code_gives_the_state_zone():
    assert candidate_time_zones(US_MA_RULES_MERGED, jurisdiction="US-MA") == (NEW_YORK,)


def test_an_area_code_missing_from_the_partial_table_could_be_anywhere_in_the_us():
    zones = candidate_time_zones(
        US_RULES, jurisdiction="US", address_state="MA", phone_numbers=["+1 319 555 0100"]
    )
    assert set(zones) == set(US_ZONES)


def test_nothing_known_about_a_us_person_falls_back_to_every_us_zone():
    assert candidate_time_zones(US_RULES, jurisdiction="US", known_zone="Not/AZone") == US_ZONES


def test_foreign_numbers_do_not_move_a_us_person():
    zones = candidate_time_zones(
        US_RULES, jurisdiction="US", address_state="CA", phone_numbers=["+86 138 0000 5678"]
    )
    assert zones == (LOS_ANGELES,)


def test_china_person_is_judged_in_beijing_time_and_also_in_a_known_foreign_zone():
    assert candidate_time_zones(CHINA_RULES, jurisdiction="CN") == (SHANGHAI,)
    assert candidate_time_zones(CHINA_RULES, jurisdiction="CN", known_zone=LONDON) == (LONDON, SHANGHAI)
    # 21:30 in London is 05:30 next morning in Beijing.
    decision = check(CHINA_RULES, local(LONDON, 2025, 1, 15, 21, 30), zones=[LONDON])
    assert decision.rule == Rule.CONTACT_WINDOW


def test_windows_that_never_overlap_refuse_with_no_allowed_time():
    rules = merge_strictest(CHINA_RULES, PolicyRules(window_start=time(22, 0), window_end=time(23, 0)))
    decision = check(rules, local(SHANGHAI, 2025, 6, 10, 12, 0))
    assert decision.rule == Rule.CONTACT_WINDOW
    assert decision.allowed_from is None
    assert next_allowed_time(rules, [], local(SHANGHAI, 2025, 6, 10, 12, 0)) is None


def test_no_zone_and_no_fallback_fails_closed():
    with pytest.raises(ValueError, match="no time zone"):
        check(PolicyRules(), datetime(2025, 6, 10, tzinfo=UTC))


# --- Window status for the agent's screen ------------------------------------------------------------


def test_window_status_shows_local_time_and_when_the_window_closes():
    status = window_status(US_RULES, [NEW_YORK], local(NEW_YORK, 2025, 6, 10, 20, 45))
    assert status.open
    assert status.zones[0].local_time.strftime("%H:%M") == "20:45"
    assert status.closes_at == local(NEW_YORK, 2025, 6, 10, 21, 0)
    assert status.closes_at.astimezone(ZoneInfo(NEW_YORK)).strftime("%H:%M") == "21:00"
    assert status.opens_at is None


def test_window_status_when_closed_says_when_it_opens_and_which_zone_is_closed():
    status = window_status(US_RULES, [NEW_YORK, HONOLULU], local(NEW_YORK, 2025, 7, 15, 10, 0))
    assert not status.open
    assert [(z.zone, z.open) for z in status.zones] == [(NEW_YORK, True), (HONOLULU, False)]
    assert status.closes_at is None
    assert status.opens_at == local(HONOLULU, 2025, 7, 15, 8, 0)


# --- Frequency limits ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("already", "allowed"), [(5, True), (6, False)])
def test_seventh_call_to_one_number_in_a_day_is_refused_in_china(already, allowed):
    decision = check(CHINA_RULES, local(SHANGHAI, 2025, 6, 10, 15, 0), calls_to_number_today=already)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.rule == Rule.CALLS_PER_NUMBER_PER_DAY
        assert decision.params == {"count": 6, "limit": 6}
        assert decision.overridable
        # The count starts again at midnight, but the window opens at 08:00.
        assert decision.allowed_from == local(SHANGHAI, 2025, 6, 11, 8, 0)


def test_the_daily_cap_counts_calls_not_text_messages():
    assert check(CHINA_RULES, local(SHANGHAI, 2025, 6, 10, 15, 0), SMS, calls_to_number_today=6).allowed


def test_china_counts_every_attempt_by_default_but_the_cba_reading_is_configurable():
    assert CHINA_RULES.count_unanswered_only is False
    assert replace(CHINA_RULES, count_unanswered_only=True).count_unanswered_only


@pytest.mark.parametrize(("already", "allowed"), [(6, True), (7, False)])
def test_eighth_call_in_seven_days_is_refused_in_the_us(already, allowed):
    decision = check(
        US_RULES, local(NEW_YORK, 2025, 6, 10, 12, 0), zones=[NEW_YORK], calls_on_debt_last_7_days=already
    )
    assert decision.allowed is allowed
    if not allowed:
        assert decision.rule == Rule.CALLS_PER_DEBT_PER_7_DAYS
        assert decision.overridable
        assert decision.allowed_from is None  # the caller gave a count, not the call times


def _one_call_a_day(first_day: int, days: int) -> list[datetime]:
    return [local(NEW_YORK, 2025, 3, first_day + i, 10, 0) for i in range(days)]


def test_the_seven_day_cap_frees_when_the_oldest_call_leaves_the_window():
    calls = _one_call_a_day(3, 7)  # Monday 3 March to Sunday 9 March
    sunday = check(US_RULES, local(NEW_YORK, 2025, 3, 9, 15, 0), zones=[NEW_YORK], debt_call_times=calls)
    assert sunday.rule == Rule.CALLS_PER_DEBT_PER_7_DAYS
    assert sunday.params == {"count": 7, "limit": 7}
    # Monday's call leaves at midnight starting Monday 10 March; the window opens at 08:00 (EDT).
    assert sunday.allowed_from == local(NEW_YORK, 2025, 3, 10, 8, 0)
    assert check(US_RULES, sunday.allowed_from, zones=[NEW_YORK], debt_call_times=calls).allowed


def test_over_the_cap_after_an_override_calls_resume_when_enough_calls_have_left():
    calls = [local(NEW_YORK, 2025, 6, d, 10, 0) for d in (2, 4, 5)]  # Mon, Wed, Thu; the cap is 2
    decision = check(
        US_MA_RULES_MERGED, local(NEW_YORK, 2025, 6, 6, 12, 0), zones=[NEW_YORK], debt_call_times=calls
    )
    assert decision.params == {"count": 3, "limit": 2}
    # Monday's and Wednesday's calls must both leave: Wednesday's leaves at midnight starting Wednesday 11.
    assert decision.allowed_from == local(NEW_YORK, 2025, 6, 11, 8, 0)


def test_with_several_candidate_zones_a_call_counts_until_it_has_left_the_window_in_every_one():
    # 23:30 Monday in Honolulu is already Tuesday in New York: by New York's calendar day 7 is Monday 10.
    conversation = local(HONOLULU, 2025, 3, 3, 23, 30)
    zones = [NEW_YORK, HONOLULU]
    decision = check(
        US_RULES, local(NEW_YORK, 2025, 3, 10, 16, 0), zones=zones, last_conversation_at=conversation
    )
    assert decision.rule == Rule.QUIET_AFTER_CONVERSATION
    assert decision.allowed_from == local(HONOLULU, 2025, 3, 11, 8, 0)


def test_calls_older_than_seven_local_days_do_not_count():
    calls = _one_call_a_day(2, 7)  # Sunday 2 March to Saturday 8 March
    assert check(US_RULES, local(NEW_YORK, 2025, 3, 9, 8, 0), zones=[NEW_YORK], debt_call_times=calls).allowed


def test_counting_window_starts_at_local_midnight_six_days_before_today():
    start = counting_window_start(US_RULES, [NEW_YORK], local(NEW_YORK, 2025, 3, 9, 15, 0), days=7)
    assert start == local(NEW_YORK, 2025, 3, 3, 0, 0)
    assert counting_window_start(CHINA_RULES, [], local(SHANGHAI, 2025, 6, 10, 15, 0), days=1) == local(
        SHANGHAI, 2025, 6, 10, 0, 0
    )


def test_texts_do_not_count_towards_the_reg_f_call_cap():
    assert check(
        US_RULES, local(NEW_YORK, 2025, 6, 10, 12, 0), SMS, zones=[NEW_YORK], calls_on_debt_last_7_days=9
    ).allowed


def test_calls_to_the_consumers_attorney_are_not_limited_by_the_call_caps():
    decision = check(
        US_RULES,
        local(NEW_YORK, 2025, 6, 10, 12, 0),
        zones=[NEW_YORK],
        party_role=ATTORNEY,
        calls_on_debt_last_7_days=9,
        last_conversation_at=local(NEW_YORK, 2025, 6, 10, 9, 0),
    )
    assert decision.allowed


CONVERSATION = local(NEW_YORK, 2025, 3, 3, 10, 0)  # Monday: day 1


@pytest.mark.parametrize(
    ("when", "allowed"),
    [
        (local(NEW_YORK, 2025, 3, 3, 16, 0), False),  # day 1
        (local(NEW_YORK, 2025, 3, 9, 20, 59), False),  # day 7 (Sunday, the DST switch day)
        (local(NEW_YORK, 2025, 3, 10, 8, 0), True),  # day 8
    ],
)
def test_no_call_for_seven_days_after_a_conversation_counting_its_day_as_day_one(when, allowed):
    decision = check(US_RULES, when, zones=[NEW_YORK], last_conversation_at=CONVERSATION)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.rule == Rule.QUIET_AFTER_CONVERSATION
        assert decision.params == {"date": "2025-03-03", "days": 7}
        assert decision.allowed_from == local(NEW_YORK, 2025, 3, 10, 8, 0)


def test_the_quiet_period_after_a_conversation_does_not_stop_a_text():
    assert check(
        US_RULES, local(NEW_YORK, 2025, 3, 5, 12, 0), SMS, zones=[NEW_YORK], last_conversation_at=CONVERSATION
    ).allowed


def test_every_failing_time_rule_is_reported_and_allowed_from_satisfies_them_all():
    decision = check(CHINA_RULES, local(SHANGHAI, 2025, 6, 10, 23, 0), calls_to_number_today=6)
    assert decision.rule == Rule.CALLS_PER_NUMBER_PER_DAY
    assert decision.also == (Rule.CONTACT_WINDOW,)
    assert not decision.overridable  # the window is a hard stop, whatever a supervisor says
    assert decision.allowed_from == local(SHANGHAI, 2025, 6, 11, 8, 0)


# --- Layers: Massachusetts on top of the US ----------------------------------------------------------


def test_massachusetts_layer_keeps_the_us_rules_and_tightens_the_cap():
    rules = builtin_rules("US-MA")
    assert rules == merge_strictest(US_RULES, US_MA_RULES)
    assert rules.code == "US+US-MA"
    assert (rules.window_start, rules.window_end) == (time(8, 0), time(21, 0))
    assert rules.max_calls_per_debt_per_7_days == 2
    assert rules.quiet_days_after_conversation == 7
    assert rules.attorney_contact_only
    assert builtin_rules("US-NY") == builtin_rules("US")
    with pytest.raises(LookupError):
        builtin_rules("GB")


@pytest.mark.parametrize(("rules", "allowed"), [(US_RULES, True), (US_MA_RULES_MERGED, False)])
def test_third_call_in_seven_days_is_refused_in_massachusetts_though_reg_f_allows_it(rules, allowed):
    decision = check(
        rules, local(NEW_YORK, 2025, 6, 10, 12, 0), zones=[NEW_YORK], calls_on_debt_last_7_days=2
    )
    assert decision.allowed is allowed
    if not allowed:
        assert decision.rule == Rule.CALLS_PER_DEBT_PER_7_DAYS
        assert decision.params == {"count": 2, "limit": 2}


def test_a_text_counts_as_a_phone_communication_in_massachusetts():
    decision = check(
        US_MA_RULES_MERGED,
        local(NEW_YORK, 2025, 6, 10, 12, 0),
        SMS,
        zones=[NEW_YORK],
        calls_on_debt_last_7_days=2,
    )
    assert decision.rule == Rule.CALLS_PER_DEBT_PER_7_DAYS
    assert US_MA_RULES_MERGED.debt_cap_channels == {OUTBOUND_CALL, SMS}


def test_merging_layers_keeps_the_strictest_value_of_every_rule():
    loose = PolicyRules(
        code="A",
        window_start=time(7, 0),
        window_end=time(22, 0),
        fallback_time_zones=(SHANGHAI,),
        max_calls_per_number_per_day=10,
        count_unanswered_only=True,
        max_calls_per_debt_per_7_days=None,
        quiet_days_after_conversation=3,
        unrelated_third_party_min_unreachable_days=10,
        allowed_channels={OUTBOUND_CALL, SMS, LETTER},
    )
    strict = PolicyRules(
        code="B",
        window_start=time(9, 0),
        window_end=time(20, 0),
        fallback_time_zones=(LONDON,),
        max_calls_per_number_per_day=3,
        count_unanswered_only=False,
        max_calls_per_debt_per_7_days=5,
        quiet_days_after_conversation=1,
        unrelated_third_party_min_unreachable_days=2,
        unrelated_third_party_forbidden=True,
        recording_required_for_completed_call=True,
        allowed_channels={OUTBOUND_CALL, LETTER, VISIT},
    )
    merged = merge_strictest(loose, strict)
    assert merged.code == "A+B"
    assert (merged.window_start, merged.window_end) == (time(9, 0), time(20, 0))
    assert merged.fallback_time_zones == (SHANGHAI, LONDON)
    assert merged.max_calls_per_number_per_day == 3
    assert merged.count_unanswered_only is False
    assert merged.max_calls_per_debt_per_7_days == 5
    assert merged.quiet_days_after_conversation == 3
    assert merged.unrelated_third_party_min_unreachable_days == 10
    assert merged.unrelated_third_party_forbidden
    assert merged.recording_required_for_completed_call
    assert merged.allowed_channels == {OUTBOUND_CALL, LETTER}
    assert merge_strictest() == PolicyRules()
    assert merge_strictest(CHINA_RULES, PolicyRules()) == CHINA_RULES


# --- Cardholder flags, holds and disputes ------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "rule"),
    [
        ("do_not_contact", Rule.DO_NOT_CONTACT),
        ("cease_communication", Rule.CEASE_COMMUNICATION),
        ("bankruptcy", Rule.BANKRUPTCY),
        ("deceased", Rule.DECEASED),
    ],
)
@pytest.mark.parametrize("rules", [US_RULES, CHINA_RULES], ids=["US", "CN"])
@pytest.mark.parametrize("channel", [OUTBOUND_CALL, SMS, EMAIL, LETTER, VISIT])
def test_stop_flags_refuse_every_outbound_channel_with_no_allowed_time(rules, flag, rule, channel):
    flags = CardholderFlags(**{flag: True})
    decision = check(rules, local(SHANGHAI, 2025, 6, 10, 12, 0), channel, zones=[SHANGHAI], flags=flags)
    assert (decision.allowed, decision.rule, decision.allowed_from) == (False, rule, None)
    assert not decision.overridable


def test_attorney_represented_cardholder_in_the_us_is_contacted_through_the_attorney_only():
    flags = CardholderFlags(attorney_represented=True)
    now = local(NEW_YORK, 2025, 6, 10, 12, 0)
    for role in (DEBTOR, GUARANTOR, RELATED_THIRD_PARTY, UNRELATED_THIRD_PARTY):
        decision = check(US_RULES, now, zones=[NEW_YORK], flags=flags, party_role=role)
        assert decision.rule == Rule.ATTORNEY_REPRESENTED, role
    assert check(US_RULES, now, zones=[NEW_YORK], flags=flags, party_role=ATTORNEY).allowed


def test_attorney_flag_blocks_in_china_only_when_a_layer_says_so():
    flags = CardholderFlags(attorney_represented=True)
    now = local(SHANGHAI, 2025, 6, 10, 12, 0)
    assert check(CHINA_RULES, now, flags=flags).allowed
    stricter = merge_strictest(CHINA_RULES, PolicyRules(attorney_contact_only=True))
    assert check(stricter, now, flags=flags).rule == Rule.ATTORNEY_REPRESENTED


def test_a_vulnerable_customer_is_not_refused_by_the_gate():
    # Vulnerability routes the case to a specialist queue; it does not stop contact by itself.
    decision = check(CHINA_RULES, local(SHANGHAI, 2025, 6, 10, 12, 0), flags=CardholderFlags(vulnerable=True))
    assert decision.allowed


@pytest.mark.parametrize(
    ("channel", "allowed"), [(LETTER, True), (EMAIL, True), (OUTBOUND_CALL, False), (SMS, False)]
)
def test_after_a_cease_request_only_a_written_termination_or_remedy_notice_passes(channel, allowed):
    decision = check(
        US_RULES,
        local(NEW_YORK, 2025, 6, 10, 12, 0),
        channel,
        zones=[NEW_YORK],
        flags=CardholderFlags(cease_communication=True),
        purpose=PURPOSE_CEASE_NOTICE,
    )
    assert decision.allowed is allowed


def test_an_open_dispute_holds_collection_contact_but_not_the_verification_letter():
    now = local(NEW_YORK, 2025, 6, 10, 12, 0)
    assert check(US_RULES, now, zones=[NEW_YORK], open_dispute=True).rule == Rule.OPEN_DISPUTE
    assert check(US_RULES, now, SMS, zones=[NEW_YORK], open_dispute=True).rule == Rule.OPEN_DISPUTE
    verification = check(
        US_RULES,
        now,
        LETTER,
        zones=[NEW_YORK],
        open_dispute=True,
        on_hold=True,
        purpose=PURPOSE_DISPUTE_VERIFICATION,
    )
    assert verification.allowed


@pytest.mark.parametrize("channel", [OUTBOUND_CALL, SMS, LETTER])
def test_a_case_on_hold_is_not_contacted(channel):
    decision = check(CHINA_RULES, local(SHANGHAI, 2025, 6, 10, 12, 0), channel, on_hold=True)
    assert (decision.rule, decision.allowed_from) == (Rule.ON_HOLD, None)


def test_the_notice_answering_a_cease_request_passes_the_hold_it_caused():
    decision = check(
        US_RULES,
        local(NEW_YORK, 2025, 6, 10, 12, 0),
        LETTER,
        zones=[NEW_YORK],
        flags=CardholderFlags(cease_communication=True),
        on_hold=True,
        purpose=PURPOSE_CEASE_NOTICE,
    )
    assert decision.allowed
    disputed = check(
        US_RULES,
        local(NEW_YORK, 2025, 6, 10, 12, 0),
        LETTER,
        zones=[NEW_YORK],
        open_dispute=True,
        purpose=PURPOSE_CEASE_NOTICE,
    )
    assert (
        disputed.rule == Rule.OPEN_DISPUTE
    )  # "a remedy will be invoked" is collection: not during a dispute


# --- Who is contacted --------------------------------------------------------------------------------


@pytest.mark.parametrize(("unreachable_days", "allowed"), [(6, False), (7, True)])
def test_unrelated_third_party_is_called_in_china_only_after_seven_days_unreachable(
    unreachable_days, allowed
):
    decision = check(
        CHINA_RULES,
        local(SHANGHAI, 2025, 6, 10, 12, 0),
        party_role=UNRELATED_THIRD_PARTY,
        debtor_unreachable_days=unreachable_days,
    )
    assert decision.allowed is allowed
    if not allowed:
        assert decision.rule == Rule.UNRELATED_THIRD_PARTY
        assert decision.params == {"days": 7, "unreachable": 6}


@pytest.mark.parametrize("channel", [SMS, EMAIL, LETTER, VISIT])
@pytest.mark.parametrize("rules", [CHINA_RULES, US_RULES], ids=["CN", "US"])
def test_unrelated_third_party_is_never_texted_emailed_written_to_or_visited(rules, channel):
    decision = check(
        rules,
        local(SHANGHAI, 2025, 6, 10, 12, 0),
        channel,
        zones=[SHANGHAI],
        party_role=UNRELATED_THIRD_PARTY,
        debtor_unreachable_days=30,
    )
    assert decision.rule == Rule.THIRD_PARTY_CHANNEL


@pytest.mark.parametrize("role", [DEBTOR, GUARANTOR, RELATED_THIRD_PARTY, ATTORNEY])
@pytest.mark.parametrize("channel", [OUTBOUND_CALL, SMS])
def test_debtor_guarantor_related_third_party_and_attorney_may_be_called_or_texted_in_china(role, channel):
    assert check(CHINA_RULES, local(SHANGHAI, 2025, 6, 10, 12, 0), channel, party_role=role).allowed


def test_us_location_call_to_an_unrelated_third_party_needs_no_waiting_period():
    decision = check(
        US_RULES, local(NEW_YORK, 2025, 6, 10, 12, 0), zones=[NEW_YORK], party_role=UNRELATED_THIRD_PARTY
    )
    assert decision.allowed


def test_a_layer_can_forbid_unrelated_third_parties_altogether():
    rules = merge_strictest(CHINA_RULES, PolicyRules(unrelated_third_party_forbidden=True))
    decision = check(
        rules,
        local(SHANGHAI, 2025, 6, 10, 12, 0),
        party_role=UNRELATED_THIRD_PARTY,
        debtor_unreachable_days=99,
    )
    assert decision.rule == Rule.UNRELATED_THIRD_PARTY
    assert decision.text  # renders without placeholders


# --- Channels and recordings -------------------------------------------------------------------------


def test_a_channel_the_profile_does_not_allow_is_refused():
    rules = merge_strictest(CHINA_RULES, PolicyRules(allowed_channels={OUTBOUND_CALL, INBOUND_CALL, LETTER}))
    decision = check(rules, local(SHANGHAI, 2025, 6, 10, 12, 0), VISIT)
    assert (decision.rule, decision.params) == (Rule.CHANNEL_NOT_ALLOWED, {"channel": VISIT})


@pytest.mark.parametrize(
    ("rules", "channel", "has_recording", "allowed"),
    [
        (CHINA_RULES, OUTBOUND_CALL, False, False),
        (CHINA_RULES, OUTBOUND_CALL, True, True),
        (CHINA_RULES, INBOUND_CALL, False, False),
        (CHINA_RULES, SMS, False, True),
        (US_RULES, OUTBOUND_CALL, False, True),
    ],
)
def test_a_completed_call_needs_a_recording_where_the_profile_requires_one(
    rules, channel, has_recording, allowed
):
    decision = check(
        rules,
        local(SHANGHAI, 2025, 6, 10, 12, 0),
        channel,
        zones=[SHANGHAI],
        completed_call=True,
        has_recording=has_recording,
    )
    assert decision.allowed is allowed
    if not allowed:
        assert decision.rule == Rule.RECORDING_REQUIRED


# --- Decisions and contexts --------------------------------------------------------------------------


def test_a_refusal_carries_a_translatable_message_and_json_ready_details():
    decision = check(CHINA_RULES, local(SHANGHAI, 2025, 6, 10, 15, 0), calls_to_number_today=6)
    assert isinstance(decision.message, Promise)
    assert "%(count)s" in str(decision.message)
    assert decision.text == "6 calls to this number today; at most 6 calls per number per day."
    details = json.loads(json.dumps(decision.details))
    assert details["rule"] == "calls_per_number_per_day"
    assert details["allowed_from"] == "2025-06-11T00:00:00+00:00"


def test_an_allowed_decision_has_no_rule():
    decision = check(CHINA_RULES, local(SHANGHAI, 2025, 6, 10, 15, 0))
    assert (decision.allowed, decision.rule, decision.allowed_from, decision.text) == (
        True,
        "",
        None,
        "Contact allowed.",
    )


def test_the_context_refuses_naive_times_and_unknown_vocabulary():
    with pytest.raises(ValueError, match="aware"):
        ContactContext(channel=OUTBOUND_CALL, now=datetime(2025, 6, 10, 12, 0))
    with pytest.raises(ValueError, match="channel"):
        ContactContext(channel="pigeon", now=datetime(2025, 6, 10, tzinfo=UTC))
    with pytest.raises(ValueError, match="role"):
        ContactContext(channel=SMS, now=datetime(2025, 6, 10, tzinfo=UTC), party_role="neighbour")


def test_flags_are_read_from_a_cardholder_by_the_caller_not_the_engine():
    holder = Cardholder(cease_communication=True, vulnerable=True)
    assert flags_of(holder) == CardholderFlags(cease_communication=True, vulnerable=True)
    assert not hasattr(CardholderFlags, "of")  # the engine knows nothing of cardholders


def test_a_region_without_a_profile_of_its_own_is_governed_by_its_country():
    assert policy.profile_codes(" us-ny ") == ("US-NY", "US")
    assert policy.profile_codes("CN") == ("CN",)
    assert builtin_rules("us-ny") == US_RULES
    assert builtin_rules("US-MA") == merge_strictest(US_RULES, US_MA_RULES)
    with pytest.raises(LookupError):
        builtin_rules("XX-YY")


def test_the_engine_vocabulary_matches_the_model_choices():
    assert set(Channel.values) == policy.ALL_CHANNELS
    assert set(PartyRole.values) == policy.ALL_ROLES


# --- The stored profile (ContactPolicy), without the database ------------------------------------------


def test_stored_built_in_profiles_give_back_the_built_in_rules():
    for rules in (CHINA_RULES, US_RULES):
        assert ContactPolicy.from_rules(rules, name=rules.code).to_rules() == rules


def test_a_state_row_on_a_country_row_resolves_to_the_layered_rules():
    us = ContactPolicy.from_rules(US_RULES, name="United States")
    ma = ContactPolicy(
        code="US-MA",
        name="Massachusetts",
        parent=us,
        max_calls_per_debt_per_7_days=2,
        sms_counts_toward_debt_cap=True,
    )
    assert [p.code for p in ma.chain()] == ["US", "US-MA"]
    assert ma.to_rules() == builtin_rules("US-MA")


def test_a_state_row_cannot_relax_its_country():
    us = ContactPolicy.from_rules(US_RULES, name="United States")
    loose = ContactPolicy(
        code="US-XX",
        name="Loose",
        parent=us,
        window_start=time(7, 0),
        window_end=time(22, 0),
        max_calls_per_debt_per_7_days=20,
        attorney_contact_only=False,
        allowed_channels=[],
    )
    rules = loose.to_rules()
    assert (rules.window_start, rules.window_end) == (time(8, 0), time(21, 0))
    assert rules.max_calls_per_debt_per_7_days == 7
    assert rules.attorney_contact_only
    assert rules.allowed_channels == policy.ALL_CHANNELS


def test_a_root_row_with_empty_fields_restricts_only_what_it_sets():
    rules = ContactPolicy(code="CN", name="China", max_calls_per_number_per_day=6).to_rules()
    assert rules == PolicyRules(code="CN", fallback_time_zones=(SHANGHAI,), max_calls_per_number_per_day=6)


def test_profile_validation_rejects_bad_windows_zones_channels_and_loops():
    bad = ContactPolicy(
        code="CN",
        name="China",
        window_start=time(22, 0),
        window_end=time(8, 0),
        fallback_time_zone="Asia/Nowhere",
        allowed_channels=["outbound_call", "pigeon"],
    )
    with pytest.raises(ValidationError) as error:
        bad.clean()
    assert set(error.value.message_dict) == {"window_end", "fallback_time_zone", "allowed_channels"}

    a = ContactPolicy(code="A", name="A")
    b = ContactPolicy(code="B", name="B", parent=a)
    a.parent = b
    with pytest.raises(ValidationError):
        a.clean()


# --- Properties over random instants and zones ----------------------------------------------------------

# A spread of offsets and DST rules: half and quarter hours, a 30-minute DST (Lord Howe), southern
# hemisphere DST, +14 and -11, Samoa's skipped day (30 Dec 2011).
SAMPLE_ZONES = [
    *US_ZONES,
    SHANGHAI,
    LONDON,
    "Europe/Berlin",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Australia/Sydney",
    "Pacific/Chatham",
    "America/St_Johns",
    "America/Santiago",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "Pacific/Apia",
]
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)
candidate_zones = st.lists(st.sampled_from(SAMPLE_ZONES), max_size=4, unique=True)


# Shipped profiles, and random windows with edges away from the small hours when clocks change.
def _with_window(rules: PolicyRules, start: int, length: int) -> PolicyRules:
    end = min(start + length, 23 * 60 + 59)
    return replace(rules, window_start=time(*divmod(start, 60)), window_end=time(*divmod(end, 60)))


random_windows = st.builds(
    _with_window,
    st.sampled_from([CHINA_RULES, US_RULES]),
    st.integers(min_value=5 * 60, max_value=12 * 60),
    st.integers(min_value=60, max_value=17 * 60),
)
any_rules = st.one_of(st.sampled_from([CHINA_RULES, US_RULES, US_MA_RULES_MERGED]), random_windows)
PROPERTY_SETTINGS = settings(max_examples=300, deadline=None, database=None)


def _judged_in(rules: PolicyRules, zones: list[str]) -> list[str]:
    # Written out again here rather than calling resolve_zones(), so the property checks the engine.
    if not zones:
        return list(rules.fallback_time_zones)
    if rules.always_judge_in_fallback_zones:
        return [*zones, *rules.fallback_time_zones]
    return zones


def _inside(rules: PolicyRules, zone: str, at: datetime) -> bool:
    wall = at.astimezone(ZoneInfo(zone)).time()
    return rules.window_start <= wall < rules.window_end


@PROPERTY_SETTINGS
@given(rules=any_rules, zones=candidate_zones, now=instants)
def test_a_call_is_allowed_exactly_when_it_is_inside_the_window_in_every_candidate_zone(rules, zones, now):
    decision = check(rules, now, zones=zones)
    inside_everywhere = all(_inside(rules, zone, now) for zone in _judged_in(rules, zones))
    assert decision.allowed is inside_everywhere
    if decision.allowed_from is not None:
        assert decision.allowed_from > now
        assert all(_inside(rules, zone, decision.allowed_from) for zone in _judged_in(rules, zones))


@PROPERTY_SETTINGS
@given(rules=any_rules, zones=candidate_zones, after=instants)
def test_next_allowed_time_is_the_first_instant_the_call_is_allowed(rules, zones, after):
    allowed_at = next_allowed_time(rules, zones, after)
    if allowed_at is None:
        # The windows never overlap: nothing in the next two days is inside all of them.
        for hour in range(48):
            probe = after + timedelta(hours=hour, minutes=17)
            assert not all(_inside(rules, zone, probe) for zone in _judged_in(rules, zones))
        return
    assert allowed_at >= after
    assert check(rules, allowed_at, zones=zones).allowed
    if allowed_at > after:
        assert not check(rules, allowed_at - timedelta(microseconds=1), zones=zones).allowed
