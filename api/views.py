"""The REST API (/api/v1/): thin views over collections_app / repayment_plans services and selectors.

Every queryset starts from what the caller may reach (collections_app.access.cases_visible_to), so an
object outside it is 404 - read or write. Every write calls the one service for that operation; the
services check the role, the state machine and the contact policy, and write the timeline. Refusals
come back through api.errors as one envelope with the status the DomainError names.

Concurrency: `GET /cases/{id}/` answers `ETag: "<version>"`; a case action sent with
`If-Match: "<version>"` is refused with 412 `concurrent_update` if the case changed since.
"""

from __future__ import annotations

import tempfile
import zoneinfo
from datetime import datetime

from django.contrib.auth import authenticate, user_logged_in, user_logged_out
from django.db import transaction
from django.db.models import Exists, OuterRef, Prefetch, Q
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from knox.auth import TokenAuthentication
from knox.models import AuthToken
from knox.settings import knox_settings
from rest_framework import generics, mixins, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.exceptions import AuthenticationFailed, NotFound
from rest_framework.filters import OrderingFilter, SearchFilter
from rest_framework.parsers import BaseParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Role
from accounts.permissions import Capability, has_capability
from api import filters, schema
from api import serializers as s
from api.errors import ErrorSerializer, PreconditionFailed, exception_handler
from api.idempotency import idempotent
from api.pagination import ApiCursorPagination, TimelinePagination
from api.permissions import HasCapability, IsAdministrator
from api.throttling import AuthThrottle, ImportThrottle, UserThrottle
from automation.models import NightlyRun, NightlyStep
from collections_app import services
from collections_app.access import case_scope, cases_visible_to, get_case_for_user
from collections_app.models import (
    Cardholder,
    Case,
    CaseEvent,
    ContactAttempt,
    ContactPoint,
    CreditAccount,
    Payment,
    PromiseStatus,
    PromiseToPay,
    Queue,
)
from collections_app.services import contactability
from core.exceptions import ConcurrentUpdate, NotAllowed, ValidationFailed
from escalation import services as escalation
from escalation.models import EscalationRule
from imports import services as imports
from messaging.models import OutboundMessage
from repayment_plans import services as plan_services
from repayment_plans.models import Installment, RepaymentPlan
from repayment_plans.selectors import plan_actions

# --- Base ------------------------------------------------------------------------------------------


# What every API view shares, set on the views rather than in REST_FRAMEWORK so that the API does not
# depend on project-wide defaults (and any other DRF use keeps them).
class ApiMixin:
    # Token first: an anonymous caller gets 401 with `WWW-Authenticate: Token`, not 403.
    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = [UserThrottle]
    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]

    def get_exception_handler(self):
        return exception_handler

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # PostgreSQL text cannot hold NUL; a filter or search term with one is bad input, not a 500.
        if any("\x00" in value for _key, values in request.query_params.lists() for value in values):
            raise ValidationFailed("Query parameters cannot contain NUL characters.", rule="invalid_input")


class ApiView(ApiMixin, APIView):
    pass


