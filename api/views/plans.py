"""Repayment plans: the plans the caller may reach, calculating and proposing one on a case, and the
plan actions (accept, approve, reject, cancel) - each one call to repayment_plans.services."""

from __future__ import annotations

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.response import Response

from api import filters, schema
from api import serializers as s
from api.idempotency import idempotent
from api.views.base import (
    ACTION_HEADERS,
    IDEMPOTENCY_KEY,
    ApiView,
    CaseActionView,
    ReadOnlyViewSet,
    if_match_version,
    run_versioned,
    valid_input,
)
from collections_app.access import visible_through_case
from repayment_plans import services as plan_services
from repayment_plans.models import Installment, RepaymentPlan
from repayment_plans.selectors import plan_actions


def plans_visible_to(user):
    """The plans `user` reaches (collections_app.access: through their case, or waiting for the user's
    approval at legal's level), with their installments."""
    queryset = RepaymentPlan.objects.prefetch_related(
        Prefetch("installments", queryset=Installment.objects.order_by("number"))
    )
    return visible_through_case(user, queryset, approval_role_path="approval_role")


@extend_schema_view(
    list=extend_schema(summary="Repayment plans you may reach"),
)
@extend_schema(tags=["plans"])
class PlanViewSet(ReadOnlyViewSet):
    serializer_class = s.PlanSerializer
    filterset_class = filters.PlanFilter

    def get_queryset(self):
        return plans_visible_to(self.request.user)

    @extend_schema(summary="One plan, with the actions you may take", responses=s.PlanDetailSerializer)
    def retrieve(self, request, *args, **kwargs):
        return Response(plan_body(self.get_object(), request.user))


def plan_body(plan: RepaymentPlan, user) -> dict:
    return s.PlanDetailSerializer(plan, context={"actions": plan_actions(plan, user)}).data


def _plan_input(data: dict) -> plan_services.PlanInput:
    return plan_services.PlanInput(
        kind=data["kind"],
        amount=data["amount"],
        first_due_date=data["first_due_date"],
        installments=data["installments"],
        frequency=data["frequency"],
        down_payment=data["down_payment"],
        down_payment_due_date=data["down_payment_due_date"],
        discount_percent=data["discount_percent"],
    )


@extend_schema(tags=["plans"])
class PlanCalculateView(CaseActionView):
    @extend_schema(
        request=s.PlanTermsInputSerializer,
        responses=s.QuoteSerializer,
        examples=schema.PLAN_EXAMPLES,
        summary="Calculate a plan's schedule and approval level (no side effects)",
    )
    def post(self, request, case_id: int):
        case = self.load(request, case_id)
        data = valid_input(s.PlanTermsInputSerializer, request)
        quote = plan_services.plan_calculate(case=case, actor=request.user, data=_plan_input(data))
        return Response(s.QuoteSerializer(s.QuoteSerializer.from_quote(quote)).data)


@extend_schema(tags=["plans"])
class PlanProposeView(CaseActionView):
    @extend_schema(
        request=s.PlanProposeInputSerializer,
        responses={201: s.PlanDetailSerializer},
        parameters=ACTION_HEADERS,
        examples=schema.PLAN_EXAMPLES,
        summary="Propose a plan (a draft, or pending approval when outside your limits)",
    )
    @idempotent
    def post(self, request, case_id: int):
        self.load(request, case_id)
        data = valid_input(s.PlanProposeInputSerializer, request)
        plan = run_versioned(
            case_id,
            if_match_version(request),
            lambda _version: plan_services.plan_propose(
                case_id=case_id,
                actor=request.user,
                data=_plan_input(data),
                reason=data["reason"],
                cardholder_accepted=data["cardholder_accepted"],
                acceptance_note=data["acceptance_note"],
            ),
            native=False,
        )
        plan = plans_visible_to(request.user).get(pk=plan.pk)
        return self.answer(plan_body(plan, request.user), case_id=case_id, status_code=201)


# POST /plans/{plan_id}/<action>/: 404 unless the caller reaches the plan, then one service call.
class PlanActionView(ApiView):
    input_serializer = s.PlanNoteInputSerializer

    def perform(self, plan_id: int, user, data: dict) -> RepaymentPlan:
        raise NotImplementedError

    @idempotent
    def post(self, request, plan_id: int):
        get_object_or_404(plans_visible_to(request.user), pk=plan_id)
        data = valid_input(self.input_serializer, request)
        self.perform(plan_id, request.user, data)
        plan = plans_visible_to(request.user).filter(pk=plan_id).first()
        if plan is None:  # e.g. legal returned a case out of their reach; the action is done
            return Response({"id": plan_id})
        return Response(plan_body(plan, request.user))


def _plan_action_schema(summary: str, request_serializer):
    return extend_schema(
        tags=["plans"],
        request=request_serializer,
        responses=s.PlanDetailSerializer,
        parameters=[IDEMPOTENCY_KEY],
        summary=summary,
    )


@_plan_action_schema("Record the cardholder's acceptance", s.PlanNoteInputSerializer)
class PlanAcceptView(PlanActionView):
    def perform(self, plan_id, user, data):
        return plan_services.plan_accept(plan_id=plan_id, actor=user, note=data["note"])


@_plan_action_schema("Approve a plan waiting for approval", s.PlanNoteInputSerializer)
class PlanApproveView(PlanActionView):
    def perform(self, plan_id, user, data):
        return plan_services.plan_approve(plan_id=plan_id, actor=user, note=data["note"])


@_plan_action_schema("Reject a plan (with a reason)", s.PlanReasonInputSerializer)
class PlanRejectView(PlanActionView):
    input_serializer = s.PlanReasonInputSerializer

    def perform(self, plan_id, user, data):
        return plan_services.plan_reject(plan_id=plan_id, actor=user, reason=data["reason"])


@_plan_action_schema("Cancel a live plan (with a reason)", s.PlanReasonInputSerializer)
class PlanCancelView(PlanActionView):
    input_serializer = s.PlanReasonInputSerializer

    def perform(self, plan_id, user, data):
        return plan_services.plan_cancel(plan_id=plan_id, actor=user, reason=data["reason"])
