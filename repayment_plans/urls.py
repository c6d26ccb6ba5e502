"""Plan pages, included at `plans/` with the namespace "plans"."""

from django.urls import path

from repayment_plans import views

app_name = "plans"

urlpatterns = [
    path("approvals/", views.approvals_inbox_view, name="approvals"),
    path("case/<int:case_id>/", views.case_plan_view, name="case"),
    path("case/<int:case_id>/propose/", views.plan_propose_view, name="propose"),
    path("case/<int:case_id>/calculate/", views.plan_calculate_view, name="calculate"),
    path("<int:plan_id>/", views.plan_detail_view, name="detail"),
    path("<int:plan_id>/accept/", views.plan_accept_view, name="accept"),
    path("<int:plan_id>/approve/", views.plan_approve_view, name="approve"),
    path("<int:plan_id>/reject/", views.plan_reject_view, name="reject"),
    path("<int:plan_id>/send-back/", views.plan_send_back_view, name="send_back"),
    path("<int:plan_id>/cancel/", views.plan_cancel_view, name="cancel"),
    path("<int:plan_id>/agreement/", views.plan_agreement_view, name="agreement"),
]
