"""Legal holds through the service and the page; retention policy validation; the beat schedules of the
purges (personal data weekly, API idempotency keys daily)."""

from datetime import date

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from collections_app.models import CaseEvent
from core.exceptions import ConcurrentUpdate, NotAllowed, ValidationFailed
from privacy import services
from privacy.models import LegalHold, RetentionPolicy
from privacy.purge import cardholders_due
from tests.privacy.conftest import cardholder, closed_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def old_case():
    return closed_case(holder=cardholder(), opened=date(2020, 1, 2), closed=date(2020, 3, 1))


def test_a_legal_reviewer_places_a_hold_on_a_case_and_it_shows_on_the_timeline(legal, old_case):
    hold = services.legal_hold_place(actor=legal, case=old_case, reason="Lawsuit (2026)京0105民初1234号")
    assert hold.is_active
    assert CaseEvent.objects.filter(case=old_case, details__legal_hold=hold.pk).exists()
    assert not cardholders_due(as_of=date(2030, 1, 1)).filter(pk=old_case.account.cardholder_id).exists()


def test_an_agent_cannot_place_or_release_a_hold(agent, supervisor, old_case):
    with pytest.raises(NotAllowed):
        services.legal_hold_place(actor=agent, cardholder=old_case.account.cardholder, reason="mine")
    hold = services.legal_hold_place(actor=supervisor, cardholder=old_case.account.cardholder, reason="audit")
    with pytest.raises(NotAllowed):
        services.legal_hold_release(actor=agent, hold=hold, reason="done")
    assert LegalHold.objects.get(pk=hold.pk).is_active


def test_a_hold_needs_a_reason_and_one_subject(supervisor, old_case):
    with pytest.raises(ValidationFailed):
        services.legal_hold_place(actor=supervisor, case=old_case, reason=" ")
    with pytest.raises(ValidationFailed):
        services.legal_hold_place(
            actor=supervisor, case=old_case, cardholder=old_case.account.cardholder, reason="both"
        )
    assert not LegalHold.objects.exists()


def test_a_released_hold_lets_the_purge_go_and_is_not_released_twice(supervisor, legal, old_case):
    hold = services.legal_hold_place(actor=supervisor, cardholder=old_case.account.cardholder, reason="audit")
    services.legal_hold_release(actor=legal, hold=hold, reason="audit closed")
    assert cardholders_due(as_of=date(2030, 1, 1)).filter(pk=old_case.account.cardholder_id).exists()
    with pytest.raises(ConcurrentUpdate):
        services.legal_hold_release(actor=legal, hold=hold, reason="again")


def test_the_holds_page_places_and_releases(legal, client, old_case):
    client.force_login(legal)
    assert client.get(reverse("privacy:holds")).status_code == 200
    response = client.post(
        reverse("privacy:holds"), {"case_reference": old_case.reference, "reason": "Court order"}
    )
    assert response.status_code == 302
    hold = LegalHold.objects.get(case=old_case)
    response = client.post(reverse("privacy:hold_release", args=[hold.pk]), {"reason": "judgment paid"})
    assert response.status_code == 302
    assert not LegalHold.objects.get(pk=hold.pk).is_active


def test_the_holds_page_says_when_the_reference_is_unknown(supervisor, client):
    client.force_login(supervisor)
    response = client.post(reverse("privacy:holds"), {"external_ref": "NOPE", "reason": "x"})
    assert "No cardholder has this reference." in response.content.decode()
    assert not LegalHold.objects.exists()


@pytest.mark.parametrize("persona", ["agent", "other_agent"])
def test_agents_have_no_holds_or_subject_access_page(request, client, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(reverse("privacy:holds")).status_code == 403
    assert client.get(reverse("privacy:subject_access")).status_code == 403


def test_anonymous_visitors_go_to_the_login_page(client):
    for name in ("privacy:home", "privacy:holds", "privacy:subject_access", "privacy:corrections"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and "login" in response["Location"]


def test_the_privacy_page_shows_the_retention_periods(supervisor, client):
    client.force_login(supervisor)
    page = client.get(reverse("privacy:home")).content.decode()
    assert 'data-testid="retention-policies"' in page
    assert ">CN<" in page


def test_china_refuses_less_than_two_years():
    policy = RetentionPolicy.objects.get(jurisdiction="CN")
    policy.years = 1
    with pytest.raises(ValidationError) as refused:
        policy.full_clean()
    assert "years" in refused.value.message_dict
    policy.years = 2
    policy.full_clean()


def test_a_state_layer_of_china_keeps_the_minimum():
    with pytest.raises(ValidationError):
        RetentionPolicy(jurisdiction="CN-GD", years=1, counted_from="closure").full_clean()


def test_setup_schedules_adds_the_weekly_purge_and_the_daily_idempotency_key_purge():
    call_command("setup_schedules")
    purge = PeriodicTask.objects.select_related("crontab").get(task="privacy.tasks.personal_data_purge")
    assert purge.enabled and purge.crontab.day_of_week == "0"
    keys = PeriodicTask.objects.select_related("crontab").get(task="api.tasks.idempotency_keys_purge")
    assert keys.enabled and keys.crontab.day_of_week == "*"
    call_command("setup_schedules")  # idempotent
    assert PeriodicTask.objects.filter(task="privacy.tasks.personal_data_purge").count() == 1


def test_the_task_runs_a_recorded_purge(old_case):
    from privacy.models import PurgeRun
    from privacy.tasks import personal_data_purge

    with time_machine.travel("2026-06-02 10:00 +0800", tick=False):
        run = PurgeRun.objects.get(pk=personal_data_purge.apply(kwargs={"dry_run": True}).get())
    assert run.as_of == date(2026, 6, 2)
    assert run.trigger == "schedule" and run.dry_run
    assert run.cardholders == 1  # the case closed in 2020 is past the CN 3 years in 2026


def test_the_scheduled_task_records_a_dry_run_then_purges(old_case):
    from privacy.models import PurgeRun
    from privacy.tasks import personal_data_purge

    with time_machine.travel("2026-06-02 10:00 +0800", tick=False):
        last = personal_data_purge.apply().get()
    dry, real = PurgeRun.objects.order_by("pk")
    assert real.pk == last and dry.dry_run and not real.dry_run
    assert dry.cardholders == real.cardholders == 1
    old_case.account.cardholder.refresh_from_db()
    assert old_case.account.cardholder.name.startswith("Purged ")
