from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from collections_app.models import CaseState, Channel, Outcome
from collections_app.services.contactability import LocalClock

register = template.Library()

TRANSITION_LABELS = {
    "start_work": _("Start work"),
    "release_hold": _("Release hold"),
    "escalate_to_legal": _("Escalate to legal"),
    "return_from_legal": _("Return to collections"),
    "approve_litigation": _("Approve litigation"),
    "resolve": _("Resolve"),
    "write_off": _("Write off"),
}


@register.filter
def transition_label(name: str) -> str:
    return str(TRANSITION_LABELS.get(name, name))


@register.filter
def outcome_label(value: str) -> str:
    return str(Outcome(value).label) if value in Outcome.values else value


@register.filter
def channel_label(value: str) -> str:
    return str(Channel(value).label) if value in Channel.values else value


@register.filter
def iso_local(value: str):
    """An ISO timestamp stored in event details, as an aware datetime (the `date` filter then shows it
    in the viewer's time zone)."""
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


@register.inclusion_tag("collections_app/_dual_time.html")
def dual_time(value, zone: str = "", fmt: str = "Y-m-d H:i") -> dict:
    """A time the cardholder is contacted at (a callback), on the cardholder's clock and, beside it, the
    viewer's own (left out when the two clocks agree). `value` is a `LocalClock`, or an instant (an aware
    datetime, or an ISO timestamp as event details store it) to read on the clock of `zone`."""
    if not isinstance(value, LocalClock):
        instant = iso_local(value) if isinstance(value, str) else value
        value = LocalClock(at=instant, zone=zone) if instant is not None and zone else None
    if value is None:
        return {"clock": None}
    viewer = timezone.localtime(value.at)  # the zone activated for this request: the user's own
    return {
        "clock": value,
        "fmt": fmt,
        "viewer": viewer,
        "same_clock": viewer.replace(tzinfo=None) == value.wall,
    }


@register.filter
def state_label(value: str) -> str:
    return str(CaseState(value).label) if value in CaseState.values else value


@register.filter
def system_text(value: str) -> str:
    """Reasons the system writes (marked with gettext_noop where they are written) shown in the viewer's
    language; a person's own words come back unchanged."""
    return gettext(value) if value else value
