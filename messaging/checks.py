"""No pretend delivery: with DEBUG off, SMS and e-mail reminders must go to a provider that delivers.

The file (or console) provider only writes messages to the outbox; its messages are "written", never
"sent". In production that silently reaches nobody, so `check` (run by runserver, migrate and
`check --deploy`) and the WSGI application (config.wsgi) refuse to start, unless
COLLECTIONS_ALLOW_FILE_DELIVERY says it is intended (a demo). Letters are not judged: the outbox is how
they reach the print run."""

from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string

TAG = "collections_delivery"
_SETTINGS = ("COLLECTIONS_SMS_PROVIDER", "COLLECTIONS_EMAIL_PROVIDER")


def _delivers(name: str) -> bool:
    from messaging.services import PROVIDERS  # models are loaded by the time checks run

    try:
        cls = PROVIDERS.get(name or "file") or import_string(name)
    except ImportError:
        return True  # a wrong dotted path is reported by provider_for at the first send
    return getattr(cls, "delivers", True)


@checks.register(TAG)
def file_delivery_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    if settings.DEBUG or settings.COLLECTIONS_ALLOW_FILE_DELIVERY:
        return []
    return [
        checks.Error(
            f"{name}={getattr(settings, name) or 'file'!r} only writes messages to the outbox; nobody "
            "receives them, and DEBUG is off.",
            hint="Set a provider that delivers (http for SMS, smtp for e-mail), or set "
            "COLLECTIONS_ALLOW_FILE_DELIVERY=1 if writing to the outbox is intended.",
            id="messaging.E001",
        )
        for name in _SETTINGS
        if not _delivers(getattr(settings, name))
    ]
