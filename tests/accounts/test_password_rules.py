"""Passwords set through a form (the admin's add-user and set-password pages) follow
AUTH_PASSWORD_VALIDATORS: at least 12 characters, not a common password, not all digits, not like the
user's name. The published demo password passes them too (seed_demo sets it directly, but a demo user
who types it into a set-password form must not be refused)."""

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

from accounts.demo import DEMO_PASSWORD, DEMO_USERS
from accounts.models import User


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("short-pw-26", "password_too_short"),
        ("password1234", "password_too_common"),
        ("204815162342", "password_entirely_numeric"),
        ("wangxiaoming-2026", "password_too_similar"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password, code):
    user = User(username="wangxiaoming", first_name="Xiaoming", last_name="Wang")

    with pytest.raises(ValidationError) as refused:
        validate_password(password, user=user)

    assert code in {error.code for error in refused.value.error_list}


def test_a_long_unusual_passphrase_is_accepted():
    validate_password("copper-lantern-harbour-42", user=User(username="agent1"))


@pytest.mark.parametrize("demo_user", DEMO_USERS, ids=[row[0] for row in DEMO_USERS])
def test_the_demo_password_passes_the_rules_for_every_demo_user(demo_user):
    username, first, last, *_rest = demo_user

    validate_password(DEMO_PASSWORD, user=User(username=username, first_name=first, last_name=last))


@pytest.mark.django_db
def test_the_admins_add_user_page_refuses_a_short_password(client, admin_user, settings):
    client.force_login(admin_user)

    response = client.post(
        "/admin/accounts/user/add/",
        {"username": "newcomer", "password1": "short-pw-26", "password2": "short-pw-26", "role": "agent"},
    )

    assert response.status_code == 200
    assert "at least 12 characters" in response.content.decode()
    assert not User.objects.filter(username="newcomer").exists()
