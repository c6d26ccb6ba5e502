"""The error pages speak the user's language: 403 (with the reason the view gave), 404, the CSRF
refusal and 500. Personas (tests/conftest.py): `agent` of team A, who may not open the dashboards."""

import re

import pytest
from django.template.loader import render_to_string
from django.test import Client
from django.utils import translation

from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def chinese_agent(client, agent):
    agent.language = "zh-hans"
    agent.save(update_fields=["language"])
    client.login(username=agent.username, password=TEST_PASSWORD)
    return client


def test_403_names_the_refusal_in_chinese(chinese_agent):
    response = chinese_agent.get("/dashboards/")

    assert response.status_code == 403
    page = response.content.decode()
    assert "您的角色无权使用此页面。" in page
    assert "Your role" not in page and "Not allowed" not in page


def test_404_is_the_applications_page_in_chinese(chinese_agent):
    response = chinese_agent.get("/no-such-page/")

    assert response.status_code == 404
    page = response.content.decode()
    assert "页面不存在" in page and "Page not found" not in page
    assert 'lang="zh-hans"' in page


def test_csrf_refusal_in_chinese(agent):
    agent.language = "zh-hans"
    agent.save(update_fields=["language"])
    strict = Client(enforce_csrf_checks=True)
    strict.login(username=agent.username, password=TEST_PASSWORD)

    response = strict.post("/accounts/logout/")

    assert response.status_code == 403
    assert "CSRF" in response.content.decode() and "无法验证表单" in response.content.decode()


def test_500_page_in_both_languages():
    with translation.override("zh-hans"):
        chinese = render_to_string("500.html")
    with translation.override("en"):
        english = render_to_string("500.html")

    assert "服务器错误" in chinese and "Server error" not in chinese
    assert "Server error" in english and not CJK.search(english)
