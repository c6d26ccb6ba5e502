from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LegalConfig(AppConfig):
    name = "legal"
    verbose_name = _("Legal review")

    def ready(self) -> None:
        # Models are loaded only now: legal.services imports them.
        from collections_app.panels import register_case_documents
        from collections_app.services import kernel
        from legal.services import referral_decide_written_off, register_transitions
        from legal.views import case_legal_documents

        register_transitions()
        kernel.on_case_closed(referral_decide_written_off)  # an approved write-off decides the referral
        register_case_documents(case_legal_documents)  # the package in the case's Documents tab
