"""Reminders as data: the templates admins write, the phrases no template may use, and every message the
system planned, deferred, sent, failed or suppressed (messaging.services does the work).

Template text uses `{placeholder}` from a fixed list (PLACEHOLDERS); `{{` and `}}` are literal braces.
A template is checked when it is saved (`MessageTemplate.clean`, which the admin form runs): an unknown
placeholder, a missing element a jurisdiction requires, or a banned phrase is a clear error there, not a
blank or a threat in a customer's SMS.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from contact_policy import engine as policy_engine

# --- Vocabulary ---------------------------------------------------------------------------------------


class Purpose(models.TextChoices):
    BEFORE_DUE = "before_due", _("Before the due date")
    DUE_TODAY = "due_today", _("Due today")
    OVERDUE_NOTICE = "overdue_notice", _("Overdue notice")
    PROMISE_REMINDER = "promise_reminder", _("Promise reminder")
    INSTALLMENT_REMINDER = "installment_reminder", _("Installment reminder")
    PLAN_BROKEN = "plan_broken", _("Plan broken")
    ESCALATION_NOTICE = "escalation_notice", _("Escalation notice")


class MessageChannel(models.TextChoices):
    """The written channels a reminder uses (the same values as collections_app.models.Channel)."""

    SMS = "sms", _("SMS")
    EMAIL = "email", _("E-mail")
    LETTER = "letter", _("Letter")


class MessageLanguage(models.TextChoices):
    ZH_HANS = "zh-hans", "简体中文"
    EN = "en", "English"


# The placeholders a template may use, and what each stands for (shown to admins on the template form).
PLACEHOLDERS: dict[str, str] = {
    "name": "the cardholder's name",
    "amount": "the amount this message is about (overdue amount, promised amount, installment due ...)",
    "currency": "the account's currency code",
    "due_date": "the date this message is about (due date, promised date, installment date ...)",
    "days_past_due": "days past due",
    "overdue_amount": "the account's overdue amount",
    "balance": "the account's balance",
    "reference": "the case reference",
    "account_last4": "the last four letters or digits of the account reference",
    "bank_name": "the bank's name",
    "bank_contact": "the bank's contact details (hotline, address)",
    "opt_out": "how to stop these messages (per channel and language)",
    "legal_basis": "the contract and rules the claim rests on",
    "how_to_check": "how to check the debt",
    "how_to_repay": "how to repay",
    "how_to_object": "how to object or dispute",
}

# `{word}` is a placeholder; `{{` / `}}` are literal braces; anything else with a brace is an error.
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


class TemplateSyntaxProblem(ValueError):
    pass


def placeholders_in(text: str) -> list[str]:
    """The placeholders a template text uses, in order. Raises TemplateSyntaxProblem on a stray brace or
    something that is not a plain name between braces (`{name.upper}`, `{amount:>10}`, `{}`)."""
    names = []
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        if match.group(1) is None:
            raise TemplateSyntaxProblem(
                f"a lone '{token}' at position {match.start() + 1}: write {{{{ or }}}} for a literal brace"
            )
        inner = match.group(1).strip()
        if not _IDENTIFIER.match(inner):
            raise TemplateSyntaxProblem(f"'{token}' is not a placeholder: use a plain name such as {{name}}")
        names.append(inner)
    return names


def render_text(text: str, values: Mapping[str, str]) -> str:
    """Fill the placeholders. A placeholder without a value raises KeyError: a message is never sent
    with a blank where the amount should be."""

    def substitute(match: re.Match) -> str:
        piece = match.group(0)
        if piece in ("{{", "}}"):
            return piece[0]
        if match.group(1) is None:
            raise TemplateSyntaxProblem(f"a lone '{piece}'")
        return str(values[match.group(1).strip()])

    return _TOKEN.sub(substitute, text)


# What a jurisdiction requires a template to carry, as (element, placeholders of which one must appear).
# China: a collection letter names the cardholder and the amount, the reason and legal basis, how to check,
# repay and object, and the bank's contact details (2011 Measures art. 68 and the CBA collection guideline,
# see compliance-rules.md). US: Reg F 1006.6(e) - an e-mail or text message carries a way to opt out.
REQUIRED_ELEMENTS: dict[tuple[str, str], list[tuple[str, tuple[str, ...]]]] = {
    ("CN", MessageChannel.LETTER): [
        ("the cardholder's name", ("name",)),
        ("the amount owed", ("amount", "overdue_amount")),
        ("the reason (what fell due, and when)", ("due_date", "days_past_due")),
        ("the legal basis", ("legal_basis",)),
        ("how to check the debt", ("how_to_check",)),
        ("how to repay", ("how_to_repay",)),
        ("how to object", ("how_to_object",)),
        ("the bank's contact details", ("bank_contact",)),
    ],
    ("US", MessageChannel.SMS): [("an opt-out", ("opt_out",))],
    ("US", MessageChannel.EMAIL): [("an opt-out", ("opt_out",))],
}
KNOWN_COUNTRIES = ("CN", "US")


def countries_served(jurisdiction: str) -> tuple[str, ...]:
    """The countries whose rules a template must meet: its own, or every known one when it is blank
    (a template for "any jurisdiction" may reach a cardholder anywhere)."""
    code = (jurisdiction or "").strip().upper()
    return (code.split("-", 1)[0],) if code else KNOWN_COUNTRIES


def missing_elements(*, channel: str, jurisdiction: str, used: Iterable[str]) -> list[tuple[str, str]]:
    """(country, element) pairs a template of this channel and jurisdiction lacks."""
    used = set(used)
    missing = []
    for country in countries_served(jurisdiction):
        for element, options in REQUIRED_ELEMENTS.get((country, channel), []):
            if not used & set(options):
                missing.append((country, f"{element} ({' or '.join('{' + o + '}' for o in options)})"))
    return missing


# --- Banned phrases -----------------------------------------------------------------------------------


class PhraseCategory(models.TextChoices):
    THREAT = "threat", _("Threat or intimidation")
    FALSE_BLACKLIST = "false_blacklist", _("Fake blacklist claim")
    ARREST = "arrest", _("Arrest, jail or criminal threat")
    IMPERSONATION = "impersonation", _("Impersonating a court, the police or an official")
    DISCLOSURE = "disclosure", _("Threat to tell family, employer or others")
    ABUSE = "abuse", _("Abusive language")


_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_SPACES = re.compile(r"\s+")


def _normalise(text: str) -> str:
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).casefold().strip()


class BannedPhrase(models.Model):
    """A phrase no template may contain (kept as data so compliance can extend the list). Latin phrases
    match whole words, case-insensitively; Chinese phrases match anywhere, spaces ignored."""

    phrase = models.CharField(_("phrase"), max_length=120, unique=True)
    category = models.CharField(_("category"), max_length=20, choices=PhraseCategory.choices)
    active = models.BooleanField(_("active"), default=True)
    note = models.CharField(_("why"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("banned phrase")
        verbose_name_plural = _("banned phrases")
        ordering = ["category", "phrase"]

    def __str__(self) -> str:
        return self.phrase

    def found_in(self, text: str) -> bool:
        phrase, haystack = _normalise(self.phrase), _normalise(text)
        if not phrase:
            return False
        if _CJK.search(phrase):
            return phrase.replace(" ", "") in haystack.replace(" ", "")
        return re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", haystack) is not None


# --- Templates ----------------------------------------------------------------------------------------


class MessageTemplate(models.Model):
    """The text of one reminder purpose on one channel in one language, optionally for one jurisdiction
    ("US", "US-MA", "CN"; blank serves every jurisdiction and must then meet the rules of each). The most
    specific active template wins: "US-MA", then "US", then blank."""

    purpose = models.CharField(_("purpose"), max_length=24, choices=Purpose.choices)
    channel = models.CharField(_("channel"), max_length=8, choices=MessageChannel.choices)
    language = models.CharField(_("language"), max_length=8, choices=MessageLanguage.choices)
    jurisdiction = models.CharField(
        _("jurisdiction"),
        max_length=16,
        blank=True,
        help_text=_('A profile code such as "CN", "US" or "US-MA"; blank for every jurisdiction.'),
    )
    subject = models.CharField(
        _("subject"), max_length=200, blank=True, help_text=_("E-mail subject or letter heading.")
    )
    body = models.TextField(
        _("text"),
        help_text=_(
            "Placeholders in braces, e.g. {name}, {amount}, {due_date}; {{ and }} for a literal brace."
        ),
    )
    active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        ordering = ["purpose", "channel", "language", "jurisdiction"]
        constraints = [
            models.UniqueConstraint(
                fields=["purpose", "channel", "language", "jurisdiction"],
                condition=Q(active=True),
                name="one_active_template_per_slot",
            ),
            models.CheckConstraint(condition=Q(purpose__in=Purpose.values), name="template_purpose_valid"),
            models.CheckConstraint(
                condition=Q(channel__in=MessageChannel.values), name="template_channel_valid"
            ),
            models.CheckConstraint(
                condition=Q(language__in=MessageLanguage.values), name="template_language_valid"
            ),
        ]

    def __str__(self) -> str:
        where = self.jurisdiction or "*"
        return f"{self.get_purpose_display()} · {self.get_channel_display()} · {self.language} · {where}"

    def clean(self) -> None:
        self.jurisdiction = (self.jurisdiction or "").strip().upper()
        errors: dict[str, list[str]] = {}
        if self.jurisdiction and not re.fullmatch(r"[A-Z]{2}(-[A-Z0-9]{1,5})?", self.jurisdiction):
            errors.setdefault("jurisdiction", []).append(
                _('Use a profile code such as "CN", "US" or "US-MA", or leave it blank.')
            )
        if self.channel == MessageChannel.EMAIL and not self.subject.strip():
            errors.setdefault("subject", []).append(_("An e-mail needs a subject."))
        if self.channel == MessageChannel.SMS and self.subject.strip():
            errors.setdefault("subject", []).append(_("An SMS has no subject; put everything in the text."))
        used: list[str] = []
        for field in ("subject", "body"):
            try:
                names = placeholders_in(getattr(self, field))
            except TemplateSyntaxProblem as problem:
                errors.setdefault(field, []).append(
                    _("Broken placeholder: %(problem)s.") % {"problem": problem}
                )
                continue
            unknown = sorted({n for n in names if n not in PLACEHOLDERS})
            if unknown:
                errors.setdefault(field, []).append(
                    _("Unknown placeholder %(unknown)s. Allowed: %(allowed)s.")
                    % {
                        "unknown": ", ".join("{" + n + "}" for n in unknown),
                        "allowed": ", ".join("{" + n + "}" for n in PLACEHOLDERS),
                    }
                )
            used += names
        if "body" not in errors and "subject" not in errors:
            for country, element in missing_elements(
                channel=self.channel, jurisdiction=self.jurisdiction, used=used
            ):
                errors.setdefault("body", []).append(
                    _("%(channel)s for %(country)s: must include %(element)s.")
                    % {"channel": self.get_channel_display(), "country": country, "element": element}
                )
        text = f"{self.subject}\n{self.body}"
        for phrase in BannedPhrase.objects.filter(active=True):
            if phrase.found_in(text):
                errors.setdefault("body", []).append(
                    _('"%(phrase)s" may not be used in a message to a cardholder (%(category)s).')
                    % {"phrase": phrase.phrase, "category": phrase.get_category_display()}
                )
        if errors:
            raise ValidationError(errors)


# --- Outbound messages --------------------------------------------------------------------------------


class MessageStatus(models.TextChoices):
    """planned -> (deferred ->)* sending -> sent | written | failed; planned | deferred -> suppressed.
    A failed attempt that may be retried goes back to planned with a later send_after. "written" is a
    message the file (or console) provider put in the outbox: nobody has received it, so it is never
    counted as sent nor recorded as a contact."""

    PLANNED = "planned", _("Planned")
    DEFERRED = "deferred", _("Deferred")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    WRITTEN = "written", _("Written to the outbox")
    FAILED = "failed", _("Failed")
    SUPPRESSED = "suppressed", _("Suppressed")


WAITING_STATUSES = (MessageStatus.PLANNED, MessageStatus.DEFERRED)
FINAL_STATUSES = (
    MessageStatus.SENT,
    MessageStatus.WRITTEN,
    MessageStatus.FAILED,
    MessageStatus.SUPPRESSED,
)


# The dispatcher's reasons (messaging.services) by name; contact-policy rule codes are named by the engine.
MESSAGE_REASON_LABELS = {
    "no_address": _("no number or address"),
    "no_template": _("no template"),
    "no_policy": _("no contact policy"),
    "case_closed": _("case closed"),
    "not_applicable": _("no longer applies"),
    "expired": _("too old to send"),
    "template_error": _("template error"),
    "provider_rejected": _("rejected by the provider"),
    "retries_exhausted": _("retries used up"),
    "outcome_unknown": _("outcome unknown"),
    "temporary_failure": _("temporary failure"),
}


class OutboundMessage(models.Model):
    """One reminder to one cardholder about one thing, from planning to its end. `idempotency_key`
    (purpose:case:subject:channel) is unique, so planning twice plans once and no reminder is sent twice.
    Subject, body and recipient are filled when the message is sent (rendered then, in the cardholder's
    language, with the figures of that moment)."""

    idempotency_key = models.CharField(_("idempotency key"), max_length=160, unique=True)
    case = models.ForeignKey(
        "collections_app.Case", on_delete=models.PROTECT, related_name="outbound_messages"
    )
    purpose = models.CharField(_("purpose"), max_length=24, choices=Purpose.choices)
    channel = models.CharField(_("channel"), max_length=8, choices=MessageChannel.choices)
    # What the message is about: {"due_date": ..., "amount": ..., "promise": id, "installment": id ...}.
    about = models.JSONField(_("about"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=MessageStatus.choices, default=MessageStatus.PLANNED
    )
    # Why it was suppressed, deferred or failed: a policy rule code or one of messaging.REASONS.
    reason = models.CharField(_("reason"), max_length=40, blank=True)
    detail = models.TextField(_("detail"), blank=True)
    send_after = models.DateTimeField(_("send after"))
    run = models.ForeignKey(
        "automation.NightlyRun",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="messages",
        verbose_name=_("planned by run"),
    )
    template = models.ForeignKey(
        MessageTemplate, on_delete=models.SET_NULL, null=True, blank=True, related_name="messages"
    )
    language = models.CharField(_("language"), max_length=8, blank=True)
    contact_point = models.ForeignKey(
        "collections_app.ContactPoint", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The person who sent it from the case (messaging.services.case_message_send); None for a reminder the
    # nightly run planned. Its timeline entries and the contact it becomes carry this person as the actor.
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("sent by"),
    )
    recipient = models.CharField(_("recipient"), max_length=300, blank=True)
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    body = models.TextField(_("text"), blank=True)
    provider = models.CharField(_("provider"), max_length=40, blank=True)
    provider_ref = models.CharField(_("provider reference"), max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    # A send attempt holds the message until then; a later attempt may take it over after it.
    claimed_until = models.DateTimeField(_("claimed until"), null=True, blank=True)
    # When the dispatcher last queued a send task for it (so that a backlog is not queued every minute).
    dispatched_at = models.DateTimeField(_("queued"), null=True, blank=True)
    created_at = models.DateTimeField(_("planned"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("outbound message")
        verbose_name_plural = _("outbound messages")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=MessageStatus.values), name="message_status_valid"),
            models.CheckConstraint(condition=Q(purpose__in=Purpose.values), name="message_purpose_valid"),
            models.CheckConstraint(
                condition=Q(channel__in=MessageChannel.values), name="message_channel_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status=MessageStatus.SENT) | Q(sent_at__isnull=False),
                name="message_sent_has_time",
            ),
        ]
        indexes = [
            # The every-minute dispatcher reads exactly these rows, by time.
            models.Index(
                fields=["send_after"],
                condition=Q(status__in=["planned", "deferred"]),
                name="message_waiting_idx",
            ),
            models.Index(fields=["case", "-created_at"], name="message_case_idx"),
            models.Index(fields=["status", "-created_at"], name="message_status_idx"),
        ]

    def __str__(self) -> str:
        return self.idempotency_key

    def reason_label(self) -> str:
        """Why it was not sent (yet), in the reader's language: a contact-policy rule by its name, or
        the dispatcher's own reason (messaging.services)."""
        if self.reason in MESSAGE_REASON_LABELS:
            return str(MESSAGE_REASON_LABELS[self.reason])
        return policy_engine.rule_label(self.reason)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES
