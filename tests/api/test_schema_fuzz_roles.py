"""Schema-driven fuzzing (schemathesis) of every operation in /api/schema/ as each role: an agent, a
supervisor and a legal reviewer reach other branches than the admin of test_schema_fuzz.py (refusals by
role and team, the contact policy, the legal transitions). No answer may be a 5xx, and every answer must
match the schema. The path IDs are pinned to objects the role works on, so that bodies reach the
services; fewer examples per operation than the admin's run keep the three runs short.

To fuzz harder locally:
    API_FUZZ_EXAMPLES=100 API_FUZZ_RANDOM=1 make test ARGS=tests/api/test_schema_fuzz_roles.py
"""

import os
from datetime import date
from decimal import Decimal

import pytest
from schemathesis._override import CaseOverride

from repayment_plans import services as plan_services
from tests.api.conftest import token_for
from tests.api.test_schema_fuzz import (  # noqa: F401 - the fixtures are used by name
    SERVER_ERRORS,
    _run,
    _schema,
    fuzz_settings,
    wsgi_in_test_transaction,
)

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

ROLE_EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "4"))


@pytest.mark.parametrize("role", ["agent", "supervisor", "legal"])
def test_no_server_error_as_each_role(
    wsgi_in_test_transaction,  # noqa: F811
    fuzz_settings,  # noqa: F811
    monkeypatch,
    role,
    agent,
    supervisor,
    legal,
    case_a,
    legal_case,
):
    monkeypatch.setattr("tests.api.test_schema_fuzz.MAX_EXAMPLES", ROLE_EXAMPLES)
    plan = plan_services.plan_propose(
        case_id=case_a.pk,
        actor=agent,
        data=plan_services.PlanInput(
            kind="installment", amount=Decimal("1200.00"), installments=12, first_due_date=date(2026, 6, 9)
        ),
    )
    user = {"agent": agent, "supervisor": supervisor, "legal": legal}[role]
    case = legal_case if role == "legal" else case_a
    ids = {"case_id": str(case.pk), "plan_id": str(plan.pk), "id": str(case.pk)}
    schema = _schema(wsgi_in_test_transaction)

    problems = _run(
        schema,
        token=token_for(user),
        override=CaseOverride(query={}, headers={}, cookies={}, path_parameters=ids),
    )

    assert not problems, "\n".join([*dict.fromkeys(problems), *SERVER_ERRORS[:5]])
