"""The daily files from the bank's core system: accounts (with their cardholders) and payments.

`import_accounts` and `import_payments` take a path, an open file (bytes or text, e.g. an upload) or
an iterable of mappings (JSON rows from the API), and return an `ImportReport`. The column reference
is docs/imports.md. The management commands `import_accounts` / `import_payments` are thin wrappers
(`ImportFileCommand`) that write the report file and choose the exit code.

Rules that hold for both files:
- a file is read as a stream and applied in batches; memory grows only with the set of references
  seen (to name the first line of a duplicate), never with the rows themselves;
- a row is applied whole or not at all: every problem of a rejected row is reported with its line
  (the header is line 1), column, value and reason, and the other rows are applied;
- a file-level problem (unreadable, wrong encoding, empty, missing columns) raises `ImportFileError`
  before anything is applied (a stream that cannot be rewound is decoded as it is read: a bad byte
  found mid-way stops the import there);
- re-running a file changes nothing: rows are compared with the database and only differences are
  written, so a replay writes no row, no event and no `updated_at`.
"""

from __future__ import annotations

import codecs
import csv
import functools
import hashlib
import io
import os
import re
import zoneinfo
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import Language
from collections_app import delinquency, services
from collections_app.models import (
    CreditAccount,
    Product,
)
from core import crypto
from core.exceptions import DomainError, ValidationFailed
from core.masking import card_last4, luhn_valid, pii_hash
from core.money import ZERO
from imports import staging

ACCOUNT_BATCH_SIZE = 5000
PAYMENT_BATCH_SIZE = 1000
PAYMENTS_PER_TRANSACTION = 100
# A multi-line address spans a few lines; a row spanning more has an unclosed quote.
MAX_LINES_PER_ROW = 20
REPORT_COLUMNS = ("line", "column", "value", "reason")
# Values of these columns are masked in reports, which travel further than the input file does.
PII_COLUMNS = frozenset({"national_id", "phone", "phone2", "card_number"})
ACCOUNT_REQUIRED_COLUMNS = (
    "account_ref",
    "cardholder_ref",
    "name",
    "currency",
    "principal",
    "overdue_amount",
    "first_missed_due_date",
)
CARDHOLDER_TEXT_COLUMNS = (
    "name",
    "national_id",
    "email",
    "address",
    "time_zone",
    "language",
    "jurisdiction",
    "attorney_contact",
)
# A flag in the file can raise a flag but never clear one: a cease-communication request taken by an
# agent must survive the next daily file. Flags are cleared in the application, by a person.
CARDHOLDER_FLAG_COLUMNS = (
    "do_not_contact",
    "cease_communication",
    "attorney_represented",
    "bankruptcy",
    "deceased",
    "vulnerable",
)
PHONE_COLUMNS = ("phone", "phone2")
ACCOUNT_MONEY_COLUMNS = (
    "credit_limit",
    "principal",
    "interest",
    "fees",
    "penalties",
    "overdue_amount",
    "minimum_due",
)
ACCOUNT_DATE_COLUMNS = ("first_missed_due_date", "next_due_date", "opened_on")
ACCOUNT_COLUMNS = (
    "account_ref",
    "cardholder_ref",
    *CARDHOLDER_TEXT_COLUMNS,
    *PHONE_COLUMNS,
    *CARDHOLDER_FLAG_COLUMNS,
    "product",
    "currency",
    *ACCOUNT_MONEY_COLUMNS,
    *ACCOUNT_DATE_COLUMNS,
    "card_number",
)
# Written on every account row, whatever columns the file has.
ACCOUNT_DERIVED_FIELDS = ("cardholder", "days_past_due", "bucket", "dpd_as_of")
PAYMENT_REQUIRED_COLUMNS = ("payment_ref", "account_ref", "amount", "currency", "paid_at")
PAYMENT_COLUMNS = (*PAYMENT_REQUIRED_COLUMNS, "source")

MAX_LENGTHS = {
    "account_ref": 64,
    "cardholder_ref": 64,
    "payment_ref": 64,
    "name": 200,
    "national_id": 32,
    "email": 254,
    "attorney_contact": 200,
    "source": 40,
}


# --- The report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowProblem:
    """One reason a row (or, with line 1, the header) was refused."""

    line: int
    column: str
    value: str
    reason: str


