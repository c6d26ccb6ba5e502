"""core.compiled: reads compiled once per key and prepared on the connection - they return what the
queryset itself returns, for each call's values, and the case page's reads keep each user's scope."""

import re

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Q
from django.http import Http404
from django.test.utils import CaptureQueriesContext

from collections_app import selectors
from collections_app.models import Case, CreditAccount
from core.compiled import CompiledRead, Param
from tests.factories import AccountFactory, UserFactory, open_case

pytestmark = pytest.mark.django_db


def _cases_with_holders(key=None):
    return (
        Case.objects.select_related("account__cardholder", "queue")
        .annotate(accounts_of_holder=Count("account__cardholder__accounts"))
        .filter(account__cardholder_id=Param("holder"))
        .order_by("pk")
    )


def _fields(case):
    holder = case.account.cardholder
    return (
        case.pk,
        case.reference,
        case.account.external_ref,
        holder.name,
        holder.national_id,
        case.queue_id,
    )


def test_a_compiled_read_returns_what_the_queryset_returns_for_each_calls_values(team_a):
    first, second = open_case(team=team_a), open_case(team=team_a)
    AccountFactory(cardholder=first.account.cardholder)  # a second account: the annotation counts it
    read = CompiledRead(_cases_with_holders)
    for case in (first, second, first):
        holder = case.account.cardholder_id
        expected = list(
            Case.objects.select_related("account__cardholder", "queue")
            .annotate(accounts_of_holder=Count("account__cardholder__accounts"))
            .filter(account__cardholder_id=holder)
            .order_by("pk")
        )
        got = read(None, holder=holder)
        assert [_fields(c) for c in got] == [_fields(c) for c in expected] == [_fields(case)]
        assert [c.accounts_of_holder for c in got] == [c.accounts_of_holder for c in expected]
    # National ids are encrypted at rest: the read's converters decrypt them, as the ORM's do.
    assert read(None, holder=first.account.cardholder_id)[0].account.cardholder.national_id
    assert read(None, holder=first.account.cardholder_id)[0].accounts_of_holder == 2
    assert read(None, holder=-1) == []


def test_it_compiles_once_per_key_and_keeps_the_last_keys(team_a):
    case = open_case(team=team_a)
    built = []

    def build(prefix):
        built.append(prefix)
        return CreditAccount.objects.filter(external_ref__startswith=prefix, cardholder_id=Param("holder"))

    read = CompiledRead(build, keys=2)
    holder = case.account.cardholder_id
    ref = case.account.external_ref
    for _ in range(3):
        assert [a.pk for a in read(ref[:3], holder=holder)] == [case.account_id]
    assert read("no such prefix", holder=holder) == []
    assert built == [ref[:3], "no such prefix"]
    read("x", holder=holder)  # a third key pushes out the least recently used
    read(ref[:3], holder=holder)
    assert built == [ref[:3], "no such prefix", "x", ref[:3]]


def test_it_reads_a_values_list_as_tuples(team_a):
    case = open_case(team=team_a)
    read = CompiledRead(
        lambda key: Case.objects.filter(pk=Param("case")).values_list("reference", "account_id")
    )
    assert read(None, case=case.pk) == [(case.reference, case.account_id)]


def test_on_postgresql_the_statement_is_prepared_and_logged_with_its_values(team_a):
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    case = open_case(team=team_a)
    read = CompiledRead(lambda key: Case.objects.filter(pk=Param("case")))
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            assert [c.pk for c in read(None, case=case.pk)] == [case.pk]
    assert len(queries) == 3
    assert re.search(rf'"collections_app_case"."id" = \(?{case.pk}\)?$', queries[0]["sql"])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans + custom_plans FROM pg_prepared_statements WHERE statement LIKE %s",
            ['%FROM "collections_app_case" WHERE "collections_app_case"."id" = ($1)'],
        )
        assert cursor.fetchone() == (3,)  # prepared once, run three times


def test_a_rolled_back_savepoint_does_not_break_a_prepared_read(team_a):
    case = open_case(team=team_a)
    read = CompiledRead(lambda key: Case.objects.filter(pk=Param("case")))
    assert [c.pk for c in read(None, case=case.pk)] == [case.pk]
    with pytest.raises(IntegrityError), transaction.atomic():
        AccountFactory(external_ref=case.account.external_ref)  # a duplicate account reference
    assert [c.pk for c in read(None, case=case.pk)] == [case.pk]


def test_the_case_page_read_keeps_each_users_scope(team_a, team_b):
    mine, theirs = open_case(team=team_a), open_case(team=team_b)
    agent_a = UserFactory(username="a1", role="agent", team=team_a)
    agent_b = UserFactory(username="b1", role="agent", team=team_b)
    admin = UserFactory(username="root", role="admin")
    assert selectors.case_for_page(admin, theirs.pk).pk == theirs.pk
    assert selectors.case_for_page(agent_a, mine.pk).pk == mine.pk
    with pytest.raises(Http404):
        selectors.case_for_page(agent_a, theirs.pk)  # compiled for agent_a's scope, not the admin's
    assert selectors.case_for_page(agent_b, theirs.pk).pk == theirs.pk
    with pytest.raises(Http404):
        selectors.case_for_page(agent_b, mine.pk)
    inactive = UserFactory(username="gone", role="admin", is_active=False)
    with pytest.raises(Http404):
        selectors.case_for_page(inactive, mine.pk)


def test_a_queryset_it_cannot_read_is_refused_at_once(team_a):
    case = open_case(team=team_a)
    with pytest.raises(ValueError, match="related manager"):
        CompiledRead(lambda key: case.account.cases.filter(pk=Param("case")))(None, case=case.pk)
    with pytest.raises(ValueError, match="prefetch_related"):
        CompiledRead(lambda key: Case.objects.prefetch_related("events").filter(Q(pk=Param("case"))))(
            None, case=case.pk
        )
