"""Template validation as the admin form runs it (MessageTemplate.full_clean): placeholders, the elements
a jurisdiction requires, banned phrases; and the shipped defaults pass the same checks."""

import pytest
from django.core.exceptions import ValidationError

from messaging.models import (
    BannedPhrase,
    MessageTemplate,
    TemplateSyntaxProblem,
    placeholders_in,
    render_text,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("defaults")]

US_SMS = "{bank_name}: {name}, {amount} {currency} was due on {due_date}. Call {bank_contact}. {opt_out}"
CN_LETTER = (
    "尊敬的{name}：您的账户自 {due_date} 起逾期，逾期金额 {amount} {currency}。依据：{legal_basis}。"
    "查询：{how_to_check} 还款：{how_to_repay} 异议：{how_to_object} 联系方式：{bank_contact}"
)


def template(**fields) -> MessageTemplate:
    values = {
        "purpose": "overdue_notice",
        "channel": "sms",
        "language": "en",
        "jurisdiction": "US",
        "body": US_SMS,
    }
    return MessageTemplate(**(values | fields))


def errors_of(t: MessageTemplate) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        t.full_clean()
    return caught.value.message_dict


def test_a_good_template_passes():
    template().full_clean()
    template(channel="letter", language="zh-hans", jurisdiction="CN", body=CN_LETTER).full_clean()


def test_an_unknown_placeholder_is_named_with_the_allowed_ones():
    errors = errors_of(template(body=US_SMS + " Ref {acount_number}"))
    assert errors["body"][0].startswith("Unknown placeholder {acount_number}. Allowed: {name}, {amount}")


def test_a_placeholder_in_the_subject_is_checked_too():
    errors = errors_of(template(channel="email", subject="Overdue since {since}"))
    assert "Unknown placeholder {since}" in errors["subject"][0]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Dear {name", "a lone '{'"),
        ("Dear name}", "a lone '}'"),
        ("{name.__class__}", "is not a placeholder"),
        ("{amount:>10}", "is not a placeholder"),
        ("{}", "is not a placeholder"),
    ],
)
def test_broken_braces_and_attribute_access_are_refused(text, problem):
    errors = errors_of(template(body=f"{text} {{opt_out}}"))
    assert problem in errors["body"][0]


def test_double_braces_are_literal_braces():
    assert placeholders_in("{{not a placeholder}} {name}") == ["name"]
    assert render_text("{{x}} {name}", {"name": "Wang"}) == "{x} Wang"


def test_rendering_never_leaves_a_blank_for_a_missing_value():
    with pytest.raises(KeyError):
        render_text("{amount}", {})
    with pytest.raises(TemplateSyntaxProblem):
        render_text("{amount", {"amount": "1"})


def test_a_china_collection_letter_must_carry_every_required_element():
    errors = errors_of(
        template(
            channel="letter", language="zh-hans", jurisdiction="CN", body="尊敬的{name}：请还款 {amount}。"
        )
    )
    text = " ".join(errors["body"])
    for element in (
        "the reason (what fell due, and when)",
        "the legal basis ({legal_basis})",
        "how to check the debt ({how_to_check})",
        "how to repay ({how_to_repay})",
        "how to object ({how_to_object})",
        "the bank's contact details ({bank_contact})",
    ):
        assert element in text
    assert "the cardholder's name" not in text and "the amount owed" not in text


def test_a_us_sms_or_email_must_carry_an_opt_out():
    errors = errors_of(template(body="{name}, please pay {amount}."))
    assert errors["body"] == ["SMS for US: must include an opt-out ({opt_out})."]
    errors = errors_of(template(channel="email", subject="Overdue", body="{name}, please pay {amount}."))
    assert "must include an opt-out" in errors["body"][0]


def test_a_template_for_every_jurisdiction_meets_the_rules_of_each():
    errors = errors_of(template(jurisdiction="", body="{name}, please pay {amount}."))
    assert errors["body"] == ["SMS for US: must include an opt-out ({opt_out})."]
    errors = errors_of(template(jurisdiction="", channel="letter", body=US_SMS))
    assert any("Letter for CN: must include the legal basis" in e for e in errors["body"])


def test_an_sms_in_china_needs_no_opt_out_but_a_letter_in_the_us_needs_no_legal_basis():
    template(jurisdiction="CN", language="zh-hans", body="{name}您好，请还款 {amount}。").full_clean()
    template(jurisdiction="US-MA", channel="letter", body="Dear {name}, please pay {amount}.").full_clean()


@pytest.mark.parametrize(
    ("phrase", "category"),
    [
        ("我们将把您列入黑名单", "Fake blacklist claim"),
        ("逾期将被拘留", "Arrest, jail or criminal threat"),
        ("本院已受理", "Impersonating a court, the police or an official"),
        ("You may be ARRESTED", "Arrest, jail or criminal threat"),
        ("the police will visit", "Impersonating a court, the police or an official"),
        ("we will tell your   employer", "Threat to tell family, employer or others"),
    ],
)
def test_banned_phrases_are_refused_in_chinese_and_english(phrase, category):
    errors = errors_of(template(body=f"{US_SMS} {phrase}"))
    assert any(category in e and "may not be used in a message to a cardholder" in e for e in errors["body"])


def test_banned_phrases_match_whole_words_in_english_and_ignore_spaces_in_chinese():
    template(body=f"{US_SMS} Your warranty and the jailbreak app are unaffected.").full_clean()
    errors = errors_of(template(language="zh-hans", body=f"{US_SMS} 列入 黑 名单"))
    assert "黑名单" in errors["body"][0]


def test_the_banned_phrase_list_is_data_an_inactive_phrase_no_longer_refuses():
    BannedPhrase.objects.filter(phrase="arrest").update(active=False)
    template(body=f"{US_SMS} arrest").full_clean()
    BannedPhrase.objects.create(phrase="final demand", category="threat")
    assert "final demand" in errors_of(template(body=f"{US_SMS} FINAL demand"))["body"][0]


def test_email_needs_a_subject_and_sms_has_none():
    assert errors_of(template(channel="email", subject=""))["subject"] == ["An e-mail needs a subject."]
    assert "An SMS has no subject" in errors_of(template(subject="Hi"))["subject"][0]


def test_the_shipped_defaults_cover_every_slot_and_pass_validation():
    assert MessageTemplate.objects.filter(active=True, jurisdiction="").count() == 7 * 3 * 2
    for shipped in MessageTemplate.objects.all():
        shipped.full_clean()