@dataclass
class ImportReport:
    """What an import did. Every row read is exactly one of created, updated, unchanged, rejected."""

    kind: str
    rows_read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Side effects beyond the rows: cardholders_created, contact_points_added, cases_opened ...
    counts: Counter = field(default_factory=Counter)

    def reject(self, problems: list[RowProblem]) -> None:
        self.rejected += 1
        self.problems.extend(problems)

    def finish(self) -> ImportReport:
        # Rows refused while reading and rows refused while applying a batch, in file order.
        self.problems.sort(key=lambda problem: problem.line)
        return self

    @property
    def ok(self) -> bool:
        return self.rejected == 0

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "rows_read": self.rows_read,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "problems": [asdict(p) for p in self.problems],
            "warnings": list(self.warnings),
            "counts": dict(self.counts),
        }

    def summary_lines(self) -> list[str]:
        lines = [
            f"{self.rows_read} rows read: {self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.rejected} rejected."
        ]
        extras = [f"{label} {self.counts[key]}" for key, label in COUNT_LABELS if self.counts.get(key)]
        if extras:
            lines.append("Also: " + ", ".join(extras) + ".")
        return lines


COUNT_LABELS = (
    ("cardholders_created", "cardholders created"),
    ("cardholders_updated", "cardholders updated"),
    ("contact_points_added", "phone numbers and e-mail addresses added"),
    ("cases_opened", "cases opened"),
    ("cases_resolved", "cases resolved"),
)


class ImportFileError(ValidationFailed):
    """The file as a whole cannot be imported; nothing (more) was applied. `problems` name the
    offending columns when there are any (line 1 is the header)."""

    code = "import_file_invalid"

    def __init__(self, message: str, *, rule: str, problems: list[RowProblem] | None = None):
        self.problems = list(problems or [])
        super().__init__(
            message, field="file", rule=rule, details={"problems": [asdict(p) for p in self.problems]}
        )


def report_value(column: str, value: str) -> str:
    """A cell as it may appear in a report: personal data masked, formulas defused, length capped."""
    value = value[:200]
    if column in PII_COLUMNS and value:
        value = "*" * max(len(value) - 4, 4) + value[-4:] if len(value) > 4 else "****"
    # A report is opened in a spreadsheet: a cell starting with = + - @ would run as a formula there.
    if value[:1] in ("=", "+", "-", "@", "\t", "\r") and not re.fullmatch(r"[+-]?\d+(\.\d+)?", value):
        value = "'" + value
    return value


def report_write(problems: Iterable[RowProblem], out: io.TextIOBase) -> None:
    writer = csv.writer(out)
    writer.writerow(REPORT_COLUMNS)
    for p in problems:
        writer.writerow([p.line, p.column, report_value(p.column, p.value), p.reason])


# --- Reading a file -----------------------------------------------------------------------------


@dataclass
class _Table:
    header: list[str]
    # (line, values by column, structural problem); values is None when the row could not be split.
    records: Iterator[tuple[int, dict[str, str] | None, str]]


