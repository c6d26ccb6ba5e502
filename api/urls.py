"""Mounted at /api/ by config/urls.py: the versioned API under v1/, its OpenAPI schema and docs.

The nightly run records (v1/nightly-runs/) are automation's own endpoint, mounted before this one by
config/urls.py (automation.api_urls): the API and automation do not import each other."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from api.spectacular_settings import SPECTACULAR_SETTINGS
from api.views import (
    auth,
    authority,
    case_actions,
    cases,
    contacts,
    escalation_rules,
    imports,
    outbound_messages,
    payments,
    plans,
    portfolio,
    promises,
    queues,
)
from api.views.base import NoSuchEndpointView

router = SimpleRouter()
router.register("cardholders", portfolio.CardholderViewSet, basename="cardholder")
router.register("accounts", portfolio.AccountViewSet, basename="account")
router.register("cases", cases.CaseViewSet, basename="case")
router.register("contacts", contacts.ContactAttemptViewSet, basename="contact")
router.register("promises", promises.PromiseViewSet, basename="promise")
router.register("payments", payments.PaymentViewSet, basename="payment")
router.register("plans", plans.PlanViewSet, basename="plan")
router.register("authority-requests", authority.AuthorityRequestViewSet, basename="authority-request")
router.register("queues", queues.QueueViewSet, basename="queue")
router.register("escalation-rules", escalation_rules.EscalationRuleViewSet, basename="escalation-rule")
router.register("outbound-messages", outbound_messages.OutboundMessageViewSet, basename="outbound-message")

case_action_urls = [
    path("timeline/", cases.CaseTimelineView.as_view(), name="case-timeline"),
    path("release/", case_actions.CaseReleaseView.as_view(), name="case-release"),
    path("transition/", case_actions.CaseTransitionView.as_view(), name="case-transition"),
    path("contacts/", case_actions.CaseContactView.as_view(), name="case-contacts"),
    path("promises/", case_actions.CasePromiseView.as_view(), name="case-promises"),
    path("notes/", case_actions.CaseNoteView.as_view(), name="case-notes"),
    path("hold/", case_actions.CaseHoldView.as_view(), name="case-hold"),
    path("release-hold/", case_actions.CaseReleaseHoldView.as_view(), name="case-release-hold"),
    path(
        "escalation-requests/",
        case_actions.CaseEscalationRequestView.as_view(),
        name="case-escalation-requests",
    ),
    path("callback/", case_actions.CaseCallbackView.as_view(), name="case-callback"),
    path("reveal/", case_actions.CaseRevealView.as_view(), name="case-reveal"),
    path("plans/", plans.PlanProposeView.as_view(), name="case-plans"),
    path("plans/calculate/", plans.PlanCalculateView.as_view(), name="case-plans-calculate"),
    path("write-off-requests/", authority.WriteOffRequestView.as_view(), name="case-write-off-requests"),
]

authority_action_urls = [
    path("approve/", authority.AuthorityApproveView.as_view(), name="authority-request-approve"),
    path("reject/", authority.AuthorityRejectView.as_view(), name="authority-request-reject"),
    path("cancel/", authority.AuthorityCancelView.as_view(), name="authority-request-cancel"),
]

plan_action_urls = [
    path("accept/", plans.PlanAcceptView.as_view(), name="plan-accept"),
    path("approve/", plans.PlanApproveView.as_view(), name="plan-approve"),
    path("reject/", plans.PlanRejectView.as_view(), name="plan-reject"),
    path("cancel/", plans.PlanCancelView.as_view(), name="plan-cancel"),
]

v1 = [
    path("me/", auth.MeView.as_view(), name="me"),
    path("auth/token/", auth.TokenCreateView.as_view(), name="token"),
    path("auth/logout/", auth.TokenLogoutView.as_view(), name="logout"),
    path("auth/logout-all/", auth.TokenLogoutAllView.as_view(), name="logout-all"),
    # Before the router: "claim-next" and "import" are not object IDs.
    path("cases/claim-next/", case_actions.ClaimNextView.as_view(), name="case-claim-next"),
    re_path(r"^cases/(?P<case_id>[0-9]{1,18})/", include(case_action_urls)),
    re_path(r"^plans/(?P<plan_id>[0-9]{1,18})/", include(plan_action_urls)),
    re_path(r"^authority-requests/(?P<request_id>[0-9]{1,18})/", include(authority_action_urls)),
    path("accounts/import/", imports.AccountImportView.as_view(), name="account-import"),
    path("payments/import/", imports.PaymentImportView.as_view(), name="payment-import"),
    *router.urls,
    # Anything else under v1/ is a JSON 404 in the envelope, not the site's HTML page.
    re_path(r"^[\s\S]*$", NoSuchEndpointView.as_view()),
]

app_name = "api"
urlpatterns = [
    path("v1/", include(v1)),
    # custom_settings: the same dict config/settings.py uses, so the document is right even before
    # (or without) the project-wide SPECTACULAR_SETTINGS pointing at it.
    path("schema/", SpectacularAPIView.as_view(custom_settings=SPECTACULAR_SETTINGS), name="schema"),
    # The split view serves Swagger UI's start-up code as a script of its own (docs/?script=): the
    # Content-Security-Policy allows no inline script.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
]