@extend_schema(exclude=True)
class NoSuchEndpointView(ApiView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    def http_method_not_allowed(self, request, *args, **kwargs):
        raise NotFound("No such endpoint. Paths of the API end with a slash; see /api/docs/.")

    options = http_method_not_allowed


class ReadOnlyViewSet(ApiMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    pagination_class = ApiCursorPagination
    filter_backends = [DjangoFilterBackend, SearchFilter, OrderingFilter]
    ordering_fields = ["id"]
    ordering = ("-id",)
    lookup_value_regex = r"[0-9]{1,18}"


def refusals(*codes: str) -> dict:
    """Error responses declared on an operation (so that their examples are kept); the schema hook
    adds the envelope for the other codes."""
    return {int(code): OpenApiResponse(ErrorSerializer, description=schema.ERRORS[code]) for code in codes}


def _quoted_etag(version: int) -> str:
    return f'"{version}"'


def _scoped_through_case(user, queryset, *, prefix: str = "case"):
    """Rows hanging off a case: those of the cases `user` may reach (all for an admin)."""
    scope = case_scope(user)
    if scope is None:
        return queryset.none()
    if not scope:  # an empty Q: every case
        return queryset
    return queryset.filter(**{f"{prefix}__in": cases_visible_to(user)})


def _scoped_by_exists(user, queryset, *, link: str):
    """Cardholders and accounts: those with at least one case the user may reach (all for an admin)."""
    scope = case_scope(user)
    if scope is None:
        return queryset.none()
    if not scope:
        return queryset
    return queryset.filter(Exists(cases_visible_to(user).filter(**{link: OuterRef("pk")})))


# --- Me, tokens --------------------------------------------------------------------------------------


@extend_schema(tags=["me"])
class MeView(ApiView):
    @extend_schema(responses=s.MeSerializer, summary="The current user, role and capabilities")
    def get(self, request):
        return Response(s.MeSerializer(request.user).data)


@extend_schema(tags=["auth"])
class TokenCreateView(ApiView):
    """Exchange a username and password for an API token (hashed in the database, expiring after
    REST_KNOX["TOKEN_TTL"], revocable by logout or by an admin in the admin pages)."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthThrottle]

    def get_authenticate_header(self, request):
        return "Token"

    @extend_schema(
        request=s.TokenRequestSerializer,
        responses={201: s.TokenSerializer},
        examples=schema.TOKEN_EXAMPLES,
        summary="Get a token",
        auth=[],
    )
    def post(self, request):
        data = _valid(s.TokenRequestSerializer, request)
        user = authenticate(request._request, username=data["username"], password=data["password"])
        if user is None or not user.is_active:
            raise AuthenticationFailed("Unable to log in with these credentials.")
        limit = knox_settings.TOKEN_LIMIT_PER_USER
        if limit is not None:
            live = AuthToken.objects.filter(user=user).filter(
                Q(expiry__gt=timezone.now()) | Q(expiry__isnull=True)
            )
            if live.count() >= limit:
                raise NotAllowed(
                    f"You hold {limit} live tokens already; log out of one first.", rule="token_limit"
                )
        instance, token = AuthToken.objects.create(user=user, expiry=knox_settings.TOKEN_TTL)
        user_logged_in.send(sender=user.__class__, request=request._request, user=user)
        body = {"token": token, "expiry": instance.expiry, "user": user}
        return Response(s.TokenSerializer(body).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["auth"])
class TokenLogoutView(ApiView):
    authentication_classes = [TokenAuthentication]

    @extend_schema(request=None, responses={204: None}, summary="Revoke the token of this request")
    def post(self, request):
        request.auth.delete()
        user_logged_out.send(sender=request.user.__class__, request=request._request, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["auth"])
class TokenLogoutAllView(ApiView):
    authentication_classes = [TokenAuthentication]

    @extend_schema(request=None, responses={204: None}, summary="Revoke every token of this user")
    def post(self, request):
        AuthToken.objects.filter(user=request.user).delete()
        user_logged_out.send(sender=request.user.__class__, request=request._request, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _valid(serializer_class, request, *, data=None) -> dict:
    serializer = serializer_class(data=request.data if data is None else data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- Portfolio ---------------------------------------------------------------------------------------


def _with_contact_points(queryset):
    return queryset.prefetch_related(
        Prefetch(
            "contact_points",
            queryset=ContactPoint.objects.filter(active=True).order_by("-is_primary", "pk"),
            to_attr="active_contact_points",
        )
    )


@extend_schema_view(
    list=extend_schema(summary="Cardholders with a case you may reach (personal data masked)"),
    retrieve=extend_schema(summary="One cardholder (masked; reveal through a case)"),
)
@extend_schema(tags=["portfolio"])
class CardholderViewSet(ReadOnlyViewSet):
    serializer_class = s.CardholderSerializer
    filterset_class = filters.CardholderFilter
    search_fields = ["=external_ref", "name"]

    def get_queryset(self):
        queryset = _with_contact_points(Cardholder.objects.all())
        return _scoped_by_exists(self.request.user, queryset, link="account__cardholder")


@extend_schema_view(
    list=extend_schema(summary="Accounts with a case you may reach"),
    retrieve=extend_schema(summary="One account"),
)
@extend_schema(tags=["portfolio"])
class AccountViewSet(ReadOnlyViewSet):
    serializer_class = s.AccountSerializer
    filterset_class = filters.AccountFilter
    search_fields = ["=external_ref", "=cardholder__external_ref"]
    ordering_fields = ["id", "days_past_due"]

    def get_queryset(self):
        queryset = CreditAccount.objects.select_related("cardholder")
        return _scoped_by_exists(self.request.user, queryset, link="account")


# --- Cases ---------------------------------------------------------------------------------------------

REVEAL_TOKENS = {"national_id", "email", "address", "phones", "contact_points"}


def _reveal_request(request) -> set[str]:
    raw = request.query_params.get("reveal", "")
    wanted = {token.strip() for token in raw.split(",") if token.strip()}
    unknown = wanted - REVEAL_TOKENS
    if unknown:
        raise ValidationFailed(
            f"Cannot reveal {', '.join(sorted(unknown))}; choose from {', '.join(sorted(REVEAL_TOKENS))}.",
            field="reveal",
            rule="reveal_fields",
        )
    return wanted


@extend_schema_view(
    list=extend_schema(summary="Cases you may reach, with filters, search and ordering"),
)
@extend_schema(tags=["cases"])
class CaseViewSet(ReadOnlyViewSet):
    serializer_class = s.CaseSerializer
    filterset_class = filters.CaseFilter
    search_fields = [
        "=reference",
        "=account__external_ref",
        "=account__cardholder__external_ref",
        "account__cardholder__name",
    ]
    ordering_fields = ["id", "priority", "opened_at"]

    def get_queryset(self):
        return cases_visible_to(
            self.request.user, Case.objects.select_related("account__cardholder", "queue")
        )

    @extend_schema(
        summary="One case (masked; `?reveal=` unmasks and logs the reveal)",
        parameters=[
            OpenApiParameter(
                "reveal",
                str,
                description="Comma-separated: national_id, email, address, phones. Each revealed value is "
                "written on the case timeline (pii_reveal). Agents must hold the case (lease or "
                "assignment); supervisors, legal and admins on cases they reach.",
            )
        ],
        responses={200: OpenApiResponse(s.CaseDetailSerializer, description="ETag: the case version.")},
    )
    def retrieve(self, request, *args, **kwargs):
        case = get_case_for_user(request.user, int(kwargs["pk"]))
        wanted = _reveal_request(request)
        holder = case.account.cardholder
        holder.active_contact_points = list(
            ContactPoint.objects.filter(cardholder=holder, active=True).order_by("-is_primary", "pk")
        )
        revealed = self._reveal(request, case, wanted)
        context = {
            "revealed": revealed,
            "active_hold": case.holds.filter(released_at__isnull=True).first(),
            "pending_promise": case.promises.filter(status=PromiseStatus.PENDING).first(),
            "available_transitions": services.available_transitions(case, request.user),
        }
        response = Response(s.CaseDetailSerializer(case, context=context).data)
        response["ETag"] = _quoted_etag(case.version)
        return response

    @staticmethod
    def _reveal(request, case: Case, wanted: set[str]) -> dict:
        """Every unmasked value goes through services.pii_reveal, which checks the role and writes the
        PII_REVEAL event: reading it here is logged exactly like the Reveal button on the page."""
        holder = case.account.cardholder
        revealed: dict = {}
        for field in ("national_id", "email", "address"):
            if field in wanted and getattr(holder, field):
                revealed[field] = services.pii_reveal(case_id=case.pk, actor=request.user, field=field)
        if wanted & {"phones", "contact_points"}:
            revealed["contact_points"] = {
                point.pk: services.pii_reveal(
                    case_id=case.pk, actor=request.user, field="phone", contact_point_id=point.pk
                )
                for point in holder.active_contact_points
            }
        return revealed


@extend_schema(tags=["cases"])
class CaseTimelineView(ApiMixin, generics.ListAPIView):
    serializer_class = s.CaseEventSerializer
    pagination_class = TimelinePagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = filters.EventFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request user
            return CaseEvent.objects.none()
        case = get_case_for_user(self.request.user, self.kwargs["case_id"])
        return CaseEvent.objects.filter(case=case).select_related("actor")

    @extend_schema(summary="The case timeline, newest first")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


# --- Case actions --------------------------------------------------------------------------------------


def if_match_version(request) -> int | None:
    """The case version an `If-Match` header names; None without the header (or with `*`)."""
    raw = request.headers.get("If-Match")
    if raw is None or raw.strip() == "*":
        return None
    tags = [tag.strip() for tag in raw.split(",") if tag.strip()]
    if len(tags) != 1:
        raise ValidationFailed("Give exactly one ETag in If-Match.", field="If-Match", rule="if_match")
    tag = tags[0].removeprefix("W/").strip('"')
    if not (tag.isdigit() and len(tag) <= 18):
        raise PreconditionFailed(
            "If-Match does not name a version of this case; read the case for its ETag.",
            details={"if_match": raw[:100]},
        )
    return int(tag)


def run_versioned(case_id: int, expected: int | None, action, *, native: bool):
    """Run `action(expected_version)` so that a stale `If-Match` is refused (412), not lost.

    Services that take `expected_version` compare it under their own row lock (`native`). For the
    others the case row is locked here first and the version compared in the same transaction, so no
    writer can slip in between the check and the service's write."""
    try:
        if expected is None:
            return action(None)
        if native:
            return action(expected)
        with transaction.atomic():
            current = Case.objects.select_for_update().values_list("version", flat=True).get(pk=case_id)
            if current != expected:
                raise ConcurrentUpdate(
                    "The case was changed by someone else; reload it and try again.",
                    details={"expected_version": expected, "current_version": current},
                )
            return action(None)
    except ConcurrentUpdate as exc:
        if expected is not None and type(exc) is ConcurrentUpdate and exc.rule == ConcurrentUpdate.code:
            raise PreconditionFailed(exc.message, details=exc.details) from None
        raise


# POST /cases/{case_id}/<action>/: 404 outside the caller's reach, then one service call.
class CaseActionView(ApiView):
    def load(self, request, case_id: int) -> Case:
        return get_case_for_user(request.user, case_id)

    def answer(self, body, *, case_id: int, status_code: int = status.HTTP_200_OK) -> Response:
        response = Response(body, status=status_code)
        version = Case.objects.filter(pk=case_id).values_list("version", flat=True).first()
        if version is not None:
            response["ETag"] = _quoted_etag(version)
        return response

    def case_body(self, case_id: int) -> dict:
        case = Case.objects.select_related("account__cardholder", "queue").get(pk=case_id)
        return s.CaseSerializer(case).data


IF_MATCH = OpenApiParameter(
    "If-Match",
    str,
    location=OpenApiParameter.HEADER,
    required=False,
    description='The case ETag (`"7"`) you last read; a stale one is refused with 412 concurrent_update.',
)
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    location=OpenApiParameter.HEADER,
    required=False,
    description="Any unique string (a UUID): a retry with the same key and body gets the first answer.",
)
ACTION_HEADERS = [IF_MATCH, IDEMPOTENCY_KEY]


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
        description="`available_transitions` on the case lists those you may ask for now.",
    )
    @idempotent
    def post(self, request, case_id: int):
        self.load(request, case_id)
        data = _valid(s.TransitionInputSerializer, request)
        run_versioned(
            case_id,
            if_match_version(request),
            lambda version: services.case_transition(
                case_id=case_id,
                name=data["name"],
                actor=request.user,
                reason=data["reason"],
                resolution_reason=data["resolution_reason"],
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
        data = _valid(s.ContactInputSerializer, request)
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
        data = _valid(s.PromiseInputSerializer, request)
        contact_id = data["contact_attempt"]
        if (
            contact_id is not None
            and not ContactAttempt.objects.filter(pk=contact_id, case_id=case_id).exists()
        ):
            raise ValidationFailed("No such contact on this case.", field="contact_attempt")
        promise = run_versioned(
            case_id,
            if_match_version(request),
            lambda version: services.promise_record(
                case_id=case_id,
                actor=request.user,
                amount=data["amount"],
                due_date=data["due_date"],
                contact_attempt_id=contact_id,
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
        data = _valid(s.NoteInputSerializer, request)
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
        data = _valid(s.HoldInputSerializer, request)
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
        data = _valid(s.ReleaseHoldInputSerializer, request)
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
        data = _valid(s.EscalationRequestInputSerializer, request)
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
        case = self.load(request, case_id)
        data = _valid(s.CallbackInputSerializer, request)
        at = self._instant(case, request.data.get("at"), data["at"])
        run_versioned(
            case_id,
            if_match_version(request),
            lambda _version: services.callback_schedule(
                case_id=case_id, actor=request.user, at=at, note=data["note"]
            ),
            native=False,
        )
        return self.answer(self.case_body(case_id), case_id=case_id)

    @staticmethod
    def _instant(case: Case, raw, parsed: datetime) -> datetime:
        # Like the page: a time without an offset is the cardholder's local time.
        if isinstance(raw, str) and _has_offset(raw):
            return parsed
        naive = timezone.make_naive(parsed) if timezone.is_aware(parsed) else parsed
        return naive.replace(tzinfo=zoneinfo.ZoneInfo(contactability.primary_zone(case)))


def _has_offset(raw: str) -> bool:
    raw = raw.strip()
    if raw.endswith(("Z", "z")):
        return True
    time_part = raw.partition("T")[2] or raw.partition(" ")[2]
    return "+" in time_part or "-" in time_part


@extend_schema(tags=["case actions"])
class CaseRevealView(CaseActionView):
    @extend_schema(
        request=s.RevealInputSerializer,
        responses=s.RevealResultSerializer,
        summary="Reveal one masked field (logged on the timeline)",
    )
    def post(self, request, case_id: int):
        self.load(request, case_id)
        data = _valid(s.RevealInputSerializer, request)
        value = services.pii_reveal(
            case_id=case_id, actor=request.user, field=data["field"], contact_point_id=data["contact_point"]
        )
        body = {"field": data["field"], "contact_point": data["contact_point"], "value": value}
        return self.answer(body, case_id=case_id)


# --- Work records ------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Contact attempts on cases you may reach"),
    retrieve=extend_schema(summary="One contact attempt"),
)
@extend_schema(tags=["work"])
class ContactAttemptViewSet(ReadOnlyViewSet):
    serializer_class = s.ContactAttemptSerializer
    filterset_class = filters.ContactAttemptFilter
    ordering_fields = ["id", "started_at"]

    def get_queryset(self):
        queryset = ContactAttempt.objects.select_related("contact_point")
        return _scoped_through_case(self.request.user, queryset)


@extend_schema_view(
    list=extend_schema(summary="Promises to pay on cases you may reach"),
    retrieve=extend_schema(summary="One promise"),
)
@extend_schema(tags=["work"])
class PromiseViewSet(ReadOnlyViewSet):
    serializer_class = s.PromiseSerializer
    filterset_class = filters.PromiseFilter

    def get_queryset(self):
        return _scoped_through_case(self.request.user, PromiseToPay.objects.all())


@extend_schema_view(
    list=extend_schema(summary="Payments on cases you may reach (all for admins)"),
    retrieve=extend_schema(summary="One payment"),
)
@extend_schema(tags=["payments"])
class PaymentViewSet(mixins.CreateModelMixin, ReadOnlyViewSet):
    serializer_class = s.PaymentSerializer
    filterset_class = filters.PaymentFilter
    ordering_fields = ["id", "paid_at"]

    def get_permissions(self):
        if self.action == "create":
            return [IsAuthenticated(), IsAdministrator()]
        return super().get_permissions()

    def get_queryset(self):
        return _scoped_through_case(self.request.user, Payment.objects.select_related("account"))

    @extend_schema(
        request=s.PaymentInputSerializer,
        responses={
            201: OpenApiResponse(s.PaymentSerializer, description="Recorded now."),
            200: OpenApiResponse(s.PaymentSerializer, description="Already recorded: the original."),
            **refusals("409"),
        },
        examples=schema.PAYMENT_EXAMPLES,
        summary="Record a payment (idempotent by its reference; admins / integrations)",
        description="Posting the same payment again answers 200 with the payment first recorded; the same "
        "reference with other figures is 409 `payment_reference_reused`.",
    )
    def create(self, request, *args, **kwargs):
        data = _valid(s.PaymentInputSerializer, request)
        account = CreditAccount.objects.filter(external_ref=data["account_ref"]).first()
        if account is None:
            raise ValidationFailed(
                "No account has this reference.", field="account_ref", rule="unknown_account"
            )
        if data["currency"] and data["currency"] != account.currency:
            raise ValidationFailed(
                f"The account is in {account.currency}.", field="currency", rule="currency_mismatch"
            )
        result = services.payment_record(
            account=account,
            external_ref=data["external_ref"],
            amount=data["amount"],
            paid_at=data["paid_at"],
            source=data["source"],
            actor=request.user,
        )
        payment = Payment.objects.select_related("account").get(pk=result.payment.pk)
        return Response(
            s.PaymentSerializer(payment).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


@extend_schema_view(
    list=extend_schema(summary="Queues of your team (all for admins)"),
    retrieve=extend_schema(summary="One queue"),
)
@extend_schema(tags=["configuration"])
class QueueViewSet(ReadOnlyViewSet):
    serializer_class = s.QueueSerializer
    search_fields = ["name"]
    ordering_fields = ["id", "order"]

    def get_queryset(self):
        user = self.request.user
        if not user.is_authenticated:  # schema generation
            return Queue.objects.none()
        if has_capability(user, Capability.ADMINISTER):
            return Queue.objects.all()
        mine = Queue.objects.filter(agents=user).values("pk")
        scope = Q(pk__in=mine) | (Q(team_id=user.team_id) if user.team_id else Q(pk__in=[]))
        return Queue.objects.filter(scope)


# --- Automation --------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Escalation rules (admins)"),
    retrieve=extend_schema(summary="One escalation rule"),
)
@extend_schema(tags=["configuration"])
class EscalationRuleViewSet(ReadOnlyViewSet):
    """Read-only: admins edit rules in the admin pages, where a change makes a new version."""

    serializer_class = s.EscalationRuleSerializer
    filterset_class = filters.EscalationRuleFilter
    permission_classes = [IsAuthenticated, IsAdministrator]
    search_fields = ["name"]
    ordering_fields = ["id", "order"]
    queryset = EscalationRule.objects.all()

    @extend_schema(
        summary="What the rule would do if it ran now (nothing is written)",
        filters=False,
        parameters=[OpenApiParameter("as_of", OpenApiTypes.DATE, description="Default: today.")],
        responses=s.RulePreviewSerializer,
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def preview(self, request, pk=None):
        rule = self.get_object()
        as_of = None
        if "as_of" in request.query_params:
            as_of = s.BoundedDateField().run_validation(request.query_params["as_of"])
        return Response(s.RulePreviewSerializer(escalation.rule_preview(rule, as_of=as_of)).data)


@extend_schema_view(
    list=extend_schema(summary="Reminders planned, sent or suppressed on cases you may reach"),
    retrieve=extend_schema(summary="One outbound message"),
)
@extend_schema(tags=["work"])
class OutboundMessageViewSet(ReadOnlyViewSet):
    serializer_class = s.OutboundMessageSerializer
    filterset_class = filters.OutboundMessageFilter
    ordering_fields = ["id", "created_at"]

    def get_queryset(self):
        return _scoped_through_case(self.request.user, OutboundMessage.objects.all())


@extend_schema_view(
    list=extend_schema(summary="Nightly run records (supervisors, admins)"),
    retrieve=extend_schema(summary="One nightly run, with its steps"),
)
@extend_schema(tags=["configuration"])
class NightlyRunViewSet(ReadOnlyViewSet):
    serializer_class = s.NightlyRunSerializer
    filterset_class = filters.NightlyRunFilter
    permission_classes = [IsAuthenticated, HasCapability.of(Capability.SUPERVISE)]
    ordering_fields = ["id", "started_at"]
    queryset = NightlyRun.objects.prefetch_related(
        Prefetch("steps", queryset=NightlyStep.objects.order_by("position"))
    )


# --- Bulk imports ----------------------------------------------------------------------------------


# `Content-Type: text/csv`: the body is the file. It is copied to a spooled temporary file (no size cap
# of a form body; kept in memory up to 8 MB) that the import services read as a stream.
class CSVUploadParser(BaseParser):
    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - read by the import
        if stream is not None:
            while chunk := stream.read(1 << 16):
                spool.write(chunk)
        spool.seek(0)
        return {"file": spool}


IMPORT_PARAMETERS = [
    OpenApiParameter("encoding", str, description="Of a CSV file: utf-8 (default) or gbk."),
]
IMPORT_REQUEST = {
    "text/csv": {"type": "string", "format": "binary"},
    "multipart/form-data": {
        "type": "object",
        "properties": {"file": {"type": "string", "format": "binary"}},
        "required": ["file"],
    },
    "application/json": s.ImportRowsInputSerializer,
}


class ImportView(ApiView):
    """POST a file (multipart `file`, or the CSV as the body) or JSON rows; answers the per-row report
    of the import service (200 even when rows were rejected: look at `rejected` and `problems`)."""

    permission_classes = [IsAuthenticated, IsAdministrator]
    parser_classes = [JSONParser, MultiPartParser, CSVUploadParser]
    throttle_classes = [UserThrottle, ImportThrottle]
    throttle_scope = "imports"

    def source(self, request):
        data = request.data
        if isinstance(data, list):
            return data
        upload = data.get("file") if hasattr(data, "get") else None
        if upload is not None and hasattr(upload, "read"):
            return upload
        rows = data.get("rows") if isinstance(data, dict) else None
        if isinstance(rows, list):
            return rows
        raise ValidationFailed(
            "Send a CSV file (multipart field `file`, or the body with Content-Type text/csv) or JSON rows.",
            field="file",
            rule="no_file",
        )

    def encoding(self, request) -> str:
        encoding = request.query_params.get("encoding", "utf-8")
        if len(encoding) > 20:
            raise ValidationFailed("Unknown encoding.", field="encoding")
        return encoding


@extend_schema(tags=["imports"])
class AccountImportView(ImportView):
    @extend_schema(
        request=IMPORT_REQUEST,
        responses=s.ImportReportSerializer,
        parameters=[
            *IMPORT_PARAMETERS,
            OpenApiParameter("as_of", OpenApiTypes.DATE, description="DPD date (default: today)."),
        ],
        examples=schema.IMPORT_EXAMPLES,
        summary="Import accounts (the daily accounts file); replaying it changes nothing",
    )
    def post(self, request):
        as_of = timezone.localdate()
        if "as_of" in request.query_params:
            as_of = s.BoundedDateField().run_validation(request.query_params["as_of"])
        report = imports.import_accounts(
            self.source(request), encoding=self.encoding(request), as_of=as_of, actor=request.user
        )
        return Response(report.as_dict())


@extend_schema(tags=["imports"])
class PaymentImportView(ImportView):
    @extend_schema(
        request=IMPORT_REQUEST,
        responses=s.ImportReportSerializer,
        parameters=IMPORT_PARAMETERS,
        summary="Import payments (the payment feed); a replayed payment is `unchanged`",
    )
    def post(self, request):
        report = imports.import_payments(
            self.source(request), encoding=self.encoding(request), actor=request.user
        )
        return Response(report.as_dict())


# --- Repayment plans ------------------------------------------------------------------------------


def plans_visible_to(user):
    """Plans of cases the user reaches, and - the queryset twin of
    repayment_plans.services.can_review_plan - plans at legal's approval level for legal reviewers."""
    queryset = RepaymentPlan.objects.prefetch_related(
        Prefetch("installments", queryset=Installment.objects.order_by("number"))
    )
    scope = case_scope(user)
    if scope is None:
        return queryset.none()
    if not scope:
        return queryset
    reach = Q(case__in=cases_visible_to(user))
    if user.role == Role.LEGAL and has_capability(user, Capability.APPROVE_PLANS):
        reach |= Q(approval_role=Role.LEGAL)
    return queryset.filter(reach)


@extend_schema_view(
    list=extend_schema(summary="Repayment plans you may reach"),
)
@extend_schema(tags=["plans"])
class PlanViewSet(ReadOnlyViewSet):
    serializer_class = s.PlanSerializer
    filterset_class = filters.PlanFilter

    def get_queryset(self):
        return plans_visible_to(self.request.user)

    @extend_schema(summary="One plan, with the actions you may take", responses=s.PlanDetailSerializer)
    def retrieve(self, request, *args, **kwargs):
        return Response(plan_body(self.get_object(), request.user))


def plan_body(plan: RepaymentPlan, user) -> dict:
    return s.PlanDetailSerializer(plan, context={"actions": plan_actions(plan, user)}).data


def _plan_input(data: dict) -> plan_services.PlanInput:
    return plan_services.PlanInput(
        kind=data["kind"],
        amount=data["amount"],
        first_due_date=data["first_due_date"],
        installments=data["installments"],
        frequency=data["frequency"],
        down_payment=data["down_payment"],
        down_payment_due_date=data["down_payment_due_date"],
        discount_percent=data["discount_percent"],
    )


@extend_schema(tags=["plans"])
class PlanCalculateView(CaseActionView):
    @extend_schema(
        request=s.PlanTermsInputSerializer,
        responses=s.QuoteSerializer,
        examples=schema.PLAN_EXAMPLES,
        summary="Calculate a plan's schedule and approval level (no side effects)",
    )
    def post(self, request, case_id: int):
        case = self.load(request, case_id)
        data = _valid(s.PlanTermsInputSerializer, request)
        quote = plan_services.plan_calculate(case=case, actor=request.user, data=_plan_input(data))
        return Response(s.QuoteSerializer(s.QuoteSerializer.from_quote(quote)).data)


@extend_schema(tags=["plans"])
class PlanProposeView(CaseActionView):
    @extend_schema(
        request=s.PlanProposeInputSerializer,
        responses={201: s.PlanDetailSerializer},
        parameters=ACTION_HEADERS,
        examples=schema.PLAN_EXAMPLES,
        summary="Propose a plan (a draft, or pending approval when outside your limits)",
    )
    @idempotent
    def post(self, request, case_id: int):
        self.load(request, case_id)
        data = _valid(s.PlanProposeInputSerializer, request)
        plan = run_versioned(
            case_id,
            if_match_version(request),
            lambda _version: plan_services.plan_propose(
                case_id=case_id,
                actor=request.user,
                data=_plan_input(data),
                reason=data["reason"],
                cardholder_accepted=data["cardholder_accepted"],
                acceptance_note=data["acceptance_note"],
            ),
            native=False,
        )
        plan = plans_visible_to(request.user).get(pk=plan.pk)
        return self.answer(plan_body(plan, request.user), case_id=case_id, status_code=201)


# POST /plans/{plan_id}/<action>/: 404 unless the caller reaches the plan, then one service call.
class PlanActionView(ApiView):
    input_serializer = s.PlanNoteInputSerializer

    def perform(self, plan_id: int, user, data: dict) -> RepaymentPlan:
        raise NotImplementedError

    @idempotent
    def post(self, request, plan_id: int):
        get_object_or_404(plans_visible_to(request.user), pk=plan_id)
        data = _valid(self.input_serializer, request)
        self.perform(plan_id, request.user, data)
        plan = plans_visible_to(request.user).filter(pk=plan_id).first()
        if plan is None:  # e.g. legal returned a case out of their reach; the action is done
            return Response({"id": plan_id})
        return Response(plan_body(plan, request.user))


def _plan_action_schema(summary: str, request_serializer):
    return extend_schema(
        tags=["plans"],
        request=request_serializer,
        responses=s.PlanDetailSerializer,
        parameters=[IDEMPOTENCY_KEY],
        summary=summary,
    )


@_plan_action_schema("Record the cardholder's acceptance", s.PlanNoteInputSerializer)
class PlanAcceptView(PlanActionView):
    def perform(self, plan_id, user, data):
        return plan_services.plan_accept(plan_id=plan_id, actor=user, note=data["note"])


@_plan_action_schema("Approve a plan waiting for approval", s.PlanNoteInputSerializer)
class PlanApproveView(PlanActionView):
    def perform(self, plan_id, user, data):
        return plan_services.plan_approve(plan_id=plan_id, actor=user, note=data["note"])


@_plan_action_schema("Reject a plan (with a reason)", s.PlanReasonInputSerializer)
class PlanRejectView(PlanActionView):
    input_serializer = s.PlanReasonInputSerializer

    def perform(self, plan_id, user, data):
        return plan_services.plan_reject(plan_id=plan_id, actor=user, reason=data["reason"])


@_plan_action_schema("Cancel a live plan (with a reason)", s.PlanReasonInputSerializer)
class PlanCancelView(PlanActionView):
    input_serializer = s.PlanReasonInputSerializer

    def perform(self, plan_id, user, data):
        return plan_services.plan_cancel(plan_id=plan_id, actor=user, reason=data["reason"])
