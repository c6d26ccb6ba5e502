import zoneinfo

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from accounts.models import Language, User


class LanguageForm(forms.Form):
    language = forms.ChoiceField(label=_("Language"), choices=Language.choices)
    next = forms.CharField(required=False)


def time_zone_choices() -> list[tuple[str, str]]:
    """Every IANA zone this system knows, after "the bank's zone" (stored empty, so it follows the bank)."""
    bank = (
        "",
        _("The bank's zone (%(zone)s)") % {"zone": settings.TIME_ZONE},
    )
    return [bank, *((name, name) for name in sorted(zoneinfo.available_timezones()))]


class TimeZoneChoiceField(forms.ChoiceField):
    def __init__(self, **kwargs):
        kwargs.setdefault("label", _("Time zone"))
        kwargs.setdefault("required", False)
        super().__init__(choices=time_zone_choices, **kwargs)


class MySettingsForm(forms.ModelForm):
    """What a user sets for themselves: the language and the zone every time is shown in."""

    time_zone = TimeZoneChoiceField(
        help_text=_(
            "Times are shown in this zone everywhere, except the cardholder's local time "
            "(contact window, callbacks), which is labelled with the cardholder's zone."
        )
    )

    class Meta:
        model = User
        fields = ["language", "time_zone"]
