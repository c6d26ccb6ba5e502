from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AutomationConfig(AppConfig):
    name = "automation"
    verbose_name = _("Automation")

    def ready(self) -> None:
        # A message an agent sends from the case is queued for the `messages` workers at once (after
        # commit), not left for the every-minute dispatcher; messaging does not import this app.
        from automation.tasks import message_send
        from messaging.services import register_message_sender

        register_message_sender(message_send.delay)
