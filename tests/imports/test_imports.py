"""The daily files: accounts (with cardholders) and payments, through the service and the commands."""

import csv
import io
import tempfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from collections_app import services
from collections_app.models import (
    Bucket,
    Cardholder,
    Case,
    CaseEvent,
    CaseState,
    ContactPoint,
    CreditAccount,
    EventKind,
    Payment,
    ResolutionReason,
)
from imports.services import ImportFileError, RowProblem, import_accounts, import_payments, report_value

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
AS_OF = date(2026, 11, 27)
SHANGHAI = ZoneInfo("Asia/Shanghai")

ACCOUNT_HEADER = [
    "account_ref",
    "cardholder_ref",
    "name",
    "national_id",
    "phone",
    "phone2",
    "email",
    "product",
    "currency",
    "credit_limit",
    "principal",
    "interest",
    "fees",
    "penalties",
    "overdue_amount",
    "minimum_due",
    "first_missed_due_date",
]
PAYMENT_HEADER = ["payment_ref", "account_ref", "amount", "currency", "paid_at", "source"]


@pytest.fixture(autouse=True)
def _the_day_after_the_file():
    # The payments of the samples are dated 2026-11-27; a payment in the future is refused.
    with time_machine.travel(datetime(2026, 11, 28, 9, 0, tzinfo=SHANGHAI), tick=False):
        yield


def account_row(ref="A1", cardholder="C1", **overrides) -> dict:
    """A delinquent CNY credit card, 12 days past due on AS_OF."""
    row = {
        "account_ref": ref,
        "cardholder_ref": cardholder,
        "name": "张伟",
        "national_id": "999999198503120017",
        "phone": "+86 138 0013 8001",
        "phone2": "",
        "email": "zhang.wei@example.com",
        "product": "credit_card",
        "currency": "CNY",
        "credit_limit": "50000.00",
        "principal": "18000.00",
        "interest": "400.00",
        "fees": "50.00",
        "penalties": "120.00",
        "overdue_amount": "3200.00",
        "minimum_due": "3200.00",
        "first_missed_due_date": "2026-11-15",
    }
    row.update(overrides)
    return row


def write_csv(path: Path, rows: list[dict], header: list[str] | None = None, encoding="utf-8") -> Path:
    header = header or list(rows[0])
    with open(path, "w", newline="", encoding=encoding) as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for row in rows:
            writer.writerow([row.get(name, "") for name in header])
    return path


def load_accounts(tmp_path, rows, **kwargs):
    return import_accounts(write_csv(tmp_path / "accounts.csv", rows), as_of=AS_OF, **kwargs)


def problems_of(report) -> list[tuple[int, str, str]]:
    return [(p.line, p.column, p.reason) for p in report.problems]


def database_snapshot() -> dict:
    """Every row of every table of the project's apps, with every column (updated_at included)."""
    snapshot = {}
    for model in apps.get_models():
        if model._meta.app_label in {
            "accounts",
            "contact_policy",
            "collections_app",
            "repayment_plans",
            "legal",
            "escalation",
            "messaging",
        }:
            snapshot[model._meta.label] = list(model.objects.order_by("pk").values())
    return snapshot


# --- The sample files ---------------------------------------------------------------------------


def test_sample_accounts_file_loaded_twice_leaves_the_database_as_after_once():
    first = import_accounts(SAMPLES / "accounts.csv", as_of=AS_OF)
    assert (first.rows_read, first.created, first.rejected) == (30, 30, 0)
    after_once = database_snapshot()

    second = import_accounts(SAMPLES / "accounts.csv", as_of=AS_OF)

    assert (second.rows_read, second.created, second.updated, second.unchanged) == (30, 0, 0, 30)
    assert not second.counts
    assert database_snapshot() == after_once


def test_sample_accounts_file_builds_the_portfolio():
    report = import_accounts(SAMPLES / "accounts.csv", as_of=AS_OF)

    assert Cardholder.objects.count() == report.counts["cardholders_created"] == 26
    assert CreditAccount.objects.count() == 30
    assert set(CreditAccount.objects.values_list("currency", flat=True)) == {"CNY", "USD"}
    assert set(CreditAccount.objects.values_list("bucket", flat=True)) == set(Bucket.values)
    delinquent = CreditAccount.objects.filter(overdue_amount__gt=0)
    assert (
        Case.objects.filter(state=CaseState.NEW).count()
        == delinquent.count()
        == report.counts["cases_opened"]
    )
    assert not Case.objects.filter(account__overdue_amount=0).exists()
    zhang = Cardholder.objects.get(external_ref="CH-100001")
    assert zhang.name == "张伟"
    assert zhang.accounts.count() == 2
    assert sorted(zhang.contact_points.values_list("kind", "value", "is_primary", "party_role")) == [
        ("email", "zhang.wei@example.com", False, "debtor"),
        ("phone", "+861065520101", False, "debtor"),
        ("phone", "+8613800138001", True, "debtor"),
    ]
    miller = Cardholder.objects.get(external_ref="CH-200001")
    assert (miller.jurisdiction, miller.time_zone, miller.language) == ("US-NY", "America/New_York", "en")
    assert Cardholder.objects.get(external_ref="CH-200005").cease_communication is True


