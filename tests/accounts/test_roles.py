import pytest
from django.urls import reverse

from accounts.permissions import Capability, has_capability
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("agent", {Capability.WORK_CASES, Capability.REVEAL_PII}),
        (
            "team_lead",
            {
                Capability.WORK_CASES,
                Capability.REVEAL_PII,
                Capability.APPROVE_PLANS,
                Capability.APPROVE_REQUESTS,
                Capability.WRITE_OFF,
            },
        ),
        (
            "supervisor",
            {
                Capability.WORK_CASES,
                Capability.REVEAL_PII,
                Capability.SUPERVISE,
                Capability.APPROVE_PLANS,
                Capability.APPROVE_REQUESTS,
                Capability.OVERRIDE_CONTACT_POLICY,
                Capability.ESCALATE_TO_LEGAL,
                Capability.WRITE_OFF,
            },
        ),
        (
            "head",
            {
                Capability.WORK_CASES,
                Capability.REVEAL_PII,
                Capability.SUPERVISE,
                Capability.APPROVE_PLANS,
                Capability.APPROVE_REQUESTS,
                Capability.OVERRIDE_CONTACT_POLICY,
                Capability.ESCALATE_TO_LEGAL,
                Capability.WRITE_OFF,
                Capability.SEE_ALL_TEAMS,
            },
        ),
        (
            "legal",
            {Capability.LEGAL_REVIEW, Capability.REVEAL_PII, Capability.APPROVE_PLANS, Capability.WRITE_OFF},
        ),
        ("admin", set(Capability)),
    ],
)
def test_each_role_holds_exactly_its_capabilities(role, allowed):
    from tests.factories import UserFactory

    user = UserFactory(role=role)
    for capability in Capability:
        assert has_capability(user, capability) == (capability in allowed), capability


def test_inactive_and_anonymous_users_hold_no_capability(agent):
    from django.contrib.auth.models import AnonymousUser

    agent.is_active = False
    assert not has_capability(agent, Capability.WORK_CASES)
    assert not has_capability(AnonymousUser(), Capability.WORK_CASES)


@pytest.mark.parametrize(
    ("persona", "status"),
    [("agent", 302), ("supervisor", 302), ("legal", 302), ("admin_user", 200)],
)
def test_only_admins_open_the_admin_site(client, request, persona, status):
    user = request.getfixturevalue(persona)
    client.force_login(user)
    response = client.get(reverse("admin:index"))
    assert response.status_code == status
    if status == 302:
        assert "/admin/login/" in response["Location"]
        assert client.get(reverse("admin:index"), follow=True).status_code == 403


def test_anonymous_admin_visitor_signs_in_on_the_one_login_page(client):
    response = client.get(reverse("admin:index"), follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("login"))


def test_admin_role_can_change_users_in_the_admin(client, admin_user, agent):
    client.force_login(admin_user)
    response = client.get(reverse("admin:accounts_user_change", args=[agent.pk]))
    assert response.status_code == 200


def test_agent_navigation_has_no_administration_link(client, agent):
    client.force_login(agent)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert reverse("admin:index") not in response.content.decode()


def test_admin_navigation_links_the_administration(client, admin_user):
    client.force_login(admin_user)
    assert reverse("admin:index") in client.get(reverse("home")).content.decode()


def test_anonymous_user_is_sent_to_login(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_login_with_password_reaches_home(client, agent):
    response = client.post(reverse("login"), {"username": "agent_a", "password": TEST_PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("home")
    assert "agent_a" in response.content.decode() or agent.get_full_name() in response.content.decode()


def test_wrong_password_is_refused_with_a_message(client, agent):
    response = client.post(reverse("login"), {"username": "agent_a", "password": "nope"})
    assert response.status_code == 200
    assert "did not match" in response.content.decode()


def test_language_comes_from_the_users_profile(client, agent):
    agent.language = "zh-hans"
    agent.save()
    client.force_login(agent)
    response = client.get(reverse("home"))
    assert response["Content-Language"] == "zh-hans"
    assert "退出" in response.content.decode()


def test_language_switch_saves_the_choice_on_the_profile(client, agent):
    client.force_login(agent)
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    agent.refresh_from_db()
    assert agent.language == "zh-hans"


def test_login_page_follows_accept_language(client):
    response = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "登录" in response.content.decode()
    response = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en")
    assert "Sign in" in response.content.decode()


def test_a_malformed_session_cookie_is_ignored_not_a_server_error(client):
    client.cookies["sessionid"] = "abc\x00def"
    response = client.get(reverse("login"))
    assert response.status_code == 200
