"""No pretend delivery: with DEBUG off the app refuses to start (`check`, `check --deploy`, runserver,
migrate, and the WSGI application gunicorn serves) while SMS or e-mail reminders would only be written
to the outbox, unless COLLECTIONS_ALLOW_FILE_DELIVERY says that is intended. Letters are not judged:
the outbox is how they reach the print run."""

import os
import secrets
import subprocess
import sys

import pytest
from django.core import checks

from tests.config.test_settings import ROOT, new_key, run_django

PRODUCTION = {"DJANGO_DEBUG": "0", "DJANGO_ALLOWED_HOSTS": "collections.example.internal"}


def delivery_errors() -> list[str]:
    return [m.id for m in checks.run_checks(tags=["collections_delivery"]) if m.is_serious()]


def production(**extra: str) -> dict[str, str]:
    # run_django keeps COLLECTIONS_* from the test process; none is set by the test runner.
    return (
        PRODUCTION
        | {"DJANGO_SECRET_KEY": secrets.token_urlsafe(50), "PII_ENCRYPTION_KEYS": new_key()}
        | extra
    )


@pytest.mark.parametrize(
    ("sms", "email", "errors"),
    [
        ("file", "file", ["messaging.E001", "messaging.E001"]),
        ("console", "smtp", ["messaging.E001"]),
        ("http", "file", ["messaging.E001"]),
        ("http", "smtp", []),
    ],
)
def test_with_debug_off_a_file_provider_for_sms_or_email_is_an_error(settings, sms, email, errors):
    settings.DEBUG = False
    settings.COLLECTIONS_ALLOW_FILE_DELIVERY = False
    settings.COLLECTIONS_SMS_PROVIDER, settings.COLLECTIONS_EMAIL_PROVIDER = sms, email
    settings.COLLECTIONS_LETTER_PROVIDER = "file"  # the print run: never judged
    assert delivery_errors() == errors


def test_the_setting_or_debug_allows_the_outbox(settings):
    settings.COLLECTIONS_SMS_PROVIDER = settings.COLLECTIONS_EMAIL_PROVIDER = "file"
    settings.DEBUG, settings.COLLECTIONS_ALLOW_FILE_DELIVERY = False, True
    assert delivery_errors() == []
    settings.DEBUG, settings.COLLECTIONS_ALLOW_FILE_DELIVERY = True, False
    assert delivery_errors() == []


def test_a_provider_of_our_own_that_only_writes_is_judged_by_what_it_says(settings):
    settings.DEBUG, settings.COLLECTIONS_ALLOW_FILE_DELIVERY = False, False
    settings.COLLECTIONS_SMS_PROVIDER = "messaging.services.FileProvider"  # a dotted path to the same
    settings.COLLECTIONS_EMAIL_PROVIDER = "smtp"
    assert delivery_errors() == ["messaging.E001"]


def test_check_deploy_refuses_the_default_providers_with_debug_off():
    result = run_django(production(), "check", "--deploy")
    assert result.returncode != 0
    assert "messaging.E001" in result.stderr and "COLLECTIONS_ALLOW_FILE_DELIVERY" in result.stderr


def test_check_deploy_passes_when_writing_to_the_outbox_is_intended():
    result = run_django(production(COLLECTIONS_ALLOW_FILE_DELIVERY="1"), "check", "--deploy")
    assert result.returncode == 0, result.stderr
    assert "messaging.E001" not in result.stdout + result.stderr


def test_the_wsgi_application_refuses_to_load():
    """What gunicorn imports (it runs no system checks of its own)."""
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))
    }

    def load(env: dict[str, str]) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", "import config.wsgi"],
            cwd=ROOT,
            env=clean | env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    refused = load(production())
    assert refused.returncode != 0
    assert "ImproperlyConfigured: messaging.E001" in refused.stderr
    allowed = load(production(COLLECTIONS_ALLOW_FILE_DELIVERY="1"))
    assert allowed.returncode == 0, allowed.stderr
