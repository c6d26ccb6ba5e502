from datetime import datetime

from django import template
from django.template.defaultfilters import linebreaksbr
from django.template.loader import render_to_string
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from collections_app import models
from collections_app.models import Bucket, CaseState, Channel, Outcome
from collections_app.services import contactability
from collections_app.services.contactability import LocalClock
from collections_app.templatetags.callscripts import disclosures
from contact_policy import engine as policy_engine
from contact_policy.models import PolicyBook
from core.templatetags.money import money

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


def _label(choices, value):
    """A stored choice by its label in the reader's language; anything else unchanged."""
    try:
        return str(choices(value).label)
    except ValueError:
        return value


@register.filter
def transition_label(name: str) -> str:
    return str(TRANSITION_LABELS.get(name, name))


@register.filter
def outcome_label(value: str) -> str:
    return _label(Outcome, value)


@register.filter
def channel_label(value: str) -> str:
    return _label(Channel, value)


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
    return _label(CaseState, value)


@register.filter
def bucket_label(value: str) -> str:
    return _label(Bucket, value)


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


def _short_datetime(value) -> str:
    """`{{ value|date:"SHORT_DATETIME_FORMAT" }}`: in the viewer's time zone, "" for no time."""
    return formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT") if value else ""


@register.simple_tag
def timeline_entry(event, currency: str, zone: str) -> SafeString:
    """One event of the case page's timeline, as an <li>: what happened, the state change, the details
    that matter (channel and outcome, amount and date, the time asked for, the field, the rule, the
    statements given), the reason in the viewer's language, when and by whom. Written in Python (the page
    shows 25 events; through the template engine they cost most of its rendering); a callback's time is
    drawn by `dual_time`'s own template. `currency`: the account's, `zone`: the cardholder's."""
    d = event.details if isinstance(event.details, dict) else {}
    parts = [format_html("<strong>{}</strong>", event.get_kind_display())]
    if event.to_state:
        parts.append(
            format_html(
                '<span class="small muted">{} → {}</span>',
                state_label(event.from_state) or "·",
                state_label(event.to_state),
            )
        )
    if d.get("outcome"):
        parts.append(
            format_html(
                '<span class="badge">{} · {}</span>',
                channel_label(d.get("channel")),
                outcome_label(d["outcome"]),
            )
        )
    if d.get("amount"):
        due = format_html(" · {}", d["due_date"]) if d.get("due_date") else ""
        parts.append(
            format_html('<span class="badge badge-ok">{}{}</span>', money(d["amount"], currency), due)
        )
    if d.get("at"):
        if event.kind == models.EventKind.CALLBACK:
            at = render_to_string("collections_app/_dual_time.html", dual_time(d["at"], zone))
        else:
            at = _short_datetime(iso_local(d["at"]))
        parts.append(format_html('<span class="badge badge-warn">{}</span>', at))
    if d.get("field"):
        parts.append(format_html('<span class="badge badge-warn">{}</span>', d["field"]))
    if d.get("rule"):
        parts.append(format_html('<span class="badge">{}: {}</span>', gettext("rule"), rule_label(d["rule"])))
    if event.kind == models.EventKind.CONTACT:
        parts.append(disclosures(d))
    reason = ""
    if event.reason:
        reason = format_html('<div class="ev-reason">{}</div>', linebreaksbr(event.display_reason()))
    who = str(event.actor) if event.actor_id else gettext("system")
    return format_html(
        '<li class="ev ev-{}"><div>{}</div>{}<div class="when">{} · {}</div></li>',
        event.kind,
        format_html_join(" ", "{}", ((part,) for part in parts)),
        reason,
        _short_datetime(event.created_at),
        who,
    )
