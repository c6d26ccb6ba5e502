"""Forms shown again after an error keep what was chosen and typed, show choices by their names (never
by their IDs or codes) and dates in ISO, the only format a date input holds - in Chinese, where the
report came from. Covers the supervisor's forms (bulk reassignment, the dashboard filters, the agents'
availability) and the plan proposal.

Personas (tests/conftest.py): `supervisor` manages team A, `agent` works its cases; here both use the
app in Chinese; `agent2` (李伟) is a second agent of team A."""

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils import translation

from dashboards.models import AgentStatus, Availability
from tests.factories import QueueFactory, UserFactory, open_case
from tests.repayment_plans.conftest import ensure_default_tiers

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _language_reset():
    """A request activates its user's language for the whole thread (accounts.middleware) and nothing
    resets it: put the default back so that later tests do not run in Chinese."""
    yield
    translation.deactivate()


@pytest.fixture
def zh(agent, supervisor):
    for user in (agent, supervisor):
        user.language = "zh-hans"
        user.save(update_fields=["language"])


@pytest.fixture
def li_wei(team_a):
    return UserFactory(username="li_wei", role="agent", team=team_a, first_name="伟", last_name="李")


def select(html: str, name: str) -> dict[str, tuple[str, bool]]:
    """The options of the <select name=name>: value -> (label, selected)."""
    found = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert found, f"no select {name}"
    return {
        value: (label.strip(), " selected" in attrs)
        for value, attrs, label in re.findall(r'<option value="([^"]*)"([^>]*)>([^<]*)</option>', found[1])
    }


def chosen(html: str, name: str) -> list[str]:
    return [label for label, selected in select(html, name).values() if selected]


def input_value(html: str, name: str) -> str | None:
    found = re.search(rf'<input type="date" name="{name}"(?: value="([^"]*)")?', html)
    assert found, f"no date input {name}"
    return found[1]


# --- Bulk reassignment (team page) ----------------------------------------------------------------------


def test_bulk_reassign_after_an_error_keeps_the_choices_by_name(
    client, team_a, supervisor, agent, li_wei, zh
):
    queue = QueueFactory(team=team_a, name="M1 早期")
    open_case(team=team_a)
    client.force_login(supervisor)

    response = client.post(
        reverse("dashboards:team"),
        {
            "queue": queue.pk,
            "state": "in_progress",
            "from_agent": agent.pk,
            "agents": [li_wei.pk],
            "reason": "",
        },
    )

    assert response.status_code == 422
    html = response.content.decode()
    assert 'id="id_reason_error"' in html
    assert chosen(html, "queue") == ["M1 早期"]
    assert chosen(html, "state") == ["处理中"]
    assert chosen(html, "from_agent") == [str(agent)]
    assert chosen(html, "agents") == ["李伟"]
    for name in ("queue", "from_agent", "agents"):
        labels = [label for label, _selected in select(html, name).values()]
        assert not any(label.isdigit() for label in labels), (name, labels)


# --- Dashboard filters ----------------------------------------------------------------------------------


@time_machine.travel("2026-03-02 10:00 +0800", tick=False)
def test_the_filters_after_an_error_keep_the_agent_by_name_and_the_date_in_iso(
    client, supervisor, li_wei, zh
):
    client.force_login(supervisor)

    # A custom period needs both dates: "2026/02/01" is how Chinese writes the one given.
    response = client.get(
        reverse("dashboards:kpis"), {"period": "custom", "start": "2026/02/01", "agent": li_wei.pk}
    )

    html = response.content.decode()
    assert "自定义期间请填写开始和结束两个日期。" in html
    assert chosen(html, "period") == ["自定义"]
    assert chosen(html, "agent") == ["李伟"]
    assert input_value(html, "start") == "2026-02-01"
    assert input_value(html, "end") is None


@time_machine.travel("2026-03-02 10:00 +0800", tick=False)
def test_a_custom_period_in_the_languages_own_date_format_is_read(client, supervisor, zh):
    client.force_login(supervisor)

    response = client.get(
        reverse("dashboards:kpis"), {"period": "custom", "start": "2026/02/01", "end": "2026-02-10"}
    )

    assert (response.context["period"].start, response.context["period"].end) == (
        date(2026, 2, 1),
        date(2026, 2, 10),
    )
    html = response.content.decode()
    assert (input_value(html, "start"), input_value(html, "end")) == ("2026-02-01", "2026-02-10")


# --- Availability shown by its name ---------------------------------------------------------------------


def test_the_home_page_names_an_agents_availability(client, team_a, supervisor, agent, zh):
    AgentStatus.objects.create(agent=agent, availability=Availability.TRAINING)
    client.force_login(supervisor)

    html = client.get(reverse("dashboards:home")).content.decode()

    row = re.search(rf"<td>{re.escape(str(agent))}</td>(.*?)</tr>", html, re.S)[1]
    assert "培训中" in row
    assert ">training<" not in row


# --- The plan proposal ----------------------------------------------------------------------------------


@time_machine.travel("2026-03-02 10:00 +0800", tick=False)
def test_the_plan_form_after_an_error_keeps_the_frequency_by_name_and_the_date_in_iso(
    client, team_a, agent, zh
):
    ensure_default_tiers()
    case = open_case(team=team_a, overdue_amount=Decimal("6000.00"))
    client.force_login(agent)

    response = client.post(
        reverse("plans:propose", args=[case.pk]),
        {
            "kind": "installment",
            "amount": "1200.00",
            "installments": "",
            "frequency": "biweekly",
            "first_due_date": "2026/03/09",
            "down_payment": "0",
            "down_payment_due_date": "",
        },
    )

    assert response.status_code == 422
    html = response.content.decode()
    assert 'id="id_installments_error"' in html
    assert chosen(html, "frequency") == ["每两周"]
    assert input_value(html, "first_due_date") == (date(2026, 3, 2) + timedelta(days=7)).isoformat()
