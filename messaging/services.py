"""Reminders: planning them (the nightly step, set-based), sending them (one message per Celery task, the
contact policy judged at send time), and the providers that deliver them.

The life of a message (messaging.models.OutboundMessage):

    plan_reminders()   one row per purpose x case x subject x channel, status planned, unique key
    dispatch_due()     every minute: queue a send task for each message whose send_after has come
    message_send()     reload; still applicable? an address? the contact policy (asked once, in _prepare):
                         - outside the contact window -> deferred to policy.next_allowed_time (never dropped)
                         - a flag, a hold or a cap -> suppressed, with the rule as the reason
                       then render in the cardholder's language and hand it to the channel's provider:
                         - accepted -> sent, and recorded in the contact ledger by
                           collections_app.services.contacts.contact_attempt_record_sent (the attempt,
                           the CONTACT event, the start of work on a new case, as for a person's contact)
                         - only written to the outbox (the file provider) -> written: nobody has
                           received it, so no contact is recorded (and it is never counted as sent)
                         - a temporary failure -> planned again later (exponential back-off), then failed
                         - a permanent failure -> failed
    Every outcome but "planned" writes a REMINDER event on the case timeline.

One decision per send: `_prepare` asks collections_app.services.contactability.decide for the message's
channel and recipient at send time, and that answer alone decides whether it goes out now, waits for the
window or is suppressed. Planning does not judge the policy (it reads the profile only for the zone of
the send time), and the contact service does not judge it again when the sent message is recorded.

No reminder is sent twice: the idempotency key is unique, a send attempt claims the row under a lock
before it calls the provider, and a message whose attempt died in the middle is resent only through a
provider that de-duplicates by the key (the file outbox, the HTTP gateway); through SMTP it is marked
failed ("outcome unknown") for a person to check.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import random
import re
import smtplib
import urllib.error
import urllib.request
import uuid
import zoneinfo
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from email.utils import make_msgid
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage, get_connection
from django.db import connection, transaction
from django.db.models import Case as SqlCase
from django.db.models import CharField, F, IntegerField, Q, QuerySet, Value, When
from django.db.models.functions import Cast, Concat, JSONObject
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from accounts.permissions import Capability, has_capability
from collections_app.access import can_see_case, ensure_can_act
from collections_app.models import (
    OPEN_STATES,
    Case,
    CaseState,
    ContactPoint,
    EventKind,
    Outcome,
    PartyRole,
    PromiseStatus,
    PromiseToPay,
)
from collections_app.services import contactability, event_write, lock_case
from collections_app.services.contacts import contact_attempt_record_sent
from contact_policy import engine as policy
from contact_policy.models import PolicyBook
from core.exceptions import ContactNotAllowed, DomainError, InvalidTransition, NotAllowed, ValidationFailed
from core.masking import mask_address, mask_email, mask_phone, redact
from core.money import format_money
from legal.models import LegalDecision, LegalReferral
from messaging.models import (
    FINAL_STATUSES,
    WAITING_STATUSES,
    BannedPhrase,
    MessageChannel,
    MessageLanguage,
    MessageStatus,
    MessageTemplate,
    OutboundMessage,
    PhraseCategory,
    Purpose,
    TemplateSyntaxProblem,
    render_text,
)
from repayment_plans.models import Installment, InstallmentStatus, PlanState, RepaymentPlan

logger = logging.getLogger(__name__)

# Why a message did not go out, beside the contact policy's own rule codes (policy.Rule).
NO_ADDRESS = "no_address"
NO_TEMPLATE = "no_template"
NO_POLICY = "no_policy"
CASE_CLOSED = "case_closed"
NOT_APPLICABLE = "not_applicable"
EXPIRED = "expired"
TEMPLATE_ERROR = "template_error"
PROVIDER_REJECTED = "provider_rejected"
RETRIES_EXHAUSTED = "retries_exhausted"
OUTCOME_UNKNOWN = "outcome_unknown"
TEMPORARY_FAILURE = "temporary_failure"

# Sending: how long an attempt owns a message it is sending before another attempt may take it over; how
# late a reminder may still go out; how many due messages one dispatcher run queues; and after how long
# a queued message that was never sent is taken for lost and queued again.
CLAIM_SECONDS = 300
MAX_AGE = timedelta(days=2)
DISPATCH_BATCH = 10_000
REDISPATCH_AFTER = timedelta(minutes=30)


# Which channels each purpose uses (COLLECTIONS_REMINDER_CHANNELS overrides it, purpose by purpose).
DEFAULT_REMINDER_CHANNELS: dict[str, tuple[str, ...]] = {
    Purpose.BEFORE_DUE: (MessageChannel.SMS,),
    Purpose.DUE_TODAY: (MessageChannel.SMS,),
    Purpose.OVERDUE_NOTICE: (MessageChannel.SMS, MessageChannel.EMAIL),
    Purpose.PROMISE_REMINDER: (MessageChannel.SMS,),
    Purpose.INSTALLMENT_REMINDER: (MessageChannel.SMS,),
    Purpose.PLAN_BROKEN: (MessageChannel.SMS, MessageChannel.EMAIL),
    Purpose.ESCALATION_NOTICE: (MessageChannel.LETTER,),
}


def reminder_channels() -> dict[str, tuple[str, ...]]:
    configured = settings.COLLECTIONS_REMINDER_CHANNELS
    channels = {**DEFAULT_REMINDER_CHANNELS, **{k: tuple(v) for k, v in configured.items()}}
    for purpose, values in channels.items():
        if purpose not in Purpose.values or any(v not in MessageChannel.values for v in values):
            raise ImproperlyConfigured(f"COLLECTIONS_REMINDER_CHANNELS: bad entry {purpose!r}: {values!r}")
    return channels


# --- Planning (the nightly step) ----------------------------------------------------------------------

PLAN_CHUNK = 2000

# What every finder answers, one row per thing to remind one case about: the case, the subject (which
# makes the idempotency key unique per occurrence), what the message is about (a JSON object), and the
# cardholder's jurisdiction and zone (the send time is 09:00 there).
REMINDER_COLUMNS = ("r_case", "r_subject", "r_about", "r_jurisdiction", "r_zone")


def idempotency_key(purpose: str, case_id: int, subject: str, channel: str) -> str:
    return f"{purpose}:{case_id}:{subject}:{channel}"


def _open_cases():
    return Case.objects.filter(state__in=OPEN_STATES)


def _reminders(rows, *, case: str, subject, about: dict, holder: str = "account__cardholder__"):
    """`rows` as the reminder columns (REMINDER_COLUMNS), each an expression over the row."""
    return rows.annotate(
        r_case=F(case),
        r_subject=subject,
        r_about=JSONObject(**about),
        r_jurisdiction=F(f"{holder}jurisdiction"),
        r_zone=F(f"{holder}time_zone"),
    ).values(*REMINDER_COLUMNS)


def _sql_text(value) -> Value:
    return Value(str(value), output_field=CharField())


def _before_due(as_of: date):
    due = as_of + timedelta(days=settings.COLLECTIONS_REMINDER_BEFORE_DUE_DAYS)
    rows = _open_cases().filter(account__next_due_date=due)
    return _reminders(
        rows, case="pk", subject=_sql_text(due.isoformat()), about={"due_date": _sql_text(due.isoformat())}
    )


def _due_today(as_of: date):
    rows = _open_cases().filter(account__next_due_date=as_of)
    return _reminders(
        rows,
        case="pk",
        subject=_sql_text(as_of.isoformat()),
        about={"due_date": _sql_text(as_of.isoformat())},
    )


def overdue_notice_days() -> list[int]:
    return sorted({int(d) for d in settings.COLLECTIONS_OVERDUE_NOTICE_DPD})


def _overdue_notice(as_of: date):
    # The notice goes out on the day the account reaches each milestone: missed date + N days.
    by_missed = {as_of - timedelta(days=n): n for n in overdue_notice_days()}
    if not by_missed:
        return _open_cases().none().values()
    rows = _open_cases().filter(
        account__overdue_amount__gt=0, account__first_missed_due_date__in=list(by_missed)
    )
    missed = F("account__first_missed_due_date")
    dpd = SqlCase(
        *(When(account__first_missed_due_date=day, then=Value(n)) for day, n in by_missed.items()),
        output_field=IntegerField(),
    )
    return _reminders(
        rows,
        case="pk",
        subject=Concat(
            Cast(missed, CharField()), Value("+"), Cast(dpd, CharField()), output_field=CharField()
        ),
        about={"due_date": Cast(missed, CharField()), "dpd": dpd},
    )


def _promise_reminder(as_of: date):
    due = as_of + timedelta(days=settings.COLLECTIONS_PROMISE_REMINDER_DAYS_BEFORE)
    rows = PromiseToPay.objects.filter(
        status=PromiseStatus.PENDING, due_date=due, case__state__in=OPEN_STATES
    )
    return _reminders(
        rows,
        case="case_id",
        subject=_sql_text(due.isoformat()),
        about={"due_date": _sql_text(due.isoformat()), "promise": F("pk")},
        holder="case__account__cardholder__",
    )


def _installment_reminder(as_of: date):
    due = as_of + timedelta(days=settings.COLLECTIONS_INSTALLMENT_REMINDER_DAYS_BEFORE)
    rows = Installment.objects.filter(
        due_date=due,
        status__in=(InstallmentStatus.DUE, InstallmentStatus.PARTLY_PAID),
        plan__state=PlanState.ACTIVE,
        plan__case__state__in=OPEN_STATES,
    )
    return _reminders(
        rows,
        case="plan__case_id",
        subject=_sql_text(due.isoformat()),
        about={"due_date": _sql_text(due.isoformat()), "installment": F("pk")},
        holder="plan__case__account__cardholder__",
    )


def _recent_start(as_of: date) -> datetime:
    # Plans broken and referrals made in the last few days: a day missed by the pipeline is caught up,
    # and a fresh installation does not write to everyone whose plan broke last year.
    days = settings.COLLECTIONS_REMINDER_LOOKBACK_DAYS
    return datetime.combine(as_of - timedelta(days=days), time(0), tzinfo=timezone.get_current_timezone())


def _plan_broken(as_of: date):
    rows = RepaymentPlan.objects.filter(
        state=PlanState.BROKEN, ended_at__gte=_recent_start(as_of), case__state__in=OPEN_STATES
    )
    return _reminders(
        rows,
        case="case_id",
        subject=Concat(Value("plan"), Cast("pk", CharField()), output_field=CharField()),
        about={"plan": F("pk")},
        holder="case__account__cardholder__",
    )


def _escalation_notice(as_of: date):
    rows = LegalReferral.objects.filter(
        decision=LegalDecision.PENDING,
        referred_at__gte=_recent_start(as_of),
        case__state=CaseState.LEGAL_REVIEW,
    )
    return _reminders(
        rows,
        case="case_id",
        subject=Concat(Value("referral"), Cast("pk", CharField()), output_field=CharField()),
        about={"referral": F("pk")},
        holder="case__account__cardholder__",
    )


# Each finder: the business date -> a values() queryset of REMINDER_COLUMNS (nothing read yet).
FINDERS: dict[str, Callable[[date], QuerySet]] = {
    Purpose.BEFORE_DUE: _before_due,
    Purpose.DUE_TODAY: _due_today,
    Purpose.OVERDUE_NOTICE: _overdue_notice,
    Purpose.PROMISE_REMINDER: _promise_reminder,
    Purpose.INSTALLMENT_REMINDER: _installment_reminder,
    Purpose.PLAN_BROKEN: _plan_broken,
    Purpose.ESCALATION_NOTICE: _escalation_notice,
}


class _SendTimes:
    """The instant a day's reminders go out: COLLECTIONS_REMINDER_SEND_AT (default 09:00) on the business
    date, in the cardholder's zone, else in the first zone of their jurisdiction's policy."""

    def __init__(self, as_of: date):
        raw = settings.COLLECTIONS_REMINDER_SEND_AT
        try:
            self.wall = time.fromisoformat(raw)
        except ValueError:
            raise ImproperlyConfigured(f"COLLECTIONS_REMINDER_SEND_AT must be HH:MM; got {raw!r}") from None
        self.as_of = as_of
        self._by_zone: dict[str, datetime] = {}
        self._zone_of_jurisdiction: dict[str, str] = {}
        # One read of the stored contact policies for the whole planning run.
        self._policies = PolicyBook()

    def _fallback_zone(self, jurisdiction: str) -> str:
        if jurisdiction not in self._zone_of_jurisdiction:
            try:
                zones = contactability.rules_for(jurisdiction, policies=self._policies).fallback_time_zones
            except LookupError:
                zones = ()
            self._zone_of_jurisdiction[jurisdiction] = zones[0] if zones else settings.TIME_ZONE
        return self._zone_of_jurisdiction[jurisdiction]

    def __call__(self, zone: str, jurisdiction: str) -> datetime:
        if not (zone and policy.is_valid_zone(zone)):
            zone = self._fallback_zone(jurisdiction)
        if zone not in self._by_zone:
            self._by_zone[zone] = datetime.combine(self.as_of, self.wall, tzinfo=zoneinfo.ZoneInfo(zone))
        return self._by_zone[zone]


def plan_reminders(*, as_of: date, run_id: int | None = None) -> dict[str, int]:
    """Plan the day's reminders: one OutboundMessage per purpose x case x occurrence x channel, status
    planned, to be sent at COLLECTIONS_REMINDER_SEND_AT local time. Set-based on PostgreSQL: per purpose,
    one read of the (zone, jurisdiction) pairs concerned (the send time of each is computed here, from the
    contact policies), then one INSERT ... SELECT of every reminder with ON CONFLICT DO NOTHING - a key
    that exists already is left alone, so a second run for the day plans nothing. Returns the number
    planned per purpose."""
    send_time = _SendTimes(as_of)
    counts: dict[str, int] = {}
    for purpose, channels in reminder_channels().items():
        planned = 0
        if channels:
            rows = FINDERS[purpose](as_of)
            with transaction.atomic():
                if connection.vendor == "postgresql":
                    planned = _insert_planned_postgresql(purpose, channels, rows, send_time, run_id)
                else:
                    planned = _insert_planned_by_row(purpose, channels, rows, send_time, run_id)
        counts[purpose] = planned
    return counts


_FOUND = "reminder_found"


def _insert_planned_postgresql(purpose: str, channels, rows: QuerySet, send_time: _SendTimes, run_id) -> int:
    """Every reminder of one purpose in one INSERT ... SELECT: the finder's rows x the channels, each
    joined to its send time by (zone, jurisdiction), the key built as `idempotency_key` builds it. The
    finder is run once, into a temporary table (dropped at commit: plan_reminders' transaction), from
    which both the (zone, jurisdiction) pairs and the rows are read."""
    sql, params = rows.query.sql_with_params()
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {_FOUND}")
        cursor.execute(f"CREATE TEMPORARY TABLE {_FOUND} ON COMMIT DROP AS {sql}", params)  # noqa: S608
        if not cursor.rowcount:
            return 0
        cursor.execute(f"SELECT DISTINCT r_zone, r_jurisdiction FROM {_FOUND}")  # noqa: S608
        pairs = cursor.fetchall()
        zones, jurisdictions = zip(*pairs, strict=True)
        send_afters = [send_time(zone, jurisdiction) for zone, jurisdiction in pairs]
        cursor.execute(
            f"""
            INSERT INTO {OutboundMessage._meta.db_table} (
                idempotency_key, case_id, purpose, channel, about, status, reason, detail, send_after, run_id,
                language, recipient, subject, body, provider, provider_ref, attempts, last_error,
                created_at, updated_at
            )
            SELECT %s || ':' || s.r_case || ':' || s.r_subject || ':' || ch.channel, s.r_case, %s, ch.channel,
                s.r_about, %s, '', '', t.send_after, %s, '', '', '', '', '', '', 0, '', %s, %s
            FROM {_FOUND} s
            JOIN unnest(%s::text[], %s::text[], %s::timestamptz[]) AS t(zone, jurisdiction, send_after)
                ON t.zone IS NOT DISTINCT FROM s.r_zone
                AND t.jurisdiction IS NOT DISTINCT FROM s.r_jurisdiction
            CROSS JOIN unnest(%s::text[]) AS ch(channel)
            ON CONFLICT (idempotency_key) DO NOTHING
            """,  # noqa: S608 - the table name is the model's, every value a parameter
            [
                purpose,
                purpose,
                MessageStatus.PLANNED,
                run_id,
                now,
                now,
                list(zones),
                list(jurisdictions),
                send_afters,
                list(channels),
            ],
        )
        return cursor.rowcount


def _insert_planned_by_row(purpose: str, channels, rows: QuerySet, send_time: _SendTimes, run_id) -> int:
    """The embedded default (SQLite): the same rows, inserted in chunks; the key decides."""
    planned = 0
    for chunk in _chunks(rows.iterator(chunk_size=PLAN_CHUNK), PLAN_CHUNK):
        keyed = {
            idempotency_key(purpose, r["r_case"], r["r_subject"], channel): (r, channel)
            for r in chunk
            for channel in channels
        }
        existing = set(
            OutboundMessage.objects.filter(idempotency_key__in=list(keyed)).values_list(
                "idempotency_key", flat=True
            )
        )
        new = [
            OutboundMessage(
                idempotency_key=key,
                case_id=r["r_case"],
                purpose=purpose,
                channel=channel,
                about=r["r_about"],
                send_after=send_time(r["r_zone"], r["r_jurisdiction"]),
                run_id=run_id,
            )
            for key, (r, channel) in keyed.items()
            if key not in existing
        ]
        # ignore_conflicts: another planner racing on the same keys loses quietly; the key decides.
        OutboundMessage.objects.bulk_create(new, batch_size=PLAN_CHUNK, ignore_conflicts=True)
        planned += len(new)
    return planned


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- Rendering ----------------------------------------------------------------------------------------

# What the bank fills in. COLLECTIONS_BANK_TEXTS ({"en": {"bank_contact": ...}, "zh-hans": {...}}) overrides
# any of them; COLLECTIONS_BANK_NAME / COLLECTIONS_BANK_CONTACT override the name and contact in both.
BANK_TEXTS: dict[str, dict[str, object]] = {
    MessageLanguage.ZH_HANS: {
        "bank_name": "示例银行",
        "bank_contact": "客服热线 400-000-0000（每日 8:00-22:00）",
        "legal_basis": "您与本行签订的《信用卡领用合约》及相关章程",
        "how_to_check": "您可通过手机银行或致电客服热线查询账单明细。",
        "how_to_repay": "您可通过手机银行、本行网点或转账方式还款。",
        "how_to_object": (
            "如您对欠款金额有异议，请在收到本通知后 15 日内致电客服热线或书面提出，我们将核实并书面答复。"
        ),
        # Replies to a text or an e-mail are not read by anyone (no inbound processing): the opt-out says
        # how to reach a person, who records it on the cardholder (do-not-contact / cease-communication).
        "opt_out": {
            "sms": "如不希望再收到此类短信，请致电客服热线告知。",
            "email": "如不希望再收到此类邮件，请致电客服热线告知。",
            "letter": "",
        },
    },
    MessageLanguage.EN: {
        "bank_name": "Demo Bank",
        "bank_contact": "hotline 400-000-0000 (8:00-22:00 daily)",
        "legal_basis": "the cardholder agreement you signed with the bank and its terms and conditions",
        "how_to_check": "You can check your statement in the mobile banking app or by calling the hotline.",
        "how_to_repay": "You can pay in the mobile banking app, at any branch, or by bank transfer.",
        "how_to_object": (
            "If you believe the amount is wrong, tell us within 15 days by calling the hotline or writing "
            "to us; we will check and answer in writing."
        ),
        "opt_out": {
            "sms": "To stop these texts, call our hotline and tell us.",
            "email": "To stop receiving these e-mails, call our hotline and tell us.",
            "letter": "",
        },
    },
}


def bank_texts(language: str, channel: str) -> dict[str, str]:
    texts = dict(BANK_TEXTS[language])
    texts.update(settings.COLLECTIONS_BANK_TEXTS.get(language, {}))
    if settings.COLLECTIONS_BANK_NAME:
        texts["bank_name"] = settings.COLLECTIONS_BANK_NAME
    if settings.COLLECTIONS_BANK_CONTACT:
        texts["bank_contact"] = settings.COLLECTIONS_BANK_CONTACT
    opt_out = texts.pop("opt_out")
    texts["opt_out"] = opt_out.get(channel, "") if isinstance(opt_out, dict) else str(opt_out)
    return {k: str(v) for k, v in texts.items()}


def language_of(value: str) -> str | None:
    """The template language for a cardholder's language ("zh-Hans", "zh_CN" -> zh-hans; "en-US" -> en)."""
    value = (value or "").strip().lower().replace("_", "-")
    if value.startswith("zh"):
        return MessageLanguage.ZH_HANS
    if value.startswith("en"):
        return MessageLanguage.EN
    return None


def format_date(value: date, language: str) -> str:
    if language == MessageLanguage.ZH_HANS:
        return f"{value.year}年{value.month}月{value.day}日"
    return f"{value.day} {value:%B} {value.year}"


def template_for(*, purpose: str, channel: str, language: str, jurisdiction: str) -> MessageTemplate | None:
    """The most specific active template: the jurisdiction's own ("US-MA"), its country's ("US"), then the
    one for every jurisdiction (blank)."""
    order = list(dict.fromkeys([*policy.profile_codes(jurisdiction or ""), ""]))
    found = {
        t.jurisdiction: t
        for t in MessageTemplate.objects.filter(
            active=True, purpose=purpose, channel=channel, language=language, jurisdiction__in=order
        )
    }
    return next((found[c] for c in order if c in found), None)


def _amount_and_date(message: OutboundMessage, case: Case) -> tuple[Decimal, date | None]:
    account = case.account
    about = message.about or {}
    due = date.fromisoformat(about["due_date"]) if about.get("due_date") else None
    if message.purpose in (Purpose.BEFORE_DUE, Purpose.DUE_TODAY):
        return (account.minimum_due or account.overdue_amount), due
    if message.purpose == Purpose.PROMISE_REMINDER:
        promise = case.promises.get(pk=about["promise"])
        return promise.amount - promise.paid_amount, promise.due_date
    if message.purpose == Purpose.INSTALLMENT_REMINDER:
        line = Installment.objects.get(pk=about["installment"])
        return line.amount - line.paid_amount, line.due_date
    if message.purpose == Purpose.PLAN_BROKEN:
        first_late = (
            Installment.objects.filter(plan_id=about["plan"])
            .exclude(status=InstallmentStatus.PAID)
            .order_by("due_date")
            .values_list("due_date", flat=True)
            .first()
        )
        return account.overdue_amount, first_late or account.first_missed_due_date
    return account.overdue_amount, due or account.first_missed_due_date


def message_values(message: OutboundMessage, case: Case, language: str) -> dict[str, str]:
    """The value of every placeholder for this message, in `language`, with the figures of now."""
    account = case.account
    amount, due = _amount_and_date(message, case)
    values = {
        "name": account.cardholder.name,
        "amount": format_money(amount, "", language),
        "currency": account.currency,
        "due_date": format_date(due, language) if due else "",
        "days_past_due": str(account.days_past_due),
        "overdue_amount": format_money(account.overdue_amount, "", language),
        "balance": format_money(account.balance, "", language),
        "reference": case.reference,
        "account_last4": "".join(ch for ch in account.external_ref if ch.isalnum())[-4:],
        **bank_texts(language, message.channel),
    }
    return values


# --- Providers ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outgoing:
    """What a provider delivers. `key` is the message's idempotency key: a provider that de-duplicates
    by it can be asked again safely."""

    key: str
    channel: str
    recipient: str
    subject: str
    body: str
    language: str


class ProviderError(Exception):
    pass


class TemporaryFailure(ProviderError):
    """Try again later (a timeout, a busy gateway, a 4xx SMTP answer)."""


class PermanentFailure(ProviderError):
    """Trying again will not help (a refused address, a 4xx HTTP answer)."""


class Provider:
    name = ""
    channels: frozenset[str] = frozenset()
    # True when sending the same key twice cannot deliver twice.
    idempotent = False
    # False for a provider that only writes the message somewhere (the outbox): the message is then
    # "written", not "sent", and no contact is recorded - nobody has received it.
    delivers = True

    def send(self, message: Outgoing) -> str:
        """Deliver the message; return the provider's reference. Raise TemporaryFailure or
        PermanentFailure."""
        raise NotImplementedError


def mask_recipient(channel: str, value: str) -> str:
    if channel == MessageChannel.SMS:
        return mask_phone(value)
    if channel == MessageChannel.EMAIL:
        return mask_email(value)
    return mask_address(value)


class FileProvider(Provider):
    """The default: writes each message to COLLECTIONS_OUTBOX_DIR (default var/outbox/) as one text file
    named by its key, and logs one line (recipient masked). Rewriting the same key rewrites the same file,
    so it is idempotent. Letters land here too, for the print run. It delivers nothing: its messages are
    "written", and with DEBUG off the app refuses to start with it for SMS or e-mail unless
    COLLECTIONS_ALLOW_FILE_DELIVERY says so (messaging.checks)."""

    name = "file"
    channels = frozenset(MessageChannel.values)
    idempotent = True
    delivers = False

    def __init__(self, directory: str | Path | None = None):
        self.directory = Path(directory or settings.COLLECTIONS_OUTBOX_DIR or settings.VAR_DIR / "outbox")

    def send(self, message: Outgoing) -> str:
        folder = self.directory / message.channel
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / (re.sub(r"[^A-Za-z0-9_.+-]", "_", message.key) + ".txt")
            temporary = path.with_suffix(".tmp")
            header = f"To: {message.recipient}\nKey: {message.key}\nLanguage: {message.language}\n"
            if message.subject:
                header += f"Subject: {message.subject}\n"
            temporary.write_text(f"{header}\n{message.body}\n", encoding="utf-8")
            os.replace(temporary, path)  # atomic: a reader never sees half a message
        except OSError as exc:
            raise TemporaryFailure(f"cannot write to the outbox {folder}: {exc}") from exc
        logger.info(
            "outbox: %s to %s (%s)",
            message.channel,
            mask_recipient(message.channel, message.recipient),
            message.key,
        )
        return str(path)


class SmtpEmailProvider(Provider):
    """E-mail through Django's e-mail backend (EMAIL_HOST ... for SMTP; COLLECTIONS_EMAIL_BACKEND picks
    another backend for reminders only). The Message-ID is derived from the key. SMTP cannot de-duplicate,
    so an attempt that died mid-send is not repeated (see message_send)."""

    name = "smtp"
    channels = frozenset({MessageChannel.EMAIL})
    idempotent = False

    def send(self, message: Outgoing) -> str:
        connection = get_connection(backend=settings.COLLECTIONS_EMAIL_BACKEND or None)
        domain = settings.COLLECTIONS_EMAIL_DOMAIN
        message_id = make_msgid(idstring=re.sub(r"[^A-Za-z0-9.-]", ".", message.key), domain=domain)
        email = EmailMessage(
            subject=message.subject,
            body=message.body,
            from_email=settings.COLLECTIONS_EMAIL_FROM or settings.DEFAULT_FROM_EMAIL,
            to=[message.recipient],
            headers={"Message-ID": message_id, "X-Collections-Key": message.key},
            connection=connection,
        )
        # Servers quote the refused address back ("550 <wang.wei@example.com>: no such user"): every
        # answer is redacted before it becomes the message's detail, a timeline event or a log line, and
        # the original exception is not chained (a logged traceback would carry it).
        try:
            sent = email.send(fail_silently=False)
        except smtplib.SMTPRecipientsRefused as exc:
            refusals = list((exc.recipients or {}).values())
            answers = "; ".join(f"{code} {_text(error)}" for code, error in refusals)
            # 4xx for the recipient (greylisting, a full mailbox) is worth another try; 5xx is final.
            temporary = refusals and all(400 <= code < 500 for code, _error in refusals)
            failure = TemporaryFailure if temporary else PermanentFailure
            raise failure(redact(f"recipient refused: {answers}")) from None
        except smtplib.SMTPResponseException as exc:
            failure = TemporaryFailure if 400 <= exc.smtp_code < 500 else PermanentFailure
            raise failure(redact(f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}")) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TemporaryFailure(redact(f"SMTP: {exc}")) from None
        if not sent:
            raise TemporaryFailure("the e-mail backend accepted nothing")
        return message_id


class HttpSmsProvider(Provider):
    """SMS through an HTTP gateway: POST JSON {"to", "text", "reference"} to COLLECTIONS_SMS_GATEWAY_URL with
    an `Idempotency-Key` header, authenticated by a bearer token (COLLECTIONS_SMS_GATEWAY_TOKEN) or basic
    auth (COLLECTIONS_SMS_GATEWAY_USER / _PASSWORD). 2xx is accepted (the reference is the answer's "id" or
    "message_id"); 408, 425, 429 and 5xx are temporary; other 4xx permanent. The gateway is expected to
    de-duplicate by the key, which makes a repeated attempt safe."""

    name = "http"
    channels = frozenset({MessageChannel.SMS})
    idempotent = True

    def __init__(self, url: str | None = None, *, token: str = "", user: str = "", password: str = ""):
        self.url = url or settings.COLLECTIONS_SMS_GATEWAY_URL
        if not self.url.startswith(("http://", "https://")):
            raise ImproperlyConfigured(
                "COLLECTIONS_SMS_GATEWAY_URL must be an http(s) URL for the http provider"
            )
        self.token = token or settings.COLLECTIONS_SMS_GATEWAY_TOKEN
        self.user = user or settings.COLLECTIONS_SMS_GATEWAY_USER
        self.password = password or settings.COLLECTIONS_SMS_GATEWAY_PASSWORD
        self.timeout = settings.COLLECTIONS_SMS_GATEWAY_TIMEOUT

    def send(self, message: Outgoing) -> str:
        headers = {"Content-Type": "application/json", "Idempotency-Key": message.key}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        elif self.user:
            pair = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            headers["Authorization"] = f"Basic {pair}"
        payload = json.dumps({"to": message.recipient, "text": message.body, "reference": message.key})
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            self.url, data=payload.encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                status, answer = response.status, response.read(4096)
        except urllib.error.HTTPError as exc:
            # Gateways like to echo the number back; it must not land in the message log.
            text = redact(_LONG_NUMBER.sub("****", exc.read(300).decode("utf-8", "replace")))
            failure = TemporaryFailure if exc.code in (408, 425, 429) or exc.code >= 500 else PermanentFailure
            raise failure(f"gateway answered {exc.code}: {text}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise TemporaryFailure(redact(f"gateway unreachable: {exc}")) from None
        try:
            data = json.loads(answer or b"{}")
        except ValueError:
            data = {}
        reference = (data.get("id") or data.get("message_id")) if isinstance(data, dict) else None
        return str(reference or f"http-{status}")


_LONG_NUMBER = re.compile(r"\d{7,}")


def _text(answer: bytes | str) -> str:
    return answer.decode("utf-8", "replace") if isinstance(answer, bytes) else str(answer)


PROVIDERS: dict[str, type[Provider]] = {
    "file": FileProvider,
    "console": FileProvider,
    "smtp": SmtpEmailProvider,
    "http": HttpSmsProvider,
}
_PROVIDER_SETTING = {
    MessageChannel.SMS: "COLLECTIONS_SMS_PROVIDER",
    MessageChannel.EMAIL: "COLLECTIONS_EMAIL_PROVIDER",
    MessageChannel.LETTER: "COLLECTIONS_LETTER_PROVIDER",
}


def provider_for(channel: str) -> Provider:
    """The provider of a channel: "file" (default), "smtp" (e-mail), "http" (SMS) or a dotted path to a
    Provider subclass."""
    configured = {
        MessageChannel.SMS: settings.COLLECTIONS_SMS_PROVIDER,
        MessageChannel.EMAIL: settings.COLLECTIONS_EMAIL_PROVIDER,
        MessageChannel.LETTER: settings.COLLECTIONS_LETTER_PROVIDER,
    }
    name = configured[channel] or "file"
    cls = PROVIDERS.get(name) or import_string(name)
    provider = cls()
    if channel not in provider.channels:
        raise ImproperlyConfigured(f"{_PROVIDER_SETTING[channel]}={name!r} cannot send {channel} messages")
    return provider


# --- Sending --------------------------------------------------------------------------------------------


class RetryLater(Exception):  # noqa: N818 - an instruction to the task, not an error
    """A temporary failure: the Celery task retries after `countdown` seconds."""

    def __init__(self, countdown: int, message: str):
        super().__init__(message)
        self.countdown = countdown


def max_attempts() -> int:
    return settings.COLLECTIONS_MESSAGE_MAX_ATTEMPTS


def backoff_seconds(attempts: int) -> int:
    """Exponential back-off with jitter: base, 2 x base, 4 x base ... (capped at an hour)."""
    base = settings.COLLECTIONS_MESSAGE_RETRY_SECONDS
    delay = min(3600, base * 2 ** max(0, attempts - 1))
    return max(1, int(delay * random.uniform(0.8, 1.2)))  # noqa: S311 - jitter, not security


def _recipient(channel: str, cardholder) -> tuple[ContactPoint | None, str]:
    debtor = ContactPoint.objects.filter(cardholder=cardholder, active=True, party_role=PartyRole.DEBTOR)
    if channel == MessageChannel.SMS:
        point = debtor.filter(kind="phone").order_by("-is_primary", "pk").first()
        return point, point.value if point else ""
    if channel == MessageChannel.EMAIL:
        point = debtor.filter(kind="email").order_by("-is_primary", "pk").first()
        if point:
            return point, point.value
        return None, cardholder.email
    return None, cardholder.address.strip()


def _still_applies(message: OutboundMessage, case: Case, now: datetime) -> str | None:
    """None if the message should still go out now, else the reason it should not."""
    if not case.is_open:
        return CASE_CLOSED
    about = message.about or {}
    applies = True
    if message.purpose == Purpose.PROMISE_REMINDER:
        applies = case.promises.filter(pk=about.get("promise"), status=PromiseStatus.PENDING).exists()
    elif message.purpose == Purpose.INSTALLMENT_REMINDER:
        applies = Installment.objects.filter(
            pk=about.get("installment"),
            plan__state=PlanState.ACTIVE,
            status__in=(InstallmentStatus.DUE, InstallmentStatus.PARTLY_PAID),
        ).exists()
    elif message.purpose == Purpose.OVERDUE_NOTICE:
        applies = case.account.overdue_amount > 0
    elif message.purpose == Purpose.ESCALATION_NOTICE:
        applies = case.state == CaseState.LEGAL_REVIEW
    if not applies:
        return NOT_APPLICABLE
    # A reminder about a day long gone (the pipeline or the workers were down for days) is not sent late.
    if (
        message.status == MessageStatus.PLANNED
        and message.attempts == 0
        and now - message.send_after > MAX_AGE
    ):
        return EXPIRED
    return None


SUMMARIES = {
    MessageStatus.SENT: "{channel} reminder sent ({purpose}).",
    MessageStatus.WRITTEN: "{channel} reminder written to the outbox, not delivered ({purpose}).",
    MessageStatus.DEFERRED: "{channel} reminder held until the contact window opens ({purpose}).",
    MessageStatus.SUPPRESSED: "{channel} reminder not sent ({purpose}): {detail}",
    MessageStatus.FAILED: "{channel} reminder failed ({purpose}): {detail}",
}


CASE_MESSAGE_SUMMARIES = {
    MessageStatus.SENT: "{channel} sent from the case ({purpose}).",
    MessageStatus.WRITTEN: (
        "{channel} from the case written to the outbox for sending or printing ({purpose})."
    ),
    MessageStatus.DEFERRED: "{channel} from the case held until the contact window opens ({purpose}).",
    MessageStatus.SUPPRESSED: "{channel} from the case not sent ({purpose}): {detail}",
    MessageStatus.FAILED: "{channel} from the case failed ({purpose}): {detail}",
}


def _sender_of(message: OutboundMessage):
    """The person a message sent from the case is recorded under, while they may still act on the case
    (their team may have changed between the click and the delivery); None (the system) otherwise."""
    person = message.requested_by if message.requested_by_id is not None else None
    return person if person is not None and can_see_case(person, message.case) else None


def _record(message: OutboundMessage, *, status: str, reason: str = "", detail: str = "", **fields) -> None:
    """Change the status (on a row locked by the caller), save, and write the timeline event."""
    message.status, message.reason, message.detail = status, reason, detail
    for name, value in fields.items():
        setattr(message, name, value)
    message.save()
    details = {
        "message": message.pk,
        "purpose": message.purpose,
        "channel": message.channel,
        "status": status,
    }
    if status == MessageStatus.SENT:
        details["outcome"] = Outcome.SENT
    elif status == MessageStatus.FAILED:
        details["outcome"] = Outcome.FAILED
    if reason:
        details["rule"] = reason
    if status == MessageStatus.DEFERRED:
        details["at"] = message.send_after.isoformat()
    summaries = SUMMARIES
    if message.requested_by_id is not None:
        details["sent_by"] = message.requested_by_id
        summaries = CASE_MESSAGE_SUMMARIES
    text = summaries[status].format(
        channel=MessageChannel(message.channel).label,
        purpose=Purpose(message.purpose).label,
        detail=detail or reason,
    )
    # A message an agent sent from the case is theirs on the timeline; a planned reminder is the system's.
    event_write(
        case=message.case, kind=EventKind.REMINDER, actor=_sender_of(message), reason=text, details=details
    )


def _fail(message_id: int, attempts: int, *, reason: str, detail: str) -> str:
    with transaction.atomic():
        message = OutboundMessage.objects.select_for_update().get(pk=message_id)
        if message.status != MessageStatus.SENDING or message.attempts != attempts:
            return message.status  # another attempt took over and owns the outcome
        _record(message, status=MessageStatus.FAILED, reason=reason, detail=detail, claimed_until=None)
    return MessageStatus.FAILED


def message_send(*, message_id: int, now: datetime | None = None) -> str:
    """Send one message if it is due, applicable and allowed; returns its status afterwards.

    Idempotent: a final message is left alone; a message another attempt is sending is left to it; the
    provider is called only after the row says "sending" with this attempt's number, outside the
    transaction (a slow gateway holds no lock), and the outcome is recorded only if the row still
    belongs to this attempt. Raises RetryLater on a temporary failure with attempts left."""
    now = now or timezone.now()
    with transaction.atomic():
        message = (
            OutboundMessage.objects.select_for_update(of=("self",))
            .select_related(
                "case__account__cardholder", "case__queue", "case__assigned_agent", "requested_by"
            )
            .get(pk=message_id)
        )
        if message.status in FINAL_STATUSES:
            return message.status
        if message.status == MessageStatus.SENDING:
            if message.claimed_until and message.claimed_until > now:
                return message.status
            # The attempt that claimed it died. Only a de-duplicating provider may be asked again.
            if not provider_for(message.channel).idempotent:
                _record(
                    message,
                    status=MessageStatus.FAILED,
                    reason=OUTCOME_UNKNOWN,
                    detail="The sending attempt stopped midway; it may or may not have been delivered.",
                    claimed_until=None,
                )
                return message.status
        elif message.send_after > now:
            return message.status
        outcome = _prepare(message, now)
        if outcome is not None:
            return outcome
        provider = provider_for(message.channel)
        message.status = MessageStatus.SENDING
        message.attempts += 1
        message.claimed_until = now + timedelta(seconds=CLAIM_SECONDS)
        message.provider = provider.name
        message.save()
        outgoing = Outgoing(
            key=message.idempotency_key,
            channel=message.channel,
            recipient=message.recipient,
            subject=message.subject,
            body=message.body,
            language=message.language,
        )
        attempts = message.attempts

    # Any provider's words (a dotted-path provider's too) are redacted again before they are stored.
    try:
        reference = provider.send(outgoing)
    except TemporaryFailure as exc:
        return _after_temporary_failure(message_id, attempts, redact(str(exc)))
    except PermanentFailure as exc:
        return _fail(message_id, attempts, reason=PROVIDER_REJECTED, detail=redact(str(exc)))

    with transaction.atomic():
        message = (
            OutboundMessage.objects.select_for_update(of=("self",))
            .select_related("case__account", "case__queue", "case__assigned_agent", "requested_by")
            .get(pk=message_id)
        )
        if message.status != MessageStatus.SENDING or message.attempts != attempts:
            return message.status
        if not provider.delivers:
            # In the outbox, not with the cardholder: no contact in the ledger, no "sent" anywhere.
            _record(
                message,
                status=MessageStatus.WRITTEN,
                provider_ref=reference[:200],
                claimed_until=None,
                last_error="",
            )
            return MessageStatus.WRITTEN
        sent_at = timezone.now()
        # The contact ledger's record of the send, written as every contact is (the policy decided this
        # send in _prepare, once; it is not asked again for a message already delivered).
        what = "Sent from the case" if message.requested_by_id else "Reminder"
        contact_attempt_record_sent(
            case_id=message.case_id,
            channel=message.channel,
            sent_at=sent_at,
            contact_point_id=message.contact_point_id,
            notes=f"{what} ({Purpose(message.purpose).label}), message {message.pk}",
            details={"message": message.pk},
            actor=_sender_of(message),
        )
        _record(
            message,
            status=MessageStatus.SENT,
            sent_at=sent_at,
            provider_ref=reference[:200],
            claimed_until=None,
            last_error="",
        )
    return MessageStatus.SENT


def _prepare(message: OutboundMessage, now: datetime) -> str | None:
    """Check, judge and render a due message (row locked). Returns the final or deferred status when it
    does not go out now; None when it is ready to send (recipient, subject, body filled in).

    This is where the contact policy decides a send (contactability.decide, once per attempt)."""
    case = message.case
    holder = case.account.cardholder
    reason = _still_applies(message, case, now)
    if reason:
        _record(message, status=MessageStatus.SUPPRESSED, reason=reason, detail=_REASON_TEXT[reason])
        return message.status
    point, recipient = _recipient(message.channel, holder)
    if not recipient:
        _record(message, status=MessageStatus.SUPPRESSED, reason=NO_ADDRESS, detail=_REASON_TEXT[NO_ADDRESS])
        return message.status
    try:
        decision = contactability.decide(case=case, channel=message.channel, now=now, contact_point=point)
    except (LookupError, ValueError) as exc:
        # No policy for the jurisdiction, or no time zone to judge in: fail closed, and say why.
        _record(message, status=MessageStatus.SUPPRESSED, reason=NO_POLICY, detail=f"Contact policy: {exc}")
        return message.status
    if not decision.allowed:
        window_only = decision.rule == policy.Rule.CONTACT_WINDOW and not decision.also
        if window_only and decision.allowed_from is not None:
            if message.status == MessageStatus.DEFERRED and message.send_after >= decision.allowed_from:
                return message.status
            first_deferral = message.status != MessageStatus.DEFERRED
            message.send_after = decision.allowed_from
            message.dispatched_at = None
            if first_deferral:
                _record(
                    message, status=MessageStatus.DEFERRED, reason=str(decision.rule), detail=decision.text
                )
            else:
                message.save(update_fields=["send_after", "dispatched_at", "updated_at"])
            return message.status
        _record(message, status=MessageStatus.SUPPRESSED, reason=str(decision.rule), detail=decision.text)
        return message.status
    language = language_of(holder.language)
    # A message sent from the case goes out in the template the agent previewed (while it is still active
    # and in the cardholder's language); a planned reminder takes the most specific template now.
    chosen = message.template if message.requested_by_id and message.template_id else None
    if chosen is not None and chosen.active and chosen.language == language:
        template = chosen
    elif language:
        template = template_for(
            purpose=message.purpose,
            channel=message.channel,
            language=language,
            jurisdiction=holder.jurisdiction,
        )
    else:
        template = None
    if template is None:
        detail = f"No active {message.channel} template for {message.purpose} in {holder.language or '?'}."
        _record(message, status=MessageStatus.SUPPRESSED, reason=NO_TEMPLATE, detail=detail)
        return message.status
    try:
        values = message_values(message, case, language)
        subject = render_text(template.subject, values)
        body = render_text(template.body, values)
    except (KeyError, TemplateSyntaxProblem) as exc:
        _record(
            message,
            status=MessageStatus.FAILED,
            reason=TEMPLATE_ERROR,
            detail=f"Template {template.pk}: {exc}",
        )
        return message.status
    message.template, message.language = template, language
    message.contact_point, message.recipient = point, recipient
    message.subject, message.body = subject[:300], body
    return None


_REASON_TEXT = {
    CASE_CLOSED: gettext_noop("The case is closed."),
    NOT_APPLICABLE: gettext_noop(
        "What the reminder is about no longer applies (paid, cancelled or moved on)."
    ),
    EXPIRED: gettext_noop("The reminder is too old to send."),
    NO_ADDRESS: gettext_noop("No number or address to send it to."),
}


def _after_temporary_failure(message_id: int, attempts: int, error: str) -> str:
    if attempts >= max_attempts():
        return _fail(
            message_id, attempts, reason=RETRIES_EXHAUSTED, detail=f"{attempts} attempts; last: {error}"
        )
    countdown = backoff_seconds(attempts)
    with transaction.atomic():
        message = OutboundMessage.objects.select_for_update().get(pk=message_id)
        if message.status != MessageStatus.SENDING or message.attempts != attempts:
            return message.status
        # Back to planned, due again after the back-off. The task's own retry comes then (it counts as
        # queued for that moment); should the retry be lost, the dispatcher queues the message again.
        message.status = MessageStatus.PLANNED
        message.reason = TEMPORARY_FAILURE
        message.last_error = error[:2000]
        message.send_after = timezone.now() + timedelta(seconds=countdown)
        message.claimed_until = None
        message.dispatched_at = message.send_after
        message.save()
    raise RetryLater(countdown, error)


# --- Dispatching --------------------------------------------------------------------------------------


def due_message_ids(*, now: datetime | None = None, limit: int | None = None) -> list[int]:
    """Mark up to `limit` due messages as queued and return their IDs: waiting ones whose time has come
    and which are not queued already (or were queued long ago and got lost), and sending ones whose
    attempt died."""
    now = now or timezone.now()
    # A morning's reminders (tens of thousands) are queued within a few minutes; the workers of the
    # `messages` queue then send them as fast as they can. A message still unsent half an hour after it
    # was queued is taken for lost (a purged queue, a lost retry) and queued again - harmless if not.
    limit = limit or DISPATCH_BATCH
    lost = now - REDISPATCH_AFTER
    not_queued = Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=lost)
    with transaction.atomic():
        ids = list(
            OutboundMessage.objects.filter(status__in=WAITING_STATUSES, send_after__lte=now)
            .filter(not_queued)
            .order_by("send_after", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        if len(ids) < limit:
            ids += list(
                OutboundMessage.objects.filter(status=MessageStatus.SENDING, claimed_until__lt=now)
                .filter(not_queued)
                .order_by("claimed_until", "pk")
                .values_list("pk", flat=True)[: limit - len(ids)]
            )
        OutboundMessage.objects.filter(pk__in=ids).update(dispatched_at=now)
    return ids


def dispatch_due(*, send: Callable[[int], object], now: datetime | None = None) -> int:
    """Queue a send for every due message (after commit, so a task never finds the row unqueued)."""
    ids = due_message_ids(now=now)
    if ids:
        transaction.on_commit(lambda: [send(pk) for pk in ids])
    return len(ids)


def send_due_now(*, now: datetime | None = None) -> dict[str, int]:
    """Send every due message in this process, one after the other (no Celery): for tests, and for a
    command run by hand. Temporary failures stay planned for later."""
    counts: dict[str, int] = {}
    for pk in due_message_ids(now=now):
        try:
            status = message_send(message_id=pk, now=now)
        except RetryLater:
            status = "retry"
        counts[status] = counts.get(status, 0) + 1
    return counts


# --- Defaults -----------------------------------------------------------------------------------------

DEFAULT_BANNED_PHRASES: list[tuple[str, str]] = [
    # Threats and intimidation
    ("后果自负", PhraseCategory.THREAT),
    ("让你好看", PhraseCategory.THREAT),
    ("上门讨债", PhraseCategory.THREAT),
    ("身败名裂", PhraseCategory.THREAT),
    ("you will regret", PhraseCategory.THREAT),
    ("or else", PhraseCategory.THREAT),
    ("we know where you live", PhraseCategory.THREAT),
    ("hurt", PhraseCategory.THREAT),
    # Fake blacklists (there is no "blacklist"; the credit report is a record, not a punishment)
    ("黑名单", PhraseCategory.FALSE_BLACKLIST),
    ("失信被执行人", PhraseCategory.FALSE_BLACKLIST),
    ("blacklist", PhraseCategory.FALSE_BLACKLIST),
    ("black list", PhraseCategory.FALSE_BLACKLIST),
    ("blacklisted", PhraseCategory.FALSE_BLACKLIST),
    # Arrest, jail, criminal threats
    ("拘留", PhraseCategory.ARREST),
    ("逮捕", PhraseCategory.ARREST),
    ("坐牢", PhraseCategory.ARREST),
    ("抓捕", PhraseCategory.ARREST),
    ("arrest", PhraseCategory.ARREST),
    ("arrested", PhraseCategory.ARREST),
    ("jail", PhraseCategory.ARREST),
    ("prison", PhraseCategory.ARREST),
    ("criminal charges", PhraseCategory.ARREST),
    ("warrant", PhraseCategory.ARREST),
    # Impersonating courts, police or officials
    ("法院通知", PhraseCategory.IMPERSONATION),
    ("本院", PhraseCategory.IMPERSONATION),
    ("法官", PhraseCategory.IMPERSONATION),
    ("公安", PhraseCategory.IMPERSONATION),
    ("警方", PhraseCategory.IMPERSONATION),
    ("检察院", PhraseCategory.IMPERSONATION),
    ("police", PhraseCategory.IMPERSONATION),
    ("sheriff", PhraseCategory.IMPERSONATION),
    ("court officer", PhraseCategory.IMPERSONATION),
    ("notice from the court", PhraseCategory.IMPERSONATION),
    ("government agency", PhraseCategory.IMPERSONATION),
    # Threats to tell others
    ("通知你的家人", PhraseCategory.DISCLOSURE),
    ("通知您的家人", PhraseCategory.DISCLOSURE),
    ("通知你的单位", PhraseCategory.DISCLOSURE),
    ("通知您的单位", PhraseCategory.DISCLOSURE),
    ("告诉你的亲友", PhraseCategory.DISCLOSURE),
    ("tell your employer", PhraseCategory.DISCLOSURE),
    ("tell your family", PhraseCategory.DISCLOSURE),
    ("tell your neighbours", PhraseCategory.DISCLOSURE),
    ("tell your neighbors", PhraseCategory.DISCLOSURE),
    # Abuse
    ("老赖", PhraseCategory.ABUSE),
    ("骗子", PhraseCategory.ABUSE),
    ("deadbeat", PhraseCategory.ABUSE),
]

# The message of each purpose, per language, as a clause; the channel forms below wrap it.
_CORE = {
    MessageLanguage.ZH_HANS: {
        Purpose.BEFORE_DUE: (
            "您尾号{account_last4}的账户本期应还 {amount} {currency}，到期还款日为 {due_date}，请按时还款"
        ),
        Purpose.DUE_TODAY: (
            "今天（{due_date}）是您尾号{account_last4}的账户的到期还款日，"
            "应还 {amount} {currency}，请于今日还款"
        ),
        Purpose.OVERDUE_NOTICE: (
            "您尾号{account_last4}的账户自 {due_date} 起逾期，已逾期 {days_past_due} 天，"
            "逾期金额 {amount} {currency}，请尽快还款"
        ),
        Purpose.PROMISE_REMINDER: (
            "您承诺于 {due_date} 还款 {amount} {currency}（案件编号 {reference}），请按约定还款"
        ),
        Purpose.INSTALLMENT_REMINDER: (
            "您的还款计划本期应还 {amount} {currency}，到期日为 {due_date}，请按时还款"
        ),
        Purpose.PLAN_BROKEN: (
            "您的还款计划中到期日为 {due_date} 的一期未按约定还款，计划已终止；"
            "当前逾期金额 {amount} {currency}，请尽快与我们联系"
        ),
        Purpose.ESCALATION_NOTICE: (
            "您尾号{account_last4}的账户已逾期 {days_past_due} 天，逾期金额 {amount} {currency}，"
            "案件（编号 {reference}）已转交本行法务部门审查；"
            "如您已还款或对欠款有异议，请与我们联系"
        ),
    },
    MessageLanguage.EN: {
        Purpose.BEFORE_DUE: (
            "the payment of {amount} {currency} on your account ending {account_last4} is due on "
            "{due_date}. Please pay on time"
        ),
        Purpose.DUE_TODAY: (
            "the payment of {amount} {currency} on your account ending {account_last4} is due today, "
            "{due_date}"
        ),
        Purpose.OVERDUE_NOTICE: (
            "your account ending {account_last4} has been overdue since {due_date} ({days_past_due} days); "
            "{amount} {currency} is overdue. Please pay as soon as you can"
        ),
        Purpose.PROMISE_REMINDER: (
            "this is a reminder of your promise to pay {amount} {currency} by {due_date} (case {reference})"
        ),
        Purpose.INSTALLMENT_REMINDER: (
            "the installment of {amount} {currency} under your repayment plan is due on {due_date}"
        ),
        Purpose.PLAN_BROKEN: (
            "the installment of your repayment plan due on {due_date} was not paid and the plan has ended; "
            "{amount} {currency} is overdue. Please contact us to talk about your options"
        ),
        Purpose.ESCALATION_NOTICE: (
            "your account ending {account_last4} is {days_past_due} days overdue "
            "({amount} {currency}), and case {reference} has been passed to our legal department for "
            "review. If you have paid or you dispute the debt, please contact us"
        ),
    },
}
_SUBJECT = {
    MessageLanguage.ZH_HANS: {
        Purpose.BEFORE_DUE: "还款提醒：{due_date} 到期",
        Purpose.DUE_TODAY: "今日为到期还款日",
        Purpose.OVERDUE_NOTICE: "逾期还款通知",
        Purpose.PROMISE_REMINDER: "还款承诺提醒",
        Purpose.INSTALLMENT_REMINDER: "还款计划分期提醒",
        Purpose.PLAN_BROKEN: "还款计划终止通知",
        Purpose.ESCALATION_NOTICE: "案件转交法务审查通知",
    },
    MessageLanguage.EN: {
        Purpose.BEFORE_DUE: "Payment due on {due_date}",
        Purpose.DUE_TODAY: "Your payment is due today",
        Purpose.OVERDUE_NOTICE: "Your account is overdue",
        Purpose.PROMISE_REMINDER: "Reminder of your promise to pay",
        Purpose.INSTALLMENT_REMINDER: "Repayment plan installment due",
        Purpose.PLAN_BROKEN: "Your repayment plan has ended",
        Purpose.ESCALATION_NOTICE: "Your case has been passed to our legal department",
    },
}


def default_template_text(purpose: str, channel: str, language: str) -> tuple[str, str]:
    """(subject, body) of the shipped template for one slot. Every body meets the rules of every known
    jurisdiction (a blank-jurisdiction template may reach anyone): SMS and e-mail carry {opt_out}; letters
    carry what a Chinese collection letter needs."""
    core = _CORE[language][purpose]
    subject = _SUBJECT[language][purpose]
    if language == MessageLanguage.ZH_HANS:
        if channel == MessageChannel.SMS:
            return "", f"【{{bank_name}}】{{name}}您好，{core}。咨询：{{bank_contact}}。{{opt_out}}"
        if channel == MessageChannel.EMAIL:
            body = (
                f"尊敬的{{name}}：\n\n{core}。\n\n{{how_to_repay}}\n{{how_to_object}}\n\n"
                "{bank_name}\n{bank_contact}\n\n{opt_out}"
            )
            return subject, body
        body = (
            f"尊敬的{{name}}：\n\n案件编号：{{reference}}\n\n{core}。\n\n"
            "依据：{legal_basis}。\n查询：{how_to_check}\n还款：{how_to_repay}\n异议：{how_to_object}\n\n"
            "联系方式：{bank_contact}\n\n{bank_name}"
        )
        return subject, body
    sentence = core[0].upper() + core[1:]
    if channel == MessageChannel.SMS:
        return "", f"{{bank_name}}: Dear {{name}}, {core}. Questions: {{bank_contact}}. {{opt_out}}"
    if channel == MessageChannel.EMAIL:
        body = (
            f"Dear {{name}},\n\n{sentence}.\n\n{{how_to_repay}}\n{{how_to_object}}\n\n"
            "{bank_name}\n{bank_contact}\n\n{opt_out}"
        )
        return subject, body
    body = (
        f"Dear {{name}},\n\nReference: {{reference}}\n\n{sentence}.\n\n"
        "We write to you under {legal_basis}.\nChecking the amount: {how_to_check}\n"
        "Paying: {how_to_repay}\nObjecting: {how_to_object}\n\nContact us: {bank_contact}\n\n{bank_name}"
    )
    return subject, body


def ensure_defaults() -> dict[str, int]:
    """Create the shipped banned phrases and, for every purpose x channel x language slot without an
    active template, the default template. Idempotent; never overwrites what an admin changed."""
    phrases = 0
    for phrase, category in DEFAULT_BANNED_PHRASES:
        _obj, created = BannedPhrase.objects.get_or_create(phrase=phrase, defaults={"category": category})
        phrases += created
    templates = 0
    taken = set(
        MessageTemplate.objects.filter(active=True, jurisdiction="").values_list(
            "purpose", "channel", "language"
        )
    )
    for purpose in Purpose.values:
        for channel in MessageChannel.values:
            for language in MessageLanguage.values:
                if (purpose, channel, language) in taken:
                    continue
                subject, body = default_template_text(purpose, channel, language)
                template = MessageTemplate(
                    purpose=purpose, channel=channel, language=language, subject=subject, body=body
                )
                template.full_clean()  # the shipped texts pass the same checks as an admin's
                template.save()
                templates += 1
    return {"banned_phrases": phrases, "templates": templates}


# --- Sending from the case (an agent picks a template) --------------------------------------------------
#
# An agent (or a supervisor, or a bulk action) sends one template to one case's cardholder now. The three
# functions below are the one home of that rule; pages, the bulk actions and the API call them:
#
#   templates_for_case   what may be sent on this case: the cardholder's language, the most specific
#                        template of their jurisdiction per purpose and channel, purposes that apply now
#   case_message_preview the filled text, the masked recipient and the contact policy's verdict now
#   case_message_send    the same checks; a refusal is written on the timeline (POLICY_REFUSED, as a
#                        refused contact is) and raised; else one OutboundMessage, planned for now and
#                        handed to the delivery path above (message_send: the policy asked again at send
#                        time, rendered, delivered, REMINDER event and contact attempt under the agent)


@dataclass(frozen=True)
class MessagePreview:
    """What an agent would send from the case now, and whether the contact policy allows it. `refusal` is
    the reason in the active language (with when it lifts), `rule` its code ("" when allowed)."""

    allowed: bool
    refusal: str
    rule: str
    channel: str
    language: str
    subject: str
    body: str
    recipient: str  # masked
    template_id: int | None = None
    purpose: str = ""


# Refusals of a send from the case that are not the contact policy's.
CASE_NOT_WORKABLE = "case_scope"
TEMPLATE_NOT_OFFERED = "template_not_offered"

_message_sender: Callable[[int], object] | None = None


def register_message_sender(send: Callable[[int], object]) -> None:
    """Set how a message sent from the case is queued for delivery at once (automation registers its
    Celery task from AppConfig.ready(): this app does not import the one above it). Without one, the
    every-minute dispatcher (dispatch_due) picks the message up."""
    global _message_sender
    _message_sender = send


def _applicable_about(case: Case, purpose: str, today: date) -> dict | None:
    """What a message of `purpose` sent from the case now would be about (the `about` of a planned
    reminder of that purpose), or None when the purpose does not apply to the case now."""
    account = case.account
    if purpose == Purpose.BEFORE_DUE:
        due = account.next_due_date
        return {"due_date": due.isoformat()} if due and due > today else None
    if purpose == Purpose.DUE_TODAY:
        return {"due_date": today.isoformat()} if account.next_due_date == today else None
    if purpose == Purpose.OVERDUE_NOTICE:
        if account.overdue_amount <= 0:
            return None
        missed = account.first_missed_due_date
        return {"due_date": missed.isoformat()} if missed else {}
    if purpose == Purpose.PROMISE_REMINDER:
        promise = (
            case.promises.filter(status=PromiseStatus.PENDING).order_by("due_date", "pk").values("pk").first()
        )
        return {"promise": promise["pk"]} if promise else None
    if purpose == Purpose.INSTALLMENT_REMINDER:
        line = (
            Installment.objects.filter(
                plan__case=case,
                plan__state=PlanState.ACTIVE,
                status__in=(InstallmentStatus.DUE, InstallmentStatus.PARTLY_PAID),
            )
            .order_by("due_date", "pk")
            .values("pk", "due_date")
            .first()
        )
        return {"installment": line["pk"], "due_date": line["due_date"].isoformat()} if line else None
    if purpose == Purpose.PLAN_BROKEN:
        plan = (
            RepaymentPlan.objects.filter(case=case, state=PlanState.BROKEN)
            .order_by("-ended_at", "-pk")
            .values("pk")
            .first()
        )
        return {"plan": plan["pk"]} if plan else None
    if purpose == Purpose.ESCALATION_NOTICE:
        if case.state != CaseState.LEGAL_REVIEW:
            return None
        referral = (
            LegalReferral.objects.filter(case=case, decision=LegalDecision.PENDING)
            .order_by("-referred_at", "-pk")
            .values("pk")
            .first()
        )
        return {"referral": referral["pk"]} if referral else None
    return None


def _templates_and_abouts(case: Case, today: date) -> list[tuple[MessageTemplate, dict]]:
    holder = case.account.cardholder
    language = language_of(holder.language)
    if language is None or not case.is_open:
        return []
    order = list(dict.fromkeys([*policy.profile_codes(holder.jurisdiction or ""), ""]))
    best: dict[tuple[str, str], MessageTemplate] = {}
    for template in MessageTemplate.objects.filter(active=True, language=language, jurisdiction__in=order):
        slot = (template.purpose, template.channel)
        if slot not in best or order.index(template.jurisdiction) < order.index(best[slot].jurisdiction):
            best[slot] = template
    abouts: dict[str, dict | None] = {}
    chosen = []
    channels = list(MessageChannel.values)
    purposes = list(Purpose.values)
    for (purpose, _channel), template in sorted(
        best.items(), key=lambda item: (channels.index(item[0][1]), purposes.index(item[0][0]))
    ):
        if purpose not in abouts:
            abouts[purpose] = _applicable_about(case, purpose, today)
        if abouts[purpose] is not None:
            chosen.append((template, abouts[purpose]))
    return chosen


def templates_for_case(case: Case) -> list[MessageTemplate]:
    """The templates an agent may send on this case now, by channel then purpose: in the cardholder's
    language, the most specific active one of their jurisdiction per purpose and channel (as template_for
    chooses), for the purposes that apply to the case now (a promise reminder while a promise is pending,
    an installment reminder while a plan has one due, ...). None on a closed case or for a cardholder
    whose language has no templates. `case` comes with account and cardholder (get_case_for_user)."""
    return [template for template, _about in _templates_and_abouts(case, timezone.localdate())]


def _offered(case: Case, template_id: int) -> tuple[MessageTemplate, dict]:
    for template, about in _templates_and_abouts(case, timezone.localdate()):
        if template.pk == template_id:
            return template, about
    raise ValidationFailed(
        _(
            "This template cannot be sent on this case now "
            "(another language or jurisdiction, or nothing it is about)."
        ),
        field="template",
        rule=TEMPLATE_NOT_OFFERED,
    )


def _ensure_may_send(actor, case: Case) -> None:
    if actor is None:
        return
    if not has_capability(actor, Capability.WORK_CASES):
        raise NotAllowed(_("Your role may not do this."), rule=str(Capability.WORK_CASES))
    ensure_can_act(actor, case)


@dataclass(frozen=True)
class _Verdict:
    template: MessageTemplate
    about: dict
    point: ContactPoint | None
    recipient: str
    decision: policy.Decision | None  # None: not asked (the case is closed or there is no address)
    refusal: DomainError | None


def _judge(case: Case, *, actor, template_id: int, now: datetime) -> _Verdict:
    """The checks a send from the case passes, in order: the actor may work the case, the template is
    offered on it, the case is open, there is an address, the contact policy allows this channel now."""
    _ensure_may_send(actor, case)
    if not case.is_open:
        raise InvalidTransition(_("The case is closed."), rule=CASE_CLOSED)
    template, about = _offered(case, template_id)
    point, recipient = _recipient(template.channel, case.account.cardholder)
    if not recipient:
        refused = ValidationFailed(
            _("No number or address to send it to."), field="template", rule=NO_ADDRESS
        )
        return _Verdict(template, about, point, recipient, None, refused)
    decision = contactability.action_decision(
        case=case, action=contactability.Action.MESSAGE, at=now, channel=template.channel, contact_point=point
    )
    refused = (
        None
        if decision.allowed
        else contactability.refusal(decision, case=case, actor=actor, action=contactability.Action.MESSAGE)
    )
    return _Verdict(template, about, point, recipient, decision, refused)


def _case_for_message(case_id: int) -> Case:
    return Case.objects.select_related("account__cardholder", "queue", "assigned_agent").get(pk=case_id)


def case_message_preview(*, case_id: int, actor, template_id: int) -> MessagePreview:
    """The template filled in for this case now (in the cardholder's language: name, amounts grouped with
    their currency, dates), the masked recipient and the contact policy's verdict on sending it now - the
    decision the reminders get at send time (contactability, Action.MESSAGE). Writes nothing.

    Raises NotAllowed (403) when the actor may not work the case, InvalidTransition on a closed case,
    ValidationFailed (rule template_not_offered) for a template not offered on it (templates_for_case).
    A policy refusal or a missing address is not raised: `allowed` is False with `refusal` and `rule`."""
    case = _case_for_message(case_id)
    verdict = _judge(case, actor=actor, template_id=template_id, now=timezone.now())
    template = verdict.template
    draft = OutboundMessage(
        case=case, purpose=template.purpose, channel=template.channel, about=verdict.about
    )
    values = message_values(draft, case, template.language)
    return MessagePreview(
        allowed=verdict.refusal is None,
        refusal=verdict.refusal.message if verdict.refusal else "",
        rule=verdict.refusal.rule if verdict.refusal else "",
        channel=template.channel,
        language=template.language,
        subject=render_text(template.subject, values),
        body=render_text(template.body, values),
        recipient=mask_recipient(template.channel, verdict.recipient) if verdict.recipient else "",
        template_id=template.pk,
        purpose=template.purpose,
    )


def case_message_send(*, case_id: int, actor, template_id: int, reason: str = "") -> OutboundMessage:
    """Send a template from the case now: the checks of case_message_preview, on the locked case.

    A contact-policy refusal is written on the timeline (POLICY_REFUSED, with the rule, the channel and
    the template, as a refused contact is) and raised as ContactNotAllowed; no message is created. Other
    refusals (NotAllowed, InvalidTransition, ValidationFailed) write nothing.

    Allowed: one OutboundMessage (planned for now, a key of its own, `requested_by` the actor, the
    template pinned, `reason` kept in `about["note"]`), queued for delivery after commit. Delivery
    (message_send) asks the policy again at that moment, renders, hands it to the channel's provider and
    writes the REMINDER event with the actor; a delivered message is also a contact attempt (outcome
    sent) under the actor. A letter goes to the letter provider (the print run): "written", not sent."""
    now = timezone.now()
    refused: ContactNotAllowed | None = None
    with transaction.atomic():
        # The case row lock orders this send after a contact, a hold or a flag being written at the
        # same moment: the policy is asked about the case as it stands once those have committed.
        lock_case(case_id)
        case = _case_for_message(case_id)
        verdict = _judge(case, actor=actor, template_id=template_id, now=now)
        if isinstance(verdict.refusal, ContactNotAllowed):
            refused = verdict.refusal
            event_write(
                case=case,
                kind=EventKind.POLICY_REFUSED,
                actor=actor,
                reason=verdict.decision.text,
                details={
                    **verdict.decision.details,
                    "channel": verdict.template.channel,
                    "template": verdict.template.pk,
                    "action": str(contactability.Action.MESSAGE),
                },
            )
        elif verdict.refusal is not None:
            raise verdict.refusal
        else:
            template = verdict.template
            about = dict(verdict.about)
            if reason.strip():
                about["note"] = reason.strip()[:500]
            who = f"by{actor.pk}" if actor is not None else "system"
            message = OutboundMessage.objects.create(
                idempotency_key=idempotency_key(
                    template.purpose, case.pk, f"case-{who}-{uuid.uuid4().hex}", template.channel
                ),
                case=case,
                purpose=template.purpose,
                channel=template.channel,
                about=about,
                send_after=now,
                template=template,
                language=template.language,
                requested_by=actor,
                dispatched_at=now if _message_sender is not None else None,
            )
            if _message_sender is not None:
                send = _message_sender
                transaction.on_commit(lambda: send(message.pk))
    if refused is not None:
        # Raised after the commit: the refusal stays on the timeline, nothing else was written.
        raise refused
    return message
