"""The escalation rule admin: the list shows what is enabled and in dry run, the form refuses a bad rule
with the model's messages, and Preview shows what the form's rule (saved or not) would do now.

Personas (tests/conftest.py): `admin_user` configures rules (the only role in /admin/);
`supervisor` may not."""

from decimal import Decimal

import pytest
from django.urls import reverse

from escalation.models import EscalationRule
from tests.escalation.conftest import DPD_OVER_90, make_rule
from tests.factories import QueueFactory, open_case

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

ADD = "admin:escalation_escalationrule_add"
PREVIEW_NEW = "admin:escalation_escalationrule_preview_new"


def rows(*conditions: tuple[str, str, str]) -> dict:
    """The condition editor's rows as the browser posts them: (field, operator, value as typed)."""
    data = {}
    for n, (field, operator, value) in enumerate(conditions):
        data |= {
            f"conditions-{n}-field": field,
            f"conditions-{n}-operator": operator,
            f"conditions-{n}-value": value,
        }
    # The blank row the page always offers comes back empty.
    n = len(conditions)
    return data | {f"conditions-{n}-field": "", f"conditions-{n}-operator": "", f"conditions-{n}-value": ""}


def form_data(conditions=(("dpd", "gt", "90"),), **overrides) -> dict:
    values = {
        "name": "M4, no contact for 30 days",
        "description": "",
        "order": "100",
        "enabled": "on",
        "dry_run": "on",
        "match_mode": "all",
        "move_to_legal_review": "on",
        "target_queue": "",
        "raise_priority": "0",
    }
    return {k: v for k, v in (values | overrides).items() if v is not None} | rows(*conditions)


@pytest.fixture
def cases(as_of, team_a):
    return [open_case(team=team_a, days_past_due=dpd) for dpd in (30, 95, 120)]


def test_the_list_shows_enabled_and_dry_run_within_its_query_budget(
    client, admin_user, as_of, django_assert_max_num_queries
):
    for n in range(5):
        make_rule(DPD_OVER_90, name=f"rule {n}", dry_run=n % 2 == 0, raise_priority=n + 1)
    client.force_login(admin_user)
    with django_assert_max_num_queries(6):
        response = client.get(reverse("admin:escalation_escalationrule_changelist"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "column-enabled" in page and "column-dry_run" in page
    assert "dpd &gt; 90" in page


def test_a_bad_rule_is_refused_with_the_reason_beside_the_field(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse(ADD), form_data(conditions=[("dpd", "between", "120, 90")]))
    assert response.status_code == 200
    assert "Impossible range: the minimum 120 is above the maximum 90" in response.content.decode()
    assert not EscalationRule.objects.filter(name="M4, no contact for 30 days").exists()


def test_a_good_rule_is_saved_with_who_changed_it(client, admin_user):
    client.force_login(admin_user)
    queue = QueueFactory(name="Hard collections")
    response = client.post(reverse(ADD), form_data(target_queue=str(queue.pk), move_to_legal_review=None))
    assert response.status_code == 302
    rule = EscalationRule.objects.get(name="M4, no contact for 30 days")
    assert (rule.target_queue, rule.updated_by, rule.enabled, rule.dry_run) == (queue, admin_user, True, True)


def test_the_change_form_offers_the_field_catalogue_and_a_preview(client, admin_user, as_of):
    rule = make_rule(DPD_OVER_90, raise_priority=5)
    client.force_login(admin_user)
    page = client.get(reverse("admin:escalation_escalationrule_change", args=[rule.pk])).content.decode()
    assert 'data-testid="rule-catalogue"' in page
    assert "days_since_last_rpc" in page
    assert reverse("admin:escalation_escalationrule_preview", args=[rule.pk]) in page
    assert 'formtarget="rule-preview"' in page


def test_preview_of_the_unsaved_form_counts_the_cases_and_shows_a_sample(client, admin_user, cases):
    client.force_login(admin_user)
    response = client.post(reverse(PREVIEW_NEW), form_data())
    page = response.content.decode()
    assert response.status_code == 200
    assert "Matches 2 open cases now." in page
    assert "Would act on 2" in page
    assert cases[2].reference in page and cases[1].reference in page
    assert cases[0].reference not in page
    assert not EscalationRule.objects.filter(name="M4, no contact for 30 days").exists()  # nothing saved


def test_preview_of_a_saved_rule_uses_the_form_values_not_the_saved_ones(client, admin_user, cases):
    rule = make_rule([{"field": "dpd", "operator": "gt", "value": 500}], raise_priority=5)
    client.force_login(admin_user)
    url = reverse("admin:escalation_escalationrule_preview", args=[rule.pk])
    response = client.post(url, form_data(name=rule.name, conditions=[("dpd", "gte", "120")]))
    assert "Matches 1 open case now." in response.content.decode()
    rule.refresh_from_db()
    assert rule.conditions[0]["value"] == 500


def test_preview_of_a_bad_rule_lists_the_errors(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse(PREVIEW_NEW), form_data(conditions=[("score", "gt", "1")]))
    page = response.content.decode()
    assert 'data-testid="preview-errors"' in page
    assert "Unknown field" in page


def test_preview_counts_money_conditions_exactly(client, admin_user, as_of, team_a):
    open_case(team=team_a, days_past_due=100, overdue_amount=Decimal("50000.00"))
    open_case(team=team_a, days_past_due=100, overdue_amount=Decimal("49999.99"))
    client.force_login(admin_user)
    data = form_data(conditions=[("overdue_amount", "gte", "50000.00")])
    assert "Matches 1 open case now." in client.post(reverse(PREVIEW_NEW), data).content.decode()


def test_only_admins_preview_and_only_by_post(client, admin_user, supervisor):
    client.force_login(supervisor)
    response = client.post(reverse(PREVIEW_NEW), form_data())
    assert response.status_code == 302 and "/admin/login/" in response.url
    client.force_login(admin_user)
    assert client.get(reverse(PREVIEW_NEW)).status_code == 405


def test_firings_are_read_only_in_the_admin(client, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse("admin:escalation_escalationfiring_changelist"))
    assert response.status_code == 200
    assert client.get(reverse("admin:escalation_escalationfiring_add")).status_code == 403
