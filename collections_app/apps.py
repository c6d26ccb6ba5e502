from django.apps import AppConfig
from django.db import DEFAULT_DB_ALIAS
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CollectionsAppConfig(AppConfig):
    name = "collections_app"
    verbose_name = _("Collections")

    def ready(self) -> None:
        from django.db import transaction

        from collections_app import tasks
        from contact_policy.models import on_profiles_changed
        from core import chains

        # One hash chain per case (migration 0005_event_chain installs it); verify_chains walks it.
        chains.register("collections_app.CaseEvent", chain_by="case")
        # The access records: one chain over them all (migration 0009_access_record_chain).
        chains.register("collections_app.AccessRecord", chain_by=None)

        def recompute(codes: list[str]) -> None:
            # After commit, in the background and in chunks: a profile may govern millions of cases.
            transaction.on_commit(lambda: tasks.contactability_recompute_profiles.delay(codes))

        on_profiles_changed(recompute)
        post_migrate.connect(compute_contactability_after_migrate, sender=self)


def compute_contactability_after_migrate(*, using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
    """After `migrate`: the open cases whose contactability was never computed (all of them, the first
    time the stored columns exist) are computed at once, set-based, so Next case has work without waiting
    for the first roll on beat's schedule."""
    from collections_app.services.contactability import contactability_roll  # the app registry is ready

    if using == DEFAULT_DB_ALIAS:
        contactability_roll()
