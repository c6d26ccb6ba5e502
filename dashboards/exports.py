"""CSV exports leave the system: each one is recorded, and personal data in it is masked unless the user's
role may reveal personal data (Capability.REVEAL_PII) and they give a reason (`?reason=` beside
`?export=`). An unmasked export is a reveal: every case in it gets a PII_REVEAL event on its timeline
(collections_app.services.event_write, the record the case page's reveal writes), with the export's name
and the reason. Every export, masked or not, writes one line to the `collections.audit` logger: who,
which table, how many rows, masked or not (never the data itself)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import wraps

from django.http import HttpRequest, StreamingHttpResponse

from accounts.permissions import Capability, has_capability
from collections_app.models import Case, EventKind
from collections_app.services import event_write

audit = logging.getLogger("collections.audit")

REASON_MAX = 500


@dataclass(frozen=True)
class ExportAccess:
    actor: object
    name: str
    reason: str
    unmasked: bool


def export_access(request: HttpRequest) -> ExportAccess:
    reason = (request.GET.get("reason") or "").strip()[:REASON_MAX]
    unmasked = bool(reason) and has_capability(request.user, Capability.REVEAL_PII)
    # The page and the table ("/dashboards/drill/promises_broken/?export=csv"): never a filter's value.
    name = f"{request.path}?export={request.GET.get('export', '')[:40]}"
    return ExportAccess(actor=request.user, name=name, reason=reason, unmasked=unmasked)


def personal_rows(
    access: ExportAccess,
    rows: Iterable[tuple[int | None, list]],
    maskers: dict[int, Callable[[str], str]],
) -> Iterator[list]:
    """Rows of (case ID, cells) -> cells: the `maskers` columns masked, or, for an unmasked export, left
    as they are with one PII_REVEAL event per case (written as the rows stream, once per case)."""
    revealed: set[int] = set()
    for case_id, cells in rows:
        if not access.unmasked:
            for column, masker in maskers.items():
                cells[column] = masker(str(cells[column] or ""))
        elif case_id is not None and case_id not in revealed:
            revealed.add(case_id)
            event_write(
                case=Case(pk=case_id),
                kind=EventKind.PII_REVEAL,
                actor=access.actor,
                reason=access.reason,
                details={"export": access.name},
            )
        yield cells


def _counted(content: Iterator, access: ExportAccess) -> Iterator:
    rows = -2  # the BOM and the header
    for chunk in content:
        rows += 1
        yield chunk
    audit.info(
        "export %s by user %s: %s row(s), %s",
        access.name,
        getattr(access.actor, "pk", None),
        max(rows, 0),
        "unmasked (reason given)" if access.unmasked else "masked",
    )


def audited_exports(view):
    """View decorator: `request.export_access` for the view's export branches, and the audit line once
    a CSV response has been streamed to the end."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        if not request.GET.get("export"):
            return view(request, *args, **kwargs)
        request.export_access = export_access(request)
        response = view(request, *args, **kwargs)
        if isinstance(response, StreamingHttpResponse) and response.get("Content-Type", "").startswith(
            "text/csv"
        ):
            response.streaming_content = _counted(iter(response.streaming_content), request.export_access)
        return response

    return wrapped
