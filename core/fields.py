"""Model fields of our own."""

from django import forms
from django.core.exceptions import FieldError
from django.db import models
from django.db.models.lookups import Exact
from django.utils.translation import gettext_lazy as _

from core import crypto


class _IsEmpty(Exact):
    """`field=""`: an empty value is stored empty (core.crypto), so emptiness is the one comparison that
    can match - the purge asks which rows still hold something. Any other value is refused."""

    def get_prep_lookup(self):
        if self.rhs != "":
            raise FieldError(
                f"{self.lhs.target.model._meta.label}.{self.lhs.target.name} is encrypted: only an "
                "empty value can be compared. Filter on its keyed hash instead (core.masking.pii_hash)."
            )
        return ""


class Decrypted(str):
    """A clear text as read from an encrypted column, with the token it was read from. Written back as it
    is, it keeps that token: saving a row whose value did not change leaves its column as it was (a fresh
    token at every save would be a change, recorded as such by the history of changes). Any other value,
    an edit included, is a plain str and is encrypted afresh."""

    token: str = ""

    @classmethod
    def read(cls, token: str, clear: str) -> "Decrypted":
        value = cls(clear)
        value.token = token
        return value


class EncryptedTextField(models.TextField):
    """A text whose database column holds a Fernet token (core.crypto) and whose Python value is the clear
    text: a copy of the database, a backup or a replica gives away nothing without the keys.

    Every write path encrypts (save, bulk_create, bulk_update, update: Django prepares the value through
    get_prep_value); reads decrypt. The token differs at every write (Fernet adds a time and a random
    IV), so the column cannot be compared or searched: lookups are refused, but for emptiness (`=""`).
    Store a keyed hash beside it (core.masking.pii_hash) and search by that. `max_length` is the clear
    text's, checked by forms and full_clean; the column itself is unbounded text."""

    description = _("Encrypted text")

    def from_db_value(self, value, expression, connection):
        if value is None:
            return value
        return Decrypted.read(value, crypto.decrypt(value, what=self._what()))

    def pre_save(self, model_instance, add):
        # Encrypted once per new value, and the instance keeps the token it was saved with: its next save
        # (of another field) leaves this column as it is.
        value = super().pre_save(model_instance, add)
        if not value or (isinstance(value, Decrypted) and value.token):
            return value
        sealed = Decrypted.read(crypto.encrypt(value), value)
        setattr(model_instance, self.attname, sealed)
        return sealed

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None:
            return None
        if isinstance(value, Decrypted) and value.token:
            return value.token  # as read: the column keeps its token
        return crypto.encrypt(value)

    def formfield(self, **kwargs):
        # One line, as the clear text is (a TextField's default is a text area).
        return super().formfield(**{"widget": forms.TextInput, **kwargs})

    def get_lookup(self, lookup_name):
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        if lookup_name == "exact":
            return _IsEmpty
        found = super().get_lookup(lookup_name)
        if found is not None and found.__module__.startswith("pgtrigger."):
            # The history's triggers compare a row's old and new token ("is distinct from"): any write
            # changes the token, so the history records it, as a change of the encrypted value.
            return found
        raise FieldError(
            f"{self._what()} is encrypted: a lookup ({lookup_name}) on it cannot match. Filter on its "
            "keyed hash instead (core.masking.pii_hash)."
        )

    def get_transform(self, lookup_name):
        return None

    def _what(self) -> str:
        model = getattr(self, "model", None)
        return f"{model._meta.label}.{self.name}" if model is not None else (self.name or "value")
