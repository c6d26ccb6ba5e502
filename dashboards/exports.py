"""CSV exports leave the system: each one is recorded, and personal data in it is masked unless the user's
role may reveal personal data (Capability.REVEAL_PII) and they give a reason code (`?reason=` beside
`?export=`, with `?reason_text=` for "other"; collections_app.services.access_reason - an unknown code
is a 400, nothing exported). An unmasked export is a look at every cardholder in it: each chunk of rows
is recorded (an AccessRecord per case and a PII_REVEAL event on its timeline, in one INSERT each:
collections_app.services.access_record_many) before it leaves. Every export, masked or not, ends with
one AccessRecord of kind export without a cardholder (which table, how many rows, masked or not) and one
line to the `collections.audit` logger (never the data itself)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import wraps
from itertools import islice

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from accounts.permissions import Capability, has_capability
from collections_app import services
from collections_app.models import AccessKind, AccessSource

audit = logging.getLogger("collections.audit")

# Rows of an unmasked export recorded (and then sent) together: three statements per chunk.
EXPORT_CHUNK = 1000


@dataclass(frozen=True)
class ExportAccess:
    actor: object
    name: str
    reason: services.GivenReason | None
    unmasked: bool
    request_id: str = ""


def export_access(request: HttpRequest) -> ExportAccess:
    """Who exports which table, and whether unmasked: a reason code given by a role that may reveal.
    Raises AccessReasonMissing for an unknown code or "other" without words."""
    given = (request.GET.get("reason") or "").strip()
    reason = services.access_reason_from(request.GET) if given else None
    unmasked = reason is not None and has_capability(request.user, Capability.REVEAL_PII)
    # The page and the table ("/dashboards/drill/promises_broken/?export=csv"): never a filter's value.
    name = f"{request.path}?export={request.GET.get('export', '')[:40]}"
    return ExportAccess(
        actor=request.user,
        name=name,
        reason=reason,
        unmasked=unmasked,
        request_id=services.request_id_of(request),
    )


def personal_rows(
    access: ExportAccess,
    rows: Iterable[tuple[int | None, list]],
    maskers: dict[int, Callable[[str], str]],
) -> Iterator[list]:
    """Rows of (case ID, cells) -> cells: the `maskers` columns masked, or, for an unmasked export, left
    as they are, each chunk recorded (one look per case, once per case) before its rows are sent."""
    if not access.unmasked:
        for _case_id, cells in rows:
            for column, masker in maskers.items():
                cells[column] = masker(str(cells[column] or ""))
            yield cells
        return
    recorded: set[int] = set()
    iterator = iter(rows)
    while chunk := list(islice(iterator, EXPORT_CHUNK)):
        fresh = {case_id for case_id, _cells in chunk if case_id is not None} - recorded
        if fresh:
            services.access_record_many(
                actor=access.actor,
                kind=AccessKind.EXPORT,
                source=AccessSource.PAGE,
                reason=access.reason,
                case_ids=fresh,
                what=access.name,
                request_id=access.request_id,
            )
            recorded |= fresh
        for _case_id, cells in chunk:
            yield cells


def _counted(content: Iterator, access: ExportAccess) -> Iterator:
    rows = -2  # the BOM and the header
    try:
        for chunk in content:
            rows += 1
            yield chunk
    finally:
        # Also when the download is cut short: what was sent is recorded.
        services.access_record(
            actor=access.actor,
            kind=AccessKind.EXPORT,
            source=AccessSource.PAGE,
            reason=access.reason if access.unmasked else None,
            what=access.name,
            masked=not access.unmasked,
            rows=max(rows, 0),
            request_id=access.request_id,
        )
        audit.info(
            "export %s by user %s: %s row(s), %s",
            access.name,
            getattr(access.actor, "pk", None),
            max(rows, 0),
            "unmasked (reason given)" if access.unmasked else "masked",
        )


def audited_exports(view):
    """View decorator: `request.export_access` for the view's export branches, and the export's record
    once a CSV response has been streamed to the end. A bad reason code is a 400, nothing exported."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        if not request.GET.get("export"):
            return view(request, *args, **kwargs)
        try:
            request.export_access = export_access(request)
        except services.AccessReasonMissing as refused:
            return HttpResponse(refused.message, status=400, content_type="text/plain; charset=utf-8")
        response = view(request, *args, **kwargs)
        if isinstance(response, StreamingHttpResponse) and response.get("Content-Type", "").startswith(
            "text/csv"
        ):
            response.streaming_content = _counted(iter(response.streaming_content), request.export_access)
        return response

    return wrapped
