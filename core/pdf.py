"""What every PDF the application prints shares (reportlab): the fonts, the styles, and a paragraph that
takes the font its text needs. Imported by the modules that build a PDF only (legal.pdf, privacy.pdf):
reportlab is slow to import.

Chinese text uses a CID font built into reportlab and every PDF reader (no font file to ship); it sets
Latin text poorly and lacks some punctuation, Helvetica the reverse - so each paragraph takes the one its
text needs."""

from __future__ import annotations

from dataclasses import dataclass

from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph

CJK_FONT = "STSong-Light"


def cjk_font() -> str:
    if CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    return CJK_FONT


def escape(text: str) -> str:
    # Paragraph reads a small XML markup; the data is text.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class Styles:
    body: ParagraphStyle
    title: ParagraphStyle
    heading: ParagraphStyle


def document_styles(*, body_size: float) -> Styles:
    """The body text at `body_size` points, a 15-point title and an 11-point heading, in Helvetica."""
    body = ParagraphStyle("body", fontName="Helvetica", fontSize=body_size, leading=body_size + 3)
    title = ParagraphStyle(
        "title", parent=body, fontName="Helvetica-Bold", fontSize=15, leading=19, spaceAfter=4
    )
    heading = ParagraphStyle(
        "heading",
        parent=body,
        fontName="Helvetica-Bold",
        fontSize=11,
        leading=15,
        spaceBefore=8,
        spaceAfter=4,
    )
    return Styles(body, title, heading)


def paragraph(text, style: ParagraphStyle) -> Paragraph:
    """`text` in `style`, or in the CID font when it holds Chinese (any character beyond Latin-1)."""
    text = str(text)
    if any(ord(ch) > 0xFF for ch in text):
        style = ParagraphStyle(f"{style.name}-cjk", parent=style, fontName=cjk_font())
    return Paragraph(escape(text), style)
