"""Property-based fuzzing (hypothesis) of the page forms: random text, dates, numbers and IDs - NUL bytes,
huge integers, year 1 and year 9999, impossible dates - posted to every form of the case page, the plan
propose form, the legal decide form, and sent to the dashboards' period filters. No answer may be a 5xx.

The values are drawn per field from the form class itself (a choice field gets its choices and garbage,
a date field dates and impossible dates, ...), so a field added to a form is fuzzed without editing this
file. A bounded number of examples per form keeps the run short; `derandomize` makes it repeatable.
To fuzz harder locally: PAGE_FUZZ_EXAMPLES=300 PAGE_FUZZ_RANDOM=1 make test ARGS=tests/collections_app/...
"""

from __future__ import annotations

import os

import pytest
from django import forms
from django.urls import reverse
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from collections_app import forms as case_forms
from collections_app import services
from collections_app.services import queues
from dashboards.forms import PERIODS
from legal import services as legal_services
from legal.views import DECISION_FORMS
from repayment_plans.calculator import PlanKind
from repayment_plans.forms import ProposeForm
from tests.factories import ContactPointFactory, open_case

pytestmark = [pytest.mark.django_db, pytest.mark.postgres, pytest.mark.usefixtures("office_hours")]

MAX_EXAMPLES = int(os.environ.get("PAGE_FUZZ_EXAMPLES", "20"))
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=not os.environ.get("PAGE_FUZZ_RANDOM"),
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

NASTY = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "-1",
    "0",
    str(2**31),
    str(2**63),
    str(10**30),
    "-" + str(10**30),
    "1e309",
    "NaN",
    "Infinity",
    "0001-01-01",
    "9999-12-31",
    "0000-01-01",
    "2026-02-30",
    "2026-13-01",
    "9999-12-31T23:59",
    "0001-01-01T00:00",
    "2026-06-03T25:61",
    "x" * 5000,
    "<script>alert(1)</script>",
    "'; DROP TABLE cases; --",
    "１２３",
    "\u202e",
]
nasty = st.sampled_from(NASTY)
text = st.text(max_size=40)
numbers = st.one_of(st.integers(min_value=-(10**30), max_value=10**30), st.integers(-5, 400)).map(str)
dates = st.dates().map(lambda d: d.isoformat())
datetimes = st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M"))
decimals = st.decimals(allow_nan=True, allow_infinity=True, places=None).map(str)


def value_for(field: forms.Field) -> st.SearchStrategy[str]:
    """Values for one form field: some of the kind it expects, mixed with garbage."""
    if isinstance(field, forms.BooleanField):
        kind = st.sampled_from(["on", "true", "false", "1", ""])
    elif isinstance(field, forms.ModelChoiceField | forms.IntegerField):
        kind = numbers
    elif isinstance(field, forms.ChoiceField):
        choices = [str(value) for value, _label in field.choices if not isinstance(_label, list | tuple)]
        kind = st.sampled_from(choices) if choices else text
    elif isinstance(field, forms.DecimalField):
        kind = st.one_of(decimals, numbers)
    elif isinstance(field, forms.DateTimeField):
        kind = datetimes
    elif isinstance(field, forms.DateField):
        kind = dates
    else:
        kind = text
    return st.one_of(kind, kind, nasty, text)


def form_data(form: forms.Form, **fixed) -> st.SearchStrategy[dict]:
    """A POST body for `form`: every field (prefixed as the form names it), some left out."""
    fields = {
        form.add_prefix(name): st.one_of(value_for(field), st.none()) for name, field in form.fields.items()
    }
    return st.fixed_dictionaries(fields).map(
        lambda data: {**{k: v for k, v in data.items() if v is not None}, **fixed}
    )


def case_ids(case_id: int) -> st.SearchStrategy[int]:
    # Mostly the real case (so that the forms reach the services), sometimes any ID at all.
    return st.one_of(st.just(case_id), st.just(case_id), st.integers(min_value=0, max_value=10**20))


def assert_answered(response, method, url, data):
    assert response.status_code < 500, f"{method} {url} {data!r} -> {response.status_code}"


@pytest.fixture
def worked_case(team_a, agent):
    case = open_case(team=team_a)
    ContactPointFactory(cardholder=case.account.cardholder, value="+8613812345678")
    queues.refresh_priorities()
    services.case_claim_next(actor=agent)
    return case


CASE_PAGE_FORMS = {
    "case_log_contact": case_forms.ContactForm(contact_points=[(1, "1")]),
    "case_record_promise": case_forms.PromiseForm(conversations=[(1, "1")]),
    "case_schedule_callback": case_forms.CallbackForm(),
    "case_add_note": case_forms.NoteForm(),
    "case_hold": case_forms.HoldForm(),
    "case_release_hold": case_forms.ReleaseHoldForm(),
    "case_request_escalation": case_forms.EscalationRequestForm(),
    "case_transition": case_forms.TransitionForm(),
}


