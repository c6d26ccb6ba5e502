"""Encryption at rest must have real keys: with DEBUG off the app refuses to start (`check`, migrate,
runserver, and the WSGI application, which runs the `collections_delivery` checks) while
PII_ENCRYPTION_KEYS is empty - the key derived from SECRET_KEY is for laptops - or holds a value that is
not a Fernet key. The messages never show a key."""

from django.conf import settings
from django.core import checks

from core import crypto

TAG = "collections_pii"


@checks.register(TAG, "collections_delivery")
def encryption_keys_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    keys = list(settings.PII_ENCRYPTION_KEYS or [])
    if keys:
        try:
            crypto.validate_keys(keys)
        except crypto.InvalidKeys as error:
            return [
                checks.Error(
                    str(error),
                    hint="Each key is what `manage.py rotate_pii_keys --new-key` prints.",
                    id="core.E001",
                )
            ]
        return []
    if settings.DEBUG:
        return []
    return [
        checks.Error(
            "PII_ENCRYPTION_KEYS is not set and DEBUG is off: national IDs and card numbers would be "
            "encrypted with a development key derived from SECRET_KEY.",
            hint="Set PII_ENCRYPTION_KEYS to a Fernet key (`manage.py rotate_pii_keys --new-key` makes "
            "one); see docs/operations.md, Encryption keys.",
            id="core.E002",
        )
    ]
