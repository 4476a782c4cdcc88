"""regauth.notices: each message at most once a window, the count left out always said."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from regauth.notices import Notices, flush_all


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def lines() -> Iterator[list[str]]:
    handler = _Lines()
    logger = logging.getLogger("test.notices")
    logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)


def test_once_a_window_then_the_count_is_said_by_the_next_line_or_the_flush(lines: list[str]) -> None:
    now = [1000.0]
    notices = Notices(logging.getLogger("test.notices"), 60, lambda: now[0])
    for _ in range(5):
        notices.error("bad config", "req 1: ")
    assert lines == ["req 1: bad config"]
    flush_all()                               # the window has not ended: nothing to say yet
    assert len(lines) == 1
    now[0] += 61
    flush_all()
    assert lines[-1] == "bad config (4 more since the last such line, not logged)"
    flush_all()
    assert len(lines) == 2                    # said once
    notices.error("bad config", "req 2: ")    # the window is over: logged at once
    notices.error("bad config", "req 3: ")
    now[0] += 61
    notices.error("bad config", "req 4: ")    # a line in the next window says the count itself
    assert lines[2:] == ["req 2: bad config", "req 4: bad config (1 more since the last such line, not logged)"]
    flush_all()
    assert len(lines) == 4


def test_a_clock_stepped_back_starts_a_window_and_many_messages_share_one(lines: list[str]) -> None:
    now = [1000.0]
    notices = Notices(logging.getLogger("test.notices"), 60, lambda: now[0], kinds=2)
    notices.error("a")
    now[0] -= 5
    notices.error("a")
    assert lines == ["a", "a"]
    notices.error("b")
    notices.error("c")                        # past `kinds`: shares one allowance with any other
    notices.error("d")
    assert lines[2:] == ["b", "c"]
    now[0] += 120
    notices.flush()
    assert lines[4:] == ["(other messages) (1 more since the last such line, not logged)"]


def test_a_level_other_than_error_is_kept_for_the_line_and_the_count() -> None:
    # the HTTP server's line about each malformed request is INFO: rate limited, it stays INFO
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("test.notices.info")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        now = [1000.0]
        notices = Notices(logger, 60, lambda: now[0], level=logging.INFO)
        notices.say("malformed HTTP request: Invalid method encountered", "client 192.0.2.1: ")
        notices.say("malformed HTTP request: Invalid method encountered", "client 192.0.2.2: ")
        now[0] += 61
        flush_all()
    finally:
        logger.removeHandler(handler)
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (logging.INFO, "client 192.0.2.1: malformed HTTP request: Invalid method encountered"),
        (logging.INFO, "malformed HTTP request: Invalid method encountered"
                       " (1 more since the last such line, not logged)")]
