"""POST /cases/{case_id}/<action>/ and claim-next: each reads its input, calls the one service for the
operation (which checks the role, the state machine and the contact policy and writes the timeline)
and answers the result with the case's new ETag. A case outside the caller's reach is 404."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from api import schema
from api import serializers as s
from api.idempotency import idempotent
from api.views.base import (
    ACTION_HEADERS,
    IDEMPOTENCY_KEY,
    ApiView,
    CaseActionView,
    api_access_reason,
    if_match_version,
    refusals,
    run_versioned,
    valid_input,
)
from collections_app import services
from collections_app.models import AccessKind, AccessSource, CaseEvent, ContactAttempt


@extend_schema(tags=["case actions"])
class ClaimNextView(ApiView):
    @extend_schema(
        request=None,
        responses=s.ClaimResultSerializer,
        parameters=[IDEMPOTENCY_KEY],
        examples=schema.CLAIM_EXAMPLES,
        summary="Claim the next case of your queues (Next case)",
    )
    @idempotent
    def post(self, request):
        result = services.case_claim_next(actor=request.user)
        body = {"case": result.case, "passed_over": result.passed_over}
        return Response(s.ClaimResultSerializer(body).data)


@extend_schema(tags=["case actions"])
class CaseReleaseView(CaseActionView):
    @extend_schema(
        request=None,
        responses=s.ReleaseResultSerializer,
        parameters=[IDEMPOTENCY_KEY],
        summary="Leave the case: your lease ends and it goes back to the queue",
    )
    @idempotent
    def post(self, request, case_id: int):
        self.load(request, case_id)
        released = services.case_release(case_id=case_id, actor=request.user)
        return self.answer({"released": released}, case_id=case_id)


@extend_schema(tags=["case actions"])
class CaseTransitionView(CaseActionView):
    @extend_schema(
        request=s.TransitionInputSerializer,
        responses={200: s.CaseSerializer, **refusals("403", "409")},
        parameters=ACTION_HEADERS,
        examples=schema.TRANSITION_EXAMPLES,
        summary="Run a transition by its state-machine name",
        description="`available_transitions` on the case lists those you may ask for now. Legal "
        "transitions go through legal review: `escalate_to_legal` records a referral with the "
        "limitation date (refused past it), `approve_litigation` needs `court_reference`.",
    )
    @idempotent
    def post(self, request, case_id: int):
        self.load(request, case_id)
        data = valid_input(s.TransitionInputSerializer, request)
        run_versioned(
            case_id,
            if_match_version(request),
            lambda version: services.case_transition(
                case_id=case_id,
                name=data["name"],
                actor=request.user,
                reason=data["reason"],
                resolution_reason=data["resolution_reason"],
                court_reference=data["court_reference"],
                expected_version=version,
            ),
            native=True,
        )
        return self.answer(self.case_body(case_id), case_id=case_id)


@extend_schema(tags=["case actions"])
class CaseContactView(CaseActionView):
    @extend_schema(
        request=s.ContactInputSerializer,
        responses={201: s.ContactAttemptSerializer, **refusals("412", "422")},
        parameters=ACTION_HEADERS,
        examples=schema.CONTACT_EXAMPLES,
        summary="Log a contact (the contact policy decides first)",
        description="A refusal by the contact policy is 422 `contact_not_allowed`, naming the rule and, "
        "where there is one, `allowed_from`; the refusal itself is written on the timeline.",
    )
    @idempotent
    def post(self, request, case_id: int):
        self.load(request, case_id)
        data = valid_input(s.ContactInputSerializer, request)
        contact = services.ContactInput(
            channel=data["channel"],
            outcome=data["outcome"],
            contact_point_id=data["contact_point"],
            party_role=data["party_role"],
            person_reached=data["person_reached"],
            delinquency_reason=data["delinquency_reason"],
            duration_seconds=data["duration_seconds"],
            notes=data["notes"],
            recording_ref=data["recording_ref"],
            started_at=data["started_at"],
            disclosures=tuple(data["disclosures"]),
            script_id=data["script_id"],
        )
        attempt = run_versioned(
            case_id,
            if_match_version(request),
            lambda version: services.contact_attempt_log(
                case_id=case_id,
                actor=request.user,
                data=contact,
                override_reason=data["override_reason"],
                expected_version=version,
            ),
            native=True,
        )
        attempt = ContactAttempt.objects.select_related("contact_point").get(pk=attempt.pk)
        return self.answer(
            s.ContactAttemptSerializer(attempt).data, case_id=case_id, status_code=status.HTTP_201_CREATED
        )


@extend_schema(tags=["case actions"])
class CasePromiseView(CaseActionView):
    @extend_schema(
        request=s.PromiseInputSerializer,
        responses={201: s.PromiseSerializer, **refusals("422")},
        parameters=ACTION_HEADERS,
        examples=schema.PROMISE_EXAMPLES,
        summary="Record a promise to pay",
    )
    @idempotent
    def post(self, request, case_id: int):
        self.load(request, case_id)
        data = valid_input(s.PromiseInputSerializer, request)
        promise = run_versioned(
            case_id,
            if_match_version(request),
            lambda version: services.promise_record(
                case_id=case_id,
                actor=request.user,
                amount=data["amount"],
                due_date=data["due_date"],
                contact_attempt_id=data["contact_attempt"],
                expected_version=version,
            ),
            native=True,
        )
        return self.answer(s.PromiseSerializer(promise).data, case_id=case_id, status_code=201)


@extend_schema(tags=["case actions"])
class CaseNoteView(CaseActionView):
    @extend_schema(
        request=s.NoteInputSerializer,
        responses={201: s.CaseEventSerializer},
        parameters=ACTION_HEADERS,
        summary="Add a note to the timeline",
    )
    @idempotent
    def post(self, request, case_id: int):
        self.load(request, case_id)
        data = valid_input(s.NoteInputSerializer, request)
        event = run_versioned(
            case_id,
            if_match_version(request),
            lambda _version: services.note_add(case_id=case_id, actor=request.user, text=data["text"]),
            native=False,
        )
        event = CaseEvent.objects.select_related("actor").get(pk=event.pk)
        return self.answer(s.CaseEventSerializer(event).data, case_id=case_id, status_code=201)


@extend_schema(tags=["case actions"])
class CaseHoldView(CaseActionView):
    @extend_schema(
        request=s.HoldInputSerializer,
        responses={201: s.HoldSerializer},
        parameters=ACTION_HEADERS,
        summary="Put the case on hold (dispute, hardship ...)",
    )
    @idempotent
    def post(self, request, case_id: int):
        self.load(request, case_id)
        data = valid_input(s.HoldInputSerializer, request)
        hold = run_versioned(
            case_id,
            if_match_version(request),
            lambda version: services.case_hold(
                case_id=case_id,
                actor=request.user,
                reason=data["reason"],
                note=data["note"],
                expected_version=version,
            ),
            native=True,
        )
        return self.answer(s.HoldSerializer(hold).data, case_id=case_id, status_code=201)


@extend_schema(tags=["case actions"])
class CaseReleaseHoldView(CaseActionView):
    @extend_schema(
        request=s.ReleaseHoldInputSerializer,
        responses=s.CaseSerializer,
        parameters=ACTION_HEADERS,
        summary="Release the hold",
    )
    @idempotent
    def post(self, request, case_id: int):
        self.load(request, case_id)
        data = valid_input(s.ReleaseHoldInputSerializer, request)
        run_versioned(
            case_id,
            if_match_version(request),
            lambda version: services.case_release_hold(
                case_id=case_id, actor=request.user, note=data["note"], expected_version=version
            ),
            native=True,
        )
        return self.answer(self.case_body(case_id), case_id=case_id)


@extend_schema(tags=["case actions"])
class CaseEscalationRequestView(CaseActionView):
    @extend_schema(
        request=s.EscalationRequestInputSerializer,
        responses={201: s.CaseEventSerializer},
        parameters=ACTION_HEADERS,
        summary="Ask a supervisor (or legal, through the supervisor) to escalate",
    )
    @idempotent
    def post(self, request, case_id: int):
        self.load(request, case_id)
        data = valid_input(s.EscalationRequestInputSerializer, request)
        event = run_versioned(
            case_id,
            if_match_version(request),
            lambda _version: services.escalation_request(
                case_id=case_id, actor=request.user, target=data["target"], reason=data["reason"]
            ),
            native=False,
        )
        event = CaseEvent.objects.select_related("actor").get(pk=event.pk)
        return self.answer(s.CaseEventSerializer(event).data, case_id=case_id, status_code=201)


@extend_schema(tags=["case actions"])
class CaseCallbackView(CaseActionView):
    @extend_schema(
        request=s.CallbackInputSerializer,
        responses=s.CaseSerializer,
        parameters=ACTION_HEADERS,
        summary="Schedule a callback (inside the cardholder's contact window)",
    )
    @idempotent
    def post(self, request, case_id: int):
        self.load(request, case_id)
        data = valid_input(s.CallbackInputSerializer, request)
        # `at` without an offset arrives naive: the service reads it in the cardholder's zone, as for
        # the case page.
        run_versioned(
            case_id,
            if_match_version(request),
            lambda version: services.callback_schedule(
                case_id=case_id,
                actor=request.user,
                at=data["at"],
                note=data["note"],
                expected_version=version,
            ),
            native=True,
        )
        return self.answer(self.case_body(case_id), case_id=case_id)


@extend_schema(tags=["case actions"])
class CaseRevealView(CaseActionView):
    @extend_schema(
        request=s.RevealInputSerializer,
        responses=s.RevealResultSerializer,
        summary="Reveal one masked field (logged on the timeline, recorded with its reason)",
    )
    def post(self, request, case_id: int):
        self.load(request, case_id)
        data = valid_input(s.RevealInputSerializer, request)
        value = services.pii_reveal(
            case_id=case_id,
            actor=request.user,
            field=data["field"],
            contact_point_id=data["contact_point"],
            reason=api_access_reason(request, data),
            kind=AccessKind.REVEAL,
            source=AccessSource.API,
            request_id=services.request_id_of(request),
        )
        body = {"field": data["field"], "contact_point": data["contact_point"], "value": value}
        return self.answer(body, case_id=case_id)
