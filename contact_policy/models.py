"""The contact policy as configuration: one row per jurisdiction profile, layered through `parent`, and
the code that turns rows into the engine's `PolicyRules`.

No rule lives here: the rules engine is contact_policy.engine (pure), and the facts about a case are
gathered by collections_app.services.contactability. This module keeps the values a bank may configure,
checks them (`clean`), merges a chain of layers (`to_rules`, `resolve`) and finds the profile that governs
a jurisdiction code (`PolicyBook`). A layer (a state or province on top of a country, or a portfolio on
top of a jurisdiction) can only tighten what it sits on: the strictest value wins
(`policy.merge_strictest`).

Empty rule fields contribute nothing at their layer, so a child row inherits the value of its parent
and a root row leaves the rule unrestricted. Because layers only tighten, "inherit" and "no rule here"
are the same thing.
"""

from collections.abc import Callable, Iterable

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from contact_policy import engine as policy
from contact_policy.builtins import stored_values
from contact_policy.engine import PolicyRules

# Layers are a handful deep (country, state, portfolio); a longer chain is a loop in the data.
MAX_LAYERS = 8


class ContactPolicy(models.Model):
    """The contact rules of one jurisdiction profile ("CN", "US", "US-MA"); see contact_policy.engine."""

    code = models.CharField(
        _("code"),
        max_length=16,
        unique=True,
        help_text=_('A jurisdiction profile code as on the cardholder, e.g. "CN", "US" or "US-MA".'),
    )
    name = models.CharField(_("name"), max_length=100)
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("parent profile"),
        help_text=_("The profile this one is layered on; its rules apply too, and the strictest wins."),
    )

    window_start = models.TimeField(
        _("contact window opens"), null=True, blank=True, help_text=_("Local time at the person's location.")
    )
    window_end = models.TimeField(
        _("contact window closes"),
        null=True,
        blank=True,
        help_text=_("Local time; contact must start before it."),
    )
    # Blank (not null) because under "strictest wins" the useful meanings are "this zone" and "every zone
    # of the profile's country" (policy.COUNTRY_ZONES); the union with the parent's zones does the rest.
    fallback_time_zone = models.CharField(
        _("fallback time zone"),
        max_length=64,
        blank=True,
        help_text=_(
            "IANA zone used when the person's zone is unknown, e.g. Asia/Shanghai. Blank: judge in every "
            "zone of the profile's country (US: all 50 states and DC)."
        ),
    )
    always_judge_in_fallback_zone = models.BooleanField(
        _("also judge in the fallback zone when the person's zone is known"), null=True, blank=True
    )
    max_calls_per_number_per_day = models.PositiveSmallIntegerField(
        _("maximum calls per number per day"), null=True, blank=True
    )
    count_unanswered_only = models.BooleanField(
        _("count unanswered calls only"),
        null=True,
        blank=True,
        help_text=_(
            "For the per-number daily cap. A profile without a parent should say No to count every call."
        ),
    )
    max_calls_per_debt_per_7_days = models.PositiveSmallIntegerField(
        _("maximum calls per debt in 7 days"), null=True, blank=True
    )
    sms_counts_toward_debt_cap = models.BooleanField(
        _("text messages count towards the 7-day cap"), null=True, blank=True
    )
    quiet_days_after_conversation = models.PositiveSmallIntegerField(
        _("quiet days after a conversation"),
        null=True,
        blank=True,
        help_text=_("No calls for this many days, the day of the conversation counting as day 1."),
    )
    unrelated_third_party_forbidden = models.BooleanField(
        _("unrelated third parties are never contacted"), null=True, blank=True
    )
    unrelated_third_party_min_unreachable_days = models.PositiveSmallIntegerField(
        _("days the debtor must be unreachable before an unrelated third party is called"),
        null=True,
        blank=True,
    )
    unrelated_third_party_calls_only = models.BooleanField(
        _("unrelated third parties may only be called"), null=True, blank=True
    )
    recording_required_for_completed_call = models.BooleanField(
        _("completed calls must be recorded"), null=True, blank=True
    )
    attorney_contact_only = models.BooleanField(
        _("represented cardholders are contacted through their attorney only"), null=True, blank=True
    )
    allowed_channels = models.JSONField(
        _("allowed channels"),
        null=True,
        blank=True,
        help_text=_('e.g. ["outbound_call", "sms", "email", "letter"]. Empty: no restriction at this layer.'),
    )
    notes = models.TextField(
        _("notes"), blank=True, help_text=_("Sources, and which values are unverified bank policy.")
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("contact policy")
        verbose_name_plural = _("contact policies")
        constraints = [
            models.CheckConstraint(
                condition=Q(window_start__isnull=True)
                | Q(window_end__isnull=True)
                | Q(window_start__lt=F("window_end")),
                name="contact_policy_window_ordered",
            ),
            models.CheckConstraint(
                condition=Q(parent__isnull=True) | ~Q(parent=F("id")), name="contact_policy_not_own_parent"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} - {self.name}"

    # --- To and from the pure rules -------------------------------------------------------------------

    def layer_rules(self) -> PolicyRules:
        """This row's own rules, with every empty field left unrestricted (the identity of the merge)."""
        values = {
            "code": self.code,
            "fallback_time_zones": self._fallback_zones(),
            "window_start": self.window_start,
            "window_end": self.window_end,
            "always_judge_in_fallback_zones": self.always_judge_in_fallback_zone,
            "max_calls_per_number_per_day": self.max_calls_per_number_per_day,
            "count_unanswered_only": self.count_unanswered_only,
            "max_calls_per_debt_per_7_days": self.max_calls_per_debt_per_7_days,
            "sms_counts_toward_debt_cap": self.sms_counts_toward_debt_cap,
            "quiet_days_after_conversation": self.quiet_days_after_conversation,
            "unrelated_third_party_forbidden": self.unrelated_third_party_forbidden,
            "unrelated_third_party_min_unreachable_days": self.unrelated_third_party_min_unreachable_days,
            "unrelated_third_party_calls_only": self.unrelated_third_party_calls_only,
            "recording_required_for_completed_call": self.recording_required_for_completed_call,
            "attorney_contact_only": self.attorney_contact_only,
            "allowed_channels": (
                frozenset(self.allowed_channels) if self.allowed_channels else None  # [] is "not set" too
            ),
        }
        return PolicyRules(**{name: value for name, value in values.items() if value is not None})

    def _fallback_zones(self) -> tuple[str, ...]:
        if self.fallback_time_zone:
            return (self.fallback_time_zone,)
        return policy.COUNTRY_ZONES.get(policy.country_of(self.code), ())

    def chain(self) -> list["ContactPolicy"]:
        """This profile and its ancestors, root first. Follows `parent` (one query per layer unless the
        caller used select_related("parent__parent"))."""
        layers: list[ContactPolicy] = []
        node: ContactPolicy | None = self
        while node is not None:
            if node in layers or len(layers) >= MAX_LAYERS:
                raise ValidationError(_("The parent profiles form a loop."), code="policy_loop")
            layers.append(node)
            node = node.parent
        return layers[::-1]

    @classmethod
    def resolve(cls, chain: Iterable["ContactPolicy"]) -> PolicyRules:
        """Merge a chain of layers (any order): the strictest value of each rule wins."""
        return policy.merge_strictest(*(layer.layer_rules() for layer in chain))

    def to_rules(self) -> PolicyRules:
        """The rules in force for this profile: its own layer merged with every ancestor."""
        return self.resolve(self.chain())

    @classmethod
    def from_rules(
        cls, rules: PolicyRules, *, name: str, code: str = "", parent: "ContactPolicy | None" = None
    ) -> "ContactPolicy":
        """An unsaved row holding `rules` explicitly (for seeding the built-in profiles)."""
        return cls(name=name, parent=parent, **stored_values(rules, code=code))

    def clean(self):
        errors = {}
        if self.window_start and self.window_end and self.window_start >= self.window_end:
            errors["window_end"] = _("The window must close after it opens (windows do not span midnight).")
        if self.fallback_time_zone and not policy.is_valid_zone(self.fallback_time_zone):
            errors["fallback_time_zone"] = _("Not a known IANA time zone.")
        if self.allowed_channels is not None:
            if not isinstance(self.allowed_channels, list) or not all(
                isinstance(c, str) for c in self.allowed_channels
            ):
                errors["allowed_channels"] = _("A list of channel names.")
            elif set(self.allowed_channels) - policy.ALL_CHANNELS:
                errors["allowed_channels"] = _("Unknown channels: %(channels)s.") % {
                    "channels": ", ".join(sorted(set(self.allowed_channels) - policy.ALL_CHANNELS))
                }
        if errors:
            raise ValidationError(errors)
        self.chain()  # raises on a loop of parents


class PolicyBook:
    """The rules in force for each jurisdiction, read from the stored profiles in one query the first time
    any is asked for, then answered from memory.

    A book lives for one request or one batch (a Next-case press, a page, a nightly planning run, one
    send): create it, pass it to every policy question of that unit of work, drop it. Twenty cases of one
    jurisdiction cost one query for the rules, not twenty. It is never kept between requests, so an
    admin's edit is in force from the next request or batch on in every process (web and Celery workers
    alike); a process-wide cache could only learn of an edit made in another process by asking the
    database, which is what a new book does.

    A jurisdiction is governed by its own profile if there is a row for it, else by its country's
    (`policy.profile_codes`); a country with no row at all falls back to the built-in rules
    (`policy.builtin_rules`, which raises LookupError for an unknown country).
    """

    def __init__(self) -> None:
        self._profiles: dict[str, ContactPolicy] | None = None
        self._rules: dict[str, PolicyRules] = {}

    def _load(self) -> dict[str, ContactPolicy]:
        if self._profiles is None:
            rows = {row.pk: row for row in ContactPolicy.objects.all()}
            for row in rows.values():
                if row.parent_id is not None:
                    row.parent = rows[row.parent_id]  # chain() then follows parents in memory
            self._profiles = {row.code: row for row in rows.values()}
        return self._profiles

    def rules_for(self, jurisdiction: str) -> PolicyRules:
        """The merged rules of the profile governing `jurisdiction` ("US-NY" with no row uses "US")."""
        codes = policy.profile_codes(jurisdiction)
        if codes[0] not in self._rules:
            profiles = self._load()
            row = next((profiles[code] for code in codes if code in profiles), None)
            self._rules[codes[0]] = row.to_rules() if row is not None else policy.builtin_rules(codes[0])
        return self._rules[codes[0]]


# --- When profiles change --------------------------------------------------------------------------------

# The apps that store answers of the policy (collections_app: each case's contactability) register here, in
# their AppConfig.ready(), what to do when profiles change; this app knows nothing of them.
_PROFILE_CHANGE_HANDLERS: list[Callable[[list[str]], None]] = []


def on_profiles_changed(handler: Callable[[list[str]], None]) -> None:
    """Register `handler(codes)`, called after profiles with these codes were saved or deleted."""
    if handler not in _PROFILE_CHANGE_HANDLERS:
        _PROFILE_CHANGE_HANDLERS.append(handler)


def profiles_changed(codes: Iterable[str]) -> None:
    """Tell the registered apps that these profiles changed (the admin calls it after a save or delete)."""
    changed = sorted({code for code in codes if code})
    for handler in _PROFILE_CHANGE_HANDLERS:
        handler(changed)


# --- Call scripts ---------------------------------------------------------------------------------------

# The collection stages a script may be written for: the delinquency buckets of collections_app.models.Bucket
# as plain strings (this app sits below collections_app and does not import it; a test keeps the two lists
# equal), and "any" for a script of every stage.
ANY_STAGE = "any"
STAGES = ("current", "M1", "M2", "M3", "M4", "M5", "M6", "M6+")
STAGE_CHOICES = [(ANY_STAGE, _("Any stage")), *((stage, stage) for stage in STAGES)]
SCRIPT_LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]


class CallScript(models.Model):
    """What an agent says on a call, for one jurisdiction profile, language and stage, with the statements
    the law or the bank requires (`CallStatement`). `contact_policy.scripts.script_for` picks the most
    specific active script for a case; the statements the agent ticks are stored on the contact attempt
    with the script's `version`, which the admin raises on every edit of the script or its statements."""

    name = models.CharField(_("name"), max_length=100)
    jurisdiction = models.CharField(
        _("jurisdiction"),
        max_length=16,
        help_text=_('A jurisdiction profile code as the contact policies use it, e.g. "CN", "US", "US-MA".'),
    )
    language = models.CharField(_("language"), max_length=8, choices=SCRIPT_LANGUAGES)
    stage = models.CharField(_("stage"), max_length=8, choices=STAGE_CHOICES, default=ANY_STAGE)
    opening = models.TextField(
        _("opening"),
        help_text=_("What the agent says first. {agent_name} and {cardholder_name} are filled in."),
    )
    body = models.TextField(_("body"), blank=True)
    active = models.BooleanField(_("active"), default=True)
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["jurisdiction", "language", "stage"]
        verbose_name = _("call script")
        verbose_name_plural = _("call scripts")
        constraints = [
            # One script in force per jurisdiction, language and stage, so that the choice is never a guess.
            models.UniqueConstraint(
                fields=["jurisdiction", "language", "stage"],
                condition=Q(active=True),
                name="call_script_one_active",
            ),
            models.CheckConstraint(
                condition=Q(stage__in=[ANY_STAGE, *STAGES]), name="call_script_stage_valid"
            ),
            models.CheckConstraint(
                condition=Q(language__in=[code for code, _label in SCRIPT_LANGUAGES]),
                name="call_script_language_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.jurisdiction}, {self.language}, {self.stage}, v{self.version})"

    def clean(self):
        self.jurisdiction = (self.jurisdiction or "").strip().upper()
        if not self.jurisdiction:
            raise ValidationError({"jurisdiction": _("Name the jurisdiction profile.")})


class CallStatement(models.Model):
    """A statement of a call script; `required` ones (identity and purpose, the US mini-Miranda) missing
    from a right-party conversation flag the contact for quality review."""

    script = models.ForeignKey(CallScript, on_delete=models.CASCADE, related_name="statements")
    code = models.SlugField(
        _("code"), max_length=40, help_text=_("Stored on the contact attempt when ticked, e.g. mini_miranda.")
    )
    text = models.TextField(_("text"))
    required = models.BooleanField(_("required"), default=True)
    order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        ordering = ["order", "pk"]
        verbose_name = _("call statement")
        verbose_name_plural = _("call statements")
        constraints = [
            models.UniqueConstraint(fields=["script", "code"], name="call_statement_code_unique"),
        ]

    def __str__(self) -> str:
        return self.code
