"""CaseEvent.case loses its own index: event_case_time_idx (case, created_at DESC, id DESC) and the chain's
(case, id) lead with the case and serve every lookup by case; with the plain one beside them the planner
read a long history whole and sorted it for one page of the timeline. Only the index is dropped (Django's
AlterField would drop and re-add the foreign key too, re-checking every event)."""

import django.db.models.deletion
from django.db import migrations, models

TABLE = "collections_app_caseevent"
INDEX = "collections_app_caseevent_case_id_de6ac3eb"


class Migration(migrations.Migration):
    dependencies = [
        ("collections_app", "0018_contact_corrects_partial_idx"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="caseevent",
                    name="case",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="events",
                        to="collections_app.case",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{INDEX}"',
                    reverse_sql=f'CREATE INDEX IF NOT EXISTS "{INDEX}" ON "{TABLE}" ("case_id")',
                ),
            ],
        ),
    ]
