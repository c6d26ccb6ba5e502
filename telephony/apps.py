from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TelephonyConfig(AppConfig):
    name = "telephony"
    verbose_name = _("Telephony")

    def ready(self) -> None:
        # Imported here, not at the top: models are only ready now. collections_app does not import this
        # app (the dependencies point one way: telephony -> collections_app); the case page shows the Call
        # button because it is registered here.
        from collections_app.panels import register_case_panel
        from telephony import checks  # noqa: F401 - registers the configuration checks
        from telephony.views import call_button_panel

        register_case_panel(call_button_panel, place="actions")
