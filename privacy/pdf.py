"""The subject-access export as a readable PDF (reportlab), in the language active when it is built.

Kept apart from privacy.subject_access because reportlab is slow to import: it is loaded when a PDF is
asked for. Chinese text uses reportlab's built-in CID font, as legal.pdf does (no font file to ship).
"""

from __future__ import annotations

import io
import json
from datetime import date, datetime
from decimal import Decimal

from django.apps import apps
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.platypus import SimpleDocTemplate, Spacer, Table, TableStyle

from core.clock import bank_zone
from core.pdf import document_styles, paragraph


def _display(field, value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if field is not None and field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(value, datetime):
        return formats.date_format(timezone.localtime(value, bank_zone()), "DATETIME_FORMAT")
    if isinstance(value, date):
        return formats.date_format(value, "DATE_FORMAT")
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def subject_access_pdf(*, cardholder, tables: dict, request, generated_at) -> bytes:
    styles = document_styles(body_size=8)
    body, title, heading = styles.body, styles.title, styles.heading

    def para(text, style=body):
        return paragraph(text, style)

    def grid(rows):
        t = Table([[para(v) for v in row] for row in rows], colWidths=[55 * mm, 119 * mm])
        t.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                    ("BACKGROUND", (0, 0), (0, -1), colors.whitesmoke),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        return t

    heading_text = _("Personal data held about %(name)s (%(ref)s)") % {
        "name": cardholder.name,
        "ref": cardholder.external_ref,
    }
    story = [
        para(heading_text, title),
        para(
            _("Subject access request %(id)s, reference %(reference)s, prepared %(when)s by %(who)s")
            % {
                "id": request.pk,
                "reference": request.reference or "—",
                "when": _display(None, generated_at),
                "who": request.requested_by.get_full_name() or request.requested_by.get_username(),
            }
        ),
        Spacer(1, 4 * mm),
    ]
    for label, table in tables.items():
        model = apps.get_model(label)
        story.append(para(f"{table['title']} ({len(table['rows'])})", heading))
        for row in table["rows"]:
            cells = []
            for name, value in row.items():
                try:
                    field = model._meta.get_field(name)
                except Exception:  # an attname the field map does not know
                    field = None
                cells.append([table["columns"].get(name, name), _display(field, value)])
            story += [grid(cells), Spacer(1, 2 * mm)]
    buffer = io.BytesIO()
    SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=heading_text,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
    ).build(story)
    return buffer.getvalue()
