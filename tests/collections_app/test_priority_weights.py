"""The priority score's weights, kept in the database: the shipped row, the score in SQL and its explanation
reading the same row, and the admin's page with its preview of each queue's order."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from collections_app.models import Case, PriorityWeights
from collections_app.services import queues
from tests.factories import UserFactory, open_case

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("office_hours")]

SHIPPED = {
    "dpd_points_per_day": 1,
    "dpd_cap_days": 180,
    "amount_points_per_thousand": 5,
    "amount_cap_points": 100,
    "broken_promise_points": 20,
    "broken_plan_points": 30,
    "callback_due_points": 200,
}


@pytest.fixture(autouse=True)
def _no_cached_weights():
    """The pages' cached copy outlives a test's rolled-back transaction: start and end without it."""
    queues.forget_cached_weights()
    yield
    queues.forget_cached_weights()


def weights_changed(**values) -> PriorityWeights:
    row = PriorityWeights.objects.get(pk=1)
    for name, value in values.items():
        setattr(row, name, value)
    return queues.priority_weights_save(row, actor=None)


def test_the_migration_ships_the_weights_the_score_had_so_no_score_changes():
    row = PriorityWeights.objects.get()
    assert {name: getattr(row, name) for name in SHIPPED} == SHIPPED
    assert queues.priority_weights(fresh=True) == queues.DEFAULT_WEIGHTS == queues.Weights(**SHIPPED)


def test_the_nightly_score_and_the_explanation_read_the_same_stored_weights(team_a):
    now = timezone.now()
    case = open_case(team=team_a, days_past_due=45, overdue_amount=Decimal("2500.00"))
    Case.objects.filter(pk=case.pk).update(broken_promise_count=2, broken_plan_count=1)
    queues.priority_weights()  # the pages' cache holds the shipped weights now
    weights_changed(
        dpd_points_per_day=2, dpd_cap_days=30, amount_points_per_thousand=7, broken_plan_points=50
    )
    queues.refresh_priorities(now=now)
    case = Case.objects.select_related("account").get(pk=case.pk)
    factors = {f.label: f.points for f in queues.priority_factors(case, now=now)}
    # DPD 45 capped at 30, x2; 2 whole thousands x7; 2 promises x20; 1 plan x50.
    assert factors == {"Days past due": 60, "Overdue amount": 14, "Broken promises": 40, "Broken plans": 50}
    assert case.priority == 164 == queues.priority_score(case, now=now)


def test_the_stored_weights_are_read_by_the_update_itself(team_a, django_assert_num_queries):
    case = open_case(team=team_a, days_past_due=45, overdue_amount=Decimal("500.00"))
    weights_changed(dpd_points_per_day=3)
    with django_assert_num_queries(1):
        queues.refresh_priorities()
    assert Case.objects.get(pk=case.pk).priority == 135


def two_cases_in_one_queue(team):
    """A case far overdue owing little (90 + 5 points), and one just overdue owing much (5 + 100): the big
    one comes first today."""
    old_small = open_case(team=team, days_past_due=90, overdue_amount=Decimal("1000.00"))
    new_big = open_case(team=team, days_past_due=5, overdue_amount=Decimal("19000.00"))
    Case.objects.filter(pk=new_big.pk).update(queue=old_small.queue)
    queues.refresh_priorities()
    return old_small, new_big


def test_the_preview_shows_how_a_queue_reorders_without_saving_anything(team_a):
    old_small, new_big = two_cases_in_one_queue(team_a)
    proposed = queues.Weights(**{**SHIPPED, "dpd_points_per_day": 2})
    (change,) = queues.priority_preview(proposed)
    assert change.queue == old_small.queue
    assert (change.cases, change.moved_up, change.moved_down, change.score_changed) == (2, 1, 1, 2)
    assert [c.pk for c in change.top_before] == [new_big.pk, old_small.pk]
    assert [c.pk for c in change.top_after] == [old_small.pk, new_big.pk]
    assert [(c.old_score, c.new_score) for c in change.top_after] == [(95, 180 + 5), (100, 10 + 95)]
    # Nothing saved: the stored weights and scores are as they were.
    assert queues.priority_weights(fresh=True) == queues.DEFAULT_WEIGHTS
    assert Case.objects.get(pk=old_small.pk).priority == 95


def test_unchanged_weights_preview_no_movement(team_a):
    two_cases_in_one_queue(team_a)
    (change,) = queues.priority_preview(queues.DEFAULT_WEIGHTS)
    assert (change.cases, change.moved_up, change.moved_down, change.score_changed) == (2, 0, 0, 0)
    assert change.unmoved == 2


class TestTheAdminPage:
    def url(self, name, *args):
        return reverse(f"admin:collections_app_priorityweights_{name}", args=args)

    def test_the_list_is_the_one_row(self, client, admin_user):
        client.force_login(admin_user)
        response = client.get(self.url("changelist"))
        assert response.status_code == 302
        assert response["Location"] == self.url("change", 1)
        page = client.get(self.url("change", 1))
        assert page.status_code == 200
        assert b"weights-preview" in page.content

    def test_the_preview_posts_the_form_as_it_stands(self, client, admin_user, team_a):
        old_small, new_big = two_cases_in_one_queue(team_a)
        client.force_login(admin_user)
        form = {**SHIPPED, "dpd_points_per_day": 2}
        response = client.post(self.url("preview", 1), form)
        assert response.status_code == 200
        text = response.content.decode()
        assert "2 cases ready to claim: 1 move up, 1 move down; 2 change score." in text
        # The new first case, its new score and where it stood before.
        assert re.search(rf'{old_small.reference}</a></td><td class="num">185</td>\s*<td>#2</td>', text)
        assert queues.priority_weights(fresh=True) == queues.DEFAULT_WEIGHTS

    def test_a_bad_value_is_named_instead_of_previewed(self, client, admin_user):
        client.force_login(admin_user)
        response = client.post(self.url("preview", 1), {**SHIPPED, "dpd_cap_days": -1})
        assert b'data-testid="preview-errors"' in response.content

    def test_saving_changes_what_the_pages_explain_at_once(self, client, admin_user, team_a):
        case = open_case(team=team_a, days_past_due=45)
        case = Case.objects.select_related("account").get(pk=case.pk)
        assert queues.priority_factors(case)[0].points == 45  # cached now
        client.force_login(admin_user)
        response = client.post(self.url("change", 1), {**SHIPPED, "dpd_points_per_day": 2})
        assert response.status_code == 302
        row = PriorityWeights.objects.get()
        assert (row.dpd_points_per_day, row.updated_by) == (2, admin_user)
        assert queues.priority_factors(case)[0].points == 90

    def test_other_roles_are_refused(self, client):
        client.force_login(UserFactory(username="sup", role="supervisor"))
        response = client.post(self.url("preview", 1), SHIPPED)
        assert response.status_code in (302, 403)
        assert PriorityWeights.objects.get().dpd_points_per_day == 1
