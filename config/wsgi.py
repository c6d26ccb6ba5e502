import os

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# gunicorn runs no system checks: the ones that say the app must not serve at all (messaging.checks: with
# DEBUG off, reminders that would only be written to the outbox; core.checks: no encryption keys) are run
# here, so it refuses to start.
_refusals = [m for m in checks.run_checks(tags=["collections_delivery"]) if m.is_serious()]
if _refusals:
    raise ImproperlyConfigured("; ".join(f"{m.id}: {m.msg} {m.hint or ''}".strip() for m in _refusals))
