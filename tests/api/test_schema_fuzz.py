"""Schema-driven fuzzing (schemathesis) of every operation in /api/schema/, through the WSGI app, on
PostgreSQL: no answer may be a 5xx, and every answer must match the schema (status code, content type,
body, headers).

Two passes with an admin token (the widest reach): one with the path IDs pinned to real objects, so
that generated bodies reach the services, and one with generated IDs. A bounded number of examples
per operation keeps the run well under two minutes; `derandomize` makes it repeatable.
"""

import os
from base64 import b64decode
from datetime import date
from decimal import Decimal
from traceback import format_exc

import hypothesis
import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from schemathesis import DataGenerationMethod
from schemathesis._override import CaseOverride
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.runner import events, from_schema
from schemathesis.runner.serialization import Status

from repayment_plans import services as plan_services
from tests.api.conftest import token_for

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
)
# To fuzz harder locally:
#   API_FUZZ_EXAMPLES=200 API_FUZZ_RANDOM=1 make test ARGS=tests/api/test_schema_fuzz.py
MAX_EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "12"))
DERANDOMIZE = not os.environ.get("API_FUZZ_RANDOM")


SERVER_ERRORS: list[str] = []


def _record_server_error(sender, request=None, **kwargs):
    SERVER_ERRORS.append(
        f"{request.method if request else ''} {request.path if request else ''}\n{format_exc()}"
    )


@pytest.fixture
def wsgi_in_test_transaction():
    """Django closes "old" connections when a request starts and ends; inside the test's transaction
    that would close the connection itself. Its test client switches this off; so do we. Server errors'
    tracebacks are collected for the failure message."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    signals.got_request_exception.connect(_record_server_error)
    SERVER_ERRORS.clear()
    yield WSGIHandler()
    signals.got_request_exception.disconnect(_record_server_error)
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_settings(settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]  # schemathesis loads the schema there
    # The fuzzer is one user sending hundreds of requests a minute; throttling is tested elsewhere.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "100000/min", "auth": "100000/min", "imports": "100000/min"},
    }


def _schema(app):
    schema = schemathesis.from_wsgi(
        "/api/schema/",
        app,
        base_url="http://testserver",
        # Valid requests, and requests that break the schema (which must be refused with a 4xx).
        data_generation_methods=[DataGenerationMethod.positive, DataGenerationMethod.negative],
    )
    # Revoking the fuzzer's own token would turn the rest of the run into 401s.
    return schema.exclude(path_regex=r"/auth/logout")


def _run(schema, *, token: str, override=None) -> list[str]:
    runner = from_schema(
        schema,
        checks=CHECKS,
        headers={"Authorization": f"Token {token}"},
        override=override,
        hypothesis_settings=hypothesis.settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=DERANDOMIZE,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        ),
        workers_num=1,  # one thread: the requests share the test's database transaction
    )
    problems = []
    finished = None
    for event in runner.execute():
        if isinstance(event, events.AfterExecution):
            for check in event.result.checks:
                if check.value == Status.failure:
                    response = check.response
                    body = b64decode(response.body or "").decode(errors="replace") if response else ""
                    example = check.example
                    problems.append(
                        f"{event.method} {event.path} [{check.name}] {check.message or ''} -> "
                        f"{response.status_code if response else '?'} {body[:300]} | request: "
                        f"{example.path_parameters} {example.query} {str(example.body)[:300]}"
                    )
            for error in event.result.errors:
                if "in _iter_data" in error.exception_with_traceback:
                    # The fuzzer's own limit: werkzeug cannot even build a multipart request from a
                    # negative example that is not an object (a list, a number); nothing was sent.
                    continue
                problems.append(
                    f"{event.method} {event.path} error: {error.exception_with_traceback[-1500:]}"
                )
        elif isinstance(event, events.Finished):
            finished = event
    assert finished is not None and not finished.is_empty
    return problems


def test_no_server_error_and_no_response_outside_the_schema(
    wsgi_in_test_transaction, fuzz_settings, admin_user, agent, case_a, legal_case
):
    plan = plan_services.plan_propose(
        case_id=case_a.pk,
        actor=agent,
        data=plan_services.PlanInput(
            kind="installment", amount=Decimal("1200.00"), installments=12, first_due_date=date(2026, 6, 9)
        ),
    )
    token = token_for(admin_user)
    schema = _schema(wsgi_in_test_transaction)
    ids = {
        "case_id": str(case_a.pk),
        "plan_id": str(plan.pk),
        "id": str(case_a.pk),
    }

    problems = _run(
        schema, token=token, override=CaseOverride(query={}, headers={}, cookies={}, path_parameters=ids)
    )
    problems += _run(schema, token=token)

    assert not problems, "\n".join([*dict.fromkeys(problems), *SERVER_ERRORS[:5]])
