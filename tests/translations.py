"""What the translation tests share: a small reader of the zh_Hans catalogue (.po), the English UI
vocabulary built from its msgids, and the removal of data values (names, references, numbers) from a
page's text before looking for English words in it."""

from __future__ import annotations

import ast
import re
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str = ""
    msgctxt: str | None = None
    msgstrs: list[str] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)
    line: int = 0

    @property
    def untranslated(self) -> bool:
        return not self.msgstrs or any(not text for text in self.msgstrs)

    @property
    def fuzzy(self) -> bool:
        return "fuzzy" in self.flags


_KEYWORD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?)\s+(".*")\s*$')


def read_po(path: Path = CATALOGUE) -> list[Entry]:
    """The entries of a .po file, header and obsolete (#~) entries left out."""
    entries: list[Entry] = []
    current = Entry()
    key = ""
    started = False

    def finish():
        nonlocal current, started
        if started and current.msgid:
            entries.append(current)
        current, started = Entry(), False

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line:
            finish()
            continue
        if line.startswith("#~"):
            continue
        if line.startswith("#,"):
            if started:
                finish()
            current.flags |= {flag.strip() for flag in line[2:].split(",")}
            continue
        if line.startswith("#"):
            if started:
                finish()
            continue
        match = _KEYWORD.match(line)
        if match:
            keyword, literal = match.groups()
            if keyword in ("msgctxt", "msgid") and started and current.msgstrs:
                finish()
            if not started:
                current.line = number
            started = True
            key = keyword
            value = ast.literal_eval(literal)
            if keyword == "msgctxt":
                current.msgctxt = value
            elif keyword == "msgid":
                current.msgid = value
            elif keyword == "msgid_plural":
                current.msgid_plural = value
            else:
                current.msgstrs.append(value)
            continue
        if line.startswith('"'):
            value = ast.literal_eval(line)
            if key == "msgctxt":
                current.msgctxt = (current.msgctxt or "") + value
            elif key == "msgid":
                current.msgid += value
            elif key == "msgid_plural":
                current.msgid_plural += value
            else:
                current.msgstrs[-1] += value
    finish()
    return entries


# Placeholders are not words of the UI: %(name)s, %s, {{ name }}, {name}, HTML tags and entities.
_PLACEHOLDERS = re.compile(r"%\(\w+\)[sdfr]|%[sdfr]|\{\{.*?\}\}|\{\w*\}|<[^>]+>|&\w+;")
WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*[A-Za-z]|[A-Za-z]")

# Words of the msgids that may stand in a Chinese page: abbreviations and names a Chinese-speaking
# collections team reads as they are.
NOT_ENGLISH = {
    "api",  # the REST API
    "csv",  # file format
    "pdf",
    "zip",
    "sms",  # channel name used as is in Chinese banking
    "iso",  # ISO 8601
    "json",
    "http",
    "https",
    "smtp",
    "url",
    "kpi",  # 关键绩效指标 is spelled KPI in practice
    "kpis",
    "id",
    "ip",
    "html",
    "htmx",
    "openapi",
    "celery",  # the task runner's product name
    "redis",
    "utc",  # time zone names
    "gmt",
    "cba",  # China Banking Association (中国银行业协会), cited by its initials
    "reg",  # "Reg F" (US Regulation F), a legal citation
    "fdcpa",
    "cfpb",
    "dpd",  # days past due, the bucket vocabulary (M1, DPD) used in Chinese banks as is
    "cny",
    "usd",
    "hkd",
    "eur",
    "ok",
    "english",  # the language menu names each language in that language: English, 简体中文
}


def vocabulary(entries: list[Entry] | None = None) -> set[str]:
    """The lower-cased English words of the UI: every word (two letters or more) of every msgid."""
    words: set[str] = set()
    for entry in entries if entries is not None else read_po():
        for text in (entry.msgid, entry.msgid_plural):
            for word in WORD.findall(_PLACEHOLDERS.sub(" ", text)):
                if len(word) >= 2:
                    words.add(word.lower().replace("’", "'"))
    return words - NOT_ENGLISH


