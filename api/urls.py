"""Mounted at /api/ by config/urls.py: the versioned API under v1/, its OpenAPI schema and docs."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from api import views
from api.spectacular_settings import SPECTACULAR_SETTINGS

router = SimpleRouter()
router.register("cardholders", views.CardholderViewSet, basename="cardholder")
router.register("accounts", views.AccountViewSet, basename="account")
router.register("cases", views.CaseViewSet, basename="case")
router.register("contacts", views.ContactAttemptViewSet, basename="contact")
router.register("promises", views.PromiseViewSet, basename="promise")
router.register("payments", views.PaymentViewSet, basename="payment")
router.register("plans", views.PlanViewSet, basename="plan")
router.register("queues", views.QueueViewSet, basename="queue")
router.register("escalation-rules", views.EscalationRuleViewSet, basename="escalation-rule")
router.register("outbound-messages", views.OutboundMessageViewSet, basename="outbound-message")
router.register("nightly-runs", views.NightlyRunViewSet, basename="nightly-run")

case_actions = [
    path("timeline/", views.CaseTimelineView.as_view(), name="case-timeline"),
    path("release/", views.CaseReleaseView.as_view(), name="case-release"),
    path("transition/", views.CaseTransitionView.as_view(), name="case-transition"),
    path("contacts/", views.CaseContactView.as_view(), name="case-contacts"),
    path("promises/", views.CasePromiseView.as_view(), name="case-promises"),
    path("notes/", views.CaseNoteView.as_view(), name="case-notes"),
    path("hold/", views.CaseHoldView.as_view(), name="case-hold"),
    path("release-hold/", views.CaseReleaseHoldView.as_view(), name="case-release-hold"),
    path("escalation-requests/", views.CaseEscalationRequestView.as_view(), name="case-escalation-requests"),
    path("callback/", views.CaseCallbackView.as_view(), name="case-callback"),
    path("reveal/", views.CaseRevealView.as_view(), name="case-reveal"),
    path("plans/", views.PlanProposeView.as_view(), name="case-plans"),
    path("plans/calculate/", views.PlanCalculateView.as_view(), name="case-plans-calculate"),
]

plan_actions = [
    path("accept/", views.PlanAcceptView.as_view(), name="plan-accept"),
    path("approve/", views.PlanApproveView.as_view(), name="plan-approve"),
    path("reject/", views.PlanRejectView.as_view(), name="plan-reject"),
    path("cancel/", views.PlanCancelView.as_view(), name="plan-cancel"),
]

v1 = [
    path("me/", views.MeView.as_view(), name="me"),
    path("auth/token/", views.TokenCreateView.as_view(), name="token"),
    path("auth/logout/", views.TokenLogoutView.as_view(), name="logout"),
    path("auth/logout-all/", views.TokenLogoutAllView.as_view(), name="logout-all"),
    # Before the router: "claim-next" and "import" are not object IDs.
    path("cases/claim-next/", views.ClaimNextView.as_view(), name="case-claim-next"),
    re_path(r"^cases/(?P<case_id>[0-9]{1,18})/", include(case_actions)),
    re_path(r"^plans/(?P<plan_id>[0-9]{1,18})/", include(plan_actions)),
    path("accounts/import/", views.AccountImportView.as_view(), name="account-import"),
    path("payments/import/", views.PaymentImportView.as_view(), name="payment-import"),
    *router.urls,
    # Anything else under v1/ is a JSON 404 in the envelope, not the site's HTML page.
    re_path(r"^[\s\S]*$", views.NoSuchEndpointView.as_view()),
]

app_name = "api"
urlpatterns = [
    path("v1/", include(v1)),
    # custom_settings: the same dict config/settings.py uses, so the document is right even before
    # (or without) the project-wide SPECTACULAR_SETTINGS pointing at it.
    path("schema/", SpectacularAPIView.as_view(custom_settings=SPECTACULAR_SETTINGS), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]
