"""`manage.py generate_portfolio` and `manage.py bench` run (at a tiny size: speed is what bench prints,
never what a test asserts). The generated portfolio is one the product can work: search hashes kept,
contactability stored on every open case, so Next case and My work see it as `migrate` + the roll would."""

import io

import pytest
from django.core.management import call_command

from collections_app.models import OPEN_STATES, Case, ContactPoint, CreditAccount

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_generate_portfolio_writes_a_workable_portfolio():
    call_command("generate_portfolio", accounts=300, stdout=io.StringIO())

    assert CreditAccount.objects.count() == 300
    assert not ContactPoint.objects.filter(value_hash="").exists()
    open_cases = Case.objects.filter(state__in=OPEN_STATES)
    assert open_cases.exists()
    assert not open_cases.filter(contactable_from__isnull=True, contact_block_rule="").exists(), (
        "every open case has its contactability computed"
    )


def test_bench_prints_each_step_beside_its_raw_baseline():
    out = io.StringIO()
    call_command("bench", generate=400, stdout=out)

    text = out.getvalue()
    for step in ("cure/close", "priorities"):
        line = next((line for line in text.splitlines() if step in line), None)
        assert line is not None, f"no {step} line in:\n{text}"
