from django import template
from django.utils.translation import gettext_lazy as _

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
