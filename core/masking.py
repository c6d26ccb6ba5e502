"""Personal data is masked everywhere by default; revealing a field is a logged action
(services.pii_reveal). Nothing unmasked goes into logs."""


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
}
