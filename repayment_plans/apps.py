from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RepaymentPlansConfig(AppConfig):
    name = "repayment_plans"
    verbose_name = _("Repayment plans")

    def ready(self) -> None:
        # Imported here, not at the top: models are only ready now. The case kernel calls these inside its
        # own transaction, and the case page renders the panel; collections_app does not import this app
        # (the dependencies point one way: repayment_plans -> collections_app).
        from collections_app.panels import register_case_documents, register_case_panel
        from collections_app.services import kernel
        from repayment_plans.allocation import allocate_payment_to_plan
        from repayment_plans.services import plans_cancel_for_closed_case, plans_cancel_for_closed_cases
        from repayment_plans.views import case_plan_documents, case_plan_panel

        kernel.on_payment_recorded(allocate_payment_to_plan)
        kernel.on_case_closed(plans_cancel_for_closed_case)
        kernel.on_cases_closed(plans_cancel_for_closed_cases)
        register_case_panel(case_plan_panel)  # the plan panel of the case page
        register_case_documents(case_plan_documents)  # its agreements in the Documents tab
