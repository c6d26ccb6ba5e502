"""Encryption at rest (core.crypto, core.fields.EncryptedTextField, core.checks, rotate_pii_keys):
the keys come from PII_ENCRYPTION_KEYS (newest first: the first encrypts, any decrypts), production
refuses to start without them, a rotation re-encrypts every stored token under the newest key so that the
old one can be dropped, and no error ever carries a value or a token."""

import io

import pytest
from cryptography.fernet import Fernet
from django.core import checks
from django.core.exceptions import FieldError
from django.core.management import call_command
from django.db import connection

from collections_app.models import Cardholder, CreditAccount
from core import crypto
from core.masking import mask_card_number, redact
from tests.config.test_no_pretend_delivery import production
from tests.config.test_settings import run_django
from tests.factories import AccountFactory, CardholderFactory

NATIONAL_ID = "110101199003071234"
CARD = "6221261234567897"  # a valid check digit
KEY_A, KEY_B, KEY_C = (Fernet.generate_key().decode() for _ in range(3))


def stored(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def encryption_errors() -> list[str]:
    return [m.id for m in checks.run_checks(tags=["collections_pii"]) if m.is_serious()]


def test_a_value_round_trips_and_each_token_differs(settings):
    settings.PII_ENCRYPTION_KEYS = [KEY_A]
    first, second = crypto.encrypt(NATIONAL_ID), crypto.encrypt(NATIONAL_ID)
    assert first != second and NATIONAL_ID not in first and crypto.is_token(first)
    assert crypto.decrypt(first) == crypto.decrypt(second) == NATIONAL_ID
    assert crypto.encrypt("") == "" and crypto.decrypt("") == ""


def test_the_first_key_encrypts_and_any_key_decrypts(settings):
    settings.PII_ENCRYPTION_KEYS = [KEY_A]
    old = crypto.encrypt(NATIONAL_ID)
    settings.PII_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    new = crypto.encrypt(NATIONAL_ID)
    assert crypto.decrypt(old) == crypto.decrypt(new) == NATIONAL_ID
    assert Fernet(KEY_B).decrypt(new.encode()).decode() == NATIONAL_ID  # written with the newest


def test_a_wrong_key_is_a_clear_error_without_the_value_or_the_token(settings):
    settings.PII_ENCRYPTION_KEYS = [KEY_A]
    token = crypto.encrypt(NATIONAL_ID)
    settings.PII_ENCRYPTION_KEYS = [KEY_C]
    with pytest.raises(crypto.UndecryptableValue) as caught:
        crypto.decrypt(token, what="national ID")
    message = str(caught.value)
    assert "PII_ENCRYPTION_KEYS" in message and "national ID" in message
    assert NATIONAL_ID not in message and token not in message and crypto.TOKEN_PREFIX not in message
    # Raised "from None": a traceback shows no InvalidToken with the token in its frames' arguments.
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


@pytest.mark.django_db
def test_a_row_stored_under_a_key_no_longer_configured_fails_clearly(settings):
    settings.PII_ENCRYPTION_KEYS = [KEY_A]
    holder = CardholderFactory(national_id=NATIONAL_ID)
    settings.PII_ENCRYPTION_KEYS = [KEY_C]
    with pytest.raises(crypto.UndecryptableValue) as caught:
        Cardholder.objects.get(pk=holder.pk)
    assert "collections_app.Cardholder.national_id" in str(caught.value)
    assert NATIONAL_ID not in str(caught.value)


def test_a_value_that_is_not_a_key_is_named_by_its_position_only(settings):
    settings.PII_ENCRYPTION_KEYS = [KEY_A, "not-a-fernet-key"]
    with pytest.raises(crypto.InvalidKeys) as caught:
        crypto.encrypt(NATIONAL_ID)
    assert "Key number 2" in str(caught.value) and "not-a-fernet-key" not in str(caught.value)


def test_without_keys_a_development_key_derived_from_the_secret_key_is_used(settings):
    settings.PII_ENCRYPTION_KEYS = []
    token = crypto.encrypt(NATIONAL_ID)
    assert Fernet(crypto.development_key(settings.SECRET_KEY)).decrypt(token.encode()).decode() == NATIONAL_ID


def test_production_without_keys_or_with_a_bad_key_is_refused(settings):
    settings.DEBUG, settings.PII_ENCRYPTION_KEYS = False, []
    assert encryption_errors() == ["core.E002"]
    settings.PII_ENCRYPTION_KEYS = ["not-a-fernet-key"]
    assert encryption_errors() == ["core.E001"]
    settings.PII_ENCRYPTION_KEYS = [KEY_A]
    assert encryption_errors() == []
    settings.DEBUG, settings.PII_ENCRYPTION_KEYS = True, []  # a laptop: the derived key is fine
    assert encryption_errors() == []


def test_check_refuses_to_start_production_without_keys():
    refused = run_django(production(PII_ENCRYPTION_KEYS="", COLLECTIONS_ALLOW_FILE_DELIVERY="1"), "check")
    assert refused.returncode != 0
    assert "core.E002" in refused.stderr and "PII_ENCRYPTION_KEYS" in refused.stderr


@pytest.mark.django_db
def test_the_encrypted_column_refuses_lookups():
    with pytest.raises(FieldError, match="encrypted"):
        list(Cardholder.objects.filter(national_id=NATIONAL_ID))
    with pytest.raises(FieldError, match="national_id_hash|hash"):
        CreditAccount.objects.filter(card_number__startswith="6221").exists()
    assert Cardholder.objects.filter(national_id__isnull=True).count() == 0
    # Emptiness is the one comparison that can match (an empty value is stored empty): the purge asks it.
    blank = CardholderFactory(national_id="")
    assert list(Cardholder.objects.filter(national_id="")) == [blank]
    assert Cardholder.objects.exclude(national_id="").count() == Cardholder.objects.count() - 1


@pytest.mark.django_db
def test_rotation_re_encrypts_every_token_so_that_the_old_key_can_be_dropped(settings):
    settings.PII_ENCRYPTION_KEYS = [KEY_A]
    account = AccountFactory(cardholder__national_id=NATIONAL_ID, card_number=CARD)
    holder = account.cardholder
    blank = CardholderFactory(national_id="")
    under_a = stored("collections_app_cardholder", "national_id", holder.pk)

    settings.PII_ENCRYPTION_KEYS = [KEY_B, KEY_A]  # 1. prepend the new key
    out = io.StringIO()
    call_command("rotate_pii_keys", stdout=out)  # 2. rotate
    report = out.getvalue()
    assert "collections_app.Cardholder.national_id: 1 re-encrypted" in report
    assert "collections_app.CreditAccount.card_number: 1 re-encrypted" in report
    under_b = stored("collections_app_cardholder", "national_id", holder.pk)
    assert under_b != under_a and Fernet(KEY_B).decrypt(under_b.encode()).decode() == NATIONAL_ID
    assert stored("collections_app_cardholder", "national_id", blank.pk) == ""  # nothing to rotate

    again = io.StringIO()
    call_command("rotate_pii_keys", stdout=again)  # idempotent: a rerun writes nothing
    assert "Done: 0 values re-encrypted." in again.getvalue()
    assert stored("collections_app_cardholder", "national_id", holder.pk) == under_b

    settings.PII_ENCRYPTION_KEYS = [KEY_B]  # 3. drop the old key: everything still reads
    assert Cardholder.objects.get(pk=holder.pk).national_id == NATIONAL_ID
    assert CreditAccount.objects.get(pk=account.pk).card_number == CARD


@pytest.mark.django_db
def test_rotation_without_the_key_a_token_was_written_with_stops_clearly(settings):
    settings.PII_ENCRYPTION_KEYS = [KEY_A]
    CardholderFactory(national_id=NATIONAL_ID)
    settings.PII_ENCRYPTION_KEYS = [KEY_B]  # A dropped too early
    with pytest.raises(Exception) as caught:  # noqa: PT011 - CommandError, whose text is the point
        call_command("rotate_pii_keys", stdout=io.StringIO())
    assert "put the key it was written with back" in str(caught.value)
    assert NATIONAL_ID not in str(caught.value) and crypto.TOKEN_PREFIX not in str(caught.value)


def test_new_key_prints_a_usable_key():
    out = io.StringIO()
    call_command("rotate_pii_keys", "--new-key", stdout=out)
    Fernet(out.getvalue().strip())  # raises if it is not a key


def test_card_numbers_in_free_text_are_masked_like_the_other_personal_data():
    text = "card 4111 1111 1111 1111 declined; ref 6221261234567898 (no check digit), id 2026120318590012"
    assert redact(text) == (
        "card **** **** **** 1111 declined; ref 6221261234567898 (no check digit), id 2026120318590012"
    )
    assert mask_card_number("6221261234567897") == mask_card_number("7897") == "**** **** **** 7897"
    assert mask_card_number("") == ""


@pytest.mark.django_db
def test_saving_an_unchanged_value_keeps_its_token_and_an_edit_encrypts_afresh():
    holder = CardholderFactory(national_id=NATIONAL_ID)
    token = stored("collections_app_cardholder", "national_id", holder.pk)
    holder = Cardholder.objects.get(pk=holder.pk)
    holder.language = "en"
    holder.save()
    assert (
        stored("collections_app_cardholder", "national_id", holder.pk) == token
    )  # the history of changes sees no change of the ID

    holder.national_id = "110101199003079999"
    holder.save()
    assert stored("collections_app_cardholder", "national_id", holder.pk) != token
    assert Cardholder.objects.get(pk=holder.pk).national_id == "110101199003079999"
