"""The KPI page's promise funnel and bucket-migration heatmap: the figures in the chart's JSON and in the
"show as a table" twins are the ones of the data built here, worked out by hand.

May 2026, team A, one agent:
  case 1  4 May PTP -> promise 1000.00 due 10 May, paid on 8 May: kept
  case 2  5 May PTP -> promise 500.00 due 7 May, unpaid: broken by the nightly check of 12 May
  case 3  6 May right-party contact, no promise
  case 4  no contact at all; a promise typed in on 6 May due 8 May (broken): counts nowhere
  case 5  26 May PTP -> promise 700.00 due 31 May, unpaid: still open (within its grace day)
  other team: a PTP and a promise that must not show on team A's figures

Right-party contacts 4 -> promises recorded 3 (75 %) ; promises due 3 -> kept 1, broken 1 (50 % each of
the 2 settled), still open 1 (33.3 % of the 3 due).
"""

import json
import re
from datetime import date

import pytest
from django.urls import reverse

from dashboards.models import RollTransitionMonthly
from tests.dashboards.conftest import at, call, case_on, nightly_promises, pay, promise
from tests.dashboards.test_views import client_for

pytestmark = pytest.mark.django_db
MAY = {"period": "custom", "start": "2026-05-01", "end": "2026-05-31"}


@pytest.fixture
def may(team_a, team_b, agent, other_agent):
    c = [None] + [case_on(date(2026, 4, 28), team=team_a) for _ in range(5)]
    call(c[1], agent, at(date(2026, 5, 4)), "ptp", seconds=60)
    promise(c[1], agent, "1000.00", date(2026, 5, 10), at(date(2026, 5, 4), 10, 5))
    pay(c[1], "1000.00", at(date(2026, 5, 8), 15), "F1")
    call(c[2], agent, at(date(2026, 5, 5)), "ptp", seconds=60)
    promise(c[2], agent, "500.00", date(2026, 5, 7), at(date(2026, 5, 5), 10, 5))
    call(c[3], agent, at(date(2026, 5, 6)), "rpc", seconds=60)
    promise(c[4], agent, "300.00", date(2026, 5, 8), at(date(2026, 5, 6), 11))
    nightly_promises(date(2026, 5, 12))
    call(c[5], agent, at(date(2026, 5, 26)), "ptp", seconds=60)
    promise(c[5], agent, "700.00", date(2026, 5, 31), at(date(2026, 5, 26), 10, 5))
    theirs = case_on(date(2026, 4, 28), team=team_b)
    call(theirs, other_agent, at(date(2026, 5, 4)), "ptp", seconds=60)
    promise(theirs, other_agent, "100.00", date(2026, 5, 9), at(date(2026, 5, 4), 10, 5))
    nightly_promises(date(2026, 6, 1))
    return c


def _table_rows(html: str, testid: str) -> list[list[str]]:
    """The text of each body row's cells (th and td) of the table with that data-testid."""
    table = re.search(rf'<table[^>]*data-testid="{testid}".*?</table>', html, re.S).group(0)
    body = re.search(r"<tbody>(.*?)</tbody>", table, re.S).group(1)
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


def _json(html: str, element_id: str) -> dict:
    return json.loads(
        re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html).group(1)
    )


def test_the_promise_funnel_chart_and_table_carry_the_figures_of_the_period(supervisor, may):
    html = client_for(supervisor).get(reverse("dashboards:kpis"), MAY).content.decode()
    chart = _json(html, "chart-funnel")
    assert chart["labels"] == [
        "Right-party contacts",
        "Promises recorded",
        "Promises due",
        "Kept",
        "Broken",
        "Still open",
    ]
    assert chart["counts"] == [4, 3, 3, 1, 1, 1]
    assert chart["rates"] == [None, 0.75, None, 0.5, 0.5, 0.3333]
    assert _table_rows(html, "funnel-table") == [
        ["Right-party contacts", "4", "", ""],
        ["Promises recorded", "3", "75.0%", "of right-party contacts"],
        ["Promises due", "3", "", ""],
        ["Kept", "1", "50.0%", "of promises settled"],
        ["Broken", "1", "50.0%", "of promises settled"],
        ["Still open", "1", "33.3%", "of promises due"],
    ]
    # Each count that has a list opens it.
    assert reverse("dashboards:drill", args=["promises_made"]) + "?" in html


