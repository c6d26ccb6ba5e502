from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LegalConfig(AppConfig):
    name = "legal"
    verbose_name = _("Legal review")

    def ready(self) -> None:
        # Models are loaded only now: legal.services imports them.
        from collections_app.panels import register_case_documents
        from legal.services import register_transitions
        from legal.views import case_legal_documents

        register_transitions()
        register_case_documents(case_legal_documents)  # the package in the case's Documents tab
