"""The suite-wide scan of the logs (tests/conftest.py) finds a person in a log line, and does not take a
record's ID in a URL for one - so the run fails on a real leak and only on a real leak."""

import logging

from tests.conftest import _PersonalDataInLogs


def scanned(message: str) -> list[str]:
    keeper = _PersonalDataInLogs()
    keeper.handle(logging.LogRecord("collections", logging.INFO, __file__, 1, message, None, None))
    return keeper.leaks


def test_a_phone_an_email_or_a_national_id_in_a_log_line_is_a_leak():
    assert scanned("reminder to +8613800000001 failed")
    assert scanned("bounce from wang.wei@example.com")
    assert scanned("cardholder 110101199003071234 updated")
    assert scanned("callback for (212) 555-0123")


def test_masked_values_and_record_ids_in_urls_are_not():
    assert not scanned("reminder to +86138****0001 failed; bounce from w***@example.com")
    assert not scanned("Not Found: /api/v1/cases/4203413794/")
    assert not scanned("Not Found: /api/v1/plans/420293207200197504/accept/")
    assert not scanned("Task message_send[14b5231d-2b1d-49ee-b183-76216984e909] succeeded: 'written'")
    key = "overdue_notice:432:case-by548-52ca091cfa1e4160867645fea3bf75cf:letter"
    assert not scanned(f"outbox: letter to 北京市朝阳区 **** ({key})")


def test_debug_records_are_not_kept():
    """The scan reads what production logs (INFO and up), not debugging output."""
    keeper = _PersonalDataInLogs()
    logger = logging.getLogger("tests.log_scan")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # the suite-wide scan must not see this planted leak
    logger.addHandler(keeper)
    try:
        logger.debug("+8613800000001")
        logger.info("+8613800000001")
    finally:
        logger.removeHandler(keeper)
    assert keeper.leaks == ["tests.log_scan INFO +8613800000001"]
