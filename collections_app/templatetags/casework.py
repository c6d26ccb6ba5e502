from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from collections_app import models
from collections_app.models import Bucket, CaseState, Channel, Outcome
from collections_app.services import contactability
from collections_app.services.contactability import LocalClock
from contact_policy import engine as policy_engine
from contact_policy.models import PolicyBook

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
def dual_time(value, zone: str = "", fmt: str = "SHORT_DATETIME_FORMAT") -> dict:
    """A time the cardholder is contacted at (a callback), on the cardholder's clock and, beside it, the
    viewer's own (left out when the two clocks agree): "2026-06-03 09:00 Asia/Shanghai (UTC+08:00)
    (your time 02:00)". The viewer's time names its date only when it is another day than the
    cardholder's. `value` is a `LocalClock`, or an instant (an aware datetime, or an ISO timestamp as
    event details store it) to read on the clock of `zone`."""
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
        "viewer_fmt": "TIME_FORMAT" if viewer.date() == value.wall.date() else "SHORT_DATETIME_FORMAT",
        "same_clock": viewer.replace(tzinfo=None) == value.wall,
    }


@register.inclusion_tag("collections_app/_dual_time.html", takes_context=True)
def callback_time(context, case, fmt: str = "SHORT_DATETIME_FORMAT") -> dict:
    """A case's callback (`next_action_at`) in a list: on the cardholder's clock, the viewer's beside it,
    as `dual_time`. The zone is the one the callback form read it in (contactability.primary_zone);
    one PolicyBook per rendered page, so a list of cases costs one read of the policy profiles."""
    if case.next_action_at is None:
        return {"clock": None}
    book = context.render_context.setdefault("casework_policy_book", PolicyBook())
    return dual_time(case.next_action_at, contactability.primary_zone(case, policies=book), fmt)


@register.filter
def state_label(value: str) -> str:
    return str(CaseState(value).label) if value in CaseState.values else value


@register.filter
def bucket_label(value: str) -> str:
    return str(Bucket(value).label) if value in Bucket.values else value


@register.filter
def rule_label(value: str) -> str:
    """A contact-policy rule code by its name in the viewer's language; anything else (an escalation
    rule's name) unchanged."""
    return policy_engine.rule_label(value) if value else value


@register.filter
def system_text(value: str) -> str:
    """Reasons the system writes (marked with gettext_noop where they are written) shown in the viewer's
    language; a person's own words come back unchanged."""
    return models.system_text(value)


@register.inclusion_tag("collections_app/_access_reason.html")
def access_reason_fields(form_id: str = "", selected: str = "", text: str = "") -> dict:
    """The reason select (and its words for "Other") asked before personal data is shown, exported or
    printed (collections_app.services.access). No query: the codes are the model's choices. `form_id`
    ties the fields to a form elsewhere on the page (form="...")."""
    from collections_app.models import AccessReason

    return {"choices": AccessReason.choices, "form_id": form_id, "selected": selected, "text": text}
