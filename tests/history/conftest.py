"""Builders for the history tests. Personas come from tests/conftest.py: agent (works team A's cases),
supervisor (team A; searches the history), other_agent (team B; must not see team A's case's changes),
admin_user (the admin's per-object history)."""

import pytest
from knox.models import AuthToken
from rest_framework.test import APIClient

from collections_app import services
from history import models as events
from tests.factories import ContactPointFactory, open_case


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _office_hours(office_hours):
    return office_hours


@pytest.fixture
def worked_case(team_a, agent):
    """An in-progress case of team A with a debtor phone, claimed by the agent."""
    case = open_case(team=team_a)
    ContactPointFactory(cardholder=case.account.cardholder)
    assert services.case_claim_next(actor=agent).case == case
    services.case_transition(case_id=case.pk, name="start_work", actor=agent)
    case.refresh_from_db()
    return case


def api_client_for(user) -> APIClient:
    client = APIClient()
    client.default_format = "json"
    _instance, token = AuthToken.objects.create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def last_event(event_model, obj, label="update"):
    return event_model.objects.filter(pgh_obj_id=obj.pk, pgh_label=label).select_related("pgh_context").last()


def context_of(event) -> dict:
    return event.pgh_context.metadata if event.pgh_context_id else {}


__all__ = ["api_client_for", "context_of", "events", "last_event"]
