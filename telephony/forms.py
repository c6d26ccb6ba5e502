from django import forms
from django.utils.translation import gettext_lazy as _

from collections_app.models import DelinquencyReason, Outcome, PartyRole
from telephony.services import CALL_OUTCOMES


class PlaceForm(forms.Form):
    contact_point = forms.IntegerField(min_value=1)


class DispositionForm(forms.Form):
    """How the call went. Duration and recording reference are asked only for a call through a link
    (the phone system reports its own)."""

    outcome = forms.ChoiceField(
        label=_("Outcome"), choices=[("", "—"), *[(o, Outcome(o).label) for o in CALL_OUTCOMES]]
    )
    party_role = forms.ChoiceField(label=_("Person reached"), choices=PartyRole.choices, required=False)
    person_reached = forms.CharField(label=_("Name of person reached"), max_length=200, required=False)
    delinquency_reason = forms.ChoiceField(
        label=_("Reason for delinquency"), choices=[("", "—"), *DelinquencyReason.choices], required=False
    )
    duration_seconds = forms.IntegerField(label=_("Duration (seconds)"), min_value=0, required=False)
    recording_ref = forms.CharField(label=_("Recording reference"), max_length=100, required=False)
    notes = forms.CharField(label=_("Notes"), widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def __init__(self, *args, by_link: bool = True, prefix_id: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        if not by_link:
            del self.fields["duration_seconds"]
            del self.fields["recording_ref"]
        if prefix_id:
            self.auto_id = f"call-{prefix_id}-%s"
