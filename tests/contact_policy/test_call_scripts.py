"""Call scripts: the shipped scripts (China's identity and purpose, the US mini-Miranda, UK and EU generic,
each in Chinese and English), `script_for` choosing the most specific active one, and the admin raising
the version on every edit.

Persona: `admin_client` (pytest-django's superuser) edits scripts."""

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from collections_app.models import Bucket
from contact_policy.models import STAGES, CallScript, CallStatement
from contact_policy.scripts import script_for, script_jurisdictions, script_language

pytestmark = [pytest.mark.django_db]

MINI_MIRANDA = (
    "This is an attempt to collect a debt and any information obtained will be used for that purpose."
)


def test_the_stages_are_the_buckets_of_the_case_kernel():
    # contact_policy may not import collections_app: the list is written twice and kept equal here.
    assert list(STAGES) == list(Bucket.values)


@pytest.mark.parametrize("jurisdiction", ["CN", "US", "UK", "EU"])
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_script_is_shipped_for_each_jurisdiction_in_both_languages(jurisdiction, language):
    script = script_for(jurisdiction, language, "M2")
    assert script is not None
    assert (script.jurisdiction, script.language, script.stage) == (jurisdiction, language, "any")
    required = {s.code for s in script.statements.all() if s.required}
    assert {"identity", "right_party"} <= required


def test_the_us_script_requires_the_mini_miranda_and_reminds_of_the_validation_notice():
    statements = {s.code: s for s in script_for("US", "en", "M1").statements.all()}
    assert statements["mini_miranda"].text == MINI_MIRANDA
    assert statements["mini_miranda"].required
    assert "validation" in statements["validation_notice"].text
    chinese = {s.code for s in script_for("US", "zh-hans", "M1").statements.all()}
    assert {"mini_miranda", "validation_notice"} <= chinese


def test_the_china_script_states_identity_and_purpose_in_chinese():
    script = script_for("CN", "zh-hans", "M3")
    statements = {s.code: s for s in script.statements.all()}
    assert statements["purpose"].required and "逾期" in statements["purpose"].text
    assert "{agent_name}" in statements["identity"].text


def test_a_state_layer_uses_its_countrys_script_and_an_eu_country_the_eu_script():
    assert script_for("US-MA", "en", "M1").jurisdiction == "US"
    assert script_for("FR", "en", "M1").jurisdiction == "EU"
    assert script_for("GB", "en", "M1").jurisdiction == "UK"
    assert script_jurisdictions("us-ma") == ("US-MA", "US")
    assert script_for("BR", "en", "M1") is None


def test_the_most_specific_active_script_wins(django_assert_num_queries):
    state = CallScript.objects.create(name="MA", jurisdiction="US-MA", language="en", opening="Hi")
    staged = CallScript.objects.create(
        name="US M3", jurisdiction="US", language="en", stage="M3", opening="Hi"
    )
    with django_assert_num_queries(2):  # the scripts, their statements
        chosen = script_for("US-MA", "en", "M3")
        list(chosen.statements.all())
    assert chosen == state  # the jurisdiction's own profile before its country's
    assert script_for("US", "en", "M3") == staged  # the bucket's own before "any"
    assert script_for("US", "en", "M2").stage == "any"
    state.active = False
    state.save()
    assert script_for("US-MA", "en", "M3") == staged


def test_the_cardholders_language_first_then_any_language():
    assert script_language("zh-CN") == "zh-hans"
    assert script_language("en-GB") == "en"
    CallScript.objects.filter(jurisdiction="UK", language="zh-hans").update(active=False)
    assert script_for("UK", "zh", "M1").language == "en"  # better the legal statements than nothing


def test_one_active_script_per_jurisdiction_language_and_stage():
    with pytest.raises(IntegrityError), transaction.atomic():
        CallScript.objects.create(name="Second", jurisdiction="CN", language="en", opening="Hi")
    CallScript.objects.create(name="Draft", jurisdiction="CN", language="en", opening="Hi", active=False)


def test_a_stage_outside_the_list_is_refused_by_the_database():
    with pytest.raises(IntegrityError), transaction.atomic():
        CallScript.objects.create(name="X", jurisdiction="CN", language="en", stage="M9", opening="Hi")


def _inline(script: CallScript, **changes) -> dict:
    statements = list(script.statements.all())
    data = {
        "name": script.name,
        "jurisdiction": script.jurisdiction,
        "language": script.language,
        "stage": script.stage,
        "opening": script.opening,
        "body": script.body,
        "active": "on",
        "statements-TOTAL_FORMS": str(len(statements)),
        "statements-INITIAL_FORMS": str(len(statements)),
        "statements-MIN_NUM_FORMS": "0",
        "statements-MAX_NUM_FORMS": "1000",
    }
    for i, s in enumerate(statements):
        data |= {
            f"statements-{i}-id": s.pk,
            f"statements-{i}-script": script.pk,
            f"statements-{i}-order": s.order,
            f"statements-{i}-code": s.code,
            f"statements-{i}-text": s.text,
            f"statements-{i}-required": "on" if s.required else "",
        }
    return data | changes


def test_the_admin_raises_the_version_when_a_statement_changes_and_not_otherwise(admin_client):
    script = CallScript.objects.get(jurisdiction="US", language="en")
    url = reverse("admin:contact_policy_callscript_change", args=[script.pk])
    assert admin_client.get(url).status_code == 200

    response = admin_client.post(url, _inline(script))
    assert response.status_code == 302, response.content.decode()[:3000]
    script.refresh_from_db()
    assert script.version == 1

    response = admin_client.post(url, _inline(script, **{"statements-0-text": "I am {agent_name}."}))
    assert response.status_code == 302, response.content.decode()[:3000]
    script.refresh_from_db()
    assert script.version == 2
    assert CallStatement.objects.get(script=script, code="identity").text == "I am {agent_name}."
    assert admin_client.get(reverse("admin:contact_policy_callscript_changelist")).status_code == 200
