"""The holdings map and the subject-access export: every table that leads to a cardholder is in the
map, the export carries every mapped table holding a row of the cardholder, in JSON and in a PDF in
English and Chinese; only supervisors and admins export, and every export is recorded."""

import base64
import json
import re
import zlib
from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import translation

from collections_app.models import AccessRecord, CaseEvent, CaseHold, ContactAttempt
from dashboards.models import AccountMonthEnd, InboxClosure
from escalation.models import EscalationFiring, EscalationRule
from legal.models import LegalReferral
from messaging.models import OutboundMessage
from privacy.holdings import BY_ACCOUNT_ID, HOLDINGS, mapped_models, models_leading_to_cardholder
from privacy.models import (
    CorrectionRequest,
    LegalHold,
    PurgedCardholder,
    PurgeRun,
    SubjectAccessRequest,
)
from privacy.subject_access import subject_access_export
from repayment_plans.models import Installment, PlanAllocation, RepaymentPlan
from telephony.models import Call
from tests.factories import UserFactory, write_off_approved
from tests.privacy.conftest import cardholder, contact_on, open_case_on, pay_on, promise_on

pytestmark = pytest.mark.django_db


def test_every_table_leading_to_a_cardholder_is_in_the_holdings_map():
    missing = models_leading_to_cardholder() - mapped_models()
    assert not missing, f"classify these tables in privacy/holdings.py: {sorted(missing)}"


def test_every_path_in_the_map_reaches_the_cardholder():
    holder = cardholder()
    for holding in HOLDINGS:
        # An unknown lookup raises FieldError here, a wrong one finds rows of someone else.
        assert list(holding.model_class.objects.filter(holding.of([holder.pk]))) is not None
        for name in holding.personal_fields:
            holding.model_class._meta.get_field(name)


@pytest.fixture
def full_holder(supervisor, agent):
    """A cardholder with a row in every table of the holdings map."""
    holder = cardholder()
    case = open_case_on(date(2026, 1, 5), holder=holder)
    attempt = contact_on(case, date(2026, 1, 6))
    payment = pay_on(case, date(2026, 1, 7))
    promise_on(case, date(2026, 1, 8))
    CaseHold.objects.create(case=case, reason="dispute", note="客户对账单有异议", released_at=payment.paid_at)
    plan = RepaymentPlan.objects.create(
        case=case,
        kind="installment",
        amount=Decimal("900.00"),
        currency="CNY",
        installment_count=3,
        first_due_date=date(2026, 2, 1),
        payable_amount=Decimal("900.00"),
        approval_role="agent",
        proposed_by=agent,
    )
    installment = Installment.objects.create(
        plan=plan, number=1, due_date=date(2026, 2, 1), amount=Decimal("300.00")
    )
    PlanAllocation.objects.create(payment=payment, installment=installment, amount=Decimal("100.00"))
    LegalReferral.objects.create(case=case, reason="Referred by a supervisor")
    EscalationFiring.objects.create(
        rule=EscalationRule.objects.first(),
        case=case,
        reason_key="x",
        rule_version=1,
        outcome="fired",
        as_of=date(2026, 1, 9),
    )
    OutboundMessage.objects.create(
        idempotency_key=f"test:{case.pk}",
        case=case,
        purpose="overdue_notice",
        channel="sms",
        send_after=payment.paid_at,
    )
    Call.objects.create(
        case=case,
        contact_point=attempt.contact_point,
        agent=agent,
        dialer="link",
        recording_url="https://pbx.example/rec/1",
    )
    InboxClosure.objects.create(
        event=CaseEvent.objects.filter(case=case).first(), decision="done", closed_by=supervisor
    )
    LegalHold.objects.create(cardholder=holder, reason="Court order", placed_by=supervisor)
    LegalHold.objects.create(case=case, reason="Regulator inquiry", placed_by=supervisor)
    PurgedCardholder.objects.create(cardholder=holder, run=PurgeRun.objects.create(as_of=date(2026, 1, 10)))
    SubjectAccessRequest.objects.create(
        cardholder=holder, requested_by=supervisor, reason="earlier", format="json", language="en"
    )
    CorrectionRequest.objects.create(
        cardholder=holder,
        field="email",
        current_value="wang.wei@example.cn",
        requested_value="w@example.cn",
        reason="typo",
        requested_by=agent,
    )
    write_off_approved(case, by=UserFactory(role="head"))  # a request and its decisions
    AccessRecord.objects.create(
        actor=supervisor,
        kind="reveal",
        reason="working_case",
        cardholder=holder,
        case=case,
        what="national_id",
    )
    AccountMonthEnd.objects.create(
        month=date(2026, 1, 1), account_id=case.account_id, bucket="M2", balance=Decimal("8900.00")
    )
    return holder


