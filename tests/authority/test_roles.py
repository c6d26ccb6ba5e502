"""The two new roles are everywhere roles are listed: the second factor, idle sign-out, single sign-on's
group mapping (highest role wins), the navigation, and who sees which case."""

import importlib
import os
import subprocess
import sys

import pytest
from django.conf import settings as project_settings
from django.test import override_settings

from accounts.navigation import navigation_for
from accounts.oidc import role_for_groups
from collections_app.access import can_see_case, cases_visible_to
from tests.factories import open_case

pytestmark = pytest.mark.django_db


def test_team_leads_and_heads_need_a_second_factor_and_sign_out_when_idle():
    assert {"team_lead", "head"} <= set(project_settings.TWO_FACTOR_ROLES)
    # tests/settings.py switches the idle limits off; the project's own settings module has them.
    config = importlib.import_module("config.settings")
    assert config.IDLE_TIMEOUT_MINUTES["team_lead"] == 30
    assert config.IDLE_TIMEOUT_MINUTES["head"] == 30


def test_the_environment_may_name_the_new_roles():
    code = "import config.settings as s; print(sorted(s.TWO_FACTOR_ROLES), sorted(s.OIDC_ROLE_GROUPS))"
    env = {
        **os.environ,
        "DJANGO_DEBUG": "1",
        "DJANGO_TWO_FACTOR_ROLES": "team_lead,head",
        "OIDC_ROLE_GROUPS": "team_lead=leads,head=heads",
    }
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['head', 'team_lead'] ['head', 'team_lead']"


@override_settings(
    OIDC_ROLE_GROUPS={"agent": ["agents"], "team_lead": ["leads"], "head": ["heads"], "supervisor": ["sups"]}
)
def test_single_sign_on_maps_the_new_roles_highest_first():
    assert role_for_groups(["agents", "leads"]) == "team_lead"
    assert role_for_groups(["sups", "heads"]) == "head"


def test_the_approvals_inbox_is_in_the_navigation_of_approvers(agent, team_lead, head):
    def names(user):
        return {item["url_name"] for item in navigation_for(user)}

    assert "authority:inbox" in names(team_lead) and "authority:inbox" in names(head)
    assert "authority:inbox" not in names(agent)
    assert "dashboards:home" not in names(team_lead)  # a team lead does not supervise
    assert "dashboards:home" in names(head)


def test_a_team_lead_sees_the_teams_cases_and_the_head_every_team(team_a, team_b, team_lead, head):
    ours, theirs = open_case(team=team_a), open_case(team=team_b)
    assert set(cases_visible_to(team_lead)) == {ours}
    assert set(cases_visible_to(head)) == {ours, theirs}
    assert can_see_case(head, theirs) and not can_see_case(team_lead, theirs)
