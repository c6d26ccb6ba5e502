from django import forms
from django.utils.translation import gettext_lazy as _

from collections_app.models import ResolutionReason

# The resolution reasons a write-off closes a case with.
WRITE_OFF_REASONS = [
    (value, label)
    for value, label in ResolutionReason.choices
    if value
    in (
        ResolutionReason.CHARGED_OFF,
        ResolutionReason.UNCOLLECTABLE,
        ResolutionReason.DECEASED,
        ResolutionReason.BANKRUPTCY,
        ResolutionReason.LIMITATION_EXPIRED,
    )
]


class WriteOffRequestForm(forms.Form):
    resolution_reason = forms.ChoiceField(label=_("Resolution reason"), choices=WRITE_OFF_REASONS)
    reason = forms.CharField(
        label=_("Why write it off"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Read by the approvers and kept on the timeline."),
    )


class DecisionForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
