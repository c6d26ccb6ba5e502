"""The two shipped profiles (China, US) and the Massachusetts layer, from the rules engine's built-ins.
Admins edit them afterwards; the migration never overwrites an existing row."""

from django.db import migrations

PROFILES = [
    # code, name, parent code
    ("CN", "China (default)", None),
    ("US", "United States (Regulation F)", None),
    ("US-MA", "Massachusetts (on top of US)", "US"),
]


def create_profiles(apps, schema_editor):
    from collections_app import policy
    from collections_app.policy_models import ContactPolicy as LiveModel

    ContactPolicy = apps.get_model("collections_app", "ContactPolicy")
    created = {}
    for code, name, parent_code in PROFILES:
        existing = ContactPolicy.objects.filter(code=code).first()
        if existing:
            created[code] = existing
            continue
        template = LiveModel.from_rules(policy.BUILTIN_LAYERS[code], name=name, code=code)
        values = {
            f.attname: getattr(template, f.attname)
            for f in LiveModel._meta.concrete_fields
            if f.attname != "id"
        }
        values.pop("parent_id", None)
        values.pop("updated_at", None)
        row = ContactPolicy.objects.create(**values, parent=created.get(parent_code))
        created[code] = row


class Migration(migrations.Migration):
    dependencies = [("collections_app", "0002_contact_policy_and_claim_index")]

    operations = [migrations.RunPython(create_profiles, migrations.RunPython.noop)]
