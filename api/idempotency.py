"""`Idempotency-Key` for POSTs: a client that did not hear the answer sends the same request again with
the same key and gets the first answer back, instead of a second contact, note or claim.

- same key, same request (method, path, If-Match, parsed body): the stored answer, replayed, with
  `Idempotent-Replayed: true`;
- same key, another request: 422 `idempotency_key_reused`;
- same key while the first request is still running: 409 `idempotency_key_in_use` (retry later);
- a refused request (4xx) is not stored: it changed nothing, so the same key may be retried.

Keys belong to a user and expire after API_IDEMPOTENCY_KEY_HOURS (24 by default). Payments are
idempotent by their own reference and bulk imports by their content; they ignore the header.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from functools import wraps

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from api.errors import IdempotencyKeyInUse, IdempotencyKeyReused
from api.models import IdempotencyKey
from core.exceptions import ValidationFailed

HEADER = "Idempotency-Key"
# A reservation whose request died (worker killed) is taken over after this long.
LOCK_SECONDS = 120


def key_ttl() -> timedelta:
    return timedelta(hours=settings.API_IDEMPOTENCY_KEY_HOURS)


def _canonical(data) -> str:
    if hasattr(data, "lists"):  # a QueryDict (form or multipart): every value of every key
        data = dict(data.lists())
    return json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))


def request_fingerprint(request) -> str:
    parts = [
        request.method,
        request.get_full_path(),
        request.headers.get("If-Match", ""),
        _canonical(request.data),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _valid_key(key: str) -> bool:
    return 0 < len(key) <= 255 and key.isascii() and key.isprintable()


def begin(*, user, key: str, request) -> tuple[IdempotencyKey, bool]:
    """Reserve `key` for this request, or find the answer it already got. Returns (record, replay)."""
    if not _valid_key(key):
        raise ValidationFailed(
            _("An Idempotency-Key is 1 to 255 printable ASCII characters."),
            field=HEADER,
            rule="idempotency_key",
        )
    fingerprint = request_fingerprint(request)
    now = timezone.now()
    # Committed at once, before the operation runs: a concurrent request with the same key then finds
    # the reservation (or waits on the unique index and fails) instead of running the operation twice.
    with transaction.atomic():
        record = IdempotencyKey.objects.select_for_update().filter(user=user, key=key).first()
        if record is not None and record.created_at < now - key_ttl():
            record.delete()
            record = None
        if record is None:
            try:
                with transaction.atomic():
                    record = IdempotencyKey.objects.create(
                        user=user,
                        key=key,
                        fingerprint=fingerprint,
                        method=request.method,
                        path=request.path[:500],
                        created_at=now,
                        locked_until=now + timedelta(seconds=LOCK_SECONDS),
                    )
            except IntegrityError:
                raise _in_use() from None
            return record, False
        if record.fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                _("This Idempotency-Key was used for another request; use a new key for a new request."),
                field=HEADER,
                details={"first_used_for": f"{record.method} {record.path}"},
            )
        if record.completed:
            return record, True
        if record.locked_until and record.locked_until > now:
            raise _in_use()
        record.locked_until = now + timedelta(seconds=LOCK_SECONDS)
        record.save(update_fields=["locked_until"])
        return record, False


def _in_use() -> IdempotencyKeyInUse:
    return IdempotencyKeyInUse(
        _("A request with this Idempotency-Key is still being processed; retry in a moment."),
        details={"retry_after_seconds": LOCK_SECONDS},
    )


def finish(record: IdempotencyKey, response: Response) -> None:
    if 200 <= response.status_code < 300:
        body = json.loads(JSONRenderer().render(response.data) or b"null")
        IdempotencyKey.objects.filter(pk=record.pk).update(
            response_status=response.status_code,
            response_body=body,
            response_etag=response.get("ETag", "")[:64],
            locked_until=None,
        )
    else:
        abandon(record)


def abandon(record: IdempotencyKey) -> None:
    IdempotencyKey.objects.filter(pk=record.pk, response_status__isnull=True).delete()


def replay(record: IdempotencyKey) -> Response:
    response = Response(record.response_body, status=record.response_status)
    response["Idempotent-Replayed"] = "true"
    if record.response_etag:
        response["ETag"] = record.response_etag
    return response


def purge_expired(*, now=None) -> int:
    """Delete keys past API_IDEMPOTENCY_KEY_HOURS (one DELETE); for a periodic task. Returns how many."""
    now = now or timezone.now()
    deleted, _per_model = IdempotencyKey.objects.filter(created_at__lt=now - key_ttl()).delete()
    return deleted


def idempotent(method):
    """Decorate an APIView's `post`: honour an Idempotency-Key header when the client sends one."""

    @wraps(method)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return method(view, request, *args, **kwargs)
        record, replayed = begin(user=request.user, key=key, request=request)
        if replayed:
            return replay(record)
        try:
            response = method(view, request, *args, **kwargs)
        except BaseException:
            abandon(record)
            raise
        finish(record, response)
        return response

    return wrapper
