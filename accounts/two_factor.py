"""The second factor (django-otp): an authenticator app (TOTP) and ten one-time recovery codes.

Asked of the roles in settings.TWO_FACTOR_ROLES whenever settings.COLLECTIONS_REQUIRE_2FA is on (the
default with DEBUG off; README "Second factor"). The password step is unchanged; afterwards such a user
reaches only the second-factor pages and logout (accounts.middleware.TwoFactorMiddleware) until this
session is verified: django_otp's OTPMiddleware then finds the device in the session and
`user.is_verified()` is true. The API's token endpoint asks for the same code (api.views.auth).

A wrong code counts as a failed sign-in towards the lockout (accounts.lockout), like a wrong password;
django-otp also slows down guessing on each device by itself (a wait that doubles after each wrong
code, reset by a right one). An admin resets a user's devices with an action in the user admin."""

from __future__ import annotations

import base64
import logging
import re
from dataclasses import dataclass

import django_otp
import qrcode
import qrcode.image.svg
from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.signals import user_login_failed
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.lockout import is_locked_out
from accounts.models import User

log = logging.getLogger(__name__)

RECOVERY_CODE_COUNT = 10
AUTHENTICATOR_NAME = "authenticator"
RECOVERY_CODES_NAME = "recovery codes"
_TOTP_CODE = re.compile(r"\d{6}")


def two_factor_required(user) -> bool:
    """Whether this user must give a second factor (the setting is on and their role is listed)."""
    return bool(
        settings.COLLECTIONS_REQUIRE_2FA
        and getattr(user, "is_authenticated", False)
        and user.role in settings.TWO_FACTOR_ROLES
    )


def authenticator_of(user: User) -> TOTPDevice | None:
    """The user's confirmed authenticator, if they have set one up."""
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).order_by("pk").first()


def enrolment_device(user: User) -> TOTPDevice:
    """The authenticator being set up: the same unconfirmed device (and secret) on every visit to the
    set-up page until a first code confirms it."""
    device = TOTPDevice.objects.devices_for_user(user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_NAME, confirmed=False)
    return device


def secret_of(device: TOTPDevice) -> str:
    """The secret in base32, in groups of four, for typing into an app that cannot scan the QR code."""
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def qr_code_data_uri(device: TOTPDevice) -> str:
    """The device's otpauth:// address as an SVG QR code in a data: URI (the CSP allows data: images,
    no inline SVG style). Issuer: settings.OTP_TOTP_ISSUER."""
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    return "data:image/svg+xml;base64," + base64.b64encode(image.to_string()).decode()


def recovery_codes_left(user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def _normalized(code: str) -> str:
    return re.sub(r"[\s-]", "", code or "").lower()


@dataclass(frozen=True)
class CodeCheck:
    """What became of a code: `device` accepted it; `throttled` means django-otp refused to check it
    (too soon after a wrong one: `wait_seconds`), which does not count as a failure."""

    device: Device | None = None
    throttled: bool = False
    wait_seconds: int = 0

    @property
    def accepted(self) -> bool:
        return self.device is not None

    @property
    def recovery_code(self) -> bool:
        return isinstance(self.device, StaticDevice)


def _wait_seconds(device: Device) -> int:
    allowed, data = device.verify_is_allowed()
    if allowed or not data or "locked_until" not in data:
        return 0
    return max(1, int((data["locked_until"] - timezone.now()).total_seconds()) + 1)


def second_factor_check(*, user: User, code: str) -> CodeCheck:
    """Checks a 6-digit code against the user's authenticator, anything else against their recovery
    codes (a used recovery code is deleted). The device row is locked while it is checked, so one code
    cannot be accepted twice by two requests at once (django_otp.verify_token). Records nothing else:
    the caller counts a failure (second_factor_failed) and marks the session (second_factor_passed)."""
    code = _normalized(code)
    if not code:
        return CodeCheck()
    if _TOTP_CODE.fullmatch(code):
        device = authenticator_of(user)
    else:
        device = StaticDevice.objects.devices_for_user(user, confirmed=True).order_by("pk").first()
    if device is None:
        return CodeCheck()
    wait = _wait_seconds(device)
    if wait:
        return CodeCheck(throttled=True, wait_seconds=wait)
    return CodeCheck(device=django_otp.verify_token(user, device.persistent_id, code))


def second_factor_failed(*, request: HttpRequest, user: User) -> bool:
    """Counts a wrong code as a failed sign-in of this username from this address (django-axes, through
    Django's user_login_failed signal, as a wrong password is counted); returns whether the client is
    now locked out."""
    user_login_failed.send(sender=__name__, credentials={"username": user.get_username()}, request=request)
    return is_locked_out(request)


def sign_in_allowed(*, request: HttpRequest, user: User) -> bool:
    """False while this username or address is locked out (a lockout earned elsewhere, e.g. wrong
    passwords at the API, also stops the code step)."""
    return AxesProxyHandler.is_allowed(request, {"username": user.get_username()})


def second_factor_passed(*, request: HttpRequest, device: Device) -> None:
    """Marks this session as verified by `device` (django_otp.login), under a new session key: the
    session now carries more rights than the one a password alone opened."""
    request.session.cycle_key()
    django_otp.login(request, device)
    # The sign-in is complete only now: the failures counted on this username (passwords and codes) end.
    AxesProxyHandler.reset_attempts(username=request.user.get_username())


def second_factor_enrol(*, request: HttpRequest, device: TOTPDevice, code: str) -> list[str] | None:
    """Confirms the authenticator being set up with a first code from it; returns ten new recovery codes
    (shown once; any older ones are deleted), or None if the code is wrong. The session is verified."""
    user = request.user
    with transaction.atomic():
        locked = TOTPDevice.objects.select_for_update().filter(pk=device.pk, confirmed=False).first()
        if locked is None or not _TOTP_CODE.fullmatch(_normalized(code)):
            return None
        if not locked.verify_token(_normalized(code)):
            return None
        locked.confirmed = True
        locked.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user).exclude(pk=locked.pk).delete()
        StaticDevice.objects.filter(user=user).delete()
        recovery = StaticDevice.objects.create(user=user, name=RECOVERY_CODES_NAME, confirmed=True)
        codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
        StaticToken.objects.bulk_create(StaticToken(device=recovery, token=token) for token in codes)
    second_factor_passed(request=request, device=locked)
    log.info("second factor set up by user %s", user.pk)
    return codes


def second_factor_reset(*, user: User, actor: User | None) -> int:
    """Deletes the user's authenticator and recovery codes; returns how many devices went. Their next
    page asks them to set up a new authenticator (a session verified by a deleted device is no longer
    verified: OTPMiddleware finds no device). Recorded in the admin's history of the user (LogEntry,
    shown on the user's History page) when an actor is known, and in the log."""
    with transaction.atomic():
        devices = [*TOTPDevice.objects.filter(user=user), *StaticDevice.objects.filter(user=user)]
        message = [
            {"deleted": {"name": str(device._meta.verbose_name), "object": str(device)}} for device in devices
        ]
        for device in devices:
            device.delete()
        if actor is not None and devices:
            LogEntry.objects.log_actions(
                user_id=actor.pk,
                queryset=[user],
                action_flag=CHANGE,
                change_message=message,
                single_object=True,
            )
    log.info(
        "second factor reset for user %s by %s: %s devices deleted",
        user.pk,
        actor.pk if actor else "the system",
        len(devices),
    )
    return len(devices)