def test_sample_payments_file_replayed_records_each_payment_once():
    import_accounts(SAMPLES / "accounts.csv", as_of=AS_OF)

    first = import_payments(SAMPLES / "payments.csv")
    after_once = database_snapshot()
    second = import_payments(SAMPLES / "payments.csv")

    assert (first.rows_read, first.created, first.rejected) == (10, 10, 0)
    assert (second.created, second.unchanged, second.rejected) == (0, 10, 0)
    assert database_snapshot() == after_once
    cured = CreditAccount.objects.get(external_ref="ACC-0001")
    assert (cured.overdue_amount, cured.bucket) == (Decimal("0.00"), Bucket.CURRENT)
    assert cured.cases.get().resolution_reason == ResolutionReason.CURED


# --- Upserting accounts and cardholders ---------------------------------------------------------


def test_rows_are_counted_as_created_updated_or_unchanged(tmp_path):
    load_accounts(tmp_path, [account_row("A1"), account_row("A2", "C2", name="王芳")])

    report = load_accounts(
        tmp_path,
        [account_row("A1", principal="17000.00"), account_row("A2", "C2", name="王芳"), account_row("A3")],
    )

    assert (report.rows_read, report.created, report.updated, report.unchanged) == (3, 1, 1, 1)
    assert CreditAccount.objects.get(external_ref="A1").principal == Decimal("17000.00")
    assert CreditAccount.objects.get(external_ref="A1").balance == Decimal("17570.00")


def test_days_past_due_and_bucket_are_computed_for_the_file_date(tmp_path):
    load_accounts(
        tmp_path,
        [
            account_row("A1", first_missed_due_date="2026-11-26"),
            account_row("A2", first_missed_due_date="2026-08-29"),
            account_row("A3", first_missed_due_date="2026-05-01"),
            account_row("A4", overdue_amount="0.00", first_missed_due_date=""),
        ],
    )

    stored = {a.external_ref: (a.days_past_due, a.bucket, a.dpd_as_of) for a in CreditAccount.objects.all()}
    assert stored == {
        "A1": (1, Bucket.M1, AS_OF),
        "A2": (90, Bucket.M3, AS_OF),
        "A3": (210, Bucket.M6_PLUS, AS_OF),
        "A4": (0, Bucket.CURRENT, AS_OF),
    }


def test_the_same_file_a_day_later_only_moves_days_past_due(tmp_path):
    path = write_csv(tmp_path / "accounts.csv", [account_row("A1")])
    import_accounts(path, as_of=AS_OF)

    report = import_accounts(path, as_of=date(2026, 11, 28))

    assert (report.updated, report.counts["cases_opened"]) == (1, 0)
    account = CreditAccount.objects.get()
    assert (account.days_past_due, account.dpd_as_of) == (13, date(2026, 11, 28))
    assert Case.objects.count() == 1


def test_a_cardholder_with_several_accounts_is_created_once(tmp_path):
    report = load_accounts(tmp_path, [account_row("A1"), account_row("A2"), account_row("A3")])

    assert report.counts["cardholders_created"] == 1
    assert Cardholder.objects.get().accounts.count() == 3
    assert ContactPoint.objects.count() == 2


def test_cardholder_details_that_disagree_between_rows_reject_the_later_row(tmp_path):
    report = load_accounts(tmp_path, [account_row("A1"), account_row("A2", phone="+86 139 0000 0000")])

    assert problems_of(report) == [
        (
            3,
            "cardholder_ref",
            "has other cardholder details than on line 2; "
            "a cardholder's details must be the same on each of its rows",
        )
    ]
    assert list(CreditAccount.objects.values_list("external_ref", flat=True)) == ["A1"]


def test_an_account_moving_to_another_cardholder_follows_the_file(tmp_path):
    load_accounts(tmp_path, [account_row("A1", "C1")])

    report = load_accounts(tmp_path, [account_row("A1", "C2", name="王芳", phone="+86 139 0021 3302")])

    assert report.updated == 1
    assert CreditAccount.objects.get().cardholder.external_ref == "C2"


