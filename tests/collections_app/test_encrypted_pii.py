"""National IDs and card numbers are encrypted at rest on every path that writes them (save, the daily
import's upserts, the demo seed), read back in clear by the model, found by their keyed hashes (the
admin's POST search), shown masked everywhere (pages, admin, API) and in clear only through the reveal
service, whose reveal is on the case's timeline."""

import importlib
import re
from types import SimpleNamespace

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.urls import reverse

from collections_app.models import Cardholder, CaseEvent, CreditAccount, EventKind
from collections_app.pii import cardholders_matching_pii, pii_hash_refresh
from collections_app.services import access_reason, pii_reveal
from core import crypto
from core.masking import pii_hash
from imports.services import report_value
from tests.api.conftest import client_for
from tests.factories import AccountFactory, CardholderFactory, open_case
from tests.imports.test_imports import account_row, load_accounts
from tests.messaging.pii_logs import scan_module_logs

pytestmark = [pytest.mark.django_db]

NATIONAL_ID = "110101199003071234"
CARD = "6221 2612 3456 7897"
CARD_DIGITS = "6221261234567897"
MASKED_CARD = "**** **** **** 7897"

pii_logs = scan_module_logs((NATIONAL_ID, CARD_DIGITS))


def raw(table: str, column: str, pk: int) -> str:
    """What the database itself holds, past the model field."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM collections_app_{table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


@pytest.fixture
def case(team_a):
    return open_case(team=team_a, cardholder__national_id=NATIONAL_ID, card_number=CARD)


def test_the_columns_hold_tokens_and_the_model_reads_clear_text(case):
    account = case.account
    holder = account.cardholder
    stored_id, stored_card = (
        raw("cardholder", "national_id", holder.pk),
        raw("creditaccount", "card_number", account.pk),
    )
    for token in (stored_id, stored_card):
        assert crypto.is_token(token)
        assert "1234" not in token and "7897" not in token
    assert Cardholder.objects.get(pk=holder.pk).national_id == NATIONAL_ID
    account = CreditAccount.objects.get(pk=account.pk)
    assert account.card_number == CARD  # as written; the import stores digits only
    assert account.card_last4 == "7897" and account.card_number_hash == pii_hash(CARD_DIGITS)
    assert raw("creditaccount", "card_last4", account.pk) == "7897"


def test_a_bulk_update_and_an_update_encrypt_too(case):
    holder = case.account.cardholder
    Cardholder.objects.filter(pk=holder.pk).update(national_id="110101198001011111")
    assert crypto.is_token(raw("cardholder", "national_id", holder.pk))
    holder.refresh_from_db()
    holder.national_id = NATIONAL_ID
    Cardholder.objects.bulk_update([holder], ["national_id"])
    assert crypto.is_token(raw("cardholder", "national_id", holder.pk))
    assert Cardholder.objects.get(pk=holder.pk).national_id == NATIONAL_ID


def test_the_admin_post_search_finds_the_cardholder_by_national_id_and_card_number(client, admin_user, case):
    client.force_login(admin_user)
    holder = case.account.cardholder
    AccountFactory(cardholder__external_ref="C-OTHER", cardholder__national_id="110101198001011111")
    for typed in (NATIONAL_ID, CARD, CARD_DIGITS):
        response = client.post(reverse("admin:collections_app_cardholder_pii_search"), {"value": typed})
        assert response["Location"].endswith(f"?id__in={holder.pk}"), typed
        assert "7897" not in response["Location"]


def test_pages_and_the_admin_show_the_card_number_masked(client, admin_user, supervisor, case):
    client.force_login(admin_user)
    account_page = client.get(reverse("admin:collections_app_creditaccount_change", args=[case.account.pk]))
    holder_page = client.get(
        reverse("admin:collections_app_cardholder_change", args=[case.account.cardholder.pk])
    )
    for html in (account_page.content.decode(), holder_page.content.decode()):
        assert CARD not in html and CARD_DIGITS not in html and NATIONAL_ID not in html
    assert MASKED_CARD in account_page.content.decode()
    client.force_login(supervisor)
    html = client.get(reverse("case_detail", args=[case.pk])).content.decode()
    assert MASKED_CARD in html and CARD_DIGITS not in html and CARD not in html
    assert '"field": "card_number"' in html


WORKING = access_reason("working_case")


def test_the_card_number_is_revealed_through_the_reveal_service_and_logged(supervisor, case):
    assert pii_reveal(case_id=case.pk, actor=supervisor, field="card_number", reason=WORKING) == CARD
    event = CaseEvent.objects.get(case=case, kind=EventKind.PII_REVEAL)
    assert event.actor == supervisor and event.details["field"] == "card_number"
    assert CARD_DIGITS not in str(event.details)


def test_the_case_page_reveals_the_card_number(client, supervisor, case):
    client.force_login(supervisor)
    response = client.post(
        reverse("case_reveal", args=[case.pk]), {"field": "card_number", "reason": "working_case"}
    )
    assert response.json()["value"] == CARD
    assert CaseEvent.objects.filter(case=case, kind=EventKind.PII_REVEAL).count() == 1


def test_the_api_returns_masked_values_unless_revealed(supervisor, case):
    api = client_for(supervisor)
    body = api.get(f"/api/v1/cases/{case.pk}/").json()
    assert body["account"]["card_number"] == MASKED_CARD
    assert body["cardholder"]["national_id"] == "110***********1234"
    listed = api.get("/api/v1/accounts/").json()
    text = str(listed)
    assert MASKED_CARD in text and CARD_DIGITS not in text and CARD not in text
    assert not CaseEvent.objects.filter(kind=EventKind.PII_REVEAL).exists()

    revealed = api.get(f"/api/v1/cases/{case.pk}/?reveal=card_number,national_id&reason=working_case").json()
    assert revealed["account"]["card_number"] == CARD
    assert revealed["cardholder"]["national_id"] == NATIONAL_ID
    fields = sorted(e.details["field"] for e in CaseEvent.objects.filter(kind=EventKind.PII_REVEAL))
    assert fields == ["card_number", "national_id"]

    action = api.post(
        f"/api/v1/cases/{case.pk}/reveal/", {"field": "card_number", "reason": "working_case"}, format="json"
    )
    assert action.status_code == 200 and action.json()["value"] == CARD


def test_the_import_stores_national_ids_and_card_numbers_encrypted(tmp_path):
    report = load_accounts(
        tmp_path,
        [
            account_row("A1", national_id="999999198503120017", card_number="6221 2612 3456 7897"),
            account_row("A2", cardholder="C2", national_id="999999198701010035", card_number=""),
        ],
    )
    assert report.ok and report.created == 2
    one = CreditAccount.objects.select_related("cardholder").get(external_ref="A1")
    assert crypto.is_token(raw("cardholder", "national_id", one.cardholder.pk))
    assert crypto.is_token(raw("creditaccount", "card_number", one.pk))
    assert "7897" not in raw("creditaccount", "card_number", one.pk)
    assert (one.card_number, one.card_last4) == (CARD_DIGITS, "7897")
    assert one.cardholder.national_id == "999999198503120017"
    assert list(cardholders_matching_pii(CARD_DIGITS)) == [one.cardholder]
    assert list(cardholders_matching_pii("999999198503120017")) == [one.cardholder]
    assert raw("creditaccount", "card_number", CreditAccount.objects.get(external_ref="A2").pk) == ""

    # A replay changes nothing (the stored values are decrypted to be compared); a new number updates.
    replay = load_accounts(
        tmp_path,
        [
            account_row("A1", national_id="999999198503120017", card_number="6221261234567897"),
            account_row("A2", cardholder="C2", national_id="999999198701010035", card_number=""),
        ],
    )
    assert (replay.updated, replay.unchanged) == (0, 2)
    load_accounts(tmp_path, [account_row("A1", card_number="4000000000000002")])
    one.refresh_from_db()
    assert (one.card_number, one.card_last4) == ("4000000000000002", "0002")
    assert list(cardholders_matching_pii("4000000000000002")) == [one.cardholder]
    assert not cardholders_matching_pii(CARD_DIGITS).exists()


def test_a_card_number_with_a_wrong_check_digit_is_refused_and_masked_in_the_report(tmp_path):
    report = load_accounts(tmp_path, [account_row("A1", card_number="6221261234567898")])
    assert report.rejected == 1
    (problem,) = report.problems
    assert problem.column == "card_number" and "check digit" in problem.reason
    in_the_report = report_value(problem.column, problem.value)
    assert "6221261234567898" not in in_the_report and in_the_report.endswith("7898")


def test_the_hash_refresh_works_on_the_encrypted_values(settings, case):
    account = case.account
    settings.PII_HASH_KEY = "another key"
    assert not cardholders_matching_pii(CARD_DIGITS).exists()
    assert pii_hash_refresh() == {"cardholders": 1, "contact_points": 0, "accounts": 1}
    assert list(cardholders_matching_pii(CARD_DIGITS)) == [account.cardholder]
    assert list(cardholders_matching_pii(NATIONAL_ID)) == [account.cardholder]
    assert re.fullmatch(r"[0-9a-f]{64}", CreditAccount.objects.get(pk=account.pk).card_number_hash)


def test_the_migration_encrypts_the_clear_national_ids_in_batches_and_only_those(monkeypatch):
    """The data step of 0007_encrypted_pii, on rows as they were before it (clear text in the column)."""
    migration = importlib.import_module("collections_app.migrations.0007_encrypted_pii")
    monkeypatch.setattr(migration, "BATCH", 2)  # several batches with a handful of rows
    holders = [CardholderFactory(national_id=f"11010119900307{n:04d}") for n in range(5)]
    blank = CardholderFactory(national_id="")
    with connection.cursor() as cursor:
        for holder in holders[:4]:  # the fifth stays as save() wrote it: already a token
            cursor.execute(
                "UPDATE collections_app_cardholder SET national_id = %s WHERE id = %s",
                [f"11010119900307{holders.index(holder):04d}", holder.pk],
            )
    untouched = raw("cardholder", "national_id", holders[4].pk)
    editor = SimpleNamespace(connection=connection)

    migration.encrypt_national_ids(django_apps, editor)

    for n, holder in enumerate(holders):
        assert crypto.is_token(raw("cardholder", "national_id", holder.pk))
        assert Cardholder.objects.get(pk=holder.pk).national_id == f"11010119900307{n:04d}"
    assert raw("cardholder", "national_id", holders[4].pk) == untouched  # not encrypted twice
    assert raw("cardholder", "national_id", blank.pk) == ""

    migration.decrypt_national_ids(django_apps, editor)  # the reverse
    assert raw("cardholder", "national_id", holders[0].pk) == "110101199003070000"
