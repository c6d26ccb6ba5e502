"""Domain errors raised by services. One handler maps them to HTTP answers for the API
(`code` -> status) and to form errors for pages. Each carries a human message and details."""

from datetime import datetime


class DomainError(Exception):
    code = "domain_error"
    http_status = 400

    def __init__(self, message: str, *, rule: str = "", details: dict | None = None):
        super().__init__(str(message))
        self.message = str(message)
        self.rule = rule or self.code
        self.details = details or {}

    def as_dict(self) -> dict:
        return {"code": self.code, "rule": self.rule, "message": self.message, "details": self.details}


class NotAllowed(DomainError):
    """The actor's role or team may not do this."""

    code = "not_allowed"
    http_status = 403


class InvalidTransition(DomainError):
    """The case (or plan) is not in a state that allows this."""

    code = "invalid_transition"
    http_status = 409


class ConcurrentUpdate(DomainError):
    """Someone else changed the object first (stale version, or a lost race)."""

    code = "concurrent_update"
    http_status = 409


class ValidationFailed(DomainError):
    """The input breaks a business rule (amount, date, required field)."""

    code = "validation_failed"
    http_status = 422

    def __init__(self, message: str, *, field: str = "", rule: str = "", details: dict | None = None):
        super().__init__(message, rule=rule, details=details)
        self.field = field

    def as_dict(self) -> dict:
        return {**super().as_dict(), "field": self.field}


class ContactNotAllowed(DomainError):
    """The contact policy refuses this contact now; `allowed_from` says when it would be allowed."""

    code = "contact_not_allowed"
    http_status = 422

    def __init__(
        self, message: str, *, rule: str, allowed_from: datetime | None = None, details: dict | None = None
    ):
        super().__init__(message, rule=rule, details=details)
        self.allowed_from = allowed_from

    def as_dict(self) -> dict:
        return {
            **super().as_dict(),
            "allowed_from": self.allowed_from.isoformat() if self.allowed_from else None,
        }