def test_flags_in_the_file_raise_flags_but_never_clear_them(tmp_path):
    rows = [account_row("A1", do_not_contact="0", cease_communication="0", vulnerable="1")]
    header = [*ACCOUNT_HEADER, "do_not_contact", "cease_communication", "vulnerable"]
    path = write_csv(tmp_path / "accounts.csv", rows, header)
    import_accounts(path, as_of=AS_OF)
    # An agent records a cease-communication request; the core system does not know of it yet.
    Cardholder.objects.update(cease_communication=True)

    report = import_accounts(path, as_of=AS_OF)

    holder = Cardholder.objects.get()
    assert (holder.cease_communication, holder.vulnerable, holder.do_not_contact) == (True, True, False)
    assert report.unchanged == 1

    write_csv(path, [{**rows[0], "do_not_contact": "yes"}], header)
    report = import_accounts(path, as_of=AS_OF)
    assert Cardholder.objects.get().do_not_contact is True
    assert (report.updated, report.counts["cardholders_updated"]) == (1, 1)


def test_columns_absent_from_the_file_leave_stored_values_alone(tmp_path):
    load_accounts(tmp_path, [account_row("A1", address="北京市朝阳区建国路88号", time_zone="Asia/Shanghai")])
    narrow = [
        "account_ref",
        "cardholder_ref",
        "name",
        "currency",
        "principal",
        "overdue_amount",
        "first_missed_due_date",
    ]
    report = import_accounts(
        write_csv(tmp_path / "narrow.csv", [account_row("A1", principal="17000.00")], narrow), as_of=AS_OF
    )

    assert report.updated == 1
    account = CreditAccount.objects.get()
    holder = account.cardholder
    assert (account.principal, account.interest) == (Decimal("17000.00"), Decimal("400.00"))
    assert (holder.address, holder.time_zone, holder.national_id) == (
        "北京市朝阳区建国路88号",
        "Asia/Shanghai",
        "999999198503120017",
    )


def test_phone_numbers_become_debtor_contact_points_once(tmp_path):
    load_accounts(tmp_path, [account_row("A1", phone="+86 138-0013-8001", phone2="0086 10 6552 0101")])
    holder = Cardholder.objects.get()
    # A number an agent adds stays: the file adds numbers, it never removes one.
    ContactPoint.objects.create(cardholder=holder, kind="phone", value="+8613911112222", label="work")

    report = load_accounts(tmp_path, [account_row("A1", phone="+8613800138001", phone2="+86 177 0000 1111")])

    assert report.counts["contact_points_added"] == 1
    assert sorted(holder.contact_points.filter(kind="phone").values_list("value", "is_primary")) == [
        ("+861065520101", False),
        ("+8613800138001", True),
        ("+8613911112222", False),
        ("+8617700001111", False),
    ]


# --- Cases --------------------------------------------------------------------------------------


def test_a_newly_delinquent_account_gets_a_case_and_a_current_one_does_not(tmp_path):
    current = {"overdue_amount": "0.00", "first_missed_due_date": ""}
    load_accounts(tmp_path, [account_row("A1", **current), account_row("A2", **current)])
    assert not Case.objects.exists()

    report = load_accounts(tmp_path, [account_row("A1"), account_row("A2", **current)])

    case = Case.objects.get()
    assert (case.account.external_ref, case.state, report.counts["cases_opened"]) == ("A1", CaseState.NEW, 1)
    assert [e.kind for e in case.events.all()] == [EventKind.OPENED]


def test_an_account_the_file_shows_cured_has_its_open_case_resolved(tmp_path):
    load_accounts(tmp_path, [account_row("A1")])
    case = Case.objects.get()

    report = load_accounts(tmp_path, [account_row("A1", overdue_amount="0.00", first_missed_due_date="")])

    case.refresh_from_db()
    assert (case.state, case.resolution_reason) == (CaseState.RESOLVED, ResolutionReason.CURED)
    event = case.events.get(kind=EventKind.RESOLVED)
    assert (event.actor, event.reason) == (None, "Cured in the daily file of 2026-11-27")
    assert report.counts["cases_resolved"] == 1
    assert (
        load_accounts(tmp_path, [account_row("A1", overdue_amount="0.00", first_missed_due_date="")]).counts[
            "cases_resolved"
        ]
        == 0
    )


def test_cured_cases_are_resolved_set_based_whatever_their_number(tmp_path):
    def queries_to_cure(count: int) -> int:
        refs = [f"N{count}-{i}" for i in range(count)]
        load_accounts(tmp_path, [account_row(ref, cardholder=ref) for ref in refs])
        cured = [
            account_row(ref, cardholder=ref, overdue_amount="0.00", first_missed_due_date="") for ref in refs
        ]
        with CaptureQueriesContext(connection) as queries:
            report = load_accounts(tmp_path, cured)
        assert report.counts["cases_resolved"] == count
        assert set(Case.objects.filter(account__external_ref__in=refs).values_list("state", flat=True)) == {
            CaseState.RESOLVED
        }
        return len(queries)

    assert queries_to_cure(2) == queries_to_cure(7)


def test_an_account_the_file_shows_paid_off_is_resolved_as_paid_in_full(tmp_path):
    load_accounts(tmp_path, [account_row("A1")])
    zero = "0.00"
    paid = account_row(
        "A1",
        principal=zero,
        interest=zero,
        fees=zero,
        penalties=zero,
        overdue_amount=zero,
        first_missed_due_date="",
    )

    load_accounts(tmp_path, [paid])

    assert Case.objects.get().resolution_reason == ResolutionReason.PAID_IN_FULL


def test_an_account_delinquent_again_after_a_cure_gets_a_new_case(tmp_path):
    load_accounts(tmp_path, [account_row("A1", first_missed_due_date="2026-10-15")])
    load_accounts(tmp_path, [account_row("A1", overdue_amount="0.00", first_missed_due_date="")])

    load_accounts(tmp_path, [account_row("A1", first_missed_due_date="2026-11-25")])

    assert list(Case.objects.order_by("pk").values_list("state", flat=True)) == [
        CaseState.RESOLVED,
        CaseState.NEW,
    ]


def test_a_file_older_than_a_payment_does_not_undo_the_payment(tmp_path):
    load_accounts(tmp_path, [account_row("A1"), account_row("A2")])
    account = CreditAccount.objects.get(external_ref="A1")
    services.payment_record(
        account=account,
        external_ref="P1",
        amount=Decimal("3200.00"),
        paid_at=datetime(2026, 11, 27, 10, 0, tzinfo=SHANGHAI),
    )

    report = load_accounts(tmp_path, [account_row("A1"), account_row("A2")])

    assert problems_of(report) == [
        (
            2,
            "account_ref",
            "the account has a payment of 2026-11-27 that this file (as of 2026-11-27) does not reflect; "
            "its figures were left as they are",
        )
    ]
    assert (report.unchanged, report.rejected) == (1, 1)
    account.refresh_from_db()
    assert account.overdue_amount == Decimal("0.00")
    assert Case.objects.filter(account=account).values_list("state", flat=True).get() == CaseState.RESOLVED


# --- Bad rows -----------------------------------------------------------------------------------


def test_a_file_with_bad_rows_applies_the_good_rows_and_reports_every_bad_one(tmp_path):
    rows = [
        account_row("A1"),
        account_row("A2", principal="-5.00"),
        account_row("A3", overdue_amount="abc", first_missed_due_date="2026-02-30"),
        account_row("A4", cardholder="C4"),
        account_row("A1"),
    ]

    report = load_accounts(tmp_path, rows)

    assert (report.rows_read, report.created, report.rejected) == (5, 2, 3)
    assert problems_of(report) == [
        (3, "principal", "must not be negative"),
        (
            4,
            "overdue_amount",
            "is not an amount (write it like 1234.56: digits, a point, no thousands separator)",
        ),
        (4, "first_missed_due_date", "is not a real date"),
        (6, "account_ref", "appears again: first on line 2"),
    ]
    assert report.problems[1] == RowProblem(4, "overdue_amount", "abc", report.problems[1].reason)
    assert sorted(CreditAccount.objects.values_list("external_ref", flat=True)) == ["A1", "A4"]


def test_a_reference_repeating_a_refused_row_is_refused_too_with_both_problems_on_their_lines(tmp_path):
    # The checks across rows run in SQL over the staged file: a row refused for its cells still
    # claims its reference, and a row both bad and repeated carries both problems but counts once.
    rows = [
        account_row("A1", principal="-5.00"),
        account_row("A1"),
        account_row("A1", fees="x"),
    ]

    report = load_accounts(tmp_path, rows)

    assert (report.rows_read, report.created, report.rejected) == (3, 0, 3)
    assert problems_of(report) == [
        (2, "principal", "must not be negative"),
        (3, "account_ref", "appears again: first on line 2"),
        (4, "fees", "is not an amount (write it like 1234.56: digits, a point, no thousands separator)"),
        (4, "account_ref", "appears again: first on line 2"),
    ]
    assert not CreditAccount.objects.exists()


