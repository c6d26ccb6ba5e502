from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuthorityConfig(AppConfig):
    name = "authority"
    verbose_name = _("Authority and approvals")

    def ready(self) -> None:
        # The kernel asks this app, through its extension point, whether a write-off was approved; the
        # case page shows "Request write-off" in its action bar. collections_app does not import this app.
        from authority.services import (
            requests_cancel_for_closed_case,
            requests_cancel_for_closed_cases,
            write_off_authorise,
        )
        from authority.views import case_request_action
        from collections_app.panels import register_case_panel
        from collections_app.services import kernel

        kernel.register_write_off_authoriser(write_off_authorise)
        kernel.on_case_closed(requests_cancel_for_closed_case)  # a closed case's pending requests lapse
        kernel.on_cases_closed(requests_cancel_for_closed_cases)
        register_case_panel(case_request_action, place="actions")
