"""The phone system's settings, checked at start-up: with the pbx dialer, call events must be signed.

Registered under the "collections_delivery" tag too, which the WSGI application (config.wsgi) runs before
it serves: an unsigned events endpoint would let anyone mark calls answered and log attempts."""

from django.conf import settings
from django.core import checks

from telephony.dialers import DIALERS


@checks.register("telephony", "collections_delivery")
def telephony_settings_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    name = settings.TELEPHONY_DIALER or "link"
    if name not in DIALERS:
        return [
            checks.Error(
                f"TELEPHONY_DIALER={name!r} is not a dialer.",
                hint=f"Set it to one of {', '.join(sorted(DIALERS))}.",
                id="telephony.E001",
            )
        ]
    errors = []
    if settings.TELEPHONY_LINK_SCHEME not in ("tel", "sip"):
        errors.append(
            checks.Error(
                f"TELEPHONY_LINK_SCHEME={settings.TELEPHONY_LINK_SCHEME!r} is neither tel nor sip.",
                id="telephony.E004",
            )
        )
    if name != "pbx":
        return errors
    if not settings.TELEPHONY_CALLBACK_SECRET.strip():
        errors.append(
            checks.Error(
                "TELEPHONY_DIALER=pbx but TELEPHONY_CALLBACK_SECRET is empty: call events could not be "
                "verified.",
                hint="Set TELEPHONY_CALLBACK_SECRET to a long random value shared with the phone system.",
                id="telephony.E002",
            )
        )
    if not settings.TELEPHONY_PBX_URL.startswith(("http://", "https://")) or not (
        settings.TELEPHONY_CALLBACK_URL.startswith(("http://", "https://"))
    ):
        errors.append(
            checks.Error(
                "TELEPHONY_DIALER=pbx needs TELEPHONY_PBX_URL (the click-to-call endpoint) and "
                "TELEPHONY_CALLBACK_URL (this site's /telephony/events/ as the phone system reaches it).",
                id="telephony.E003",
            )
        )
    return errors
