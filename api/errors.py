"""One error envelope for every refusal the API gives.

    {"code": "...", "rule": "...", "message": "...", "details": {...},
     "field": "..." (validation), "allowed_from": "..." (contact policy)}

Domain refusals (core.exceptions.DomainError) keep their own `http_status`: 403 not allowed,
409 a conflict with the state or with another writer, 422 the contact policy or a business rule.
DRF's own errors get the same envelope: 400 unreadable body, 401 no or bad credentials, 403, 404,
405, 415, 422 for input that fails the serializer (code `validation_failed`, `details` per field),
429 throttled (with `Retry-After`). A stale `If-Match` is 412 with code `concurrent_update`.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from api.parsers import PayloadTooLarge
from core.exceptions import ConcurrentUpdate, DomainError, ValidationFailed


class PreconditionFailed(ConcurrentUpdate):
    """The `If-Match` version is not the case's current version: someone changed it first."""

    http_status = 412


class IdempotencyKeyReused(ValidationFailed):
    code = "idempotency_key_reused"


class IdempotencyKeyInUse(ConcurrentUpdate):
    code = "idempotency_key_in_use"


class ErrorSerializer(serializers.Serializer):
    """The body of every 4xx answer."""

    code = serializers.CharField(help_text="Machine-readable kind of error, e.g. `contact_not_allowed`.")
    rule = serializers.CharField(help_text="The rule that refused, e.g. `contact_window`, `case_scope`.")
    message = serializers.CharField(help_text="A sentence for a person.")
    details = serializers.DictField(help_text="Facts about the refusal; per-field errors for validation.")
    field = serializers.CharField(required=False, help_text="The input field at fault, if one is.")
    allowed_from = serializers.DateTimeField(
        required=False, allow_null=True, help_text="When the contact policy will allow it (ISO 8601)."
    )


DRF_STATUS = {
    exceptions.ParseError: status.HTTP_400_BAD_REQUEST,
    exceptions.ValidationError: status.HTTP_422_UNPROCESSABLE_ENTITY,
}


def _first_field(detail) -> str:
    if isinstance(detail, dict):
        for name in detail:
            return "" if name == "non_field_errors" else str(name)
    return ""


def _flatten(detail):
    """DRF's ErrorDetail tree as plain strings."""
    if isinstance(detail, dict):
        return {str(key): _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(value) for value in detail]
    return str(detail)


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        for value in detail.values():
            return _first_message(value)
        return ""
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else ""
    return str(detail)


def envelope(
    code: str, message: str, *, rule: str = "", details: dict | None = None, field: str | None = None
) -> dict:
    body = {"code": code, "rule": rule or code, "message": message, "details": details or {}}
    if field is not None:
        body["field"] = field
    return body


def exception_handler(exc, context):
    """The exception handler of the API views (set on api.views.base.ApiMixin) and, through
    REST_FRAMEWORK["EXCEPTION_HANDLER"], of every other DRF endpoint (automation.api)."""
    if isinstance(exc, DomainError):
        set_rollback()
        return Response(exc.as_dict(), status=exc.http_status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or _("Not found."))
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, RequestDataTooBig):  # a form or multipart body past DATA_UPLOAD_MAX_MEMORY_SIZE
        exc = PayloadTooLarge(_("The request body is too large."))
    elif isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        exc = exceptions.ParseError(_("The request has too many fields or files."))
    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: let Django answer 500 (and log it)

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    set_rollback()
    status_code = DRF_STATUS.get(type(exc), exc.status_code)
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        body = envelope(
            "validation_failed",
            _first_message(detail) or _("The input is not valid."),
            rule="invalid_input",
            details=_flatten(detail),
            field=_first_field(detail),
        )
    else:
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
        details = {"wait_seconds": int(exc.wait)} if getattr(exc, "wait", None) else {}
        body = envelope(code, _first_message(exc.detail), details=details)
    return Response(body, status=status_code, headers=headers)
