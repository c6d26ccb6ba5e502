"""The legal package carries the case timeline's hash chain, so that a court copy can be checked without
the bank's database: the export's events.csv holds every event with prev_hash, row_hash and the canonical
content each hash covers; the statement (PDF) and the package page print the chain head and how to check;
the export's own timeline event records the head it saw (and links to it).

Personas (tests/conftest.py): `legal` exports; `agent` (team A) logged the contacts."""

import base64
import csv
import hashlib
import io
import re
import zipfile
import zlib

import pytest
from django.urls import reverse

from collections_app.models import CaseEvent
from collections_app.services import access_reason
from core import chains
from legal import services as legal_services

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def export_files(case, legal) -> tuple[dict[str, bytes], CaseEvent]:
    export = legal_services.legal_package_export(
        case_id=case.pk, actor=legal, reason=access_reason("legal_proceedings")
    )
    with zipfile.ZipFile(io.BytesIO(export.content)) as archive:
        files = {name.split("/", 1)[1]: archive.read(name) for name in archive.namelist()}
    return files, export.event


def pdf_text(data: bytes) -> str:
    """The text drawn on the PDF's pages (reportlab writes each page's stream ASCII85-encoded, zlib)."""
    streams = re.findall(rb"stream\r?\n(.*?~>)\s*endstream", data, re.DOTALL)
    text = []
    for stream in streams:
        try:
            text.append(zlib.decompress(base64.a85decode(stream.strip(), adobe=True)).decode("latin-1"))
        except (ValueError, zlib.error):
            continue
    return "".join(text)


def test_a_court_recomputes_the_chain_from_events_csv_alone(referred_case, legal, today):
    before = chains.chain_head(CaseEvent, referred_case.pk)
    files, export_event = export_files(referred_case, legal)
    rows = list(csv.DictReader(io.StringIO(files["events.csv"].decode("utf-8-sig"))))
    assert len(rows) == before.length > 3
    previous = chains.GENESIS
    for row in rows:  # the "How to check" recipe, with nothing but the file
        assert row["prev_hash"] == previous
        assert hashlib.sha256((row["prev_hash"] + row["content"]).encode()).hexdigest() == row["row_hash"]
        previous = row["row_hash"]
    assert previous == before.head
    stored = dict(CaseEvent.objects.filter(case=referred_case).values_list("pk", "row_hash"))
    assert all(stored[int(row["id"])] == row["row_hash"] for row in rows)
    # The export's own event records the head it saw and is the next link of the chain.
    assert export_event.details["chain_head"] == before.head
    assert export_event.details["events"] == before.length
    assert export_event.prev_hash == before.head


def test_the_statement_prints_the_chain_head_each_row_hash_and_how_to_check(referred_case, legal, today):
    head = chains.chain_head(CaseEvent, referred_case.pk).head
    files, export_event = export_files(referred_case, legal)
    text = pdf_text(files["statement.pdf"])
    assert "Case timeline hash chain" in text
    assert head in text
    packaged = CaseEvent.objects.filter(case=referred_case).exclude(pk=export_event.pk)
    assert all(row_hash in text for row_hash in packaged.values_list("row_hash", flat=True))
    assert export_event.row_hash not in text  # the export's own event comes after the package
    assert "How to check" in text


def test_an_edited_event_no_longer_matches_the_court_copy(referred_case, legal, today):
    """What the court holds: the head of an earlier export. The bank's chain, recomputed after a DBA
    edit, names the edited row; the court's copy still recomputes to the head it was given."""
    files, _event = export_files(referred_case, legal)
    first = CaseEvent.objects.filter(case=referred_case).order_by("pk").first()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "ALTER TABLE collections_app_caseevent DISABLE TRIGGER collections_app_caseevent_chain_refuse"
        )
        cursor.execute("UPDATE collections_app_caseevent SET reason = 'edited' WHERE id = %s", [first.pk])
        cursor.execute(
            "ALTER TABLE collections_app_caseevent ENABLE TRIGGER collections_app_caseevent_chain_refuse"
        )
    broken = chains.verify_chain(CaseEvent).broken
    assert (broken.row_id, broken.problem) == (first.pk, "content")
    rows = list(csv.DictReader(io.StringIO(files["events.csv"].decode("utf-8-sig"))))
    assert rows[0]["id"] == str(first.pk) and '"reason": "edited"' not in rows[0]["content"]


def test_the_package_page_shows_the_chain_head(client, legal, referred_case, today):
    client.force_login(legal)
    page = client.get(reverse("legal:case", args=[referred_case.pk])).content.decode()
    head = chains.chain_head(CaseEvent, referred_case.pk)
    assert f'<code class="chain-hash" data-testid="chain-head">{head.head}</code>' in page
    assert "How to check" in page
