from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class HistoryConfig(AppConfig):
    name = "history"
    verbose_name = _("History of changes")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from collections_app.panels import register_case_tab
        from history import context, jobs, trigger_functions
        from history.admin import add_history_of_changes

        register_case_tab("changes", _("Changes"), "history:case_changes")  # the case page's Changes tab
        add_history_of_changes()  # the admin's History page of each tracked model
        jobs.connect()  # Celery tasks: source=job, the task's name and id
        context.start_if_command()  # manage.py commands and the shell: source=shell (job: the nightly)
        # After pgtrigger (re)installs the triggers at each migrate: their helpers without exception blocks.
        post_migrate.connect(trigger_functions.on_migrate, sender=self)