def test_the_export_contains_every_table_holding_the_cardholder(full_holder, supervisor):
    other = cardholder()  # someone else's rows stay out
    open_case_on(date(2026, 1, 5), holder=other)

    export = subject_access_export(
        actor=supervisor, cardholder=full_holder, reason="PIPL Art. 45 request", reference="DSAR-7"
    )

    document = json.loads(export.content)
    expected = {h.model.lower() for h in HOLDINGS} | {m.lower() for m in BY_ACCOUNT_ID}
    assert set(document["tables"]) == expected
    assert [label for label in sorted(expected) if not document["tables"][label]] == []
    assert document["tables"]["collections_app.cardholder"][0]["national_id"] == "110101199003071234"
    assert {row["id"] for row in document["tables"]["collections_app.cardholder"]} == {full_holder.pk}
    assert all("national_id_hash" not in row for row in document["tables"]["collections_app.cardholder"])
    assert document["tables"]["collections_app.contactattempt"][0]["recording_ref"] == "REC-0001"
    recorded = SubjectAccessRequest.objects.get(pk=export.request.pk)
    assert (recorded.requested_by, recorded.cardholder, recorded.reference) == (
        supervisor,
        full_holder,
        "DSAR-7",
    )
    assert recorded.tables["collections_app.contactattempt"] == 1
    look = AccessRecord.objects.get(what=f"subject_access:{recorded.pk}")  # in the access report too
    assert (look.actor, look.kind, look.cardholder, look.reason) == (
        supervisor,
        "export",
        full_holder,
        "customer_request",
    )
    assert export.filename.endswith(".json")


_LITERAL = re.compile(rb"\((?:[^()\\]|\\.)*\)\s*Tj", re.S)
_ESCAPE = re.compile(rb"\\([0-7]{1,3}|.)", re.S)


def _pdf_strings(content: bytes) -> bytes:
    """The text a reportlab PDF shows: its page streams (ASCII85 and Flate) inflated, and the literal
    strings drawn with Tj unescaped, joined. Helvetica text is Latin-1, the CID font's is UCS-2."""
    shown = []
    for stream in re.findall(rb"stream\r?\n(.*?)endstream", content, re.S):
        try:
            page = zlib.decompress(base64.a85decode(stream.strip(), adobe=True))
        except ValueError:
            continue
        for literal in _LITERAL.findall(page):
            body = literal[1 : literal.rindex(b")")]
            shown.append(_ESCAPE.sub(lambda m: bytes([int(m[1], 8)]) if m[1][:1].isdigit() else m[1], body))
    return b"\n".join(shown)


def _shows(shown: bytes, text: str) -> bool:
    return text.encode("utf-16-be") in shown or (text.isascii() and text.encode() in shown)


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_pdf_reads_in_both_languages(full_holder, supervisor, language):
    export = subject_access_export(
        actor=supervisor, cardholder=full_holder, reason="GDPR Art. 15", format="pdf", language=language
    )
    assert export.content.startswith(b"%PDF")
    assert export.content_type == "application/pdf"
    shown = _pdf_strings(export.content)
    with translation.override(language):
        heading = str(ContactAttempt._meta.verbose_name_plural)  # a table's title, in the language
    assert heading.isascii() == (language == "en")
    assert _shows(shown, heading)
    assert _shows(shown, full_holder.external_ref)
    assert _shows(shown, "REC-0001")  # a row of the contact attempts table
    assert SubjectAccessRequest.objects.get(pk=export.request.pk).language == language


def test_an_agent_cannot_export_subject_data(agent, client, full_holder):
    from core.exceptions import NotAllowed

    with pytest.raises(NotAllowed):
        subject_access_export(actor=agent, cardholder=full_holder, reason="curious")
    client.force_login(agent)
    response = client.post(
        reverse("privacy:subject_access"),
        {"external_ref": full_holder.external_ref, "reason": "curious", "format": "json", "language": "en"},
    )
    assert response.status_code == 403
    assert not SubjectAccessRequest.objects.filter(requested_by=agent).exists()


def test_a_supervisor_downloads_the_export_from_the_page(supervisor, client, full_holder):
    client.force_login(supervisor)
    assert client.get(reverse("privacy:subject_access")).status_code == 200
    response = client.post(
        reverse("privacy:subject_access"),
        {
            "external_ref": full_holder.external_ref,
            "reason": "PIPL Art. 45 request",
            "reference": "DSAR-9",
            "format": "json",
            "language": "zh-hans",
        },
    )
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert json.loads(response.content)["reference"] == "DSAR-9"
    assert SubjectAccessRequest.objects.filter(requested_by=supervisor, reference="DSAR-9").exists()


def test_an_export_without_a_reason_is_refused_and_not_recorded(supervisor, client, full_holder):
    client.force_login(supervisor)
    before = SubjectAccessRequest.objects.count()
    response = client.post(
        reverse("privacy:subject_access"),
        {"external_ref": full_holder.external_ref, "reason": "", "format": "json", "language": "en"},
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert SubjectAccessRequest.objects.count() == before


def test_an_unknown_reference_says_so(supervisor, client):
    client.force_login(supervisor)
    response = client.post(
        reverse("privacy:subject_access"),
        {"external_ref": "NOPE", "reason": "request", "format": "json", "language": "en"},
    )
    assert "No cardholder has this reference." in response.content.decode()


def test_the_cardholder_admin_page_links_to_the_privacy_pages(admin_user, client):
    holder = cardholder()
    client.force_login(admin_user)
    html = client.get(reverse("admin:collections_app_cardholder_change", args=[holder.pk])).content.decode()
    assert f"{reverse('privacy:subject_access')}?ref={holder.external_ref}" in html
    assert f"{reverse('privacy:holds')}?ref={holder.external_ref}" in html
    page = client.get(reverse("privacy:subject_access"), {"ref": holder.external_ref}).content.decode()
    assert f'value="{holder.external_ref}"' in page
