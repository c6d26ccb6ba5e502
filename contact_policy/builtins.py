"""The stored form of a rules layer: the column values of a ContactPolicy row holding `rules` explicitly.
Pure (no models), so that the data migration seeding the built-in profiles and ContactPolicy.from_rules
share it."""

from datetime import time

from contact_policy import engine


def stored_values(rules: engine.PolicyRules, *, code: str = "") -> dict:
    country_zones = engine.COUNTRY_ZONES.get(engine.country_of(code or rules.code), ())
    if len(rules.fallback_time_zones) == 1:
        fallback = rules.fallback_time_zones[0]
    elif not rules.fallback_time_zones or rules.fallback_time_zones == country_zones:
        fallback = ""
    else:
        raise ValueError("a stored profile holds one fallback zone or its whole country's zones")
    unrestricted_window = rules.window_start == time(0) and rules.window_end == engine.END_OF_DAY
    return {
        "code": code or rules.code,
        "window_start": None if unrestricted_window else rules.window_start,
        "window_end": None if unrestricted_window else rules.window_end,
        "fallback_time_zone": fallback,
        "always_judge_in_fallback_zone": rules.always_judge_in_fallback_zones,
        "max_calls_per_number_per_day": rules.max_calls_per_number_per_day,
        "count_unanswered_only": rules.count_unanswered_only,
        "max_calls_per_debt_per_7_days": rules.max_calls_per_debt_per_7_days,
        "sms_counts_toward_debt_cap": rules.sms_counts_toward_debt_cap,
        "quiet_days_after_conversation": rules.quiet_days_after_conversation,
        "unrelated_third_party_forbidden": rules.unrelated_third_party_forbidden,
        "unrelated_third_party_min_unreachable_days": rules.unrelated_third_party_min_unreachable_days,
        "unrelated_third_party_calls_only": rules.unrelated_third_party_calls_only,
        "recording_required_for_completed_call": rules.recording_required_for_completed_call,
        "attorney_contact_only": rules.attorney_contact_only,
        "allowed_channels": (
            None if rules.allowed_channels == engine.ALL_CHANNELS else sorted(rules.allowed_channels)
        ),
    }
