"""Personal data is masked everywhere by default; revealing a field is a logged action
(services.pii_reveal). Nothing unmasked goes into logs."""

import hashlib
import hmac
import re

from django.conf import settings


def mask_phone(value: str) -> str:
    """'13812345678' -> '138****5678', '+8613812345678' -> '+86138****5678': the carrier or area prefix
    and the last four digits stay visible, which is what agents use to tell numbers apart."""
    digits = [i for i, ch in enumerate(value) if ch.isdigit()]
    if len(digits) <= 7:
        return "*" * len(value)
    keep = 5 if value.startswith("+86") else 4 if value.startswith("+1") else 3
    return value[: digits[keep - 1] + 1] + "****" + value[digits[-4] :]


def mask_national_id(value: str) -> str:
    """'110101199003071234' -> '110***********1234'."""
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def card_last4(value: str) -> str:
    """The last four digits of a card number ("" without a number): kept in clear beside the encrypted
    number, as a printed statement shows them."""
    digits = re.sub(r"\D", "", value or "")
    return digits[-4:] if len(digits) >= 4 else ""


def mask_card_number(value: str) -> str:
    """'6222 0212 3456 7890' (or only its last four, '7890') -> '**** **** **** 7890'."""
    last4 = card_last4(value)
    return f"**** **** **** {last4}" if last4 else ("****" if value else "")


def mask_email(value: str) -> str:
    """'wang.wei@example.com' -> 'w***@example.com'."""
    local, _, domain = value.partition("@")
    if not domain:
        return "***"
    return (local[:1] or "") + "***@" + domain


def mask_address(value: str) -> str:
    """Keeps the first few characters (city / district), hides the rest."""
    value = value.strip()
    if not value:
        return ""
    keep = 6 if any("\u4e00" <= ch <= "\u9fff" for ch in value) else 10
    return value[:keep] + " ****"


def mask_contact_value(kind: str, value: str) -> str:
    return mask_email(value) if kind == "email" else mask_phone(value)


MASKERS = {
    "national_id": mask_national_id,
    "email": mask_email,
    "address": mask_address,
    "phone": mask_phone,
    "card_number": mask_card_number,
}


# Free text (a provider's error, a gateway's answer, a note) may carry an address or a number. The
# patterns are deliberately generous: masking a reference that only looks like a number costs nothing,
# letting a real one through is a leak.
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# An 18-character Chinese resident ID (17 digits and a digit or X check character).
_NATIONAL_ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
# A Chinese mobile number, with or without +86 / 0086 / 86 and the usual separators.
_CN_PHONE = re.compile(r"(?<![\d+])(?:(?:\+|00)?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)")
# A North American number: +1 and ten digits, or ten digits written (555) 123-4567 / 555-123-4567.
_US_PHONE = re.compile(
    r"(?<![\d+])(?:(?:\+|00)1[ .-]?)?\(?[2-9]\d{2}\)?[ .-]?\d{3}[ .-]?\d{4}(?!\d)"
    r"|(?<![\d+])\+1\d{10}(?!\d)"
)

# A card number: 13 to 19 digits, maybe in groups, starting as the networks' numbers do (3 American
# Express, JCB; 4 Visa; 5 Mastercard; 6 UnionPay, Discover), that pass the Luhn check digit (which keeps
# most references, timestamps and amounts out).
_CARD = re.compile(r"(?<![0-9A-Za-z*])[3-6](?:[ -]?\d){12,18}(?![0-9A-Za-z*])")


def luhn_valid(digits: str) -> bool:
    """The check digit of a card number (ISO/IEC 7812)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return bool(digits) and total % 10 == 0


def _mask_card_match(match: re.Match) -> str:
    digits = re.sub(r"\D", "", match.group())
    return mask_card_number(digits) if luhn_valid(digits) else match.group()


def redact(text: str) -> str:
    """Mask every e-mail address, Chinese or North American phone number and 18-digit Chinese national
    ID or card number found in free text: '550 <wang.wei@example.com> unknown' -> '550 <w***@example.com>
    unknown'.
    Use it on anything written by someone else (a provider's answer) before it is stored or logged."""
    if not text:
        return text
    text = _EMAIL.sub(lambda m: mask_email(m.group()), text)
    text = _NATIONAL_ID.sub(lambda m: mask_national_id(m.group()), text)
    text = _CN_PHONE.sub(lambda m: mask_phone(m.group()), text)
    text = _US_PHONE.sub(lambda m: mask_phone(m.group()), text)
    return _CARD.sub(_mask_card_match, text)


def pii_normal(value: str) -> str:
    """The form a national ID, number or address is hashed in: no spaces, dashes, dots between digits or
    brackets, upper case ('110101 19900307 123x' and '110101199003071234X' are the same person;
    e-mail addresses are upper-cased too, which only makes the match case-insensitive)."""
    return re.sub(r"[\s()\-]", "", value or "").upper()


def pii_hash(value: str) -> str:
    """HMAC-SHA256 of the normal form under settings.PII_HASH_KEY, hex; "" for an empty value. Stored
    beside a national ID or a contact value so that the admin can find a person by it through a POST,
    without the value ever being in a URL, a log line or a query string."""
    normal = pii_normal(value)
    if not normal:
        return ""
    return hmac.new(settings.PII_HASH_KEY.encode(), normal.encode(), hashlib.sha256).hexdigest()


def mask_name(value: str) -> str:
    """'王小明' -> '王**', 'Emily Carter' -> 'E*** C***': enough to tell rows apart, not to name anyone."""
    value = (value or "").strip()
    if not value:
        return ""
    if any("\u4e00" <= ch <= "\u9fff" for ch in value):
        return value[0] + "*" * (len(value) - 1 if len(value) > 1 else 1)
    return " ".join(part[0] + "***" for part in value.split())
