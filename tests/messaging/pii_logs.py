"""Nothing unmasked goes into logs: a handler on the root logger for the whole of a test module keeps
every record (formatted, with its traceback), and the module fails if any holds an e-mail address, a
phone number or a national ID in the clear - the test data's own values, and any other that the
patterns of core.masking find."""

import logging

import pytest

from core.masking import redact


class Keeper(logging.Handler):
    def __init__(self):
        super().__init__()
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


def pii_in(lines: list[str], known: tuple[str, ...]) -> list[str]:
    return [line for line in lines if redact(line) != line or any(value in line for value in known)]


def scan_module_logs(known: tuple[str, ...]):
    """A module-scoped autouse fixture: `pii_logs = scan_module_logs((...values...))`."""

    @pytest.fixture(scope="module", autouse=True)
    def pii_logs():
        # At the configured level (INFO, as in production): what an operator's log would hold.
        keeper = Keeper()
        root = logging.getLogger()
        root.addHandler(keeper)
        try:
            yield keeper
        finally:
            root.removeHandler(keeper)
        assert keeper.lines, "the module logged nothing: the scan would prove nothing"
        leaked = pii_in(keeper.lines, known)
        assert not leaked, f"personal data in the logs: {leaked[:5]}"

    return pii_logs
