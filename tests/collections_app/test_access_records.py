"""Looking is recorded too: a reveal on the case page or in the admin needs a reason code and writes an
AccessRecord (who, when, how, why, which cardholder) beside the PII_REVEAL event on the timeline; access
records are append-only.

Personas: agent (team A; works the case, may reveal on it), admin_user (reveals in the admin)."""

import pytest
from django.db import IntegrityError
from django.urls import reverse

from collections_app import services
from collections_app.models import AccessRecord, CaseEvent, EventKind
from collections_app.services import queues
from core.exceptions import ValidationFailed
from tests.factories import ContactPointFactory, open_case

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("office_hours")]

NATIONAL_ID = "110101199003071234"


@pytest.fixture
def worked_case(team_a, agent):
    case = open_case(team=team_a, cardholder__national_id=NATIONAL_ID)
    ContactPointFactory(cardholder=case.account.cardholder, value="+8613812345678")
    queues.refresh_priorities()
    services.case_claim_next(actor=agent)
    return case


def reveal(client, case, **data):
    headers = {k: data.pop(k) for k in list(data) if k.startswith("HTTP_")}
    return client.post(reverse("case_reveal", args=[case.pk]), {"field": "national_id", **data}, **headers)


def nothing_recorded() -> bool:
    return (
        not AccessRecord.objects.exists() and not CaseEvent.objects.filter(kind=EventKind.PII_REVEAL).exists()
    )


def test_a_reveal_without_a_reason_is_refused_and_reveals_nothing(client, agent, worked_case):
    client.force_login(agent)

    response = reveal(client, worked_case)

    assert response.status_code == 400
    assert NATIONAL_ID not in response.content.decode()
    assert "Choose the reason" in response.content.decode()
    assert nothing_recorded()


