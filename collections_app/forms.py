"""Forms of the agent workspace. They parse and check the shape of input; the rules (contact policy,
state machine, amounts against the balance) are the services' and come back as DomainError."""

from datetime import datetime

from django import forms
from django.conf import settings
from django.core import validators
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from collections_app.models import (
    Channel,
    DelinquencyReason,
    HoldReason,
    Outcome,
    PartyRole,
)

# The holds an agent may place from the case page (bankruptcy / deceased come from the bank's data).
AGENT_HOLD_REASONS = [
    (HoldReason.DISPUTE, HoldReason.DISPUTE.label),
    (HoldReason.HARDSHIP, HoldReason.HARDSHIP.label),
    (HoldReason.CEASE_COMMUNICATION, HoldReason.CEASE_COMMUNICATION.label),
    (HoldReason.FRAUD_CLAIM, HoldReason.FRAUD_CLAIM.label),
]
CONTACT_CHANNELS = [(c.value, c.label) for c in Channel if c not in (Channel.LETTER,)]


class WallClockDateTimeField(forms.DateTimeField):
    """A date and time as written, without a time zone (naive): whose local time it is, the service
    decides (a callback: the cardholder's, `contactability.cardholder_local_time`). Django's own field
    would read it in the agent's time zone."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, datetime):
            return timezone.make_naive(value) if timezone.is_aware(value) else value
        # The formats of `input_formats`, without DateTimeField's conversion to the current time zone.
        return forms.fields.BaseTemporalField.to_python(self, value)


class DisclosuresField(forms.MultipleChoiceField):
    """The call script's statements ticked as given. With no choices set (`ContactForm` built without
    `statements`), any statement code is taken as it is: the contact service checks the codes against the
    script named by `script_id`."""

    widget = forms.CheckboxSelectMultiple
    code_validator = validators.RegexValidator(r"^[-a-zA-Z0-9_]{1,40}$")

    def valid_value(self, value):
        if not self.choices:
            try:
                self.code_validator(value)
            except forms.ValidationError:
                return False
            return True
        return super().valid_value(value)


class ContactForm(forms.Form):
    channel = forms.ChoiceField(label=_("Channel"), choices=CONTACT_CHANNELS, initial=Channel.OUTBOUND_CALL)
    contact_point = forms.TypedChoiceField(
        label=_("Number or address"), coerce=int, required=False, empty_value=None
    )
    party_role = forms.ChoiceField(
        label=_("Person reached"), choices=PartyRole.choices, initial=PartyRole.DEBTOR
    )
    person_reached = forms.CharField(label=_("Name of person reached"), max_length=200, required=False)
    outcome = forms.ChoiceField(label=_("Outcome"), choices=[("", "—"), *Outcome.choices])
    delinquency_reason = forms.ChoiceField(
        label=_("Reason for delinquency"), choices=[("", "—"), *DelinquencyReason.choices], required=False
    )
    duration_seconds = forms.IntegerField(
        label=_("Duration (seconds)"), min_value=0, initial=0, required=False
    )
    recording_ref = forms.CharField(label=_("Recording reference"), max_length=100, required=False)
    notes = forms.CharField(label=_("Notes"), widget=forms.Textarea(attrs={"rows": 2}), required=False)
    started_at = forms.DateTimeField(
        label=_("Started at (blank: now)"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        required=False,
    )
    override_reason = forms.CharField(
        label=_("Override reason (supervisors)"), widget=forms.Textarea(attrs={"rows": 1}), required=False
    )
    # Posted by the call script fragment (templates/collections_app/_call_script.html), loaded in the form.
    disclosures = DisclosuresField(label=_("Statements given"), required=False)
    script_id = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1)

    def __init__(self, *args, contact_points=(), statements=None, **kwargs):
        """`statements`: (code, text) of the call script's statements, the choices of `disclosures`;
        None takes any statement code (the service checks them against the script)."""
        super().__init__(*args, **kwargs)
        self.fields["contact_point"].choices = [("", "—"), *contact_points]
        if statements is not None:
            self.fields["disclosures"].choices = list(statements)

    def disclosure_input(self) -> dict:
        """The ContactInput arguments of the ticks: `ContactInput(..., **form.disclosure_input())`."""
        return {
            "disclosures": tuple(self.cleaned_data.get("disclosures") or ()),
            "script_id": self.cleaned_data.get("script_id"),
        }


class PromiseForm(forms.Form):
    amount = forms.DecimalField(label=_("Amount"), max_digits=14, decimal_places=2)
    due_date = forms.DateField(label=_("Promised date"), widget=forms.DateInput(attrs={"type": "date"}))
    # The conversation the promise was made in: the contact policy judges the promise as that contact
    # (a call the cardholder made always passes); none is a call placed now.
    contact_attempt = forms.TypedChoiceField(
        label=_("Made during"), coerce=int, required=False, empty_value=None
    )

    def __init__(self, *args, conversations=(), **kwargs):
        """`conversations`: (contact attempt id, label) of the case's recent conversations, newest first;
        the newest is chosen unless the form says otherwise."""
        super().__init__(*args, **kwargs)
        conversations = list(conversations)
        self.fields["contact_attempt"].choices = [("", _("No contact logged: a call now")), *conversations]
        if conversations and "contact_attempt" not in self.initial:
            self.initial["contact_attempt"] = conversations[0][0]


class CallbackForm(forms.Form):
    at = WallClockDateTimeField(
        label=_("Call back at (cardholder's local time)"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    note = forms.CharField(label=_("Note"), max_length=500, required=False)

    def __init__(self, *args, first_allowed: datetime | None = None, prefill: bool = False, **kwargs):
        """`first_allowed`: the first time the callback is allowed, the cardholder's wall clock (naive);
        the picker starts there, and `prefill` puts it in the field (when a callback now is refused)."""
        super().__init__(*args, **kwargs)
        if first_allowed is not None:
            self.fields["at"].widget.attrs["min"] = f"{first_allowed:%Y-%m-%dT%H:%M}"
            if prefill and "at" not in self.initial:
                self.initial["at"] = first_allowed


class NoteForm(forms.Form):
    text = forms.CharField(label=_("Note"), widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The note service's limit, read when the form is built (a setting; tests change it).
        limit = settings.COLLECTIONS_NOTE_MAX_LENGTH
        field = self.fields["text"]
        field.max_length = limit
        field.validators.append(validators.MaxLengthValidator(limit))
        field.widget.attrs["maxlength"] = str(limit)


class _OwnIdsForm(forms.Form):
    """A case-page form whose field names another form on the page also uses (note, reason): its ids get
    a prefix of their own (`id_prefix`), or a label would point at the other form's field. The field
    names, which the views read, stay as they are."""

    id_prefix = ""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", f"id_{self.id_prefix}_%s")
        super().__init__(*args, **kwargs)


class HoldForm(_OwnIdsForm):
    id_prefix = "hold"
    reason = forms.ChoiceField(label=_("Hold reason"), choices=AGENT_HOLD_REASONS)
    note = forms.CharField(label=_("Note"), widget=forms.Textarea(attrs={"rows": 2}), required=False)


class ReleaseHoldForm(_OwnIdsForm):
    id_prefix = "release"
    note = forms.CharField(label=_("Why the hold ends"), widget=forms.Textarea(attrs={"rows": 2}))


class EscalationRequestForm(_OwnIdsForm):
    id_prefix = "escalation"
    target = forms.ChoiceField(
        label=_("Escalate to"), choices=[("supervisor", _("Supervisor")), ("legal", _("Legal review"))]
    )
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}))


class TransitionForm(forms.Form):
    name = forms.CharField(widget=forms.HiddenInput)
    reason = forms.CharField(label=_("Reason"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    resolution_reason = forms.CharField(required=False)
    court_reference = forms.CharField(required=False, max_length=100)
