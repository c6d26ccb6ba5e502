"""Bulk imports over the API reuse the import services and answer their per-row report: a CSV file
(multipart or the raw body) or JSON rows; replaying the same content changes nothing."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from collections_app.models import Case, CreditAccount, Payment

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
ACCOUNT_ROW = {
    "account_ref": "ACC-API-1",
    "cardholder_ref": "CH-API-1",
    "name": "李娜",
    "currency": "CNY",
    "principal": "5000.00",
    "overdue_amount": "800.00",
    "first_missed_due_date": "2026-05-01",
}


def test_accounts_as_a_multipart_csv_file(clients):
    upload = SimpleUploadedFile("accounts.csv", (SAMPLES / "accounts.csv").read_bytes(), "text/csv")

    response = clients["admin"].post(
        "/api/v1/accounts/import/?as_of=2026-11-27", {"file": upload}, format="multipart"
    )

    assert response.status_code == 200, response.json()
    report = response.json()
    assert report["kind"] == "accounts"
    assert report["created"] == CreditAccount.objects.count() > 0
    assert report["rows_read"] == report["created"] + report["rejected"]


def test_accounts_as_a_csv_body_replayed_changes_nothing(clients):
    body = (SAMPLES / "accounts.csv").read_bytes()
    url = "/api/v1/accounts/import/?as_of=2026-11-27"

    first = clients["admin"].post(url, data=body, content_type="text/csv")
    again = clients["admin"].post(url, data=body, content_type="text/csv")

    assert first.status_code == again.status_code == 200
    assert again.json()["created"] == again.json()["updated"] == 0
    assert again.json()["unchanged"] == first.json()["created"] + first.json()["updated"]


def test_rejected_rows_are_reported_with_line_and_reason(clients):
    body = (SAMPLES / "accounts_bad.csv").read_bytes()

    report = (
        clients["admin"]
        .post("/api/v1/accounts/import/?as_of=2026-11-27", data=body, content_type="text/csv")
        .json()
    )

    assert report["rejected"] > 0
    problem = report["problems"][0]
    assert problem["line"] >= 2 and problem["reason"]


def test_accounts_as_json_rows_open_cases(clients):
    response = clients["admin"].post("/api/v1/accounts/import/?as_of=2026-06-02", {"rows": [ACCOUNT_ROW]})

    assert response.status_code == 200, response.json()
    assert response.json()["created"] == 1
    assert Case.objects.filter(account__external_ref="ACC-API-1").exists()


def test_json_rows_may_also_be_a_bare_list(clients):
    response = clients["admin"].post("/api/v1/accounts/import/?as_of=2026-06-02", [ACCOUNT_ROW])

    assert response.json()["created"] == 1


def test_payments_as_json_rows_replayed_are_unchanged(clients):
    clients["admin"].post("/api/v1/accounts/import/?as_of=2026-06-02", {"rows": [ACCOUNT_ROW]})
    rows = [
        {
            "payment_ref": "PAY-API-1",
            "account_ref": "ACC-API-1",
            "amount": "100.00",
            "currency": "CNY",
            "paid_at": "2026-06-02T09:00:00+08:00",
        }
    ]

    first = clients["admin"].post("/api/v1/payments/import/", {"rows": rows}).json()
    again = clients["admin"].post("/api/v1/payments/import/", {"rows": rows}).json()

    assert (first["created"], again["created"], again["unchanged"]) == (1, 0, 1)
    assert Payment.objects.count() == 1


def test_a_file_missing_required_columns_is_422_and_nothing_is_applied(clients):
    response = clients["admin"].post(
        "/api/v1/accounts/import/", data=b"account_ref,name\nACC-1,X\n", content_type="text/csv"
    )

    assert response.status_code == 422
    assert response.json()["code"] == "import_file_invalid"
    assert not CreditAccount.objects.exists()


def test_a_file_in_the_wrong_encoding_is_422(clients):
    body = (SAMPLES / "accounts.csv").read_text(encoding="utf-8").encode("gbk")

    response = clients["admin"].post("/api/v1/accounts/import/", data=body, content_type="text/csv")

    assert response.status_code == 422
    assert response.json()["rule"] == "encoding"


def test_an_empty_request_is_422(clients):
    response = clients["admin"].post("/api/v1/payments/import/", {})

    assert response.status_code == 422
    assert response.json()["rule"] == "no_file"
