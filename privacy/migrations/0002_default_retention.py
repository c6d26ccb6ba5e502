"""The shipped retention policies, from the compliance reference (/work/shared/reference/compliance-rules.md:
CN-01 and the recording-retention row - at least 2 years, default 3 after closure; US-18 - 3 years after
the last collection activity; UK-06 / EU-01 - 6 years, the limitation period, as policy). Admins edit them;
this adds a missing one and never overwrites an edited one."""

from django.db import migrations

DEFAULTS = [
    ("CN", 3, "closure", "CN-01: collection records and recordings kept at least 2 years; 3 by default (CN-14)."),
    ("US", 3, "last_activity", "US-18: records kept 3 years after the last collection activity."),
    ("UK", 6, "closure", "UK-06: 6-year limitation period (policy)."),
    ("EU", 6, "closure", "EU-01: storage limitation; 6 years after closure (policy)."),
]


def create_policies(apps, schema_editor):
    RetentionPolicy = apps.get_model("privacy", "RetentionPolicy")
    for jurisdiction, years, counted_from, source in DEFAULTS:
        RetentionPolicy.objects.get_or_create(
            jurisdiction=jurisdiction,
            defaults={"years": years, "counted_from": counted_from, "source": source},
        )


class Migration(migrations.Migration):
    dependencies = [("privacy", "0001_initial")]

    operations = [migrations.RunPython(create_policies, migrations.RunPython.noop)]
