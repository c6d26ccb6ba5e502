"""Encryption at rest of the values a leaked database copy must not give away (national IDs, card
numbers): Fernet tokens (AES-128-CBC with an HMAC-SHA256, from the `cryptography` package) under keys
that live in the environment, never in the database.

settings.PII_ENCRYPTION_KEYS lists the keys, newest first: the first encrypts, any of them decrypts
(MultiFernet). Rotating is: prepend a new key, run `manage.py rotate_pii_keys` (every token re-encrypted
with the newest key), then drop the old key. With no key set, a development key derived from SECRET_KEY
is used; core.checks refuses that with DEBUG off.

Nothing here ever puts a value or a token into an exception message or a log line: a token that no key
opens raises `UndecryptableValue`, which names the setting to check, not the data."""

from __future__ import annotations

import base64
import functools
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

# Every Fernet token starts with the version byte 0x80 and a 64-bit timestamp whose top bytes are zero
# for the next few thousand years: base64 "gAAAAA". No national ID or card number starts so.
TOKEN_PREFIX = "gAAAAA"  # noqa: S105 - the format's fixed start, not a secret


class UndecryptableValue(Exception):
    """A stored token that none of the configured keys opens: the wrong keys are configured (an old key
    dropped before `rotate_pii_keys` ran, another environment's keys). Carries no value and no token."""


class InvalidKeys(Exception):
    """PII_ENCRYPTION_KEYS holds something that is not a Fernet key (says which position, never the key)."""


def development_key(secret_key: str) -> str:
    """The key used when PII_ENCRYPTION_KEYS is empty: derived from SECRET_KEY, so a laptop or the test
    suite needs no setup. Only DEBUG accepts it (core.checks)."""
    digest = hashlib.sha256(f"pii-encryption:{secret_key}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


def configured_keys() -> tuple[str, ...]:
    """The keys in use, newest first."""
    keys = tuple(getattr(settings, "PII_ENCRYPTION_KEYS", None) or ())
    return keys or (development_key(settings.SECRET_KEY),)


@functools.lru_cache(maxsize=8)
def _multi_fernet(keys: tuple[str, ...]) -> MultiFernet:
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key))
        except (ValueError, TypeError):
            raise InvalidKeys(
                f"Key number {position} of PII_ENCRYPTION_KEYS is not a Fernet key (32 url-safe "
                "base64-encoded bytes; make one with `manage.py rotate_pii_keys --new-key`)."
            ) from None
    return MultiFernet(fernets)


def cipher() -> MultiFernet:
    return _multi_fernet(configured_keys())


def validate_keys(keys) -> None:
    """Raises InvalidKeys for a list that holds a value that is not a Fernet key."""
    _multi_fernet(tuple(keys))


def is_token(value: str) -> bool:
    return bool(value) and value.startswith(TOKEN_PREFIX)


def encrypt(value: str) -> str:
    """The token of `value` under the newest key; "" stays "" (an absent value is not a secret, and a
    blank column must stay findable as blank)."""
    if not value:
        return ""
    return cipher().encrypt(value.encode()).decode()


def decrypt(token: str, *, what: str = "value") -> str:
    """The clear text of a token; "" for "". `what` names the column in the error (never the value)."""
    if not token:
        return ""
    try:
        return cipher().decrypt(token.encode()).decode()
    except InvalidToken:
        raise UndecryptableValue(
            f"A stored {what} could not be decrypted with any key of PII_ENCRYPTION_KEYS: a key was dropped "
            "before `manage.py rotate_pii_keys` ran, or the keys are another environment's."
        ) from None


def rotate(token: str, *, what: str = "value") -> str:
    """The token re-encrypted under the newest key (MultiFernet.rotate: same clear text)."""
    if not token:
        return ""
    try:
        return cipher().rotate(token.encode()).decode()
    except InvalidToken:
        raise UndecryptableValue(
            f"A stored {what} could not be decrypted with any key of PII_ENCRYPTION_KEYS, so it cannot be "
            "re-encrypted: put the key it was written with back in the list and run the rotation again."
        ) from None


def new_key() -> str:
    return Fernet.generate_key().decode()
