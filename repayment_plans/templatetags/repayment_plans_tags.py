"""Template helpers for the plan fragment that other pages (the case page) include."""

from django import template
from django.urls import NoReverseMatch, reverse

from accounts.permissions import Capability, has_capability
from repayment_plans import selectors
from repayment_plans.services import PLAN_START_STATES

register = template.Library()


@register.simple_tag
def case_of_plan(case, plan):
    """`{% case_of_plan case plan as case %}`: the case in the context, else the plan's."""
    return case or (plan.case if plan else None)


@register.simple_tag(takes_context=True)
def plan_actions(context, plan) -> set[str]:
    """`{% plan_actions plan as actions %}`: the plan buttons the signed-in user gets."""
    return selectors.plan_actions(plan, context["request"].user)


@register.simple_tag(takes_context=True)
def can_propose_plan(context, case, plan) -> bool:
    """`{% can_propose_plan case plan as can_propose %}`: no live plan, a case that can go on plan, and a
    user who works cases."""
    user = context["request"].user
    return (
        case is not None
        and (plan is None or not plan.is_live)
        and case.state in PLAN_START_STATES
        and has_capability(user, Capability.WORK_CASES)
    )


@register.simple_tag(takes_context=True)
def plan_return_url(context, case) -> str:
    """Where the plan buttons come back to: the page showing the fragment, or - when the fragment was
    rendered in answer to a POST (an HTMX action on the case page) - the case page itself."""
    request = context["request"]
    if request.method == "GET":
        return request.path
    try:
        return reverse("case_detail", args=[case.pk])
    except NoReverseMatch:
        return reverse("plans:case", args=[case.pk])


@register.filter
def plan_status(plan) -> selectors.PlanStatus:
    """`{% with status=plan|plan_status %}`: the status the plan shows (`status.key`, `status.label`)."""
    return selectors.plan_status(plan)


STATE_BADGES = {
    "draft": "badge",
    "pending_approval": "badge badge-warn",
    selectors.APPROVED: "badge badge-info",
    "active": "badge badge-info",
    "completed": "badge badge-ok",
    "broken": "badge badge-bad",
    "cancelled": "badge",
    "rejected": "badge",
    "due": "badge",
    "partly_paid": "badge badge-info",
    "paid": "badge badge-ok",
    "late": "badge badge-bad",
}


@register.filter
def badge_class(state: str) -> str:
    """CSS classes of a plan status (`plan_status`) or installment state badge."""
    return STATE_BADGES.get(str(state), "badge")
