"""Bulk imports (admins): the daily accounts file and the payment feed, as a CSV file or JSON rows,
answered with the import service's per-row report."""

from __future__ import annotations

import tempfile

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from api import schema
from api import serializers as s
from api.parsers import BoundedJSONParser
from api.permissions import IsAdministrator
from api.throttling import ImportThrottle, UserThrottle
from api.views.base import ApiView
from core.exceptions import ValidationFailed
from imports import services as import_services


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
    parser_classes = [BoundedJSONParser, MultiPartParser, CSVUploadParser]
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
            _(
                "Send a CSV file (multipart field `file`, or the body with Content-Type text/csv) "
                "or JSON rows."
            ),
            field="file",
            rule="no_file",
        )

    def encoding(self, request) -> str:
        encoding = request.query_params.get("encoding", "utf-8")
        if len(encoding) > 20:
            raise ValidationFailed(_("Unknown encoding."), field="encoding")
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
        report = import_services.import_accounts(
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
        report = import_services.import_payments(
            self.source(request), encoding=self.encoding(request), actor=request.user
        )
        return Response(report.as_dict())
