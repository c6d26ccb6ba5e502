"""The API answers in the language the request asks for (Accept-Language, through LocaleMiddleware):
DRF's own messages (authentication, validation) and the project's refusals alike; without the header,
English. The codes stay the same in every language: clients branch on `code` and `rule`."""

import re

import pytest

pytestmark = pytest.mark.django_db

CJK = re.compile(r"[\u4e00-\u9fff]")
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}


def message(response) -> str:
    return response.json()["message"]


def test_drf_authentication_refusal_follows_accept_language(anonymous):
    chinese = anonymous.get("/api/v1/cases/", **ZH)
    english = anonymous.get("/api/v1/cases/")

    assert chinese.status_code == english.status_code == 401
    assert chinese.json()["code"] == english.json()["code"] == "not_authenticated"
    assert CJK.search(message(chinese)), message(chinese)
    assert not CJK.search(message(english)), message(english)
    assert chinese["Content-Language"] == "zh-hans"


def test_a_domain_refusal_is_in_the_requested_language(clients):
    # A legal reviewer does not take cases from queues (NotAllowed, rule work_cases).
    chinese = clients["legal"].post("/api/v1/cases/claim-next/", **ZH)
    english = clients["legal"].post("/api/v1/cases/claim-next/")

    assert chinese.json()["rule"] == english.json()["rule"] == "work_cases"
    assert message(english) == "Your role does not take cases from queues."
    assert message(chinese) == "您的角色不从队列领取案件。"


def test_validation_messages_of_drf_and_of_the_project_are_translated(clients, case_a):
    missing = clients["agent"].post(f"/api/v1/cases/{case_a.pk}/notes/", {}, format="json", **ZH)
    unknown = clients["agent"].get("/api/v1/no-such-thing/", **ZH)

    assert missing.status_code == 422 and missing.json()["field"] == "text"
    assert CJK.search(message(missing)), message(missing)
    assert unknown.status_code == 404
    assert message(unknown).startswith("没有此接口"), message(unknown)


def test_the_timeline_gives_each_event_text_in_the_requested_language(clients, case_a):
    chinese = clients["agent"].get(f"/api/v1/cases/{case_a.pk}/timeline/", **ZH).json()["results"]
    english = clients["agent"].get(f"/api/v1/cases/{case_a.pk}/timeline/").json()["results"]

    opened = [event for event in chinese if event["kind"] == "opened"][0]
    assert opened["reason"] == "Account became delinquent"  # as stored
    assert opened["text"] == "账户已逾期"
    assert [event for event in english if event["kind"] == "opened"][0]["text"] == "Account became delinquent"
