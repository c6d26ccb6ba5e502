"""What the API stores of its own: the answers to POSTs made with an `Idempotency-Key` header."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class IdempotencyKey(models.Model):
    """A client's key for one POST, and the answer it got (api.idempotency).

    The row is written (reserved) before the operation runs, in its own transaction, so that a second
    request with the same key that arrives while the first is still running is refused instead of
    running the operation twice. Only successful answers are kept: a refused request changed nothing,
    so retrying it with the same key runs it again. Keys are per user and expire after
    API_IDEMPOTENCY_KEY_HOURS (an expired key may be used again for anything)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(_("key"), max_length=255)
    # sha256 of method, path and the parsed body: the same key with another request is refused.
    fingerprint = models.CharField(_("request fingerprint"), max_length=64)
    method = models.CharField(_("method"), max_length=8)
    path = models.CharField(_("path"), max_length=500)
    response_status = models.PositiveSmallIntegerField(_("response status"), null=True, blank=True)
    response_body = models.JSONField(_("response body"), null=True, blank=True)
    response_etag = models.CharField(_("response ETag"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created"))
    # While the first request runs; a reservation whose holder died is taken over after this.
    locked_until = models.DateTimeField(_("locked until"), null=True, blank=True)

    class Meta:
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user")
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_idx")]

    def __str__(self) -> str:
        return f"{self.key} ({self.method} {self.path})"

    @property
    def completed(self) -> bool:
        return self.response_status is not None
