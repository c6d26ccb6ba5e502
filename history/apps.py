from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HistoryConfig(AppConfig):
    name = "history"
    verbose_name = _("History of changes")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from collections_app.panels import register_case_tab
        from history import context, jobs
        from history.admin import add_history_of_changes

        register_case_tab("changes", _("Changes"), "history:case_changes")  # the case page's Changes tab
        add_history_of_changes()  # the admin's History page of each tracked model
        jobs.connect()  # Celery tasks: source=job, the task's name and id
        context.start_if_command()  # manage.py commands and the shell: source=shell (job: the nightly)
