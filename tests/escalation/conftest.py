"""Builders for escalation-rule tests. Rules are saved through full_clean (as the admin saves them);
cases are opened through the real services (tests.factories.open_case). The clock is fixed.

Personas come from tests/conftest.py."""

from datetime import date

import pytest
import time_machine

# Registers the rule admin even before collections_app.admin imports it (it does once wired in).
import escalation.admin  # noqa: F401
from escalation.models import EscalationRule

AS_OF = date(2026, 6, 2)


@pytest.fixture
def as_of():
    with time_machine.travel("2026-06-02 02:00 +0800", tick=False):
        yield AS_OF


def make_rule(conditions, *, name=None, save=True, **fields) -> EscalationRule:
    """A rule that is enabled and live unless told otherwise; validated like the admin does."""
    values = {"enabled": True, "dry_run": False, "order": 100} | fields
    rule = EscalationRule(
        name=name or f"rule {EscalationRule.objects.count() + 1}", conditions=conditions, **values
    )
    rule.full_clean()
    if save:
        rule.save()
    return rule


DPD_OVER_90 = [{"field": "dpd", "operator": "gt", "value": 90}]
