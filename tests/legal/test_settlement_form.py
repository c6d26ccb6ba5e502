"""The settlement form of the legal package in Chinese: its first-due date is offered in ISO, the only
format a browser's date input holds (zh-hans formats dates as 2026/12/17), the form posted back as
offered is accepted unchanged, and a date typed in the language's own format is read too.

Personas (tests/conftest.py): `legal` reviews the case, here with Chinese as their language."""

import re
from datetime import date, timedelta
from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django.utils import translation

from core.forms import IsoDateField
from legal.views import SettlementForm
from repayment_plans.models import RepaymentPlan
from tests.legal.conftest import TODAY

pytestmark = [pytest.mark.django_db, pytest.mark.postgres, pytest.mark.urls("tests.legal.urls")]

OFFERED_DUE = TODAY + timedelta(days=14)


@pytest.fixture(autouse=True)
def _language_reset():
    """A request activates its user's language for the whole thread (accounts.middleware) and nothing
    resets it: put the default back so that later tests do not run in Chinese."""
    yield
    translation.deactivate()


# The HTML standard's value sanitization for <input type="date">: anything but a valid yyyy-mm-dd date
# becomes the empty string, so the browser shows an empty picker and sends nothing.
BROWSER_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class FormValues(HTMLParser):
    """The values a browser would send for the form with `form_id`: its inputs and textareas, with the
    browser's sanitization of date inputs."""

    def __init__(self, form_id: str):
        super().__init__()
        self.form_id, self.inside, self.textarea = form_id, False, None
        self.values: dict[str, str] = {}
        self.inputs: dict[str, dict] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("id") == self.form_id
        elif self.inside and tag == "input" and attrs.get("name"):
            value = attrs.get("value") or ""
            if attrs.get("type") == "date" and not BROWSER_DATE.fullmatch(value):
                value = ""
            self.inputs[attrs["name"]] = attrs
            self.values[attrs["name"]] = value
        elif self.inside and tag == "textarea":
            self.textarea = attrs["name"]
            self.values[self.textarea] = ""

    def handle_data(self, data):
        if self.textarea:
            self.values[self.textarea] += data.lstrip("\n")

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "textarea":
            self.textarea = None


def settlement_form(html: str) -> FormValues:
    parser = FormValues("decide-settlement")
    parser.feed(html)
    return parser


@pytest.fixture
def legal_zh(legal):
    legal.language = "zh-hans"
    legal.save(update_fields=["language"])
    return legal


def test_the_settlement_form_offers_its_first_due_date_in_iso_in_chinese(client, legal_zh, referred_case):
    client.force_login(legal_zh)

    response = client.get(reverse("legal:case", args=[referred_case.pk]))

    assert response["Content-Language"] == "zh-hans"
    field = settlement_form(response.content.decode()).inputs["settlement-first_due_date"]
    assert (field["type"], field["value"]) == ("date", "2026-06-16")


def test_the_settlement_form_posted_back_as_offered_is_accepted_unchanged(client, legal_zh, referred_case):
    client.force_login(legal_zh)
    offered = settlement_form(client.get(reverse("legal:case", args=[referred_case.pk])).content.decode())

    # Only the note is the reviewer's to write; everything else goes back as the page offered it.
    response = client.post(
        reverse("legal:decide", args=[referred_case.pk]),
        offered.values | {"settlement-note": "最终和解方案"},
    )

    assert response.status_code == 302
    plan = RepaymentPlan.objects.get(case=referred_case)
    assert (plan.kind, plan.first_due_date, plan.installment_count) == ("settlement", OFFERED_DUE, 1)


def test_a_date_in_the_languages_own_format_is_read(client, legal_zh, referred_case):
    client.force_login(legal_zh)
    data = {
        "decision": "settlement",
        "settlement-discount_percent": "10",
        "settlement-installments": "1",
        "settlement-first_due_date": "2026/06/20",
        "settlement-note": "最终和解方案",
    }

    response = client.post(reverse("legal:decide", args=[referred_case.pk]), data)

    assert response.status_code == 302
    assert RepaymentPlan.objects.get(case=referred_case).first_due_date == date(2026, 6, 20)


def test_after_an_error_the_date_typed_comes_back_in_iso(client, legal_zh, referred_case):
    client.force_login(legal_zh)
    data = {
        "decision": "settlement",
        "settlement-discount_percent": "10",
        "settlement-installments": "1",
        "settlement-first_due_date": "2026/06/20",
        "settlement-note": "",
    }

    response = client.post(reverse("legal:decide", args=[referred_case.pk]), data)

    assert response.status_code == 422
    form = settlement_form(response.content.decode())
    assert form.values["settlement-first_due_date"] == "2026-06-20"
    assert form.values["settlement-discount_percent"] == "10"
    assert not RepaymentPlan.objects.filter(case=referred_case).exists()


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_settlement_date_renders_iso_in_every_language(language):
    form = SettlementForm(prefix="settlement", initial={"first_due_date": date(2026, 12, 17)})
    with translation.override(language):
        html = str(form["first_due_date"])
    assert 'type="date"' in html and 'value="2026-12-17"' in html


@pytest.mark.parametrize(
    ("language", "typed", "read"),
    [
        ("zh-hans", "2026-12-17", date(2026, 12, 17)),
        ("zh-hans", "2026/12/17", date(2026, 12, 17)),
        ("en", "2026-12-17", date(2026, 12, 17)),
        ("en", "12/17/2026", date(2026, 12, 17)),
    ],
)
def test_a_date_field_reads_iso_and_the_languages_format(language, typed, read):
    with translation.override(language):
        assert IsoDateField().clean(typed) == read
