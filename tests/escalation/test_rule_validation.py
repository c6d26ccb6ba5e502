"""A rule is checked as it is saved: every mistake an admin can make comes back as a clear error naming
the condition and what is wrong, and a valid rule is stored normalised (money as "50000.00")."""

import pytest
from django.core.exceptions import ValidationError

from escalation.models import EscalationRule
from tests.escalation.conftest import DPD_OVER_90, make_rule
from tests.factories import QueueFactory

pytestmark = pytest.mark.django_db


def errors_of(conditions=None, **fields) -> dict:
    with pytest.raises(ValidationError) as raised:
        make_rule(DPD_OVER_90 if conditions is None else conditions, save=False, **fields)
    return raised.value.message_dict


def condition_errors(*conditions, **fields) -> str:
    return " ".join(errors_of(list(conditions), move_to_legal_review=True, **fields)["conditions"])


def test_a_valid_rule_is_stored_with_money_normalised():
    rule = make_rule(
        [
            {"field": "dpd", "operator": "gte", "value": 91},
            {"field": "balance", "operator": "between", "value": [50000, "500000.5"]},
            {"field": "bucket", "operator": "in", "value": ["M4", "M5", "M4"]},
        ],
        move_to_legal_review=True,
    )
    rule.refresh_from_db()
    assert rule.conditions[1]["value"] == ["50000.00", "500000.50"]
    assert rule.conditions[2]["value"] == ["M4", "M5"]
    assert (
        rule.describe_conditions()
        == "dpd ≥ 91 AND balance between (inclusive) 50000.00–500000.50 AND bucket is one of M4, M5"
    )


def test_an_unknown_field_is_named_with_the_fields_there_are():
    message = condition_errors({"field": "credit_score", "operator": "gt", "value": 600})
    assert 'Condition 1: Unknown field "credit_score"' in message
    assert "dpd, bucket, overdue_amount" in message


def test_an_operator_that_does_not_fit_the_field_is_refused():
    assert 'bucket cannot be compared with "gt"' in condition_errors(
        {"field": "bucket", "operator": "gt", "value": "M3"}
    )
    assert 'dpd cannot be compared with "in"' in condition_errors(
        {"field": "dpd", "operator": "in", "value": [1]}
    )


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"field": "dpd", "operator": "gt", "value": "90"}, 'dpd needs a whole number, not "90"'),
        ({"field": "dpd", "operator": "gt", "value": 90.5}, "dpd needs a whole number, not 90.5"),
        (
            {"field": "broken_promises", "operator": "gte", "value": True},
            "broken_promises needs a whole number",
        ),
        ({"field": "balance", "operator": "gt", "value": 50000.5}, "balance needs an amount such as 50000"),
        ({"field": "balance", "operator": "gt", "value": "lots"}, 'balance needs an amount, not "lots"'),
        ({"field": "balance", "operator": "gt", "value": "1.005"}, "at most two decimals"),
        ({"field": "bucket", "operator": "eq", "value": "M9"}, '"M9" is not a known bucket'),
        ({"field": "state", "operator": "eq", "value": "litigation"}, '"litigation" is not a known state'),
        ({"field": "product", "operator": "in", "value": []}, "in needs a non-empty list"),
        ({"field": "dpd", "operator": "between", "value": 90}, "between needs a list of two values"),
        ({"field": "dpd", "operator": "gt"}, "The condition needs a value"),
        ({"field": "dpd", "operator": "gt", "value": 1, "extra": 2}, "Unknown key(s): extra"),
        ("dpd > 90", "Write each condition as"),
    ],
)
def test_wrong_values_are_refused_with_the_reason(condition, expected):
    assert expected in condition_errors(condition)


def test_negative_dpd_is_refused():
    assert "dpd cannot be negative (-5)" in condition_errors({"field": "dpd", "operator": "gte", "value": -5})
    assert "balance cannot be negative" in condition_errors(
        {"field": "balance", "operator": "gt", "value": "-1"}
    )


def test_an_impossible_range_is_refused():
    message = condition_errors({"field": "dpd", "operator": "between", "value": [120, 90]})
    assert "Impossible range: the minimum 120 is above the maximum 90" in message


def test_a_condition_that_can_never_match_is_refused():
    assert "dpd < 0 can never match" in condition_errors({"field": "dpd", "operator": "lt", "value": 0})


def test_all_of_conditions_that_contradict_each_other_are_refused():
    message = condition_errors(
        {"field": "dpd", "operator": "gt", "value": 90}, {"field": "dpd", "operator": "lt", "value": 30}
    )
    assert (
        "The conditions on dpd can never all hold (it would have to be at least 91 and at most 29)" in message
    )
    message = condition_errors(
        {"field": "bucket", "operator": "eq", "value": "M3"},
        {"field": "bucket", "operator": "not_in", "value": ["M3"]},
    )
    assert "The conditions on bucket can never all hold" in message


def test_any_of_conditions_may_cover_disjoint_ranges():
    make_rule(
        [{"field": "dpd", "operator": "gt", "value": 90}, {"field": "dpd", "operator": "lt", "value": 30}],
        match_mode="any",
        raise_priority=10,
    )


def test_every_problem_is_listed_at_once():
    messages = errors_of(
        [{"field": "nope", "operator": "eq", "value": 1}, {"field": "dpd", "operator": "gt", "value": -1}],
        move_to_legal_review=True,
    )["conditions"]
    assert [m.split(":")[0] for m in messages] == ["Condition 1", "Condition 2"]


def test_a_rule_needs_a_condition_and_an_action():
    assert "Give at least one condition" in errors_of([], move_to_legal_review=True)["conditions"][0]
    assert "Choose at least one action" in errors_of(DPD_OVER_90)["__all__"][0]


def test_an_unknown_or_inactive_queue_is_refused():
    assert "Unknown queue (id 999999)" in " ".join(errors_of(target_queue_id=999999)["target_queue"])
    inactive = QueueFactory(name="Closed queue", active=False)
    assert "is not active" in " ".join(errors_of(target_queue=inactive)["target_queue"])


def test_an_unknown_jurisdiction_is_refused():
    message = condition_errors({"field": "jurisdiction", "operator": "eq", "value": "XX"})
    assert '"XX" is not a known jurisdiction' in message
    assert "CN" in message  # the stored contact policies are the codes there are


def test_a_legal_rule_only_for_cases_on_hold_is_refused():
    errors = errors_of([{"field": "state", "operator": "eq", "value": "on_hold"}], move_to_legal_review=True)
    assert "Cases on hold cannot go to legal review" in errors["move_to_legal_review"][0]


def test_changing_what_a_rule_says_makes_a_new_version_and_renaming_does_not():
    rule = make_rule(DPD_OVER_90, raise_priority=10)
    assert rule.version == 1
    rule.name = "renamed"
    rule.enabled = False
    rule.save()
    assert rule.version == 1
    rule.raise_priority = 20
    rule.save()
    assert rule.version == 2
    rule.conditions = [{"field": "dpd", "operator": "gt", "value": 120}]
    rule.save()
    assert EscalationRule.objects.get(pk=rule.pk).version == 3
