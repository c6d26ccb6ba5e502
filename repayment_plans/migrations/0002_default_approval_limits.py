"""The approval tiers a new installation starts with; admins change them in the admin pages.

- agent: installment plans and moved due dates, up to 12 monthly installments (12 months), no discount,
  installments of at least 100.00, the first payment within 30 days;
- supervisor: also settlements, up to 24 installments (24 months), up to a 30% discount, installments of
  at least 50.00, the first payment within 60 days;
- legal: beyond that, including every personalised installment plan (个性化分期): up to 60 installments
  or months (the regulatory cap on a personalised plan), up to a 50% discount, the first payment within
  90 days. A personalised plan freezes interest and fees for years and rests on evidence of hardship, so
  it is legal's (with compliance's) decision, not a team supervisor's.
"""

from decimal import Decimal

from django.db import migrations

TIERS = [
    {
        "role": "agent",
        "order": 10,
        "allowed_kinds": ["installment", "moved_due_date"],
        "min_installment_amount": Decimal("100.00"),
        "max_installments": 12,
        "max_term_months": 12,
        "max_personalised_term_months": None,
        "max_discount_percent": Decimal("0.00"),
        "first_due_horizon_days": 30,
    },
    {
        "role": "supervisor",
        "order": 20,
        "allowed_kinds": ["installment", "moved_due_date", "settlement"],
        "min_installment_amount": Decimal("50.00"),
        "max_installments": 24,
        "max_term_months": 24,
        "max_personalised_term_months": None,
        "max_discount_percent": Decimal("30.00"),
        "first_due_horizon_days": 60,
    },
    {
        "role": "legal",
        "order": 30,
        "allowed_kinds": ["installment", "moved_due_date", "settlement", "personalised_installment"],
        "min_installment_amount": None,
        "max_installments": 60,
        "max_term_months": 60,
        "max_personalised_term_months": 60,
        "max_discount_percent": Decimal("50.00"),
        "first_due_horizon_days": 90,
    },
]


def create_tiers(apps, schema_editor):
    ApprovalLimit = apps.get_model("repayment_plans", "ApprovalLimit")
    for tier in TIERS:
        ApprovalLimit.objects.get_or_create(role=tier["role"], defaults=tier)


class Migration(migrations.Migration):
    dependencies = [("repayment_plans", "0001_initial")]

    operations = [migrations.RunPython(create_tiers, migrations.RunPython.noop)]
