"""The plan pages: propose with the live calculator, the case's plan, the approvals inbox, the agreement.

Personas (tests/conftest.py): `agent` works team A's cases; `supervisor` approves team A's plans;
`supervisor_b` supervises team B (must not see team A's plans); `legal` approves personalised plans;
`other_agent` works team B. Every page has its negative tests: anonymous, wrong team, wrong role, and an
action the plan's state does not allow.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from repayment_plans import services
from repayment_plans.models import PlanState, RepaymentPlan
from tests.factories import open_case
from tests.repayment_plans.conftest import LEGAL_TERMS, SUPERVISOR_TERMS, TODAY, pay, terms

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.repayment_plans.urls")]

HTMX = {"HTTP_HX_REQUEST": "true"}


def form_data(**overrides) -> dict:
    values = {
        "kind": "installment",
        "amount": "1200.00",
        "installments": "12",
        "frequency": "monthly",
        "first_due_date": (TODAY + timedelta(days=7)).isoformat(),
        "down_payment": "0",
        "down_payment_due_date": "",
        "reason": "Job loss",
    }
    return values | overrides


def propose(case, actor, **overrides):
    return services.plan_propose(case_id=case.pk, actor=actor, data=terms(**overrides))


def url(name, *args):
    return reverse(f"plans:{name}", args=args)


# --- Who may open what -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["propose", "case"])
def test_anonymous_users_are_sent_to_sign_in(client, case, name):
    response = client.get(url(name, case.pk))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_anonymous_users_are_sent_to_sign_in_from_the_inbox_and_the_agreement(client, case, agent):
    plan = propose(case, agent)
    for page in (reverse("plans:approvals"), url("agreement", plan.pk)):
        response = client.get(page)
        assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_an_agent_of_another_team_finds_nothing(client, case, agent, other_agent):
    plan = propose(case, agent)
    client.force_login(other_agent)

    for page in (
        url("propose", case.pk),
        url("case", case.pk),
        url("detail", plan.pk),
        url("agreement", plan.pk),
    ):
        assert client.get(page).status_code == 404
    assert client.post(url("accept", plan.pk)).status_code == 404
    plan.refresh_from_db()
    assert plan.state == PlanState.DRAFT


def test_legal_may_not_propose_plans(client, case, legal):
    client.force_login(legal)
    assert client.get(url("propose", case.pk)).status_code == 403


# --- Proposing ---------------------------------------------------------------------------------


def test_the_propose_page_shows_the_schedule_of_the_starting_terms(client, case, agent):
    client.force_login(agent)
    response = client.get(url("propose", case.pk))

    assert response.status_code == 200
    assert b'data-testid="preview-schedule"' in response.content
    assert response.context["quote"].approver_role == "agent"


def test_choosing_another_kind_swaps_the_form_without_the_page(client, case, agent):
    client.force_login(agent)
    response = client.get(url("propose", case.pk), {"kind": "settlement"}, **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert "Balance to settle" in html and 'name="discount_percent"' in html
    assert 'name="down_payment"' not in html


def test_the_live_calculator_answers_with_the_schedule_fragment(client, case, agent):
    client.force_login(agent)
    response = client.post(url("calculate", case.pk), form_data(installments="6"), **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.count("<tr>") == 7  # the header and six lines
    assert "200.00" in html
    assert "Within your limits" in html


def test_the_calculator_says_when_a_limit_is_exceeded_and_who_can_approve(client, case, agent):
    client.force_login(agent)
    response = client.post(url("calculate", case.pk), form_data(amount="1800.00", installments="18"), **HTMX)

    html = response.content.decode()
    assert "Outside your limits: Supervisor can approve this plan." in html
    assert "18 installments is more than the 12 allowed." in html


def test_the_calculator_says_when_nobody_can_approve(client, case, supervisor):
    client.force_login(supervisor)
    data = form_data(kind="settlement", amount="8900.00", installments="1", discount_percent="60")
    html = client.post(url("calculate", case.pk), data, **HTMX).content.decode()

    assert "No one can approve these terms" in html
    assert "A discount of 60% is more than the 50.00% allowed." in html


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"amount": "0"}, "The amount must be more than zero"),
        ({"amount": "-50.00"}, "The amount must be more than zero"),
        ({"installments": "0"}, "A plan needs at least one installment"),
        ({"first_due_date": (TODAY - timedelta(days=1)).isoformat()}, "cannot fall due in the past"),
        ({"amount": "lots"}, "Enter a number."),
    ],
    ids=["zero amount", "negative amount", "no installments", "date in the past", "not a number"],
)
def test_the_calculator_explains_bad_terms(client, case, agent, overrides, message):
    client.force_login(agent)
    response = client.post(url("calculate", case.pk), form_data(**overrides), **HTMX)
    assert response.status_code == 200
    assert message in response.content.decode()


def test_without_javascript_calculate_returns_the_whole_page(client, case, agent):
    client.force_login(agent)
    response = client.post(url("calculate", case.pk), form_data(installments="4"))
    assert response.status_code == 200
    assert b"<html" in response.content
    assert len(response.context["quote"].schedule.lines) == 4
    assert not RepaymentPlan.objects.exists()


def test_proposing_creates_a_draft_and_shows_it_on_the_case(client, case, agent):
    client.force_login(agent)
    response = client.post(url("propose", case.pk), form_data(), follow=True)

    plan = RepaymentPlan.objects.get()
    assert plan.state == PlanState.DRAFT
    assert response.redirect_chain == [(url("case", case.pk), 302)]
    html = response.content.decode()
    assert "Record the cardholder's acceptance" in html
    assert html.count('data-testid="installment"') == 12


def test_proposing_with_the_cardholders_acceptance_activates_the_plan(client, case, agent):
    client.force_login(agent)
    client.post(url("propose", case.pk), form_data(cardholder_accepted="on", acceptance_note="Call R-9"))

    plan = RepaymentPlan.objects.get()
    case.refresh_from_db()
    assert (plan.state, plan.acceptance_note, case.state) == (PlanState.ACTIVE, "Call R-9", "on_plan")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"amount": "0"}, "The amount must be more than zero"),
        ({"installments": "0"}, "A plan needs at least one installment"),
        ({"first_due_date": (TODAY - timedelta(days=3)).isoformat()}, "cannot fall due in the past"),
        ({"amount": "9999.00"}, "above the balance"),
    ],
    ids=["zero amount", "no installments", "date in the past", "above the balance"],
)
def test_bad_terms_are_shown_beside_the_form_and_nothing_is_proposed(client, case, agent, overrides, message):
    client.force_login(agent)
    response = client.post(url("propose", case.pk), form_data(**overrides))

    assert response.status_code == 422
    assert message in response.content.decode()
    assert response.context["form"].errors
    assert not RepaymentPlan.objects.exists()


def test_a_discount_above_every_limit_is_refused_on_the_page(client, case, supervisor):
    client.force_login(supervisor)
    data = form_data(kind="settlement", amount="8900.00", installments="1", discount_percent="60")
    response = client.post(url("propose", case.pk), data)

    assert response.status_code == 422
    assert response.context["form"].errors["discount_percent"] == [
        "A discount of 60% is more than the 50.00% allowed."
    ]
    assert not RepaymentPlan.objects.exists()


def test_a_second_plan_on_a_case_is_refused_on_the_page(client, case, agent):
    propose(case, agent)
    client.force_login(agent)

    assert b"already has a live plan" in client.get(url("propose", case.pk)).content
    response = client.post(url("propose", case.pk), form_data())
    assert response.status_code == 422
    assert "already has a live repayment plan" in response.content.decode()
    assert RepaymentPlan.objects.count() == 1


# --- The case's plan -------------------------------------------------------------------------------


def test_recording_acceptance_activates_the_plan_and_returns_to_the_page(client, case, agent):
    plan = propose(case, agent)
    client.force_login(agent)

    response = client.post(url("accept", plan.pk), {"note": "Call R-3", "next": url("case", case.pk)})

    assert response.status_code == 302 and response.url == url("case", case.pk)
    plan.refresh_from_db()
    assert (plan.state, plan.acceptance_note) == (PlanState.ACTIVE, "Call R-3")


def test_the_active_plan_shows_paid_due_and_late_installments(client, case, agent):
    plan = services.plan_propose(case_id=case.pk, actor=agent, data=terms(), cardholder_accepted=True)
    pay(case, Decimal("150.00"))
    client.force_login(agent)

    html = client.get(url("case", case.pk)).content.decode()

    assert 'data-state="on_plan"' in html
    assert html.count(">Paid</span>") == 1
    assert html.count(">Partly paid</span>") == 1
    assert html.count(">Due</span>") == 10
    assert plan.state == PlanState.ACTIVE


def test_an_unpaid_installment_past_its_date_shows_late(client, case, agent, time_machine):
    services.plan_propose(case_id=case.pk, actor=agent, data=terms(), cardholder_accepted=True)
    time_machine.move_to("2026-03-10 10:00 +0800", tick=False)
    client.force_login(agent)

    html = client.get(url("case", case.pk)).content.decode()
    assert html.count(">Late</span>") == 1


def test_accepting_twice_answers_with_a_message(client, case, agent):
    plan = services.plan_propose(case_id=case.pk, actor=agent, data=terms(), cardholder_accepted=True)
    client.force_login(agent)

    response = client.post(url("accept", plan.pk), follow=True)

    messages = [str(m) for m in response.context["messages"]]
    assert any("cannot do 'accept'" in m or "already recorded" in m for m in messages)


def test_cancelling_a_draft_from_the_case_page(client, case, agent):
    plan = propose(case, agent)
    client.force_login(agent)
    client.post(url("cancel", plan.pk), {"reason": "Offer withdrawn"})
    plan.refresh_from_db()
    assert plan.state == PlanState.CANCELLED


def test_the_case_page_without_a_plan_offers_to_propose_one(client, case, agent):
    client.force_login(agent)
    html = client.get(url("case", case.pk)).content.decode()
    assert 'data-testid="no-plan"' in html
    assert url("propose", case.pk) in html


# --- Approvals inbox -----------------------------------------------------------------------------------


def test_agents_have_no_inbox(client, agent):
    client.force_login(agent)
    assert client.get(reverse("plans:approvals")).status_code == 403


def test_the_supervisor_sees_the_teams_plans_waiting_for_approval(
    client, case, agent, supervisor, supervisor_b
):
    plan = propose(case, agent, **SUPERVISOR_TERMS)

    client.force_login(supervisor)
    html = client.get(reverse("plans:approvals")).content.decode()
    assert f'data-plan="{plan.pk}"' in html
    assert "18 installments is more than the 12 allowed." in html

    client.force_login(supervisor_b)
    assert b'data-testid="approvals-empty"' in client.get(reverse("plans:approvals")).content


def test_legal_sees_only_plans_that_need_legal(client, case, agent, legal, today, team_a):
    needs_legal = propose(case, agent, **LEGAL_TERMS)
    other = open_case(team=team_a, overdue_amount=Decimal("6000.00"))
    needs_supervisor = propose(other, agent, **SUPERVISOR_TERMS)
    client.force_login(legal)

    html = client.get(reverse("plans:approvals")).content.decode()

    assert f'data-plan="{needs_legal.pk}"' in html
    assert f'data-plan="{needs_supervisor.pk}"' not in html
    assert client.get(url("detail", needs_legal.pk)).status_code == 200


def test_the_inbox_query_count_does_not_grow_with_the_plans(
    client, agent, supervisor, team_a, today, django_assert_max_num_queries
):
    for _ in range(6):
        propose(open_case(team=team_a, overdue_amount=Decimal("6000.00")), agent, **SUPERVISOR_TERMS)
    client.force_login(supervisor)

    with django_assert_max_num_queries(7):
        response = client.get(reverse("plans:approvals"))
    assert response.content.decode().count('data-testid="approval-row"') == 6


def test_approving_from_the_inbox(client, case, agent, supervisor):
    plan = services.plan_propose(
        case_id=case.pk, actor=agent, data=terms(**SUPERVISOR_TERMS), cardholder_accepted=True
    )
    client.force_login(supervisor)

    response = client.post(url("approve", plan.pk), {"next": reverse("plans:approvals")})

    assert response.url == reverse("plans:approvals")
    plan.refresh_from_db()
    case.refresh_from_db()
    assert (plan.state, case.state) == (PlanState.ACTIVE, "on_plan")


def test_an_agent_cannot_approve_by_posting(client, case, agent):
    plan = propose(case, agent, **SUPERVISOR_TERMS)
    client.force_login(agent)
    response = client.post(url("approve", plan.pk), follow=True)
    assert any("may not approve" in str(m) for m in response.context["messages"])
    plan.refresh_from_db()
    assert plan.state == PlanState.PENDING_APPROVAL


def test_rejecting_needs_a_reason(client, case, agent, supervisor):
    plan = propose(case, agent, **SUPERVISOR_TERMS)
    client.force_login(supervisor)

    client.post(url("reject", plan.pk), {"reason": ""})
    plan.refresh_from_db()
    assert plan.state == PlanState.PENDING_APPROVAL

    client.post(url("reject", plan.pk), {"reason": "Income not verified"})
    plan.refresh_from_db()
    assert (plan.state, plan.end_note) == (PlanState.REJECTED, "Income not verified")


def test_sending_back_with_a_counter_proposal(client, case, agent, supervisor):
    plan = propose(case, agent, **SUPERVISOR_TERMS)
    client.force_login(supervisor)

    page = client.get(url("send_back", plan.pk))
    assert page.status_code == 200
    assert page.context["form"].initial["installments"] == 18
    preview = client.post(url("send_back", plan.pk), form_data(amount="1800.00", installments="12"), **HTMX)
    assert "150.00" in preview.content.decode() and "<html" not in preview.content.decode()

    response = client.post(
        url("send_back", plan.pk), form_data(amount="1800.00", installments="12", note="12 of 150.00")
    )

    assert response.status_code == 302
    plan.refresh_from_db()
    counter = RepaymentPlan.objects.get(counter_to=plan)
    assert (plan.state, counter.state, counter.installment_count) == (PlanState.REJECTED, PlanState.DRAFT, 12)


def test_legal_sends_back_a_plan_on_a_case_it_cannot_otherwise_see(client, case, agent, legal):
    plan = propose(case, agent, **LEGAL_TERMS)
    client.force_login(legal)
    data = form_data(kind="personalised_installment", amount="8900.00", installments="36", note="36 months")

    assert client.get(url("send_back", plan.pk)).status_code == 200
    preview = client.post(url("send_back", plan.pk), data, **HTMX).content.decode()
    assert "Within your limits" in preview
    assert client.post(url("send_back", plan.pk), data).status_code == 302

    counter = RepaymentPlan.objects.get(counter_to=plan)
    assert (counter.state, counter.installment_count, counter.proposed_by) == (PlanState.DRAFT, 36, legal)


def test_an_agent_cannot_send_back(client, case, agent):
    plan = propose(case, agent, **SUPERVISOR_TERMS)
    client.force_login(agent)
    assert client.get(url("send_back", plan.pk)).status_code == 403


# --- The agreement -------------------------------------------------------------------------------


def test_the_agreement_is_in_the_cardholders_language(client, case, agent):
    plan = services.plan_propose(case_id=case.pk, actor=agent, data=terms(), cardholder_accepted=True)
    assert case.account.cardholder.language == "zh-hans" and agent.language == "en"
    client.force_login(agent)

    response = client.get(url("agreement", plan.pk))

    html = response.content.decode()
    assert response.headers["Content-Language"] == "zh-hans"
    assert '<html lang="zh-hans">' in html
    assert "还款计划协议" in html and "姓名" in html
    assert html.count("¥100.00") == 12  # the cardholder's language writes the money too
    assert "2026年3月9日" in html


def test_the_agreement_in_english_for_an_english_speaking_cardholder(client, case, agent):
    holder = case.account.cardholder
    holder.language = "en"
    holder.save(update_fields=["language"])
    plan = propose(case, agent)
    client.force_login(agent)

    html = client.get(url("agreement", plan.pk)).content.decode()

    assert "Repayment plan agreement" in html
    assert 'data-testid="not-in-force"' in html  # a draft is not in force
    assert "110***********1234" in html and "110101199003071234" not in html


# --- The fragment the case page includes ---------------------------------------------------------


def test_the_fragment_rendered_after_an_htmx_action_returns_to_the_case_page(rf, case, agent):
    from django.template.loader import render_to_string

    from repayment_plans.selectors import plan_for_case

    plan = propose(case, agent)
    request = rf.post(f"/cases/{case.pk}/contact/")
    request.user = agent

    html = render_to_string(
        "repayment_plans/_case_plan.html", {"plan": plan_for_case(case), "case": case}, request=request
    )

    assert f'value="{reverse("case_detail", args=[case.pk])}"' in html
    assert url("accept", plan.pk) in html


def test_the_fragment_without_a_plan_offers_to_propose(rf, case, agent, django_assert_max_num_queries):
    from django.template.loader import render_to_string

    from repayment_plans.selectors import plan_for_case

    request = rf.get(f"/cases/{case.pk}/")
    request.user = agent
    with django_assert_max_num_queries(2):
        html = render_to_string(
            "repayment_plans/_case_plan.html", {"plan": plan_for_case(case), "case": case}, request=request
        )
    assert url("propose", case.pk) in html
