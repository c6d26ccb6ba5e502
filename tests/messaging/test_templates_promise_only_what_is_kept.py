"""The shipped message templates promise only what the bank does. Replies to a text or an e-mail are not
processed by the system, so no message may tell the cardholder to reply (STOP, UNSUBSCRIBE, TD, 退订):
the opt-out sends them to the hotline, where a person records it on the cardholder."""

import re

import pytest

from messaging.models import MessageChannel, MessageLanguage, Purpose, render_text
from messaging.services import bank_texts, default_template_text

# "reply" in any case; the keywords a cardholder would text back, as written in capitals.
REPLY_PROMISES = re.compile(r"(?i:reply)|\bSTOP\b|\bUNSUBSCRIBE\b|\bTD\b|回复|退订")
SLOTS = [
    (purpose, channel, language)
    for purpose in Purpose.values
    for channel in (MessageChannel.SMS, MessageChannel.EMAIL, MessageChannel.LETTER)
    for language in MessageLanguage.values
]


def rendered(purpose: str, channel: str, language: str) -> str:
    subject, body = default_template_text(purpose, channel, language)
    values = dict.fromkeys(re.findall(r"\{(\w+)\}", subject + body), "x") | bank_texts(language, channel)
    return render_text(subject, values) + "\n" + render_text(body, values)


@pytest.mark.parametrize(("purpose", "channel", "language"), SLOTS)
def test_no_shipped_message_asks_for_a_reply_nobody_reads(purpose, channel, language):
    text = rendered(purpose, channel, language)
    assert not REPLY_PROMISES.search(text), text


@pytest.mark.parametrize("language", MessageLanguage.values)
@pytest.mark.parametrize("channel", [MessageChannel.SMS, MessageChannel.EMAIL])
def test_the_opt_out_names_the_hotline_in_both_languages(channel, language):
    opt_out = bank_texts(language, channel)["opt_out"]
    assert opt_out
    assert ("hotline" in opt_out) if language == MessageLanguage.EN else ("客服热线" in opt_out)
    assert not REPLY_PROMISES.search(opt_out)
