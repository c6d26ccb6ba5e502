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
    # The engine and the stored form are pure functions (no models): safe to use from a migration.
    from contact_policy import engine
    from contact_policy.builtins import stored_values

    ContactPolicy = apps.get_model("contact_policy", "ContactPolicy")
    created = {}
    for code, name, parent_code in PROFILES:
        existing = ContactPolicy.objects.filter(code=code).first()
        if existing:
            created[code] = existing
            continue
        values = stored_values(engine.BUILTIN_LAYERS[code], code=code)
        created[code] = ContactPolicy.objects.create(**values, name=name, parent=created.get(parent_code))


class Migration(migrations.Migration):
    dependencies = [("contact_policy", "0001_initial")]

    operations = [migrations.RunPython(create_profiles, migrations.RunPython.noop)]
