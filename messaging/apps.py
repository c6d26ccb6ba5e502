from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = _("Messaging")

    def ready(self):
        from collections_app.panels import register_case_documents, register_case_panel
        from messaging import checks  # noqa: F401 - registers the delivery check
        from messaging.views import case_letter_documents, case_message_action

        register_case_panel(case_message_action, place="actions")  # "Send message" in the action bar
        register_case_documents(case_letter_documents)  # the letters in the Documents tab