def test_the_sample_bad_file_applies_its_two_good_rows_and_reports_the_five_bad_ones():
    report = import_accounts(SAMPLES / "accounts_bad.csv", as_of=AS_OF)

    assert (report.rows_read, report.created, report.rejected) == (7, 2, 5)
    assert [(p.line, p.column) for p in report.problems] == [
        (3, "principal"),
        (4, "overdue_amount"),
        (5, "first_missed_due_date"),
        (6, "account_ref"),
        (7, "name"),
        (7, "phone"),
        (7, "first_missed_due_date"),
    ]
    assert sorted(CreditAccount.objects.values_list("external_ref", flat=True)) == ["ACC-9001", "ACC-9006"]


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("principal", "-5.00", "must not be negative"),
        ("principal", "1,000.00", "is not an amount"),
        ("fees", "12.345", "has more than 2 decimal places"),
        ("credit_limit", "NaN", "is not an amount"),
        ("principal", "1e3", "is not a plain amount"),
        ("principal", "", "is required"),
        ("name", "", "is required"),
        ("first_missed_due_date", "2026-02-30", "is not a real date"),
        ("first_missed_due_date", "27/11/2026", "is not a date in the form YYYY-MM-DD"),
        ("first_missed_due_date", "2026-11-27", "is not before the file date 2026-11-27"),
        ("first_missed_due_date", "", "is required when overdue_amount is above zero"),
        ("phone", "138 0013", "is not an international phone number"),
        ("email", "zhang.wei@", "is not an e-mail address"),
        ("currency", "RMB¥", "is not a three-letter currency code"),
        ("product", "mortgage", "is not a product"),
        ("overdue_amount", "20000.00", "is above the balance"),
        ("account_ref", "A" * 65, "is longer than 64 characters"),
    ],
)
def test_a_bad_cell_rejects_its_row_naming_line_column_and_reason(tmp_path, column, value, reason):
    report = load_accounts(tmp_path, [account_row("A0"), account_row("A1", **{column: value})])

    assert report.rejected == 1
    [problem] = report.problems
    assert (problem.line, problem.column, problem.value) == (3, column, value)
    assert problem.reason.startswith(reason)
    assert list(CreditAccount.objects.values_list("external_ref", flat=True)) == ["A0"]


def test_a_current_account_must_not_carry_a_missed_due_date(tmp_path):
    report = load_accounts(tmp_path, [account_row("A1", overdue_amount="0.00")])

    assert problems_of(report) == [
        (2, "first_missed_due_date", "must be empty when overdue_amount is 0.00 (the account is current)")
    ]


def test_an_account_never_changes_currency(tmp_path):
    load_accounts(tmp_path, [account_row("A1")])

    report = load_accounts(tmp_path, [account_row("A1", currency="USD")])

    assert problems_of(report) == [
        (2, "currency", "differs from the account's currency CNY; an account never changes currency")
    ]
    assert CreditAccount.objects.get().currency == "CNY"


def test_a_row_with_too_many_or_too_few_fields_is_rejected(tmp_path):
    path = tmp_path / "accounts.csv"
    write_csv(path, [account_row("A1")], ACCOUNT_HEADER)
    with open(path, "a", encoding="utf-8") as f:
        f.write("A2,C1,张伟\n")

    report = import_accounts(path, as_of=AS_OF)

    assert problems_of(report) == [
        (3, "", f"The row has 3 fields where the header has {len(ACCOUNT_HEADER)}")
    ]
    assert report.created == 1


def test_lines_are_counted_in_the_file_even_across_quoted_line_breaks_and_blank_lines(tmp_path):
    header = [*ACCOUNT_HEADER, "address"]
    path = write_csv(
        tmp_path / "accounts.csv",
        [account_row("A1", address="北京市朝阳区\n建国路88号"), account_row("A2", principal="x")],
        header,
    )
    path.write_bytes(path.read_bytes().replace(b"\r\nA2", b"\r\n\r\nA2"))

    report = import_accounts(path, as_of=AS_OF)

    assert problems_of(report)[0][:2] == (5, "principal")
    assert Cardholder.objects.get().address == "北京市朝阳区\n建国路88号"


def test_an_unclosed_quote_is_reported_with_the_lines_it_swallowed(tmp_path):
    rows = [account_row(f"A{i}", name="张伟") for i in range(30)]
    path = write_csv(tmp_path / "accounts.csv", rows, ACCOUNT_HEADER)
    path.write_bytes(path.read_bytes().replace(b"A5,C1", b'A5,"C1', 1))

    report = import_accounts(path, as_of=AS_OF)

    assert problems_of(report) == [
        (
            7,
            "",
            "The row spans lines 7-31: a quote is probably left open; "
            "the lines in between were not read as rows",
        )
    ]
    assert CreditAccount.objects.count() == 5


def test_a_row_with_a_nul_character_is_rejected(tmp_path):
    path = write_csv(tmp_path / "accounts.csv", [account_row("A1"), account_row("A2", name="张\x00伟")])

    report = import_accounts(path, as_of=AS_OF)

    assert problems_of(report) == [(3, "", "The row contains a NUL character (is this a text file?)")]
    assert report.created == 1