def _codec_name(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise ImportFileError(
            _("Unknown encoding '%(encoding)s'. Use utf-8 (the default) or gbk.") % {"encoding": encoding},
            rule="unknown_encoding",
        ) from None


def _check_encoding(binary, codec: str) -> None:
    """Decode the whole file once before anything is applied, in chunks (constant memory), so that a
    file in another encoding is refused whole, never imported as mojibake or half imported."""
    decoder = codecs.getincrementaldecoder(codec)(errors="strict")
    utf8 = codecs.getincrementaldecoder("utf-8")(errors="strict")
    utf8_valid, non_ascii, line = True, False, 1
    while chunk := binary.read(1 << 20):
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            line += chunk.count(b"\n", 0, max(exc.start, 0))
            raise ImportFileError(_decode_message(codec, line, exc), rule="encoding") from None
        line += chunk.count(b"\n")
        if not codec.startswith("utf-8"):
            non_ascii = non_ascii or not chunk.isascii()
            if utf8_valid:
                try:
                    utf8.decode(chunk)
                except UnicodeDecodeError:
                    utf8_valid = False
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise ImportFileError(_decode_message(codec, line, exc), rule="encoding") from None
    if not codec.startswith("utf-8") and non_ascii and utf8_valid:
        # Chinese text in UTF-8 also decodes as GBK, into the wrong characters: refuse rather than guess.
        raise ImportFileError(
            _(
                "The file was to be read as %(codec)s, but it is UTF-8 text: read as %(codec)s, its names "
                "and addresses would come out garbled. Import it with --encoding utf-8 (the default)."
            )
            % {"codec": codec},
            rule="encoding",
        )


def _decode_message(codec: str, line: int, exc: UnicodeDecodeError) -> str:
    bad = exc.object[exc.start : exc.start + 2].hex(" ")
    message = f"The file is not valid {codec} text (line {line}: bytes {bad} cannot be decoded)."
    if codec.startswith("utf-8"):
        message += (
            " Files saved by Excel or exported on Chinese Windows are usually GBK:"
            " import it with --encoding gbk."
        )
    else:
        message += " Give the file's encoding with --encoding (utf-8 or gbk)."
    return message


@contextmanager
def _open_table(source, encoding: str) -> Iterator[_Table]:
    if isinstance(source, str | os.PathLike):
        try:
            handle = open(source, "rb")  # noqa: SIM115 - closed by the with below
        except OSError as exc:
            raise ImportFileError(
                _("Cannot read %(source)s: %(strerror)s.") % {"source": source, "strerror": exc.strerror},
                rule="unreadable",
            ) from None
        with handle, _text_table(handle, encoding) as table:
            yield table
    elif hasattr(source, "read"):
        with _text_table(source, encoding) as table:
            yield table
    else:
        yield _mapping_table(source)


@contextmanager
def _text_table(handle, encoding: str) -> Iterator[_Table]:
    if isinstance(handle.read(0), str):
        yield _csv_table(handle)
        return
    codec = _codec_name(encoding)
    if getattr(handle, "seekable", lambda: False)():
        start = handle.tell()
        _check_encoding(handle, codec)
        handle.seek(start)
    # utf-8-sig reads a file with or without the byte-order mark Excel writes.
    read_as = "utf-8-sig" if codec == "utf-8" else codec
    if isinstance(handle, io.BufferedIOBase | io.RawIOBase):
        text = io.TextIOWrapper(handle, encoding=read_as, errors="strict", newline="")
        try:
            yield _csv_table(text)
        finally:
            text.detach()  # the caller's file stays open
    else:  # a file-like object of another kind (Django's uploaded files)
        yield _csv_table(codecs.getreader(read_as)(handle, errors="strict"))


def _normalise_header(names: list[str]) -> list[str]:
    header = [name.strip().lower() for name in names]
    duplicates = sorted({name for name in header if name and header.count(name) > 1})
    if duplicates:
        raise ImportFileError(
            _("The header names %(columns)s more than once.") % {"columns": ", ".join(duplicates)},
            rule="duplicate_columns",
            problems=[RowProblem(1, name, name, "column appears more than once") for name in duplicates],
        )
    return header


def _csv_table(text) -> _Table:
    reader = csv.reader(text)
    try:
        first = next(reader, None)
        while first is not None and not any(cell.strip() for cell in first):
            first = next(reader, None)
    except UnicodeDecodeError as exc:
        raise ImportFileError(_decode_message(exc.encoding, 1, exc), rule="encoding") from None
    except csv.Error as exc:
        raise ImportFileError(
            _("The header cannot be read as CSV: %(exc)s.") % {"exc": exc}, rule="unreadable"
        ) from None
    if first is None:
        raise ImportFileError(_("The file is empty: there is not even a header line."), rule="empty_file")
    header = _normalise_header(first)
    return _Table(header=header, records=_csv_records(reader, header))


def _csv_records(reader, header: list[str]) -> Iterator[tuple[int, dict[str, str] | None, str]]:
    width = len(header)
    last_line = reader.line_num
    while True:
        line = last_line + 1  # a quoted field may span lines: a record is named by its first line
        try:
            fields = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:  # only when the file could not be checked beforehand
            raise ImportFileError(_decode_message(exc.encoding, line, exc), rule="encoding") from None
        except csv.Error as exc:
            last_line = reader.line_num
            yield line, None, f"cannot be read as CSV: {exc}"
            continue
        last_line = reader.line_num
        if not any(cell.strip() for cell in fields):
            continue
        if last_line - line >= MAX_LINES_PER_ROW:
            # An unclosed quote swallows the lines after it into one field: say so, with the lines
            # lost, rather than let them vanish inside a rejected (or, worse, accepted) row.
            swallowed = f"spans lines {line}-{last_line}: a quote is probably left open; "
            yield line, None, swallowed + "the lines in between were not read as rows"
            continue
        if len(fields) != width:
            yield line, None, f"has {len(fields)} fields where the header has {width}"
            continue
        if any("\x00" in cell for cell in fields):
            yield line, None, "contains a NUL character (is this a text file?)"
            continue
        yield line, dict(zip(header, fields, strict=True)), ""


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _mapping_table(rows: Iterable[Mapping[str, Any]]) -> _Table:
    """Rows given as mappings (JSON from the API). Their keys play the header (taken from the first
    row); a row is numbered as it would be in a CSV file, the first one being line 2."""
    iterator = iter(rows)
    first = next(iterator, None)
    if first is None:
        return _Table(header=[], records=iter(()))
    if not isinstance(first, Mapping):
        raise ImportFileError(_("Rows must be objects of column names and values."), rule="unreadable")
    header = _normalise_header([str(key) for key in first])

    def records():
        yield from _mapping_record(2, first, header)
        for line, row in enumerate(iterator, start=3):
            yield from _mapping_record(line, row, header)

    return _Table(header=header, records=records())


def _mapping_record(line: int, row: Any, header: list[str]):
    if not isinstance(row, Mapping):
        yield line, None, "is not an object of column names and values"
        return
    values = {str(k).strip().lower(): _cell_text(v) for k, v in row.items()}
    if any("\x00" in value for value in values.values()):
        yield line, None, "contains a NUL character"
        return
    if set(values) != set(header):
        missing = sorted(set(header) - set(values))
        extra = sorted(set(values) - set(header))
        reason = "has other columns than the first row"
        if missing:
            reason += f"; lacks {', '.join(missing)}"
        if extra:
            reason += f"; adds {', '.join(extra)}"
        yield line, None, reason
        return
    yield line, values, ""


def _check_columns(header: list[str], required: tuple[str, ...], known: tuple[str, ...], report) -> None:
    missing = [name for name in required if name not in header]
    if missing:
        raise ImportFileError(
            ngettext(
                "Required column missing: %(columns)s. Nothing was imported.",
                "Required columns missing: %(columns)s. Nothing was imported.",
                len(missing),
            )
            % {"columns": ", ".join(missing)},
            rule="missing_columns",
            problems=[RowProblem(1, name, "", "required column is missing") for name in missing],
        )
    unknown = [name for name in header if name and name not in known]
    if unknown:
        report.warnings.append(f"Columns ignored (not known): {', '.join(unknown)}.")


def _batches(items: Iterable, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# --- Reading cells ------------------------------------------------------------------------------


class _Cells:
    """Typed reads of one row's cells; each bad cell adds a problem and returns None."""

    def __init__(self, line: int, values: dict[str, str]):
        self.line = line
        self.values = values
        self.problems: list[RowProblem] = []

    def has(self, name: str) -> bool:
        return name in self.values

    def raw(self, name: str) -> str:
        return self.values.get(name, "").strip()

    def refuse(self, name: str, reason: str) -> None:
        self.problems.append(RowProblem(self.line, name, self.values.get(name, ""), reason))

    def parsed(self, name: str, parse: Callable[[str], Any], *, required: bool, default: Any = None):
        value = self.raw(name)
        if not value:
            if required:
                self.refuse(name, "is required")
                return None
            return default
        try:
            return parse(value)
        except ValueError as exc:
            self.refuse(name, str(exc))
            return None

    def text(self, name: str, *, required: bool = False) -> str:
        def parse(value: str) -> str:
            limit = MAX_LENGTHS.get(name)
            if limit and len(value) > limit:
                raise ValueError(f"is longer than {limit} characters")
            return value

        return self.parsed(name, parse, required=required, default="")

    def money(self, name: str, *, required: bool = False) -> Decimal | None:
        return self.parsed(name, parse_money, required=required, default=ZERO)

    def date(self, name: str, *, required: bool = False) -> date | None:
        return self.parsed(name, parse_date, required=required)

    def flag(self, name: str) -> bool:
        return bool(self.parsed(name, parse_flag, required=False, default=False))


_MONEY = re.compile(r"\d{1,12}(\.\d{1,2})?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TRUE = {"1", "true", "yes", "y", "t", "是"}
_FALSE = {"0", "false", "no", "n", "f", "否"}


def parse_money(value: str) -> Decimal:
    """A non-negative amount with at most two decimals, written plainly: 1234.56."""
    if _MONEY.fullmatch(value):
        return Decimal(value).quantize(Decimal("0.01"))
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(
            "is not an amount (write it like 1234.56: digits, a point, no thousands separator)"
        ) from None
    if not number.is_finite():
        raise ValueError("is not an amount")
    if number < 0:
        raise ValueError("must not be negative")
    if number.as_tuple().exponent < -2:
        raise ValueError("has more than 2 decimal places")
    if number >= Decimal("1000000000000"):
        raise ValueError("is too large (at most 999999999999.99)")
    raise ValueError("is not a plain amount (write it like 1234.56)")


def parse_date(value: str) -> date:
    if not _DATE.fullmatch(value):
        raise ValueError("is not a date in the form YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError("is not a real date") from None


def parse_flag(value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("is not a yes/no value (use 1 or 0)")


def parse_datetime(value: str) -> datetime:
    """An ISO date-time; without an offset it is in the bank's time zone (TIME_ZONE); a bare date is
    midnight there."""
    if _DATE.fullmatch(value):
        moment = datetime.combine(parse_date(value), time())
    else:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("is not a date-time like 2026-03-01T14:30:00+08:00 or a date") from None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


_PHONE_SEPARATORS = re.compile(r"[\s\-().]")
_E164 = re.compile(r"\+[1-9]\d{6,14}")


def parse_phone(value: str) -> str:
    """An international number, stored as +<country code><number> so that one number is one row."""
    number = _PHONE_SEPARATORS.sub("", value)
    if number.startswith("00"):
        number = "+" + number[2:]
    if not _E164.fullmatch(number):
        raise ValueError("is not an international phone number (write it as +86 138 0013 8000)")
    return number


def parse_card_number(value: str) -> str:
    """A card number (PAN) of 12 to 19 digits, spaces and dashes allowed, with a valid check digit;
    stored as digits only (encrypted at rest, CreditAccount.card_number). The error never repeats the
    number (the report masks the cell too)."""
    number = re.sub(r"[\s\-]", "", value)
    if not re.fullmatch(r"\d{12,19}", number):
        raise ValueError("is not a card number (12 to 19 digits)")
    if not luhn_valid(number):
        raise ValueError("is not a card number: its check digit is wrong")
    return number


def parse_email(value: str) -> str:
    try:
        validate_email(value)
    except ValidationError:
        raise ValueError("is not an e-mail address") from None
    return value


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def parse_time_zone(value: str) -> str:
    if value not in _time_zones():
        raise ValueError("is not a known time zone (write it like Asia/Shanghai)")
    return value


_LANGUAGES = frozenset(Language.values)
_PRODUCTS = frozenset(Product.values)
_LANGUAGE_ALIASES = {
    "zh": "zh-hans",
    "zh-cn": "zh-hans",
    "zh-hans-cn": "zh-hans",
    "en-us": "en",
    "en-gb": "en",
}


def parse_language(value: str) -> str:
    code = value.lower().replace("_", "-")
    code = _LANGUAGE_ALIASES.get(code, code)
    if code not in _LANGUAGES:
        raise ValueError(f"is not a supported language ({', '.join(Language.values)})")
    return code


def parse_jurisdiction(value: str) -> str:
    code = value.upper()
    if not re.fullmatch(r"[A-Z]{2}(-[A-Z0-9]{1,3})?", code):
        raise ValueError("is not a jurisdiction code such as CN, US or US-CA")
    return code


def parse_currency(value: str) -> str:
    code = value.upper()
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise ValueError("is not a three-letter currency code such as CNY or USD")
    return code


def parse_product(value: str) -> str:
    code = value.lower()
    if code not in _PRODUCTS:
        raise ValueError(f"is not a product ({', '.join(Product.values)})")
    return code


# --- Accounts -----------------------------------------------------------------------------------


@dataclass
class _AccountFile:
    """What the reading of an accounts file needs to know beside the row."""

    header: list[str]
    as_of: date

    @functools.cached_property
    def boundaries(self) -> list[int]:
        return delinquency.bucket_boundaries()

    @functools.cached_property
    def cardholder_fields(self) -> list[str]:
        return [name for name in (*CARDHOLDER_TEXT_COLUMNS, *CARDHOLDER_FLAG_COLUMNS) if name in self.header]

    @functools.cached_property
    def whole_balance(self) -> bool:
        return set(delinquency.COMPONENTS) <= set(self.header)


def _parse_account_row(line: int, values: dict[str, str], state: _AccountFile) -> tuple[dict | None, list]:
    """The row's cells read and checked one by one: (its values, []) or (None, its problems). The
    checks across rows (a reference seen before, a cardholder's rows disagreeing) and against the
    database are SQL over the staging table (imports.staging)."""
    cells = _Cells(line, values)
    row: dict[str, Any] = {
        "account_ref": cells.text("account_ref", required=True),
        "cardholder_ref": cells.text("cardholder_ref", required=True),
        "name": cells.text("name", required=True),
        "national_id": cells.text("national_id"),
        "email": cells.parsed("email", parse_email, required=False, default=""),
        "address": cells.raw("address"),
        "time_zone": cells.parsed("time_zone", parse_time_zone, required=False, default=""),
        "language": cells.parsed("language", parse_language, required=False, default="zh-hans"),
        "jurisdiction": cells.parsed("jurisdiction", parse_jurisdiction, required=False, default="CN"),
        "attorney_contact": cells.text("attorney_contact"),
    }
    for name in CARDHOLDER_FLAG_COLUMNS:
        row[name] = cells.flag(name)
    phones = []
    for name in PHONE_COLUMNS:
        phone = cells.parsed(name, parse_phone, required=False, default="")
        if phone and phone not in phones:
            phones.append(phone)
    row["phones"] = phones
    row["product"] = cells.parsed("product", parse_product, required=False, default=Product.CREDIT_CARD)
    row["currency"] = cells.parsed("currency", parse_currency, required=True)
    for name in ACCOUNT_MONEY_COLUMNS:
        row[name] = cells.money(name, required=name in ACCOUNT_REQUIRED_COLUMNS)
    for name in ACCOUNT_DATE_COLUMNS:
        row[name] = cells.date(name)
    row["card_number"] = cells.parsed("card_number", parse_card_number, required=False, default="")

    overdue, missed = row["overdue_amount"], row["first_missed_due_date"]
    missed_unreadable = cells.raw("first_missed_due_date") != "" and missed is None
    if overdue is not None and not missed_unreadable:
        if overdue > ZERO and missed is None:
            cells.refuse("first_missed_due_date", "is required when overdue_amount is above zero")
        elif overdue == ZERO and missed is not None:
            cells.refuse(
                "first_missed_due_date", "must be empty when overdue_amount is 0.00 (the account is current)"
            )
        elif missed is not None and missed >= state.as_of:
            cells.refuse("first_missed_due_date", f"is not before the file date {state.as_of}")
    if row["opened_on"] is not None and row["opened_on"] > state.as_of:
        cells.refuse("opened_on", f"is after the file date {state.as_of}")
    components = [row[name] for name in delinquency.COMPONENTS if name in state.header]
    # Checked only when the file gives the whole balance; otherwise the stored components count.
    whole_balance = state.whole_balance and None not in components
    if overdue and whole_balance and overdue > sum(components, ZERO):
        cells.refuse("overdue_amount", "is above the balance (principal + interest + fees + penalties)")
    if cells.problems:
        return None, cells.problems
    row["days_past_due"] = delinquency.days_past_due(missed, state.as_of)
    row["bucket"] = delinquency.bucket_for(row["days_past_due"], state.boundaries)
    return row, []


class _Sealer:
    """Encrypts and hashes a file's personal values before they reach the database. A cardholder's
    rows follow one another in a bank's file: the last few values are remembered (a bounded memory),
    so that a cardholder's national ID is encrypted once, not once per account."""

    def __init__(self):
        self.seal = functools.lru_cache(maxsize=256)(crypto.encrypt)
        self.hash = functools.lru_cache(maxsize=1024)(pii_hash)
        # A keyed digest of a cardholder's details, compared across the file's rows in SQL.
        self.key = settings.PII_HASH_KEY.encode()[:64]

    def digest(self, values: Iterable[Any]) -> str:
        text = "\x1f".join(str(value) for value in values)
        return hashlib.blake2b(text.encode(), key=self.key, digest_size=16).hexdigest()


def _staged_rows(records, state: _AccountFile, report: ImportReport) -> Iterator[tuple]:
    """Read, check and seal the file's rows, as tuples in imports.staging.LOADED order. A refused
    row is reported here and staged with its reference only (a later row repeating it is refused)."""
    sealer = _Sealer()
    seq = 0
    blank = (None,) * (len(staging.LOADED) - 7)
    for line, values, problem in records:
        report.rows_read += 1
        if values is None:
            report.reject([RowProblem(line, "", "", f"The row {problem}")])
            continue
        row, problems = _parse_account_row(line, values, state)
        if row is None:
            report.reject(problems)
            ref = values.get("account_ref", "").strip()
            if ref and len(ref) <= MAX_LENGTHS["account_ref"]:
                yield (line, None, False, ref, values["account_ref"], "", "", *blank)
            continue
        phones = row["phones"]
        details = sealer.digest([*(row[name] for name in state.cardholder_fields), *phones])
        phone1 = phones[0] if phones else ""
        phone2 = phones[1] if len(phones) > 1 else ""
        card = row["card_number"]
        yield (
            line,
            seq,
            True,
            row["account_ref"],
            values["account_ref"],
            row["cardholder_ref"],
            values["cardholder_ref"],
            details,
            row["name"],
            sealer.seal(row["national_id"]),
            *(row[name] for name in staging.CARDHOLDER_TEXT[2:]),
            sealer.hash(row["national_id"]),
            sealer.hash(row["email"]),
            *(row[name] for name in staging.CARDHOLDER_FLAGS),
            phone1,
            sealer.hash(phone1),
            phone2,
            sealer.hash(phone2),
            row["product"],
            row["currency"],
            *(row[name] for name in staging.MONEY),
            *(row[name] for name in staging.DATES),
            crypto.encrypt(card),
            pii_hash(card),
            card_last4(card),
            row["days_past_due"],
            row["bucket"],
        )
        seq += 1


def import_accounts(
    rows_or_file,
    *,
    encoding: str = "utf-8",
    as_of: date,
    actor=None,
    batch_size: int = ACCOUNT_BATCH_SIZE,
) -> ImportReport:
    """Upsert accounts and their cardholders from the daily accounts file (docs/imports.md).

    The file is streamed into a staging table (COPY), its rows checked across the file in SQL, then
    merged batch by batch (imports.staging: a few set-based statements per batch, each batch one
    transaction). Cardholders and accounts are matched by `external_ref`; only what differs is
    written. Phones and the e-mail become debtor `ContactPoint`s (added, never removed). DPD and
    bucket are computed for `as_of`. A newly delinquent account gets a case (kernel.cases_open_bulk:
    an OPENED event) and an open case whose account the file shows with nothing overdue is resolved by
    the system (`case_close`: a RESOLVED event, `cured`, or `paid_in_full` when the balance is nil too).
    `actor` is who loads the file; the case changes are the system's.
    Raises ImportFileError when the file cannot be imported at all (before anything is applied)."""
    report = ImportReport(kind="accounts")
    with _open_table(rows_or_file, encoding) as table:
        if not table.header:
            return report
        _check_columns(table.header, ACCOUNT_REQUIRED_COLUMNS, ACCOUNT_COLUMNS, report)
        state = _AccountFile(header=table.header, as_of=as_of)
        with staging.AccountStage(table.header, as_of, batch_size) as stage:
            stage.load(_staged_rows(table.records, state, report))
            _report_refused(report, stage.refuse_repeated_accounts())
            _report_refused(report, stage.refuse_disagreeing_cardholders())
            for number, (start, end) in enumerate(stage.batches(), start=1):
                outcome, refused, warnings = stage.merge(start, end)
                if number & (number - 1) == 0:  # batches 1, 2, 4, 8 ...: the tables grew
                    stage.analyse_targets()
                _report_refused(report, refused)
                report.warnings.extend(warnings)
                report.created += outcome.created
                report.updated += outcome.updated
                report.unchanged += outcome.unchanged
                for key in COUNT_KEYS:
                    report.counts[key] += getattr(outcome, key)
    report.counts = +report.counts  # only the side effects that happened
    return report.finish()


COUNT_KEYS = (
    "cardholders_created",
    "cardholders_updated",
    "contact_points_added",
    "cases_opened",
    "cases_resolved",
)


def _report_refused(report: ImportReport, refused: list[staging.Problem]) -> None:
    for p in refused:
        problem = RowProblem(p.line, p.column, p.value, p.reason)
        if p.already_refused:
            report.problems.append(problem)
        else:
            report.reject([problem])


# --- Payments -----------------------------------------------------------------------------------


@dataclass
class _PaymentRow:
    line: int
    payment_ref: str
    account_ref: str
    amount: Decimal
    currency: str
    paid_at: datetime
    source: str


def _parse_payment_row(
    line: int, values: dict[str, str], seen: dict[str, int], now: datetime
) -> tuple[_PaymentRow | None, list[RowProblem]]:
    cells = _Cells(line, values)
    payment_ref = cells.text("payment_ref", required=True)
    account_ref = cells.text("account_ref", required=True)
    amount = cells.money("amount", required=True)
    if amount is not None and amount == ZERO and cells.raw("amount"):
        cells.refuse("amount", "must be above zero")
    currency = cells.parsed("currency", parse_currency, required=True)
    paid_at = cells.parsed("paid_at", parse_datetime, required=True)
    if paid_at is not None and paid_at > now:
        cells.refuse("paid_at", "is in the future")
    source = cells.text("source")
    if payment_ref:
        first = seen.setdefault(payment_ref, line)
        if first != line:
            cells.refuse("payment_ref", f"appears again: first on line {first}")
    if cells.problems:
        return None, cells.problems
    return _PaymentRow(line, payment_ref, account_ref, amount, currency, paid_at, source), []


def import_payments(
    rows_or_file,
    *,
    encoding: str = "utf-8",
    actor=None,
    now: datetime | None = None,
    batch_size: int = PAYMENT_BATCH_SIZE,
) -> ImportReport:
    """Record the payments of a payment file (docs/imports.md), each through
    `services.payment_record` (allocation, promise, cure, PAYMENT event; its own savepoint, committed
    PAYMENTS_PER_TRANSACTION at a time).
    A payment already recorded with the same figures is `unchanged` (the feed is replayable); the
    same reference with other figures, an unknown account or another currency is a rejected row.
    `actor` is recorded as who recorded the payments (None: the system's feed)."""
    now = now or timezone.now()
    report = ImportReport(kind="payments")
    with _open_table(rows_or_file, encoding) as table:
        if not table.header:
            return report
        _check_columns(table.header, PAYMENT_REQUIRED_COLUMNS, PAYMENT_COLUMNS, report)
        seen: dict[str, int] = {}
        parsed = _parse_payment_rows(table.records, seen, now, report)
        for batch in _batches(parsed, batch_size):
            accounts = CreditAccount.objects.in_bulk(
                [row.account_ref for row in batch], field_name="external_ref"
            )
            for group in _batches(batch, PAYMENTS_PER_TRANSACTION):
                # One commit per group rather than per payment: a commit waits for the disk. Each
                # payment keeps its own savepoint (payment_record's atomic), so a refused one does
                # not undo the others; the account locks last only as long as the group.
                with transaction.atomic():
                    for row in group:
                        _record_payment(row, accounts.get(row.account_ref), actor, report)
    return report.finish()


def _parse_payment_rows(records, seen, now, report) -> Iterator[_PaymentRow]:
    for line, values, problem in records:
        report.rows_read += 1
        if values is None:
            report.reject([RowProblem(line, "", "", f"The row {problem}")])
            continue
        row, problems = _parse_payment_row(line, values, seen, now)
        if row is None:
            report.reject(problems)
        else:
            yield row


def _record_payment(row: _PaymentRow, account: CreditAccount | None, actor, report: ImportReport) -> None:
    def refuse(column: str, value: str, reason: str) -> None:
        report.reject([RowProblem(row.line, column, value, reason)])

    if account is None:
        refuse("account_ref", row.account_ref, "no account has this reference")
        return
    try:
        result = services.payment_record(
            account=account,
            external_ref=row.payment_ref,
            amount=row.amount,
            paid_at=row.paid_at,
            source=row.source,
            actor=actor,
            currency=row.currency,
        )
    except ValidationFailed as exc:
        column = exc.field if exc.field in PAYMENT_COLUMNS else "amount"
        reason = exc.message
        if exc.rule == "currency_mismatch":  # the report's wording: "<column> <reason>"
            reason = f"differs from the account's currency {account.currency}"
        refuse(column, str(getattr(row, column, "")), reason)
        return
    except DomainError as exc:  # ConcurrentUpdate: the reference was used with other figures
        refuse("payment_ref", row.payment_ref, exc.message)
        return
    if result.created:
        report.created += 1
    else:
        report.unchanged += 1


# --- The management commands --------------------------------------------------------------------


def default_report_path(path: str | os.PathLike) -> Path:
    """accounts-2026-11-27.csv -> accounts-2026-11-27.report.csv, beside it."""
    path = Path(path)
    return path.with_name(f"{path.stem}.report.csv")


class ImportFileCommand(BaseCommand):
    """`import_accounts FILE` / `import_payments FILE`: run the import, write the report (always, so
    that a stale one is never read as today's), print a summary. Exit code 0: every row applied;
    1: some rows rejected (the others applied); 2: the file could not be imported at all."""

    def add_arguments(self, parser):
        parser.add_argument("file", help="the CSV file (header on the first line)")
        parser.add_argument(
            "--encoding", default="utf-8", help="the file's encoding: utf-8 (default, BOM accepted) or gbk"
        )
        parser.add_argument(
            "--report", metavar="PATH", help="where to write the report (default: FILE.report.csv beside it)"
        )

    def run_import(self, file: str, report_path: str | None, do_import: Callable[[], ImportReport]) -> None:
        try:
            open(file, "rb").close()  # noqa: SIM115 - only asks whether it can be read
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.", returncode=2) from None
        path = Path(report_path) if report_path else default_report_path(file)
        if path.resolve() == Path(file).resolve():
            raise CommandError("The report would overwrite the file being imported.", returncode=2)
        # Opened before anything is applied: an unwritable report path must not leave an import unreported.
        try:
            out = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise CommandError(f"Cannot write the report {path}: {exc.strerror}.", returncode=2) from None
        with out:
            try:
                report = do_import()
            except ImportFileError as exc:
                report_write(exc.problems, out)
                self.stderr.write(f"Report: {path}")
                raise CommandError(f"{file}: {exc.message}", returncode=2) from None
            report_write(report.problems, out)
        self.stdout.write(f"{file}: " + " ".join(report.summary_lines()))
        for warning in report.warnings:
            self.stderr.write(self.style.WARNING(warning))
        if report.rows_read == 0:
            self.stderr.write(self.style.WARNING("The file has a header but no rows."))
        shown = report.problems[:10]
        for p in shown:
            self.stderr.write(f"line {p.line}, {p.column or 'row'}: {p.reason}")
        if len(report.problems) > len(shown):
            self.stderr.write(f"... and {len(report.problems) - len(shown)} more problems in the report.")
        self.stdout.write(f"Report: {path}")
        if report.rejected:
            raise CommandError(
                f"{report.rejected} row{'s' if report.rejected > 1 else ''} rejected; the others were "
                f"applied. Fix the rejected rows and import the file again (applied rows stay unchanged).",
                returncode=1,
            )
        self.stdout.write(self.style.SUCCESS("Every row applied."))
