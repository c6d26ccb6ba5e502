"""Choosing the call script for a conversation, and filling in its names.

`script_for(jurisdiction, language, stage)` is the one place that decides which script an agent reads: the
case's script fragment and the contact service (which flags a right-party conversation missing a required
statement) both ask here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from contact_policy import engine as policy
from contact_policy.models import ANY_STAGE, SCRIPT_LANGUAGES, CallScript, CallStatement

# Where a country's cardholders find a script when their own country has none: the UK's (the profile code
# the bank uses is "UK"; ISO's "GB" is read as it), the EU's generic script for any member state.
COUNTRY_ALIASES = {"GB": "UK"}
EU_COUNTRIES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
    ]
)
EU = "EU"
SCRIPT_LANGUAGE_CODES = tuple(code for code, _label in SCRIPT_LANGUAGES)


def script_jurisdictions(jurisdiction: str) -> tuple[str, ...]:
    """The script jurisdictions that may serve a cardholder's jurisdiction code, most specific first:
    "US-MA" gives ("US-MA", "US"); "FR" gives ("FR", "EU"); "GB" gives ("GB", "UK")."""
    codes = list(policy.profile_codes(jurisdiction or ""))
    country = policy.country_of(jurisdiction or "")
    if country in COUNTRY_ALIASES:
        codes.append(COUNTRY_ALIASES[country])
    if country in EU_COUNTRIES:
        codes.append(EU)
    return tuple(dict.fromkeys(code for code in codes if code))


def script_language(language: str) -> str:
    """A cardholder's language as a script language: "zh", "zh-CN", "zh-Hans" are "zh-hans"; "en-GB"
    is "en"; anything else is returned lower-cased (and matches no script)."""
    code = (language or "").strip().lower().replace("_", "-")
    if code.startswith("zh"):
        return "zh-hans"
    if code.startswith("en"):
        return "en"
    return code


def script_for(jurisdiction: str, language: str, stage: str) -> CallScript | None:
    """The active script for a conversation, with its statements loaded (`script.statements.all()` costs
    no query): two queries, whatever the number of scripts.

    The most specific wins: first the jurisdiction (its own profile before its country's, a country's
    before the EU's), then the cardholder's language (a script in another language is better than none:
    the legal statements are the jurisdiction's), then the stage (the bucket's own before "any")."""
    codes = script_jurisdictions(jurisdiction)
    if not codes:
        return None
    wanted = script_language(language)
    candidates = list(
        CallScript.objects.filter(active=True, jurisdiction__in=codes, stage__in=[stage, ANY_STAGE])
        .prefetch_related("statements")
        .order_by("pk")
    )
    if not candidates:
        return None
    return min(
        candidates,
        key=lambda s: (codes.index(s.jurisdiction), s.language != wanted, s.stage == ANY_STAGE),
    )


_PLACEHOLDER = re.compile(r"\{(agent_name|cardholder_name)\}")


def fill(text: str, **values: str) -> str:
    """`text` with {agent_name} and {cardholder_name} replaced; any other brace is left as written."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1)) or m.group(0), text or "")


@dataclass(frozen=True)
class Disclosures:
    """What a script asks for and what was given: `missing` are its required statements not ticked."""

    given: tuple[str, ...]
    missing: tuple[str, ...]
    unknown: tuple[str, ...]  # ticked codes the script does not have


def disclosures_check(script: CallScript, given: tuple[str, ...] | list[str]) -> Disclosures:
    """Compare the ticked statement codes with the script's statements (loaded with the script)."""
    statements: list[CallStatement] = list(script.statements.all())
    known = {s.code for s in statements}
    given = tuple(dict.fromkeys(given))
    return Disclosures(
        given=tuple(code for code in given if code in known),
        missing=tuple(s.code for s in statements if s.required and s.code not in given),
        unknown=tuple(code for code in given if code not in known),
    )
