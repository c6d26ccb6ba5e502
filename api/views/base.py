"""What every API view shares: authentication, throttling, the error envelope, pagination, reading
the input through a serializer, and the `If-Match` / ETag handling of case actions."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from knox.auth import TokenAuthentication
from rest_framework import mixins, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import NotFound
from rest_framework.filters import OrderingFilter, SearchFilter
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from api import schema
from api import serializers as s
from api.errors import ErrorSerializer, PreconditionFailed, exception_handler
from api.filters import QueryFilterBackend
from api.pagination import ApiCursorPagination
from api.parsers import BoundedJSONParser
from api.throttling import UserThrottle
from collections_app.access import get_case_for_user
from collections_app.models import Case
from core.exceptions import ConcurrentUpdate, ValidationFailed


# What every API view shares, set on the views rather than in REST_FRAMEWORK so that the API does not
# depend on project-wide defaults (and any other DRF use keeps them).
class ApiMixin:
    # Token first: an anonymous caller gets 401 with `WWW-Authenticate: Token`, not 403.
    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = [UserThrottle]
    renderer_classes = [JSONRenderer]
    parser_classes = [BoundedJSONParser]

    def get_exception_handler(self):
        return exception_handler

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # PostgreSQL text cannot hold NUL; a filter or search term with one is bad input, not a 500.
        if any("\x00" in value for _key, values in request.query_params.lists() for value in values):
            raise ValidationFailed(_("Query parameters cannot contain NUL characters."), rule="invalid_input")


class ApiView(ApiMixin, APIView):
    pass


@extend_schema(exclude=True)
class NoSuchEndpointView(ApiView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    def http_method_not_allowed(self, request, *args, **kwargs):
        raise NotFound(_("No such endpoint. Paths of the API end with a slash; see /api/docs/."))

    options = http_method_not_allowed


class ReadOnlyViewSet(ApiMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    pagination_class = ApiCursorPagination
    filter_backends = [QueryFilterBackend, SearchFilter, OrderingFilter]
    ordering_fields = ["id"]
    ordering = ("-id",)
    lookup_value_regex = r"[0-9]{1,18}"


def serialized_columns(serializer_class, prefix: str = "") -> list[str]:
    """The columns a model serializer shows (its Meta.fields that are the model's own, foreign keys as
    their id), as `only()` paths under `prefix`: a list loads nothing it does not show - above all no
    encrypted column, which is decrypted on load (a national ID, a card number: two decryptions a row
    on the case list before)."""
    meta = serializer_class.Meta
    own = {f.name for f in meta.model._meta.concrete_fields}
    return [f"{prefix}{name}" for name in meta.fields if name in own]


def refusals(*codes: str) -> dict:
    """Error responses declared on an operation (so that their examples are kept); the schema hook
    adds the envelope for the other codes."""
    return {int(code): OpenApiResponse(ErrorSerializer, description=schema.ERRORS[code]) for code in codes}


def quoted_etag(version: int) -> str:
    return f'"{version}"'


def valid_input(serializer_class, request, *, data=None) -> dict:
    """The request body (or `data`) checked by an input serializer: its validated data, or a 422."""
    serializer = serializer_class(data=request.data if data is None else data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def if_match_version(request) -> int | None:
    """The case version an `If-Match` header names; None without the header (or with `*`)."""
    raw = request.headers.get("If-Match")
    if raw is None or raw.strip() == "*":
        return None
    tags = [tag.strip() for tag in raw.split(",") if tag.strip()]
    if len(tags) != 1:
        raise ValidationFailed(_("Give exactly one ETag in If-Match."), field="If-Match", rule="if_match")
    tag = tags[0].removeprefix("W/").strip('"')
    if not (tag.isdigit() and len(tag) <= 18):
        raise PreconditionFailed(
            _("If-Match does not name a version of this case; read the case for its ETag."),
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
                    _("The case was changed by someone else; reload it and try again."),
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
            response["ETag"] = quoted_etag(version)
        return response

    def case_body(self, case_id: int) -> dict:
        case = Case.objects.select_related("account__cardholder", "queue").get(pk=case_id)
        return s.CaseSerializer(case).data


# Headers a case action documents.
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


ACCESS_REASON_PARAMETERS = [
    OpenApiParameter(
        "reason",
        str,
        description="Required with unmasked data: why you look (working_case, customer_request, complaint, "
        "legal_proceedings, quality_assurance, regulator_request, other). Or the header X-Access-Reason. "
        "Without it: 400 access_reason_required, nothing revealed.",
    ),
    OpenApiParameter(
        "reason_text",
        str,
        description="Your words; required when the reason is `other` (or the header X-Access-Reason-Text).",
    ),
]


def api_access_reason(request, data=None):
    """The reason code given with an unmasked read: in the body (`data`), the query string or the
    X-Access-Reason / X-Access-Reason-Text headers; checked by collections_app.services.access_reason
    (400 when missing)."""
    from collections_app import services

    data = data or {}
    code = data.get("reason") or request.query_params.get("reason") or request.headers.get("X-Access-Reason")
    text = (
        data.get("reason_text")
        or request.query_params.get("reason_text")
        or request.headers.get("X-Access-Reason-Text")
    )
    return services.access_reason(code, text)