def test_the_funnel_is_in_the_readers_language_and_exports_to_csv(supervisor, may):
    supervisor.language = "zh-hans"
    supervisor.save(update_fields=["language"])
    response = client_for(supervisor).get(reverse("dashboards:kpis"), MAY)
    labels = response.context["chart_funnel"]["labels"]
    assert "Right-party contacts" not in labels and len(labels) == 6
    csv_response = client_for(supervisor).get(reverse("dashboards:kpis"), {**MAY, "export": "funnel"})
    lines = b"".join(csv_response.streaming_content).decode("utf-8").lstrip("\ufeff").splitlines()
    assert [line.split(",")[1] for line in lines[1:]] == ["4", "3", "3", "1", "1", "1"]


@pytest.fixture
def roll_may(team_a, team_b):
    """Bucket moves of May 2026 for team A (and one for team B, to be left out)."""

    def moves(team, from_bucket, to_bucket, accounts):
        RollTransitionMonthly.objects.create(
            month=date(2026, 5, 1),
            team_id=team.pk,
            from_bucket=from_bucket,
            to_bucket=to_bucket,
            currency="CNY",
            accounts=accounts,
            balance=0,
        )

    moves(team_a, "M1", "current", 3)
    moves(team_a, "M1", "M1", 4)
    moves(team_a, "M1", "M2", 3)
    moves(team_a, "M2", "M3", 10)
    moves(team_a, "current", "current", 1)
    moves(team_a, "current", "M1", 19)
    moves(team_b, "M1", "M6+", 50)


def _heat_cells(html: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(from, to) -> (heat class or "", text) for every cell of the heatmap."""
    table = re.search(r'<table[^>]*data-testid="roll-matrix".*?</table>', html, re.S).group(0)
    cells = {}
    for row in re.findall(r"<tr>(.*?)</tr>", re.search(r"<tbody>(.*?)</tbody>", table, re.S).group(1), re.S):
        source = re.sub(r"<[^>]+>", "", re.search(r"<th[^>]*>(.*?)</th>", row).group(1)).strip()
        for classes, to, text in re.findall(
            r'<td class="num roll-\w+([^"]*)" data-to="([^"]+)"[^>]*>(.*?)</td>', row
        ):
            heat = re.search(r"heat-\d", classes)
            cells[(source, to)] = (heat.group(0) if heat else "", text.strip())
    return cells


def test_the_bucket_migration_heatmap_shades_each_cell_by_its_share(supervisor, roll_may):
    html = (
        client_for(supervisor)
        .get(reverse("dashboards:kpis"), {**MAY, "roll_month": "2026-05-01"})
        .content.decode()
    )
    cells = _heat_cells(html)
    assert cells[("M1", "current")] == ("heat-3", "30.0%")
    assert cells[("M1", "M1")] == ("heat-4", "40.0%")
    assert cells[("M1", "M2")] == ("heat-3", "30.0%")
    assert cells[("M1", "M6+")] == ("heat-0", "0.0%")  # team B's 50 accounts are not team A's
    assert cells[("M2", "M3")] == ("heat-9", "100.0%")  # all of them: the darkest shade
    assert cells[("Current", "current")] == ("heat-0", "5.0%")
    assert cells[("Current", "M1")] == ("heat-9", "95.0%")
    assert cells[("M4", "M4")] == ("", "·")  # nobody was in M4: no shade, no rate
    assert "style=" not in re.search(r'<table[^>]*data-testid="roll-matrix".*?</table>', html, re.S).group(0)
    # The same moves as account counts, in the "show as a table" twin.
    counts = {row[0]: row[1:] for row in _table_rows(html, "roll-counts")}
    assert counts["M1"] == ["3", "4", "3", "0", "0", "0", "0", "0", "10"]
    assert counts["Current"] == ["1", "19", "0", "0", "0", "0", "0", "0", "20"]
