"""Printing the legal package for outside counsel is a look at the cardholder's data: it needs a reason
code and is recorded (AccessRecord, kind print) with the export's timeline event.

Personas: legal (legal reviewer; exports packages of cases with legal)."""

import pytest
from django.urls import reverse

from collections_app import services
from collections_app.models import AccessRecord, CaseEvent
from core.exceptions import ValidationFailed
from legal import services as legal_ops

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def exported(case) -> int:
    return CaseEvent.objects.filter(case=case, details__action="legal_package_exported").count()


def test_the_package_without_a_reason_is_refused_and_nothing_leaves(client, legal, referred_case):
    client.force_login(legal)

    response = client.post(reverse("legal:export", args=[referred_case.pk]), follow=True)

    assert response["Content-Type"].startswith("text/html")
    assert "Choose the reason" in response.content.decode()
    assert not AccessRecord.objects.exists() and exported(referred_case) == 0


def test_the_package_with_a_reason_is_recorded_as_a_print(client, legal, referred_case):
    client.force_login(legal)
    page = client.get(reverse("legal:case", args=[referred_case.pk])).content.decode()
    assert 'data-testid="access-reason"' in page

    response = client.post(reverse("legal:export", args=[referred_case.pk]), {"reason": "legal_proceedings"})

    assert response["Content-Type"] == "application/zip"
    record = AccessRecord.objects.get()
    assert (record.actor, record.kind, record.reason, record.source, record.what) == (
        legal,
        "print",
        "legal_proceedings",
        "page",
        "legal_package",
    )
    assert (record.case_id, record.cardholder_id) == (referred_case.pk, referred_case.account.cardholder_id)
    assert exported(referred_case) == 1


def test_the_service_refuses_a_package_without_a_reason(legal, referred_case):
    with pytest.raises(ValidationFailed):
        legal_ops.legal_package_export(case_id=referred_case.pk, actor=legal, reason=None)
    legal_ops.legal_package_export(
        case_id=referred_case.pk, actor=legal, reason=services.access_reason("regulator_request")
    )
    assert AccessRecord.objects.get().reason == "regulator_request"
