"""The statement of account of a legal package, as a PDF for outside counsel (reportlab).

Kept apart from legal.services because reportlab takes a good part of a second to import: the export
(`services.legal_package_export`) loads this module when a package is exported, not every process at
start-up.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from django.utils import formats, timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from core.clock import bank_date, bank_zone
from core.masking import mask_national_id
from core.money import format_money
from core.pdf import document_styles, paragraph

if TYPE_CHECKING:  # for the annotation only: legal.services imports this module for an export
    from legal.services import LegalPackage


def _day(value) -> str:
    """A date (or the bank day of an instant) in the document language's one date format; "—" for none."""
    if value is None or value == "":
        return "—"
    if hasattr(value, "hour"):
        value = bank_date(value)
    return formats.date_format(value, "DATE_FORMAT")


def statement_pdf(package: LegalPackage, *, prepared_by: str) -> bytes:
    case, account = package.case, package.case.account
    holder = account.cardholder

    def money(amount) -> str:
        return format_money(amount, account.currency, get_language())

    styles = document_styles(body_size=9)
    body, title, heading = styles.body, styles.title, styles.heading

    def para(text, style=body):
        return paragraph(text, style)

    def table(rows, widths=None):
        t = Table([[para(v) for v in row] for row in rows], colWidths=widths)
        t.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        return t

    limitation = package.limitation
    story = [
        para(_("Statement of account"), title),
        para(
            (
                _("Case %(case)s, account %(account)s, as of %(as_of)s, prepared by %(who)s")
                % {
                    "case": case.reference,
                    "account": account.external_ref,
                    "as_of": _day(package.as_of),
                    "who": prepared_by,
                }
            ),
            body,
        ),
        Spacer(1, 4 * mm),
        table(
            [
                [_("Cardholder"), holder.name],
                [_("National ID"), mask_national_id(holder.national_id) if holder.national_id else "—"],
                [_("Product"), account.get_product_display()],
                [_("Currency"), account.currency],
                [_("First missed due date"), _day(account.first_missed_due_date)],
                [_("Days past due"), account.days_past_due],
                [_("Case state"), case.get_state_display()],
                [
                    _("Limitation date"),
                    _day(limitation.limitation_date)
                    + (
                        f" ({limitation.cause_label} {_day(limitation.restart)})"
                        if limitation.restart
                        else ""
                    ),
                ],
            ],
            widths=[55 * mm, 115 * mm],
        ),
        para(_("Amounts"), heading),
        table(
            [[_("Item"), _("Amount")], *[[label, money(amount)] for label, amount in package.statement]],
            [85 * mm, 85 * mm],
        ),
        para(_("Payments"), heading),
        table(
            [[_("Date"), _("Amount"), _("Reference"), _("Source")]]
            + [
                [
                    _day(p.paid_at),
                    format_money(p.amount, p.currency, get_language()),
                    p.external_ref,
                    p.source,
                ]
                for p in package.payments
            ]
            + [[_("Total"), money(package.total_paid), "", ""]],
        ),
        para(_("Effective collections (delivery proven)"), heading),
        table(
            [[_("Date"), _("Channel"), _("Evidence")]]
            + [
                [_day(row.contact.started_at), row.contact.get_channel_display(), row.why]
                for row in package.effective
            ]
            or [[_("none"), "", ""]],
        ),
        para(_("Malicious-overdraft referral checklist"), heading),
        table(
            [[_("Requirement"), _("Met"), _("Detail")]]
            + [[label, _("yes") if ok else _("no"), detail] for label, ok, detail in package.evidence.checks]
        ),
    ]
    if package.referral is not None:
        referral = package.referral
        story += [
            para(_("Referral"), heading),
            table(
                [
                    [
                        _("Referred"),
                        _day(timezone.localtime(referral.referred_at, bank_zone())),
                    ],
                    [_("Reason"), referral.reason],
                    [_("Rule"), referral.rule_name or _("referred by a person")],
                    [_("Decision"), referral.get_decision_display()],
                    [_("Court or agency reference"), referral.court_reference or "—"],
                ],
                widths=[55 * mm, 115 * mm],
            ),
        ]
    story += _chain_section(package, para, table, heading)
    buffer = io.BytesIO()
    SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=f"{case.reference} statement of account",
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
    ).build(story)
    return buffer.getvalue()


def _chain_section(package: LegalPackage, para, table, heading) -> list:
    """The case timeline's hash chain as the export saw it: the head a court copy is checked against, how
    to check it, and each event's row hash (events.csv carries the content each hash covers)."""
    from legal.services import CHAIN_CHECK  # legal.services imports this module lazily; no cycle at import

    hashes = ParagraphStyle("hash", fontName="Courier", fontSize=7, leading=9)
    rows = [
        [
            para(_day(timezone.localtime(event.created_at, bank_zone()))),
            para(f"{event.pk} · {event.get_kind_display()}"),
            Paragraph(event.row_hash, hashes),
        ]
        for event in package.events
    ]
    events = Table([[para(_("Date")), para(_("Event")), para(_("Row hash"))], *rows], repeatRows=1)
    events.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return [
        para(_("Case timeline hash chain"), heading),
        table(
            [
                [_("Events in the chain"), str(package.chain.length)],
                [_("Chain head"), package.chain.head],
            ],
            widths=[40 * mm, 130 * mm],
        ),
        Spacer(1, 2 * mm),
        para(_(CHAIN_CHECK)),
        Spacer(1, 2 * mm),
        events,
    ]
