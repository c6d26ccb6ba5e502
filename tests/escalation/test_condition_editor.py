"""The condition editor: rules are edited as rows of (field, operator, value) from the evaluator's catalogue,
stored as the JSON the evaluator reads, refused row by row with the reason, and counted live by a small
admin-only endpoint. The shipped CN and US rules are data the same checks accept.

Personas (tests/conftest.py): `admin_user` configures rules; `supervisor` may not."""

import json
from decimal import Decimal

import pytest
from django.urls import reverse

from escalation.models import EscalationRule
from escalation.services import rule_preview
from tests.escalation.conftest import make_rule
from tests.escalation.test_rule_admin import form_data, rows
from tests.factories import open_case

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

ADD = "admin:escalation_escalationrule_add"
COUNT = "admin:escalation_escalationrule_count"
NAME = "M4, no contact for 30 days"
SHIPPED = [
    "CN: charge-off stage, no right-party contact for 60 days",
    "US: charge-off stage, no right-party contact for 60 days",
    "CN: broken promise at M2 or later",
    "US: broken promise at M2 or later",
]


@pytest.fixture
def portfolio(as_of, team_a):
    """Four open cases: DPD and balance decide which a rule matches."""
    return {
        "small_late": open_case(team=team_a, days_past_due=120, overdue_amount=Decimal("800.00")),
        "big_late": open_case(team=team_a, days_past_due=120, overdue_amount=Decimal("60000.00")),
        "big_early": open_case(team=team_a, days_past_due=20, overdue_amount=Decimal("60000.00")),
        "bigger_late": open_case(team=team_a, days_past_due=200, overdue_amount=Decimal("90000.00")),
    }


def test_rows_are_stored_as_the_json_the_evaluator_reads_and_match_the_right_cases(
    client, admin_user, portfolio
):
    client.force_login(admin_user)
    response = client.post(
        reverse(ADD),
        form_data(
            conditions=[
                ("dpd", "between", "91, 180"),
                ("overdue_amount", "gte", "50000"),
                ("state", "in", "new, in_progress"),
            ],
            dry_run=None,
        ),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    rule = EscalationRule.objects.get(name=NAME)
    assert rule.conditions == [
        {"field": "dpd", "operator": "between", "value": [91, 180]},
        {"field": "overdue_amount", "operator": "gte", "value": "50000.00"},
        {"field": "state", "operator": "in", "value": ["new", "in_progress"]},
    ]
    preview = rule_preview(rule)
    assert preview.matching == 1
    assert [case.pk for case in preview.sample] == [portfolio["big_late"].pk]


def test_the_change_form_shows_a_stored_rule_as_rows(client, admin_user, as_of):
    rule = make_rule(
        [
            {"field": "jurisdiction", "operator": "in", "value": ["CN", "US"]},
            {"field": "balance", "operator": "lt", "value": "1000.50"},
        ],
        raise_priority=5,
    )
    client.force_login(admin_user)
    page = client.get(reverse("admin:escalation_escalationrule_change", args=[rule.pk])).content.decode()
    assert 'data-testid="condition-rows"' in page
    assert '<option value="jurisdiction" selected>' in page and '<option value="balance" selected>' in page
    assert '<option value="in" selected>' in page and '<option value="lt" selected>' in page
    assert 'name="conditions-0-value" value="CN, US"' in page
    assert 'name="conditions-1-value" value="1000.50"' in page
    assert 'name="conditions-3-field"' in page  # and blank rows to add to
    assert "Enter a valid JSON" not in page and "vLargeTextField" not in page


def test_a_bad_row_is_refused_with_its_reason_in_its_row(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse(ADD),
        form_data(
            conditions=[
                ("dpd", "gte", "91"),
                ("balance", "in", "5000"),
                ("broken_promises", "gte", "two"),
            ]
        ),
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert not EscalationRule.objects.filter(name=NAME).exists()
    row_1 = page.split('data-testid="condition-error-1">')[1].split("</td>")[0]
    row_2 = page.split('data-testid="condition-error-2">')[1].split("</td>")[0]
    row_0 = page.split('data-testid="condition-error-0">')[1].split("</td>")[0]
    assert "balance cannot be compared with" in row_1
    assert "broken_promises needs a whole number" in row_2
    assert row_0 == ""
    assert "Condition 2: balance cannot be compared" in page
    # What was typed is given back as typed.
    assert 'name="conditions-2-value" value="two"' in page


def test_a_rule_without_any_row_is_refused(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse(ADD), form_data(conditions=[]))
    assert "Give at least one condition" in response.content.decode()
    assert not EscalationRule.objects.filter(name=NAME).exists()


def test_the_live_count_answers_how_many_open_cases_the_rows_match(client, admin_user, portfolio):
    client.force_login(admin_user)
    url = reverse(COUNT)
    answer = client.post(url, rows(("dpd", "gte", "91"), ("overdue_amount", "gte", "50000.00")))
    assert answer.status_code == 200
    assert answer.json() == {"matching": 2, "text": "Matches 2 open cases now."}
    any_of = client.post(url, rows(("dpd", "lt", "30"), ("dpd", "gte", "200")) | {"match_mode": "any"})
    assert any_of.json()["matching"] == 2

    bad = client.post(url, rows(("dpd", "gte", "91"), ("product", "eq", "yacht")))
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {"1"}
    assert "is not a known product" in bad.json()["errors"]["1"]
    impossible = client.post(url, rows(("dpd", "gt", "90"), ("dpd", "lt", "30")))
    assert impossible.status_code == 400 and "can never all hold" in impossible.json()["errors"][""]


def test_the_live_count_is_for_admins_only_and_by_post(client, admin_user, supervisor, portfolio):
    url = reverse(COUNT)
    assert client.post(url, rows(("dpd", "gte", "91"))).status_code == 302  # anonymous: to the login
    client.force_login(supervisor)
    response = client.post(url, rows(("dpd", "gte", "91")))
    assert response.status_code == 302 and "/admin/login/" in response.url
    client.force_login(admin_user)
    assert client.get(url).status_code == 405


def test_the_shipped_cn_and_us_rules_are_valid_data_and_off_until_an_admin_turns_them_on(as_of):
    rules = {rule.name: rule for rule in EscalationRule.objects.filter(name__in=SHIPPED)}
    assert set(rules) == set(SHIPPED)
    for rule in rules.values():
        stored = json.loads(json.dumps(rule.conditions))
        rule.full_clean()  # the model's checks accept them as shipped ...
        assert rule.conditions == stored  # ... and have nothing to normalise
        assert (rule.enabled, rule.dry_run) == (False, True)
    assert rules[SHIPPED[0]].move_to_legal_review and rules[SHIPPED[1]].move_to_legal_review
    assert {"field": "jurisdiction", "operator": "eq", "value": "CN"} in rules[SHIPPED[0]].conditions
