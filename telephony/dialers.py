"""Dialers: how a call allowed by the contact policy reaches the phone.

`dialer()` picks one by TELEPHONY_DIALER:
- "link" (default, `TelLinkDialer`): no phone system; the answer is a `tel:` URI (or `sip:` with
  TELEPHONY_LINK_SCHEME=sip) that the agent's browser hands to the softphone or desk phone. Nothing
  reports the call back: the agent logs how it went.
- "pbx" (`HttpPbxDialer`): POSTs the click-to-call request to TELEPHONY_PBX_URL; the PBX rings the agent's
  extension, then the cardholder, and reports the call (answered, ended) to TELEPHONY_CALLBACK_URL,
  signed (telephony.signing).

A dialer is an outside system behind this interface: tests use the real classes (the PBX one against a
loopback HTTP server). A number never goes to the log in the clear.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _

from core.masking import mask_phone, redact

if TYPE_CHECKING:
    from telephony.models import Call

logger = logging.getLogger(__name__)

_NOT_DIALABLE = re.compile(r"[^0-9+*#]")
_LONG_NUMBER = re.compile(r"\d{7,}")


@dataclass(frozen=True)
class DialResult:
    """What placing a call gave: `uri` for the browser to open (link dialer), `reference` the PBX's own
    ID of the call (PBX dialer)."""

    uri: str = ""
    reference: str = ""


class DialError(Exception):
    """The call could not be placed. `message` is for the agent (translated); `detail` for the log
    (never a number in the clear)."""

    def __init__(self, message: str, *, detail: str = ""):
        super().__init__(message)
        self.message = message
        self.detail = detail


class Dialer:
    kind: str = ""

    def place(self, call: Call) -> DialResult:
        raise NotImplementedError


def dialable(number: str) -> str:
    """The number as a phone dials it: digits, a leading +, * and #."""
    return _NOT_DIALABLE.sub("", number)


class TelLinkDialer(Dialer):
    """A `tel:` (RFC 3966) or `sip:` link the agent's browser opens."""

    kind = "link"

    def __init__(self, scheme: str | None = None, sip_domain: str | None = None):
        self.scheme = (scheme or settings.TELEPHONY_LINK_SCHEME or "tel").lower()
        if self.scheme not in ("tel", "sip"):
            raise ImproperlyConfigured(f"TELEPHONY_LINK_SCHEME must be tel or sip; got {self.scheme!r}")
        self.sip_domain = settings.TELEPHONY_SIP_DOMAIN if sip_domain is None else sip_domain

    def place(self, call: Call) -> DialResult:
        number = dialable(call.contact_point.value)
        if self.scheme == "sip":
            return DialResult(uri=f"sip:{number}@{self.sip_domain}" if self.sip_domain else f"sip:{number}")
        return DialResult(uri=f"tel:{number}")


class HttpPbxDialer(Dialer):
    """Click-to-call through the PBX's HTTP endpoint: POST JSON {"call_id", "from" (the agent's extension),
    "to" (the number), "callback_url"} to TELEPHONY_PBX_URL, with a bearer token when TELEPHONY_PBX_TOKEN is
    set, within TELEPHONY_PBX_TIMEOUT seconds. A 2xx answer means the PBX took the call (its "id", if any,
    is the reference); anything else, or no answer, is a DialError."""

    kind = "pbx"

    def __init__(
        self,
        url: str | None = None,
        *,
        token: str | None = None,
        callback_url: str | None = None,
        timeout: int | None = None,
    ):
        self.url = url or settings.TELEPHONY_PBX_URL
        if not self.url.startswith(("http://", "https://")):
            raise ImproperlyConfigured("TELEPHONY_PBX_URL must be an http(s) URL for the pbx dialer")
        self.token = settings.TELEPHONY_PBX_TOKEN if token is None else token
        self.callback_url = callback_url or settings.TELEPHONY_CALLBACK_URL
        self.timeout = timeout or settings.TELEPHONY_PBX_TIMEOUT

    def place(self, call: Call) -> DialResult:
        extension = getattr(getattr(call.agent, "phone_extension", None), "extension", "")
        if not extension:
            raise DialError(
                _("You have no phone extension: ask an administrator to set yours."), detail="no extension"
            )
        payload = {
            "call_id": str(call.call_id),
            "from": extension,
            "to": dialable(call.contact_point.value),
            "callback_url": self.callback_url,
        }
        headers = {"Content-Type": "application/json", "Idempotency-Key": str(call.call_id)}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            self.url, data=json.dumps(payload).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                answer = response.read(4096)
        except urllib.error.HTTPError as exc:
            # A PBX may echo the number back: it must not land in the log.
            text = redact(_LONG_NUMBER.sub("****", exc.read(300).decode("utf-8", "replace")))
            self._log_failure(call, f"PBX answered {exc.code}: {text}")
            raise DialError(
                _("The phone system refused the call (%(status)s).") % {"status": exc.code},
                detail=f"http {exc.code}",
            ) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            self._log_failure(call, redact(_LONG_NUMBER.sub("****", f"PBX unreachable: {exc}")))
            raise DialError(_("The phone system did not answer; try again."), detail="unreachable") from None
        try:
            data = json.loads(answer or b"{}")
        except ValueError:
            data = {}
        reference = data.get("id") if isinstance(data, dict) else None
        return DialResult(reference=str(reference or ""))

    def _log_failure(self, call: Call, text: str) -> None:
        logger.warning(
            "click-to-call %s to %s failed: %s", call.call_id, mask_phone(call.contact_point.value), text
        )


DIALERS: dict[str, type[Dialer]] = {"link": TelLinkDialer, "pbx": HttpPbxDialer}


def dialer() -> Dialer:
    """The configured dialer (TELEPHONY_DIALER: "link" or "pbx")."""
    name = settings.TELEPHONY_DIALER or "link"
    if name not in DIALERS:
        raise ImproperlyConfigured(f"TELEPHONY_DIALER must be one of {sorted(DIALERS)}; got {name!r}")
    return DIALERS[name]()
