"""The dialers: a tel:/sip: link by default; the PBX's click-to-call endpoint, reached over real HTTP, and
what happens when it refuses or does not answer."""

import logging

import pytest
from django.core.exceptions import ImproperlyConfigured

from core.exceptions import DomainError
from telephony import services
from telephony.dialers import HttpPbxDialer, TelLinkDialer, dialer
from telephony.models import Call, CallStatus
from tests.telephony.conftest import NUMBER

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("office_hours")]


def test_the_default_dialer_gives_a_tel_link(worked_case, agent):
    case, point = worked_case
    assert isinstance(dialer(), TelLinkDialer)

    call = services.call_place(case_id=case.pk, actor=agent, contact_point_id=point.pk)

    assert call.dial.uri == f"tel:{NUMBER}"
    call.refresh_from_db()
    assert (call.status, call.dialer) == (CallStatus.PLACED, "link")


def test_a_sip_link_when_configured(settings, worked_case, agent):
    settings.TELEPHONY_LINK_SCHEME = "sip"
    settings.TELEPHONY_SIP_DOMAIN = "pbx.bank.example"
    case, point = worked_case
    point.value = "+86 139-1234-5678"  # as typed by a person: the link holds what a phone dials
    point.save()

    call = services.call_place(case_id=case.pk, actor=agent, contact_point_id=point.pk)

    assert call.dial.uri == f"sip:{NUMBER}@pbx.bank.example"


def test_the_pbx_dialer_is_chosen_by_the_setting(pbx_mode):
    assert isinstance(dialer(), HttpPbxDialer)


def test_an_unknown_dialer_is_a_configuration_error(settings):
    settings.TELEPHONY_DIALER = "carrier-pigeon"
    with pytest.raises(ImproperlyConfigured):
        dialer()


def test_a_pbx_refusal_fails_the_call_and_never_logs_the_number(pbx_mode, worked_case, agent, caplog):
    case, point = worked_case
    pbx_mode.answer = (503, f'{{"error": "trunk busy dialling {NUMBER}"}}'.encode())

    with caplog.at_level(logging.INFO), pytest.raises(DomainError) as failed:
        services.call_place(case_id=case.pk, actor=agent, contact_point_id=point.pk)

    assert failed.value.rule == "dial_failed"
    assert "503" in failed.value.message
    call = Call.objects.get(case=case)
    assert call.status == CallStatus.FAILED
    assert call.attempt is None
    assert caplog.records, "the failure is logged"
    assert all("13912345678" not in record.getMessage() for record in caplog.records)


def test_an_unreachable_pbx_fails_the_call(settings, pbx_mode, worked_case, agent):
    case, point = worked_case
    pbx_mode.shutdown()
    pbx_mode.server_close()  # nothing listens on the port any more

    with pytest.raises(DomainError, match="did not answer"):
        services.call_place(case_id=case.pk, actor=agent, contact_point_id=point.pk)
    assert Call.objects.get(case=case).status == CallStatus.FAILED


def test_an_agent_without_an_extension_is_told_so(pbx_mode, worked_case, supervisor):
    case, point = worked_case
    with pytest.raises(DomainError, match="extension"):
        services.call_place(case_id=case.pk, actor=supervisor, contact_point_id=point.pk)
    assert pbx_mode.received == []
