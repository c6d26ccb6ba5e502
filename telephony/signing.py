"""Signed call events: how the PBX proves that an event on /telephony/events/ is its own, and recent.

The PBX sends two headers with each POST:
    X-Telephony-Timestamp: the time it signed, in whole seconds since the epoch (UTC)
    X-Telephony-Signature: hex HMAC-SHA256, keyed with TELEPHONY_CALLBACK_SECRET, of
                           "<timestamp>." followed by the raw request body
A signature that does not match, or a timestamp further than TELEPHONY_CALLBACK_MAX_AGE_SECONDS (5 minutes)
from our clock either way, is refused: a captured request cannot be replayed later, and a repeated event
within the window changes nothing (telephony.services.call_event is idempotent).
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Telephony-Timestamp"
SIGNATURE_HEADER = "X-Telephony-Signature"


class BadSignature(Exception):
    pass


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature the PBX sends for `body` signed at `timestamp` (a string of epoch seconds)."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(*, secret: str, timestamp: str, signature: str, body: bytes, now: float, max_age: int) -> None:
    """Raise BadSignature unless `signature` is `sign(secret, timestamp, body)` (compared in constant time)
    and `timestamp` is within `max_age` seconds of `now`."""
    if not secret:
        raise BadSignature("no callback secret is configured")
    try:
        signed_at = int(timestamp)
    except (TypeError, ValueError):
        raise BadSignature("bad timestamp") from None
    if not hmac.compare_digest(sign(secret, timestamp, body), (signature or "").strip().lower()):
        raise BadSignature("signature does not match")
    if abs(now - signed_at) > max_age:
        raise BadSignature("stale timestamp")
