from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LegalConfig(AppConfig):
    name = "legal"
    verbose_name = _("Legal review")

    def ready(self) -> None:
        # Models are loaded only now: legal.services imports them.
        from legal.services import register_transitions

        register_transitions()