def test_an_empty_file_is_refused(tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_bytes(b"")

    with pytest.raises(ImportFileError, match="The file is empty"):
        import_accounts(path, as_of=AS_OF)


def test_a_header_only_file_reads_no_rows_and_changes_nothing(tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text(",".join(ACCOUNT_HEADER) + "\n", encoding="utf-8")

    report = import_accounts(path, as_of=AS_OF)

    assert (report.rows_read, report.rejected) == (0, 0)
    assert not CreditAccount.objects.exists()


def test_missing_required_columns_are_named_and_nothing_is_applied(tmp_path):
    header = [name for name in ACCOUNT_HEADER if name not in {"currency", "overdue_amount"}]
    path = write_csv(tmp_path / "accounts.csv", [account_row("A1")], header)

    with pytest.raises(ImportFileError) as refused:
        import_accounts(path, as_of=AS_OF)

    assert (
        refused.value.message == "Required columns missing: currency, overdue_amount. Nothing was imported."
    )
    assert refused.value.problems == [
        RowProblem(1, "currency", "", "required column is missing"),
        RowProblem(1, "overdue_amount", "", "required column is missing"),
    ]
    assert not Cardholder.objects.exists()


def test_unknown_columns_are_ignored_with_a_warning(tmp_path):
    path = write_csv(tmp_path / "accounts.csv", [account_row("A1")], [*ACCOUNT_HEADER, "phone_3"])

    report = import_accounts(path, as_of=AS_OF)

    assert report.created == 1
    assert report.warnings == ["Columns ignored (not known): phone_3."]


def test_a_header_naming_a_column_twice_is_refused(tmp_path):
    path = write_csv(tmp_path / "accounts.csv", [account_row("A1")], [*ACCOUNT_HEADER, "Principal "])

    with pytest.raises(ImportFileError, match="The header names principal more than once"):
        import_accounts(path, as_of=AS_OF)


# --- Encodings ----------------------------------------------------------------------------------


def gbk_file(tmp_path) -> Path:
    rows = [
        account_row("A1", name="张伟"),
        account_row("A2", "C2", name="欧阳娜娜", phone="+86 139 0021 3302"),
    ]
    return write_csv(tmp_path / "accounts-gbk.csv", rows, encoding="gbk")


def test_a_gbk_file_read_as_utf8_is_refused_with_a_hint_and_nothing_is_applied(tmp_path):
    with pytest.raises(ImportFileError) as refused:
        import_accounts(gbk_file(tmp_path), as_of=AS_OF)

    assert "is not valid utf-8 text (line 2" in refused.value.message
    assert "--encoding gbk" in refused.value.message
    assert not Cardholder.objects.exists()


def test_a_gbk_file_read_as_gbk_keeps_its_chinese_names(tmp_path):
    report = import_accounts(gbk_file(tmp_path), encoding="gbk", as_of=AS_OF)

    assert report.created == 2
    assert sorted(Cardholder.objects.values_list("name", flat=True)) == ["张伟", "欧阳娜娜"]


def test_a_utf8_file_read_as_gbk_is_refused_rather_than_garbled(tmp_path):
    path = write_csv(tmp_path / "accounts.csv", [account_row("A1", name="张伟")])

    with pytest.raises(ImportFileError, match="it is UTF-8 text"):
        import_accounts(path, encoding="gbk", as_of=AS_OF)


def test_a_utf8_file_with_a_byte_order_mark_is_read(tmp_path):
    path = write_csv(tmp_path / "accounts.csv", [account_row("A1")], encoding="utf-8-sig")

    report = import_accounts(path, as_of=AS_OF)

    assert report.created == 1
    assert Cardholder.objects.get().name == "张伟"


def test_an_unknown_encoding_is_refused(tmp_path):
    with pytest.raises(ImportFileError, match="Unknown encoding 'klingon'"):
        import_accounts(SAMPLES / "accounts.csv", encoding="klingon", as_of=AS_OF)


# --- Other sources: uploads and JSON rows ------------------------------------------------------


def test_an_uploaded_file_and_json_rows_are_imported_like_a_file(tmp_path):
    content = write_csv(tmp_path / "a.csv", [account_row("A1")], encoding="gbk").read_bytes()
    upload = io.BytesIO(content)
    assert import_accounts(upload, encoding="gbk", as_of=AS_OF).created == 1
    assert not upload.closed
    django_upload = SimpleUploadedFile("accounts.csv", content.replace(b"A1", b"A9"))
    assert import_accounts(django_upload, encoding="gbk", as_of=AS_OF).created == 1
    with tempfile.SpooledTemporaryFile() as spool:  # a request body, as the API keeps it
        spool.write(content.replace(b"A1", b"A8"))
        spool.seek(0)
        assert import_accounts(spool, encoding="gbk", as_of=AS_OF).created == 1
    assert set(Cardholder.objects.values_list("name", flat=True)) == {"张伟"}

    report = import_accounts([account_row("A2"), account_row("A3", principal=-1)], as_of=AS_OF)

    assert report.created == 1
    assert problems_of(report) == [(3, "principal", "must not be negative")]


# --- Batches and queries ------------------------------------------------------------------------


@pytest.mark.postgres  # SQLite splits a bulk insert by its limit on query parameters
def test_the_number_of_queries_does_not_grow_with_the_rows(tmp_path):
    def queries_for(count: int, prefix: str) -> int:
        rows = [account_row(f"{prefix}{i}", f"{prefix}C{i}") for i in range(count)]
        with CaptureQueriesContext(connection) as captured:
            load_accounts(tmp_path, rows)
        return len(captured)

    assert queries_for(5, "S") == queries_for(200, "L")


@pytest.mark.postgres
def test_a_file_of_several_batches_is_loaded_whole(tmp_path):
    rows = [
        account_row(f"A{i:05d}", f"C{i // 2:05d}", phone=f"+86 138 {i // 2:08d}", email="")
        for i in range(2500)
    ]

    report = load_accounts(tmp_path, rows, batch_size=1000)

    assert (report.created, report.counts["cardholders_created"], report.counts["cases_opened"]) == (
        2500,
        1250,
        2500,
    )
    assert CreditAccount.objects.count() == Case.objects.count() == 2500


# --- Payments -----------------------------------------------------------------------------------


def payment_row(ref="P1", account="A1", **overrides) -> dict:
    row = {
        "payment_ref": ref,
        "account_ref": account,
        "amount": "500.00",
        "currency": "CNY",
        "paid_at": "2026-11-27T10:15:00+08:00",
        "source": "UnionPay",
    }
    row.update(overrides)
    return row


def load_payments(tmp_path, rows, **kwargs):
    return import_payments(write_csv(tmp_path / "payments.csv", rows, PAYMENT_HEADER), **kwargs)


def test_a_payment_is_recorded_through_the_payment_service(tmp_path, supervisor):
    load_accounts(tmp_path, [account_row("A1")])

    report = load_payments(tmp_path, [payment_row(amount="500.00")], actor=supervisor)

    payment = Payment.objects.get()
    assert (report.created, payment.amount, payment.recorded_by) == (1, Decimal("500.00"), supervisor)
    assert payment.paid_at == datetime(2026, 11, 27, 2, 15, tzinfo=ZoneInfo("UTC"))
    assert CreditAccount.objects.get().overdue_amount == Decimal("2700.00")
    assert CaseEvent.objects.filter(kind=EventKind.PAYMENT).count() == 1


def test_a_payment_dated_without_a_time_is_midnight_in_the_bank_time_zone(tmp_path):
    load_accounts(tmp_path, [account_row("A1")])

    load_payments(tmp_path, [payment_row(paid_at="2026-11-27")])

    assert Payment.objects.get().paid_at == datetime(2026, 11, 27, tzinfo=SHANGHAI)


def test_bad_payment_rows_are_rejected_and_the_good_ones_recorded(tmp_path):
    load_accounts(tmp_path, [account_row("A1")])
    load_payments(tmp_path, [payment_row("P0", amount="100.00")])

    report = load_payments(
        tmp_path,
        [
            payment_row("P0", amount="100.00"),
            payment_row("P0b", amount="100.00"),
            payment_row("P1", account="NOPE"),
            payment_row("P2", currency="USD"),
            payment_row("P3", amount="-20.00"),
            payment_row("P4", amount="0.00"),
            payment_row("P5", amount="ten"),
            payment_row("P6", paid_at="2026-02-30"),
            payment_row("P7", paid_at="2026-11-29T08:00:00+08:00"),
            payment_row("P0b", amount="100.00"),
            payment_row("P0", amount="999.00", account="A1"),
        ],
    )

    assert (report.rows_read, report.created, report.unchanged, report.rejected) == (11, 1, 1, 9)
    assert problems_of(report) == [
        (4, "account_ref", "no account has this reference"),
        (5, "currency", "differs from the account's currency CNY"),
        (6, "amount", "must not be negative"),
        (7, "amount", "must be above zero"),
        (8, "amount", "is not an amount (write it like 1234.56: digits, a point, no thousands separator)"),
        (9, "paid_at", "is not a real date"),
        (10, "paid_at", "is in the future"),
        (11, "payment_ref", "appears again: first on line 3"),
        (12, "payment_ref", "appears again: first on line 2"),
    ]
    assert sorted(Payment.objects.values_list("external_ref", flat=True)) == ["P0", "P0b"]


def test_a_payment_reference_reused_with_other_figures_is_rejected(tmp_path):
    load_accounts(tmp_path, [account_row("A1")])
    load_payments(tmp_path, [payment_row("P1", amount="100.00")])

    report = load_payments(tmp_path, [payment_row("P1", amount="150.00")])

    [(line, column, reason)] = problems_of(report)
    assert (line, column) == (2, "payment_ref")
    assert reason.startswith("Payment P1 was already recorded with other figures (100.00 on account A1)")
    assert Payment.objects.get().amount == Decimal("100.00")


def test_a_payments_file_without_the_currency_column_is_refused(tmp_path):
    path = write_csv(tmp_path / "p.csv", [payment_row()], ["payment_ref", "account_ref", "amount", "paid_at"])

    with pytest.raises(ImportFileError, match="Required column missing: currency"):
        import_payments(path)


# --- The commands -------------------------------------------------------------------------------


@pytest.fixture
def run_command(monkeypatch):
    """Run a command as `manage.py` would (argument parsing, error printing, sys.exit) and return
    its exit code. The command closes the connections when it ends, which would end the test's
    transaction; here it must not."""
    monkeypatch.setattr(connections, "close_all", lambda: None)

    def run(*argv: str) -> int:
        try:
            execute_from_command_line(["manage.py", *argv])
        except SystemExit as exit_:
            return exit_.code
        return 0

    return run


def read_report(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def test_import_accounts_command_exits_0_and_writes_an_empty_report(tmp_path, capsys, run_command):
    path = write_csv(tmp_path / "accounts.csv", [account_row("A1")])

    assert run_command("import_accounts", str(path), "--as-of", "2026-11-27") == 0

    out = capsys.readouterr().out
    assert "1 rows read: 1 created, 0 updated, 0 unchanged, 0 rejected." in out
    assert read_report(tmp_path / "accounts.report.csv") == [["line", "column", "value", "reason"]]


def test_import_accounts_command_exits_1_when_rows_are_rejected_and_reports_them(
    tmp_path, capsys, run_command
):
    path = write_csv(
        tmp_path / "accounts.csv",
        [account_row("A1"), account_row("A2", national_id="9" * 40), account_row("A3", phone="=cmd|x")],
    )
    report_path = tmp_path / "out" / "report.csv"
    report_path.parent.mkdir()

    assert (
        run_command("import_accounts", str(path), "--as-of", "2026-11-27", "--report", str(report_path)) == 1
    )

    captured = capsys.readouterr()
    assert "3 rows read: 1 created, 0 updated, 0 unchanged, 2 rejected." in captured.out
    assert "line 3, national_id: is longer than 32 characters" in captured.err
    assert read_report(report_path) == [
        ["line", "column", "value", "reason"],
        ["3", "national_id", "*" * 36 + "9999", "is longer than 32 characters"],
        ["4", "phone", "****md|x", "is not an international phone number (write it as +86 138 0013 8000)"],
    ]
    assert CreditAccount.objects.count() == 1


def test_import_accounts_command_exits_2_for_a_file_it_cannot_read(tmp_path, capsys, run_command):
    assert run_command("import_accounts", str(tmp_path / "missing.csv")) == 2
    assert "Cannot read" in capsys.readouterr().err

    gbk = gbk_file(tmp_path)
    assert run_command("import_accounts", str(gbk), "--as-of", "2026-11-27") == 2
    assert "--encoding gbk" in capsys.readouterr().err
    assert run_command("import_accounts", str(gbk), "--as-of", "2026-11-27", "--encoding", "gbk") == 0

    no_currency = write_csv(
        tmp_path / "nc.csv", [account_row()], [n for n in ACCOUNT_HEADER if n != "currency"]
    )
    assert run_command("import_accounts", str(no_currency), "--as-of", "2026-11-27") == 2
    assert read_report(tmp_path / "nc.report.csv")[1] == ["1", "currency", "", "required column is missing"]


def test_import_accounts_command_refuses_a_bad_date(tmp_path):
    with pytest.raises(CommandError, match="--as-of must be a date") as refused:
        call_command("import_accounts", str(SAMPLES / "accounts.csv"), "--as-of", "2026-13-01")
    assert refused.value.returncode == 2


def test_import_payments_command_replays_the_samples_with_exit_0(tmp_path, capsys, run_command):
    call_command(
        "import_accounts", str(SAMPLES / "accounts.csv"), "--as-of", "2026-11-27", "--report", "/dev/null"
    )
    report_path = tmp_path / "payments.report.csv"

    assert run_command("import_payments", str(SAMPLES / "payments.csv"), "--report", str(report_path)) == 0
    assert run_command("import_payments", str(SAMPLES / "payments.csv"), "--report", str(report_path)) == 0

    assert "10 rows read: 0 created, 0 updated, 10 unchanged, 0 rejected." in capsys.readouterr().out
    assert Payment.objects.count() == 10


def test_reports_mask_personal_data_and_defuse_spreadsheet_formulas():
    assert report_value("national_id", "999999198503120017") == "**************0017"
    assert report_value("phone", "+8613800138001") == "**********8001"
    assert report_value("name", "=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert report_value("principal", "-5.00") == "-5.00"
