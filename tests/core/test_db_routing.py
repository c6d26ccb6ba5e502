"""The read replica (core.db_routing): with DATABASE_READ_REPLICA set, the dashboards, their CSV exports
and the access report read from the "replica" alias, while writes - the export's access records - and
every other page (the case page, the agent's) stay on "default". Without it, nothing reads the replica.

The test settings' "replica" alias mirrors the test database (Django's primary/replica testing), so the
transactional tests here see on it what they wrote on "default", as a real replica would a moment later.

Personas: supervisor (team A; reads its dashboards, may reveal personal data), agent (works team A's
cases), admin_user (the access report of everyone)."""

import logging
from datetime import timedelta

import pytest
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.http import StreamingHttpResponse
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from collections_app.models import AccessRecord, Case
from core import db_routing
from core.clock import bank_today
from core.db_routing import ReplicaRouter, replica_context, replica_reads
from tests.dashboards.conftest import at, call, case_on
from tests.dashboards.test_views import client_for, csv_rows

REPLICA = "replica"
WRITES = ("INSERT", "UPDATE", "DELETE")


@pytest.fixture
def with_replica(settings):
    settings.DATABASE_READ_REPLICA = REPLICA


def statements(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"].lstrip().upper() for q in captured.captured_queries]


class Both:
    """Every statement each alias ran meanwhile."""

    def __enter__(self):
        self.default = CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]).__enter__()
        self.replica = CaptureQueriesContext(connections[REPLICA]).__enter__()
        return self

    def __exit__(self, *exc):
        self.replica.__exit__(*exc)
        self.default.__exit__(*exc)

    def on_default(self) -> list[str]:
        return statements(self.default)

    def on_replica(self) -> list[str]:
        return statements(self.replica)


# --- The router's choice ------------------------------------------------------------------------------


def test_without_a_replica_every_read_goes_to_the_primary(db):
    router = ReplicaRouter()
    with replica_context():
        assert router.db_for_read(Case) == DEFAULT_DB_ALIAS
    assert router.db_for_read(Case) == DEFAULT_DB_ALIAS


@pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA])
def test_reads_in_the_replica_context_go_to_the_replica_and_writes_to_the_primary(
    with_replica, shipped_data, team_a, agent
):
    router = ReplicaRouter()
    assert router.db_for_read(Case) == DEFAULT_DB_ALIAS, "outside the context: the primary"
    case = case_on(bank_today(), team=team_a)
    with replica_context():
        assert router.db_for_read(Case) == REPLICA
        assert router.db_for_write(Case) == DEFAULT_DB_ALIAS
        loaded = Case.objects.select_related("account__cardholder").get(pk=case.pk)
        with transaction.atomic():
            # A service recording the export: read-your-writes, and FOR UPDATE cannot run on a standby.
            assert router.db_for_read(Case) == DEFAULT_DB_ALIAS
    assert loaded._state.db == REPLICA
    with Both() as seen:
        # An object read on the replica, saved or pointed at later: on the primary.
        AccessRecord.objects.create(actor=agent, kind="export", source="page", case=loaded, masked=True)
        loaded.account.cardholder.save(update_fields=["name"])
    assert sum(s.startswith(("INSERT", "UPDATE")) for s in seen.on_default()) >= 2
    assert seen.on_replica() == []


@pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA])
def test_a_compiled_read_follows_the_routers_choice_at_each_call(with_replica, shipped_data, team_a):
    """core.compiled compiles once per key and database: a read first compiled on the primary goes to the
    replica inside the context, and back to the primary outside it."""
    from core.compiled import CompiledRead, Param

    case = case_on(bank_today(), team=team_a)
    read = CompiledRead(lambda key: Case.objects.select_related("account").filter(pk=Param("case")))
    with Both() as seen:
        assert read(None, case=case.pk)[0]._state.db == DEFAULT_DB_ALIAS
        with replica_context():
            found = read(None, case=case.pk)
        assert read(None, case=case.pk)[0].pk == case.pk
    assert found[0].pk == case.pk and found[0]._state.db == REPLICA
    assert found[0].account._state.db == REPLICA
    assert len(seen.on_replica()) == 1 and len(seen.on_default()) == 2


def test_the_replica_is_never_migrated():
    router = ReplicaRouter()
    assert router.allow_migrate(REPLICA, "collections_app") is False
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "collections_app") is None


@pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA])
def test_a_streamed_response_is_produced_in_the_replica_context(with_replica):
    router = ReplicaRouter()

    def chunks():
        # Evaluated by the server after the view returned, like an export's rows.
        for _ in range(2):
            yield router.db_for_read(Case)

    view = replica_reads(lambda request: StreamingHttpResponse(chunks()))
    response = view(RequestFactory().get("/"))
    assert router.db_for_read(Case) == DEFAULT_DB_ALIAS, "the context ends with the view"
    assert [c.decode() for c in response.streaming_content] == [REPLICA, REPLICA]
    assert router.db_for_read(Case) == DEFAULT_DB_ALIAS


@pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA])
def test_an_unreachable_replica_leaves_the_dashboards_on_the_primary_for_a_while(
    with_replica, monkeypatch, caplog
):
    monkeypatch.setattr(db_routing, "_down_until", 0.0)  # and back to "up" after the test
    router = ReplicaRouter()
    replica = connections[REPLICA]
    replica.close()
    monkeypatch.setitem(replica.settings_dict, "PORT", "1")  # nothing listens there
    with caplog.at_level(logging.WARNING, logger="core.db_routing"):
        with replica_context():
            assert router.db_for_read(Case) == DEFAULT_DB_ALIAS
        with replica_context():  # not tried again at once: no wait for a connect timeout per request
            assert router.db_for_read(Case) == DEFAULT_DB_ALIAS
    assert [r.getMessage() for r in caplog.records] == [
        "read replica unreachable (OperationalError): dashboards read the primary for 30 s"
    ]
    monkeypatch.setitem(replica.settings_dict, "PORT", connections[DEFAULT_DB_ALIAS].settings_dict["PORT"])
    db_routing._down_until = 0.0  # RETRY_AFTER_SECONDS later
    with replica_context():
        assert router.db_for_read(Case) == REPLICA


# --- The pages --------------------------------------------------------------------------------------------


@pytest.fixture
def worked(team_a, agent, supervisor):
    """A case of team A with calls over the last days."""
    today = bank_today()
    case = case_on(today - timedelta(days=3), team=team_a, cardholder__name="王小明")
    call(case, agent, at(today - timedelta(days=2)), "ptp", seconds=90)
    call(case, agent, at(today - timedelta(days=1)), "no_answer")
    return case


replica_test = pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA])


DASHBOARDS = [
    reverse("dashboards:home"),
    reverse("dashboards:kpis"),
    reverse("dashboards:drill", args=["attempts"]),
    reverse("dashboards:legal"),
    reverse("dashboards:access"),
]


@replica_test
def test_the_dashboards_and_the_access_report_read_the_replica(
    with_replica, shipped_data, worked, admin_user
):
    client = client_for(admin_user)
    for url in DASHBOARDS:
        with Both() as seen:
            response = client.get(url, {"period": "7d"})
        assert response.status_code == 200, url
        assert any(s.startswith("SELECT") for s in seen.on_replica()), url
        # The primary answers only for the session and the signed-in user, read before the view.
        default = seen.on_default()
        assert len(default) <= 2 and all("SESSION" in s or "ACCOUNTS_USER" in s for s in default), (
            url,
            default,
        )


@replica_test
def test_an_unmasked_export_reads_the_replica_and_records_the_look_on_the_primary(
    with_replica, shipped_data, worked, supervisor
):
    client = client_for(supervisor)
    with Both() as seen:
        response = client.get(
            reverse("dashboards:drill", args=["attempts"]),
            {"period": "7d", "export": "csv", "reason": "regulator_request", "reason_text": "ticket 7"},
        )
        rows = csv_rows(response)  # the rows stream after the view has returned
    assert [row[1] for row in rows[1:]] == [worked.reference, worked.reference]
    replica, default = seen.on_replica(), seen.on_default()
    assert any("CONTACTATTEMPT" in s for s in replica), "the export's rows come from the replica"
    assert not any(s.startswith(WRITES) for s in replica)
    assert not any("CONTACTATTEMPT" in s for s in default)
    # The look at the cardholder, the event on the case and the export's own record: on the primary.
    assert AccessRecord.objects.filter(case=worked, kind="export").count() == 1
    assert AccessRecord.objects.filter(case=None, kind="export", rows=2).count() == 1
    assert sum(s.startswith("INSERT") for s in default) >= 3


@replica_test
def test_the_case_page_reads_only_the_primary(with_replica, shipped_data, worked, agent):
    client = client_for(agent)
    with Both() as seen:
        response = client.get(reverse("case_detail", args=[worked.pk]))
    assert response.status_code == 200
    assert seen.on_default()
    assert seen.on_replica() == []


def test_without_a_replica_every_page_reads_the_primary(client, worked, supervisor):
    """No DATABASE_REPLICA_URL: the replica context changes nothing (this test may not even use the
    replica alias: pytest-django would fail any query sent there)."""
    client.force_login(supervisor)
    for url in DASHBOARDS:
        assert client.get(url, {"period": "7d"}).status_code == 200, url