def test_through_htmx_the_refusal_is_shown_in_place(client, agent, worked_case):
    client.force_login(agent)
    response = reveal(client, worked_case, reason="", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode() and NATIONAL_ID not in response.content.decode()
    assert nothing_recorded()


def test_a_reveal_with_a_reason_is_recorded_with_its_cardholder_and_on_the_timeline(
    client, agent, worked_case
):
    client.force_login(agent)

    response = reveal(client, worked_case, reason="customer_request", HTTP_X_REQUEST_ID="req-42")

    assert response.status_code == 200 and NATIONAL_ID in response.content.decode()
    record = AccessRecord.objects.get()
    assert (record.actor, record.kind, record.reason, record.source) == (
        agent,
        "reveal",
        "customer_request",
        "page",
    )
    assert (record.cardholder_id, record.case_id, record.what) == (
        worked_case.account.cardholder_id,
        worked_case.pk,
        "national_id",
    )
    assert record.masked is False and record.request_id == "req-42"
    event = CaseEvent.objects.get(case=worked_case, kind=EventKind.PII_REVEAL)
    assert event.details["reason"] == "customer_request"


def test_other_needs_words(client, agent, worked_case):
    client.force_login(agent)
    assert reveal(client, worked_case, reason="other").status_code == 400
    assert nothing_recorded()

    assert (
        reveal(client, worked_case, reason="other", reason_text="Fraud team asked, ticket 77").status_code
        == 200
    )
    assert AccessRecord.objects.get().reason_text == "Fraud team asked, ticket 77"


def test_an_unknown_reason_is_refused(client, agent, worked_case):
    client.force_login(agent)
    response = reveal(client, worked_case, reason="curious")
    assert response.status_code == 400 and "Unknown reason" in response.content.decode()
    assert nothing_recorded()


def test_a_refused_reveal_records_nothing_even_with_a_reason(client, team_a, worked_case):
    from tests.factories import UserFactory

    colleague = UserFactory(username="colleague", role="agent", team=team_a)  # not working the case
    client.force_login(colleague)
    assert reveal(client, worked_case, reason="working_case").status_code == 403
    assert nothing_recorded()


def test_the_case_page_asks_the_reason_beside_the_reveal_buttons(client, agent, worked_case):
    client.force_login(agent)
    html = client.get(reverse("case_detail", args=[worked_case.pk])).content.decode()
    assert 'id="reveal-reason"' in html and 'hx-include="#reveal-reason"' in html
    assert 'value="legal_proceedings"' in html


# --- The admin ---------------------------------------------------------------------------------------------


def admin_reveal_url(holder) -> str:
    return reverse("admin:collections_app_cardholder_reveal", args=[holder.pk])


def test_an_admin_reveal_without_a_reason_is_refused(client, admin_user, worked_case):
    holder = worked_case.account.cardholder
    client.force_login(admin_user)

    response = client.post(admin_reveal_url(holder), {"reveal": "national_id"}, follow=True)

    assert NATIONAL_ID not in response.content.decode()
    assert "Choose the reason" in response.content.decode()
    assert nothing_recorded()


def test_an_admin_reveal_with_a_reason_is_recorded_as_from_the_admin(client, admin_user, worked_case):
    holder = worked_case.account.cardholder
    client.force_login(admin_user)
    change = client.get(reverse("admin:collections_app_cardholder_change", args=[holder.pk])).content.decode()
    assert 'name="reason"' in change and 'data-testid="access-reason"' in change

    response = client.post(admin_reveal_url(holder), {"reveal": "national_id", "reason": "regulator_request"})

    assert NATIONAL_ID in response.content.decode()
    record = AccessRecord.objects.get()
    assert (record.actor, record.source, record.reason, record.cardholder_id) == (
        admin_user,
        "admin",
        "regulator_request",
        holder.pk,
    )
    assert CaseEvent.objects.filter(case=worked_case, kind=EventKind.PII_REVEAL).count() == 1


# --- Append-only ------------------------------------------------------------------------------------------


def test_access_records_are_never_changed_or_deleted(agent, worked_case):
    services.pii_reveal(
        case_id=worked_case.pk,
        actor=agent,
        field="national_id",
        reason=services.access_reason("working_case"),
    )
    record = AccessRecord.objects.get()
    record.reason = "complaint"
    with pytest.raises(TypeError):
        record.save()
    with pytest.raises(TypeError):
        record.delete()
    with pytest.raises(TypeError):
        AccessRecord.objects.filter(pk=record.pk).update(reason="complaint")
    with pytest.raises(TypeError):
        AccessRecord.objects.all().delete()
    assert AccessRecord.objects.get().reason == "working_case"


def test_the_database_refuses_an_unmasked_look_without_a_reason(agent, worked_case):
    with pytest.raises(IntegrityError):
        AccessRecord.objects.create(
            actor=agent, kind="reveal", source="page", cardholder=worked_case.account.cardholder
        )


def test_the_service_refuses_a_missing_reason(agent, worked_case):
    with pytest.raises(ValidationFailed) as refused:
        services.pii_reveal(case_id=worked_case.pk, actor=agent, field="national_id", reason=None)
    assert refused.value.http_status == 400 and refused.value.rule == "access_reason"
    assert nothing_recorded()


@pytest.mark.postgres
def test_the_access_records_form_one_chain_that_names_an_edited_record(client, agent, worked_case):
    from django.db import connection

    from core import chains

    client.force_login(agent)
    for _ in range(3):
        reveal(client, worked_case, field="national_id", reason="working_case")
    records = list(AccessRecord.objects.order_by("pk"))
    assert len(records) == 3
    assert all(r.row_hash and r.prev_hash for r in records)
    assert [r.prev_hash for r in records[1:]] == [r.row_hash for r in records[:-1]]  # one chain, in id order
    assert chains.verify_chain(AccessRecord).ok

    table = AccessRecord._meta.db_table
    with connection.cursor() as cursor:  # what only the table's owner could do
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_chain_refuse")
        cursor.execute(f"UPDATE {table} SET reason = 'complaint' WHERE id = %s", [records[1].pk])  # noqa: S608 - the model's own table
        cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {table}_chain_refuse")
    report = chains.verify_chain(AccessRecord)
    assert not report.ok and report.broken.row_id == records[1].pk