# Data shown on pages that is not UI text: e-mail addresses, URLs, references (CASE-000123,
# ACC-..., 4-digit years), amounts with currency codes, phone numbers, times.
_DATA_PATTERNS = [
    re.compile(r"\S+@\S+"),
    re.compile(r"\bmanage\.py [\w-]+"),  # a command to type, named as it is typed
    re.compile(r"#\w+"),  # a tag to type in a note (#complaint), named as it is typed
    re.compile(r"https?://\S+"),
    re.compile(r"\b[A-Z]{2,}[-_]?[A-Z0-9]*\d[\w-]*\b"),  # references: CASE-000123, ACC2026..., M1, M2+
    re.compile(r"\b\w*\d\w*\b"),  # anything with a digit: amounts, dates, ids, masked numbers
]


# IANA time zone names (Asia/Shanghai, America/New_York, MET), shown as they are in time zone menus.
_ZONES = re.compile(
    r"(?<![\w/])(?:"
    + "|".join(re.escape(zone) for zone in sorted(zoneinfo.available_timezones(), key=len, reverse=True))
    + r")(?![\w/])"
)


def strip_data(text: str, data_values: set[str]) -> str:
    """The text with time zone names, the given data values (names, queue and team names, ...) and data
    patterns (e-mails, references, numbers) removed."""
    text = _ZONES.sub(" ", text)
    values = sorted((value for value in data_values if value), key=len, reverse=True)
    if values:
        # Whole values only ("work", a contact point's label, is not taken out of "workday").
        alternatives = "|".join(re.escape(value) for value in values)
        text = re.sub(rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])", " ", text)
    for pattern in _DATA_PATTERNS:
        text = pattern.sub(" ", text)
    return text


def english_words(text: str, vocab: set[str]) -> set[str]:
    """The UI words of `vocab` that appear in `text` (case-insensitively)."""
    return {word for word in WORD.findall(text) if len(word) >= 2 and word.lower() in vocab}


def data_values() -> set[str]:
    """Values people typed or imported that pages show as they are: names of cardholders, staff,
    teams, queues, escalation rules and policy profiles, contact-point labels, free-text notes and
    reasons written by people. None of them is UI text, whatever language it is in."""
    from accounts.models import Team, User
    from collections_app.models import Cardholder, CaseEvent, ContactAttempt, ContactPoint, Queue
    from contact_policy.models import ContactPolicy
    from escalation.models import EscalationRule
    from legal.models import LegalReferral

    values: set[str] = set()
    for user in User.objects.all():
        values |= {user.username, user.get_full_name(), user.first_name, user.last_name, str(user)}
    values |= set(Team.objects.values_list("name", flat=True))
    values |= set(Queue.objects.values_list("name", flat=True))
    values |= set(EscalationRule.objects.values_list("name", flat=True))
    values |= set(ContactPolicy.objects.values_list("name", flat=True))
    values |= set(ContactPolicy.objects.values_list("code", flat=True))  # jurisdictions: CN, US, US-MA
    for name, attorney, address, jurisdiction in Cardholder.objects.values_list(
        "name", "attorney_contact", "address", "jurisdiction"
    ):
        values |= {name, attorney, address, jurisdiction}
    for name, label in ContactPoint.objects.values_list("party_name", "label"):
        values |= {name, label}
    for person, notes in ContactAttempt.objects.values_list("person_reached", "notes"):
        values |= {person, notes}
    # What people wrote on the timeline and in referrals (the system's own texts are msgids: not data).
    msgids = {entry.msgid for entry in read_po()}
    values |= {
        reason
        for reason in CaseEvent.objects.filter(actor__isnull=False).values_list("reason", flat=True)
        if reason not in msgids
    }
    values |= set(LegalReferral.objects.filter(rule__isnull=True).values_list("reason", flat=True))
    return {value for value in values if value}
