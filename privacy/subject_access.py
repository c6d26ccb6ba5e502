"""Subject access (PIPL Art. 45, GDPR Art. 15): everything held about one cardholder, from every table
in privacy.holdings, as JSON or as a readable PDF in English or Chinese. Every export is recorded
(SubjectAccessRequest) in the same transaction that reads the data; only supervisors and admins export.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.apps import apps
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.permissions import Capability, has_capability
from collections_app import services
from collections_app.models import AccessKind, AccessReason, AccessSource, Cardholder
from core.exceptions import NotAllowed, ValidationFailed
from privacy.holdings import BY_ACCOUNT_ID, HOLDINGS
from privacy.models import ExportFormat, SubjectAccessRequest

LANGUAGES = ("en", "zh-hans")


@dataclass
class Export:
    content: bytes
    filename: str
    content_type: str
    request: SubjectAccessRequest


def can_export_subject_data(user) -> bool:
    return has_capability(user, Capability.SUPERVISE)


def _columns(model) -> list:
    # Search hashes are keys derived from the data, not data about the person.
    return [f for f in model._meta.concrete_fields if not f.name.endswith("_hash")]


def subject_data(cardholder: Cardholder) -> dict:
    """{"app_label.model": {"title": verbose name, "columns": {name: label}, "rows": [{name: value}]}}
    for every table holding a row of this cardholder (tables without one are left out)."""
    tables: dict[str, dict] = {}

    def add(model, queryset) -> None:
        columns = _columns(model)
        names = [f.attname for f in columns]
        rows = list(queryset.order_by("pk").values(*names))
        if not rows:
            return
        label = model._meta.label_lower
        table = tables.setdefault(
            label,
            {
                "title": str(model._meta.verbose_name_plural),
                "columns": {f.attname: str(f.verbose_name) for f in columns},
                "rows": [],
            },
        )
        seen = {row["id"] for row in table["rows"]}
        table["rows"].extend(row for row in rows if row["id"] not in seen)

    for holding in HOLDINGS:
        model = holding.model_class
        add(model, model.objects.filter(holding.of([cardholder.pk])))
    account_ids = list(cardholder.accounts.values_list("pk", flat=True))
    for name in BY_ACCOUNT_ID:
        model = apps.get_model(name)
        add(model, model.objects.filter(account_id__in=account_ids))
    return tables


def subject_access_export(
    *,
    actor,
    cardholder: Cardholder,
    reason: str,
    reference: str = "",
    format: str = ExportFormat.JSON,
    language: str = "en",
) -> Export:
    """Everything held about `cardholder`, recorded as a SubjectAccessRequest (who, for whom, why)."""
    if not can_export_subject_data(actor):
        raise NotAllowed(_("Only supervisors and admins export a cardholder's data."), rule="subject_access")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(
            _("Say why the data is exported."), field="reason", rule="subject_access_reason"
        )
    if format not in ExportFormat.values:
        raise ValidationFailed(_("Choose JSON or PDF."), field="format", rule="subject_access_format")
    if language not in LANGUAGES:
        raise ValidationFailed(
            _("Choose English or Chinese."), field="language", rule="subject_access_language"
        )
    with transaction.atomic(), translation.override(language):
        tables = subject_data(cardholder)
        request = SubjectAccessRequest.objects.create(
            cardholder=cardholder,
            requested_by=actor,
            reason=reason,
            reference=reference.strip()[:100],
            format=format,
            language=language,
            tables={label: len(table["rows"]) for label, table in tables.items()},
        )
        # The export is a look at the person's data like any other: in the access records and report.
        services.access_record(
            actor=actor,
            kind=AccessKind.EXPORT,
            source=AccessSource.PAGE,
            reason=services.access_reason(AccessReason.CUSTOMER_REQUEST, reason),
            cardholder_id=cardholder.pk,
            what=f"subject_access:{request.pk}",
            rows=sum(request.tables.values()),
        )
    generated = timezone.now()
    stem = f"subject-access-{cardholder.external_ref}-{request.pk}"
    if format == ExportFormat.PDF:
        from privacy import pdf  # reportlab is slow to import; loaded when a PDF is asked for

        with translation.override(language):
            content = pdf.subject_access_pdf(
                cardholder=cardholder, tables=tables, request=request, generated_at=generated
            )
        return Export(content, f"{stem}.pdf", "application/pdf", request)
    document = {
        "cardholder": cardholder.external_ref,
        "request": request.pk,
        "reference": request.reference,
        "generated_at": generated,
        "tables": {label: table["rows"] for label, table in tables.items()},
    }
    content = json.dumps(document, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2).encode()
    return Export(content, f"{stem}.json", "application/json", request)
