"""Indexes on collections_app, repayment_plans and legal tables that only the dashboards need: the nightly
rollup and the live "today" reads select one day of each table by time, and the supervisor inbox reads
escalation requests and refusals by time. (Kept here, beside the queries that use them, so that the
owning apps' models do not carry dashboard concerns; plain SQL that PostgreSQL and SQLite both accept.)"""

from django.db import migrations

INDEXES = [
    ("dash_contact_started_idx", "collections_app_contactattempt", "(started_at)", ""),
    (
        "dash_event_kind_time_idx",
        "collections_app_caseevent",
        "(kind, created_at)",
        "WHERE kind IN ('policy_refused', 'policy_override', 'note', 'escalation_requested')",
    ),
    ("dash_payment_paid_idx", "collections_app_payment", "(paid_at)", ""),
    ("dash_promise_due_idx", "collections_app_promisetopay", "(due_date)", ""),
    ("dash_promise_created_idx", "collections_app_promisetopay", "(created_at)", ""),
    ("dash_case_opened_idx", "collections_app_case", "(opened_at)", ""),
    ("dash_case_closed_idx", "collections_app_case", "(closed_at)", "WHERE closed_at IS NOT NULL"),
    (
        "dash_case_lease_idx",
        "collections_app_case",
        "(lease_expires_at)",
        "WHERE lease_owner_id IS NOT NULL",
    ),
    ("dash_plan_activated_idx", "repayment_plans_repaymentplan", "(activated_at)", ""),
    ("dash_plan_ended_idx", "repayment_plans_repaymentplan", "(ended_at)", "WHERE ended_at IS NOT NULL"),
    ("dash_referral_time_idx", "legal_legalreferral", "(referred_at)", ""),
]


class Migration(migrations.Migration):
    dependencies = [
        ("dashboards", "0001_initial"),
        ("collections_app", "0001_initial"),
        ("repayment_plans", "0001_initial"),
        ("legal", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(
            sql=f"CREATE INDEX IF NOT EXISTS {name} ON {table} {columns} {where}".strip(),
            reverse_sql=f"DROP INDEX IF EXISTS {name}",
        )
        for name, table, columns, where in INDEXES
    ]