@pytest.mark.parametrize("url_name", list(CASE_PAGE_FORMS))
def test_case_page_forms_never_answer_5xx(client, agent, supervisor, worked_case, url_name):
    form = CASE_PAGE_FORMS[url_name]

    @FUZZ
    @given(data=form_data(form), case_id=case_ids(worked_case.pk), as_supervisor=st.booleans())
    # What an outside probe found once: a case that does not exist; a date in year 9999.
    @example(data={"text": "x", "note": "x", "reason": "x", "name": "x"}, case_id=10**20, as_supervisor=False)
    @example(
        data={"at": "9999-12-31T23:59", "due_date": "9999-12-31"}, case_id=worked_case.pk, as_supervisor=False
    )
    def post(data, case_id, as_supervisor):
        client.force_login(supervisor if as_supervisor else agent)
        url = reverse(url_name, args=[case_id])
        headers = {"HTTP_HX_REQUEST": "true"} if case_id % 2 else {}  # the fragment and the full page
        response = client.post(url, data, **headers)
        assert_answered(response, "POST", url, data)

    post()


def test_plan_propose_form_never_answers_5xx(client, agent, worked_case):
    client.force_login(agent)
    kinds = st.sampled_from([*PlanKind.values, "", "\x00", "nonsense"])
    bodies = kinds.flatmap(lambda kind: form_data(ProposeForm(kind=kind), kind=kind))

    @FUZZ
    @given(data=bodies, case_id=case_ids(worked_case.pk))
    @example(
        data={"kind": "installment", "amount": "100.00", "installments": "3", "first_due_date": "9999-12-31"},
        case_id=worked_case.pk,
    )
    def post(data, case_id):
        url = reverse("plans:propose", args=[case_id])
        response = client.post(url, data)
        assert_answered(response, "POST", url, data)
        calculate = reverse("plans:calculate", args=[case_id])
        assert_answered(client.get(calculate, data), "GET", calculate, data)

    post()


def test_legal_decide_form_never_answers_5xx(client, legal, team_a, supervisor):
    case = open_case(team=team_a)
    legal_services.legal_refer(case_id=case.pk, actor=supervisor, reason="Refuses to pay, 120 DPD")
    client.force_login(legal)
    decisions = st.sampled_from([*DECISION_FORMS, "", "nonsense", "\x00"])

    @FUZZ
    @given(decision=decisions, data=st.data(), case_id=case_ids(case.pk))
    def post(decision, data, case_id):
        form_class = DECISION_FORMS.get(decision)
        body = data.draw(form_data(form_class(prefix=decision))) if form_class else {}
        body["decision"] = decision
        url = reverse("legal:decide", args=[case_id])
        assert_answered(client.post(url, body), "POST", url, body)

    post()


PERIOD_FIELDS = {
    "period": st.one_of(st.sampled_from([value for value, _label in PERIODS]), nasty),
    "start": st.one_of(dates, nasty),
    "end": st.one_of(dates, nasty),
    "roll_month": st.one_of(dates, nasty),
    "team": st.one_of(numbers, nasty),
    "queue": st.one_of(numbers, nasty),
    "agent": st.one_of(numbers, nasty),
    "product": st.one_of(text, nasty),
    "jurisdiction": st.one_of(text, nasty),
    "bucket": st.one_of(text, nasty),
    "page": st.one_of(numbers, nasty),
    "sort": st.one_of(text, nasty),
}


@pytest.mark.parametrize(
    ("url", "who"),
    [
        ("dashboards:home", "supervisor"),
        ("dashboards:kpis", "admin"),
        ("dashboards:legal", "legal"),
        ("drill", "supervisor"),
    ],
)
def test_dashboard_period_filters_never_answer_5xx(client, supervisor, admin_user, legal, url, who):
    client.force_login({"supervisor": supervisor, "admin": admin_user, "legal": legal}[who])
    path = reverse("dashboards:drill", args=["attempts"]) if url == "drill" else reverse(url)
    fields = {name: st.one_of(strategy, st.none()) for name, strategy in PERIOD_FIELDS.items()}

    @FUZZ
    @given(params=st.fixed_dictionaries(fields))
    @example(params={"period": "custom", "start": "9999-12-25", "end": "9999-12-31", "page": str(10**30)})
    @example(
        params={"period": "custom", "start": "0001-01-01", "end": "0001-01-05", "roll_month": "0001-01-01"}
    )
    @example(params={"jurisdiction": "a\x00b", "product": "\x00", "page": "-1"})
    def get(params):
        query = {k: v for k, v in params.items() if v is not None}
        assert_answered(client.get(path, query), "GET", path, query)

    get()
