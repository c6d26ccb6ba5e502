"""The shipped escalation rules for China and the US: data, edited by admins afterwards.

They ship disabled and in dry run (as every new rule starts, see docs/escalation-and-legal.md): a bank
turns each on after its preview looks right. The conditions are written in the normalised form the rule
evaluator reads (escalation.models.validate_conditions), money as strings with cents. The migration never
overwrites a rule that exists under the same name.
"""

from django.db import migrations

RULES = [
    {
        "name": "CN: charge-off stage, no right-party contact for 60 days",
        "description": (
            "China. Past 180 days overdue with at least 5,000.00 overdue and nobody reached for 60 days: "
            "the case goes to legal review (the limitation date and the malicious-overdraft checklist are "
            "checked there). Refused while a dispute is open or past the limitation date."
        ),
        "order": 10,
        "match_mode": "all",
        "conditions": [
            {"field": "jurisdiction", "operator": "eq", "value": "CN"},
            {"field": "dpd", "operator": "gte", "value": 181},
            {"field": "overdue_amount", "operator": "gte", "value": "5000.00"},
            {"field": "days_since_last_rpc", "operator": "gte", "value": 60},
        ],
        "move_to_legal_review": True,
        "notify_supervisor": True,
    },
    {
        "name": "US: charge-off stage, no right-party contact for 60 days",
        "description": (
            "United States (Massachusetts included). Past 180 days overdue with at least 1,000.00 overdue "
            "and nobody reached for 60 days: the case goes to legal review. Refused while a dispute is open "
            "or past the limitation date."
        ),
        "order": 20,
        "match_mode": "all",
        "conditions": [
            {"field": "jurisdiction", "operator": "in", "value": ["US", "US-MA"]},
            {"field": "dpd", "operator": "gte", "value": 181},
            {"field": "overdue_amount", "operator": "gte", "value": "1000.00"},
            {"field": "days_since_last_rpc", "operator": "gte", "value": 60},
        ],
        "move_to_legal_review": True,
        "notify_supervisor": True,
    },
    {
        "name": "CN: broken promise at M2 or later",
        "description": "China. A promise to pay was broken and the account is past 30 days: call it sooner.",
        "order": 30,
        "match_mode": "all",
        "conditions": [
            {"field": "jurisdiction", "operator": "eq", "value": "CN"},
            {"field": "dpd", "operator": "gte", "value": 31},
            {"field": "broken_promises", "operator": "gte", "value": 1},
        ],
        "raise_priority": 50,
    },
    {
        "name": "US: broken promise at M2 or later",
        "description": (
            "United States. A promise to pay was broken and the account is past 30 days: call "
            "it sooner (within the Regulation F call caps, which the contact policy still applies)."
        ),
        "order": 40,
        "match_mode": "all",
        "conditions": [
            {"field": "jurisdiction", "operator": "in", "value": ["US", "US-MA"]},
            {"field": "dpd", "operator": "gte", "value": 31},
            {"field": "broken_promises", "operator": "gte", "value": 1},
        ],
        "raise_priority": 50,
    },
]


def create_rules(apps, schema_editor):
    EscalationRule = apps.get_model("escalation", "EscalationRule")
    for values in RULES:
        if EscalationRule.objects.filter(name=values["name"]).exists():
            continue
        EscalationRule.objects.create(**values, enabled=False, dry_run=True)


def remove_rules(apps, schema_editor):
    EscalationRule = apps.get_model("escalation", "EscalationRule")
    EscalationRule.objects.filter(name__in=[r["name"] for r in RULES], firings__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("escalation", "0001_initial"),
        ("contact_policy", "0002_builtin_contact_policies"),
    ]

    operations = [migrations.RunPython(create_rules, remove_rules)]
