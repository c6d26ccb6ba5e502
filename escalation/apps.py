from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EscalationConfig(AppConfig):
    name = "escalation"
    verbose_name = _("Escalation rules")

    def ready(self) -> None:
        # Models are loaded only now: escalation.services imports them.
        from collections_app.services.queues import PrioritySource, register_priority_source
        from escalation import services

        register_priority_source(
            PrioritySource(
                label=_("Escalation rule"),
                points_sql=services.rule_priority_points_sql,
                factors=services.rule_priority_factors,
                pinned_q=services.pinned_by_rule_q,
            )
        )
