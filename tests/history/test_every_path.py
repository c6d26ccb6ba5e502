"""Every path that changes a tracked row leaves an event with the old and new values, who did it and from
where: a page, the API, the admin, a Celery task, a management command, and a statement nobody's code
sent (raw SQL). What the history leaves out - a password hash, the columns the nightly jobs recompute -
writes nothing."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.forms.models import model_to_dict
from django.urls import reverse
from django.utils import timezone

from automation import pipeline as nightly
from automation.tasks import nightly_step
from collections_app.models import Cardholder, Case, PromiseStatus, PromiseToPay
from collections_app.services import queues
from history import models as events
from history.context import command_context, job_context
from history.middleware import REQUEST_ID_HEADER
from repayment_plans.models import ApprovalLimit
from tests.factories import AccountFactory, CardholderFactory, UserFactory, open_case
from tests.history.conftest import api_client_for, context_of, last_event

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_a_change_through_the_page_is_recorded_with_its_actor_source_and_request_id(
    client, agent, worked_case
):
    client.force_login(agent)

    response = client.post(
        reverse("case_schedule_callback", args=[worked_case.pk]), {"at": "2026-06-03T15:00"}
    )

    assert response.status_code == 302
    event = last_event(events.CaseChange, worked_case)
    old, new = event.pgh_diff["next_action_at"]
    assert old is None and new.startswith("2026-06-03T07:00:00")
    meta = context_of(event)
    assert (meta["user"], meta["source"]) == (agent.pk, "page")
    assert meta["request_id"] == response[REQUEST_ID_HEADER]


def test_a_change_through_the_api_is_recorded_as_the_api(agent, worked_case):
    response = api_client_for(agent).post(
        f"/api/v1/cases/{worked_case.pk}/callback/",
        {"at": "2026-06-03T15:00"},
        HTTP_X_REQUEST_ID="gateway-req-0001",
    )

    assert response.status_code == 200, response.json()
    event = last_event(events.CaseChange, worked_case)
    assert event.pgh_diff["next_action_at"][0] is None
    meta = context_of(event)
    assert (meta["user"], meta["source"], meta["request_id"]) == (agent.pk, "api", "gateway-req-0001")
    assert response[REQUEST_ID_HEADER] == "gateway-req-0001"


def test_a_change_through_the_admin_is_recorded_as_the_admin(client, admin_user):
    limit = ApprovalLimit.objects.get(role="agent")
    before = limit.max_installments
    data = {k: ("" if v is None else v) for k, v in model_to_dict(limit).items() if k != "id"}
    data["active"] = "on" if limit.active else ""
    data["max_installments"] = (before or 6) + 1
    client.force_login(admin_user)

    response = client.post(reverse("admin:repayment_plans_approvallimit_change", args=[limit.pk]), data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    event = last_event(events.ApprovalLimitChange, limit)
    assert event.pgh_diff == {"max_installments": [before, (before or 6) + 1]}
    assert context_of(event)["user"] == admin_user.pk
    assert context_of(event)["source"] == "admin"


def test_a_celery_task_is_recorded_as_a_job_with_its_name(agent):
    case = open_case()
    promise = PromiseToPay.objects.create(
        case=case, amount=Decimal("100.00"), due_date=date(2026, 5, 1), created_by=agent
    )
    with nightly.working():
        run = nightly.run_begin(as_of=date(2026, 6, 2), trigger="test")

    result = nightly_step.apply(args=[run.pk, "promises_and_plans"])

    assert result.get() == "succeeded"
    event = last_event(events.PromiseChange, promise)
    assert event.pgh_diff["status"] == [PromiseStatus.PENDING, PromiseStatus.BROKEN]
    meta = context_of(event)
    assert (meta["source"], meta["task"], meta["user"]) == ("job", "automation.tasks.nightly_step", None)
    assert meta["request_id"] == result.id


def test_a_job_context_records_a_task_function_called_directly():
    holder = CardholderFactory()

    with job_context("imports.accounts"):
        Cardholder.objects.filter(pk=holder.pk).update(do_not_contact=True)

    event = last_event(events.CardholderChange, holder)
    assert event.pgh_diff == {"do_not_contact": [False, True]}
    assert context_of(event)["source"] == "job" and context_of(event)["task"] == "imports.accounts"


def test_a_command_or_the_shell_is_recorded_as_the_shell():
    holder = CardholderFactory()

    with command_context("shell"):
        holder.language = "en"
        holder.save()

    event = last_event(events.CardholderChange, holder)
    assert event.pgh_diff == {"language": ["zh-hans", "en"]}
    assert context_of(event)["source"] == "shell" and context_of(event)["command"] == "shell"


def test_a_raw_sql_update_escapes_no_record():
    holder = CardholderFactory(address="北京市朝阳区建国路1号")

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE collections_app_cardholder SET address = %s, bankruptcy = true WHERE id = %s",
            ["上海市浦东新区世纪大道2号", holder.pk],
        )

    event = last_event(events.CardholderChange, holder)
    assert event.pgh_diff == {
        "address": ["北京市朝阳区建国路1号", "上海市浦东新区世纪大道2号"],
        "bankruptcy": [False, True],
    }
    assert event.pgh_context_id is None  # no application context: nobody's code sent it


def test_creation_and_deletion_are_recorded_with_the_row():
    holder = CardholderFactory()
    point = holder.contact_points.create(kind="phone", value="+8613912345678", party_role="debtor")
    point_id = point.pk

    point.delete()

    labels = list(
        events.ContactPointChange.objects.filter(pgh_obj_id=point_id)
        .order_by("pgh_id")
        .values_list("pgh_label", "value")
    )
    assert labels == [("insert", "+8613912345678"), ("delete", "+8613912345678")]


def test_a_password_change_stores_no_hash_and_writes_nothing():
    user = UserFactory(username="li.na")
    before = events.UserChange.objects.filter(pgh_obj_id=user.pk).count()

    user.set_password("a new secret phrase 42")
    user.last_login = timezone.now()
    user.save()

    assert events.UserChange.objects.filter(pgh_obj_id=user.pk).count() == before
    columns = {f.column for f in events.UserChange._meta.concrete_fields}
    assert "password" not in columns and "last_login" not in columns
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM history_userchange WHERE row_to_json(history_userchange)::text LIKE %s",
            ["%pbkdf2%"],
        )
        assert cursor.fetchone()[0] == 0
        cursor.execute(
            "SELECT count(*) FROM history_userchange WHERE row_to_json(history_userchange)::text LIKE %s",
            ["%md5$%"],
        )
        assert cursor.fetchone()[0] == 0


def test_a_role_change_of_a_user_is_recorded_without_the_hash():
    user = UserFactory(username="zhao.lei", role="agent")

    user.role = "supervisor"
    user.set_password("another secret 7")
    user.save()

    event = last_event(events.UserChange, user)
    assert event.pgh_diff == {"role": ["agent", "supervisor"]}


def test_the_nightly_recompute_of_derived_columns_writes_no_event(team_a):
    cases = [open_case(team=team_a) for _ in range(3)]
    AccountFactory(first_missed_due_date=date(2026, 1, 1), days_past_due=0)
    case_events = events.CaseChange.objects.count()
    account_events = events.CreditAccountChange.objects.count()

    assert queues.refresh_priorities() > 0
    Case.objects.filter(pk__in=[c.pk for c in cases]).update(
        contactable_from=timezone.now() + timedelta(hours=3),
        contactable_until=timezone.now() + timedelta(hours=9),
        contact_block_rule="quiet_hours",
        contact_zones="Asia/Shanghai",
        version=99,
    )
    updated = nightly.refresh_delinquency(
        nightly.StepContext(run=None, as_of=date(2026, 6, 2), now=timezone.now())
    )

    assert updated["accounts_updated"] > 0
    assert events.CaseChange.objects.count() == case_events
    assert events.CreditAccountChange.objects.count() == account_events


def test_an_update_of_a_tracked_and_a_derived_column_records_only_the_tracked_one(team_a):
    case = open_case(team=team_a)

    Case.objects.filter(pk=case.pk).update(priority=500, broken_promise_count=2)

    event = last_event(events.CaseChange, case)
    assert event.pgh_diff == {"broken_promise_count": [0, 2]}
    assert not hasattr(event, "priority")


def test_an_executemany_in_a_command_is_recorded_with_its_context():
    holders = CardholderFactory.create_batch(2)

    with command_context("import_accounts"), transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(
            "UPDATE collections_app_cardholder SET language = %s WHERE id = %s",
            [("en", holders[0].pk), ("en", holders[1].pk)],
        )

    for holder in holders:
        event = last_event(events.CardholderChange, holder)
        assert event.pgh_diff == {"language": ["zh-hans", "en"]}
        assert context_of(event)["source"] == "job" and context_of(event)["command"] == "import_accounts"
