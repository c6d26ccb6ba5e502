"""Looking is recorded too: every reveal, export, print and unmasked API read of a cardholder's personal
data writes an AccessRecord (who, when, how, why, what) - the one home of that rule for pages, the
admin, the API and the dashboards' exports.

A look needs a reason code (AccessReason; "other" needs words too): `access_reason` reads it from a
form, a query string or the API's `X-Access-Reason` header and refuses a missing or unknown one with
`AccessReasonMissing` (HTTP 400 on the API). `access_record` writes one look; `access_record_many`
writes the looks of an export at the cardholders of many cases in one INSERT (set-based: an export of
10,000 rows costs a handful of statements, not one per row), with a PII_REVEAL event per case for an
unmasked export, as the case page's reveal writes.

Records are append-only (AccessRecord refuses update and delete) and ordered by id."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from collections_app.models import (
    AccessKind,
    AccessReason,
    AccessRecord,
    AccessSource,
    Case,
    CaseEvent,
    EventKind,
)
from core.exceptions import ValidationFailed

REASON_TEXT_MAX = 500
REQUEST_ID_MAX = 64

__all__ = [
    "AccessReasonMissing",
    "GivenReason",
    "access_reason",
    "access_reason_from",
    "access_record",
    "access_record_many",
    "request_id_of",
]


class AccessReasonMissing(ValidationFailed):
    """Personal data was asked for without a reason code (or with an unknown one, or "other" without
    words). A bad request: nothing was revealed."""

    code = "access_reason_required"
    http_status = 400


@dataclass(frozen=True)
class GivenReason:
    code: str
    text: str = ""

    @property
    def label(self) -> str:
        label = str(AccessReason(self.code).label)
        return f"{label}: {self.text}" if self.text else label


def access_reason(code: str | None, text: str | None = "") -> GivenReason:
    """The reason a person gave for looking, checked: a known code, and words for "other"."""
    code = (code or "").strip()
    text = (text or "").strip()[:REASON_TEXT_MAX]
    choices = ", ".join(AccessReason.values)
    if not code:
        raise AccessReasonMissing(
            _("Choose the reason for looking at this personal data (one of: %(choices)s).")
            % {"choices": choices},
            field="reason",
            rule="access_reason",
        )
    if code not in AccessReason.values:
        raise AccessReasonMissing(
            _("Unknown reason %(code)s; choose one of: %(choices)s.")
            % {"code": code[:40], "choices": choices},
            field="reason",
            rule="access_reason",
        )
    if code == AccessReason.OTHER and not text:
        raise AccessReasonMissing(
            _("Say in words why you are looking (the reason is “Other”)."),
            field="reason_text",
            rule="access_reason",
        )
    return GivenReason(code, text)


def access_reason_from(data: Mapping) -> GivenReason:
    """The reason of a form or query string: fields `reason` and `reason_text`."""
    return access_reason(data.get("reason"), data.get("reason_text"))


def request_id_of(request) -> str:
    """The request's ID when a proxy or the client sends one (X-Request-ID), for matching access
    records with the web server's log; empty otherwise."""
    if request is None:
        return ""
    return (request.META.get("HTTP_X_REQUEST_ID") or "")[:REQUEST_ID_MAX]


def access_record(
    *,
    actor,
    kind: str,
    source: str,
    reason: GivenReason | None,
    cardholder_id: int | None = None,
    case_id: int | None = None,
    what: str = "",
    masked: bool = False,
    rows: int = 1,
    request_id: str = "",
) -> AccessRecord:
    """Record one look. An unmasked look needs a reason (checked by `access_reason`); a masked export may
    come without one. Call it in the transaction of what it records."""
    if not masked and reason is None:
        raise AccessReasonMissing(_("A reason is required to look at personal data."), field="reason")
    return AccessRecord.objects.create(
        actor=actor,
        kind=AccessKind(kind),
        source=AccessSource(source),
        reason=reason.code if reason else "",
        reason_text=reason.text if reason else "",
        cardholder_id=cardholder_id,
        case_id=case_id,
        what=what[:200],
        masked=masked,
        rows=max(rows, 0),
        request_id=request_id[:REQUEST_ID_MAX],
    )


def access_record_many(
    *,
    actor,
    kind: str,
    source: str,
    reason: GivenReason,
    case_ids: Iterable[int],
    what: str,
    request_id: str = "",
    timeline: bool = True,
) -> int:
    """Record an unmasked look at the cardholders of `case_ids` (an export's chunk): one AccessRecord per
    case (its cardholder and the case), and - `timeline` - a PII_REVEAL event on each case with the
    reason and `what`. Three statements whatever the number of cases; returns the number recorded."""
    ids = sorted(set(case_ids))
    if not ids:
        return 0
    now = timezone.now()
    holders = dict(Case.objects.filter(pk__in=ids).values_list("pk", "account__cardholder_id"))
    with transaction.atomic():
        AccessRecord.objects.bulk_create(
            [
                AccessRecord(
                    at=now,
                    actor=actor,
                    kind=AccessKind(kind),
                    source=AccessSource(source),
                    reason=reason.code,
                    reason_text=reason.text,
                    cardholder_id=holder_id,
                    case_id=case_id,
                    what=what[:200],
                    request_id=request_id[:REQUEST_ID_MAX],
                )
                for case_id, holder_id in holders.items()
            ]
        )
        if timeline:
            CaseEvent.objects.bulk_create(
                [
                    CaseEvent(
                        case_id=case_id,
                        kind=EventKind.PII_REVEAL,
                        actor=actor,
                        reason=reason.text,
                        details={kind: what, "reason": reason.code},
                        created_at=now,
                    )
                    for case_id in holders
                ]
            )
    return len(holders)
