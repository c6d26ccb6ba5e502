"""The promises' due-date index carries the id: the drill-downs of promises list them by due date and id,
newest first (dashboards.selectors.drill_queryset), and a first page is then read from the index and stops
at 51 rows, where an index of due dates alone had PostgreSQL join and sort every promise of the period
(1.3 s for the broken promises of 30 days at a million accounts). The rollups' range reads by due date use
it as before."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("dashboards", "0006_rollup_seen_ids")]

    operations = [
        migrations.RunSQL(
            sql=[
                "CREATE INDEX IF NOT EXISTS dash_promise_due_id_idx ON collections_app_promisetopay (due_date, id)",
                "DROP INDEX IF EXISTS dash_promise_due_idx",
            ],
            reverse_sql=[
                "CREATE INDEX IF NOT EXISTS dash_promise_due_idx ON collections_app_promisetopay (due_date)",
                "DROP INDEX IF EXISTS dash_promise_due_id_idx",
            ],
        )
    ]
