"""Log lines that any client can earn: kept visible, but at most one per message per window.

A misconfigured verifier URL, or requests failed because the database gives no answer, must show in
the log at ERROR, yet every request can earn the line again: a flood of them filled the log. So each
message is logged the first time, then left out until its window (`every` seconds) ends; the count
left out is said by the next line of that message, or, when none comes, by `flush_all`, which the
server calls a few times a second, once the window has ended, and once more as it stops (whatever
the windows). No count is lost, and the log holds at
most two lines per message per window. The same holds for lines at another level (`level`): the HTTP
server's INFO line about each malformed request (one client made 10,000 a second of them).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable

_ALL: "weakref.WeakSet[Notices]" = weakref.WeakSet()
_OTHERS = ""                 # the key every message past `kinds` distinct ones shares


class Notices:
    """Thread-safe. `clock`: seconds, the one windows are measured on; a clock stepped back starts a
    new window."""

    def __init__(self, logger: logging.Logger, every: float, clock: Callable[[], float], kinds: int = 16,
                 level: int = logging.ERROR) -> None:
        self._log = logger
        self._level = level
        self._every = every
        self._clock = clock
        self._kinds = kinds
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[float, int]] = {}    # message: (when its window began, left out since)
        self._owed = 0                                   # counts left out and not yet said, all messages
        _ALL.add(self)

    def say(self, message: str, prefix: str = "") -> None:
        """Log `prefix` + `message` at the notices' level, unless `message` was logged less than a
        window ago (`prefix`, such as the client or the request it is about, is not part of the key)."""
        now = self._clock()
        with self._lock:
            key = message if message in self._seen or len(self._seen) < self._kinds else _OTHERS
            began, left_out = self._seen.get(key, (None, 0))
            if began is not None and 0 <= now - began < self._every:
                self._seen[key] = (began, left_out + 1)
                self._owed += 1
                return
            self._seen[key] = (now, 0)
            self._owed -= left_out
        self._log.log(self._level, "%s%s%s", prefix, message, _more(left_out))

    error = say     # the common case: the level is ERROR unless told otherwise

    def flush(self, final: bool = False) -> None:
        """Say the counts left out in windows that have ended and that no later line has said; when
        `final` (the process is ending), every count not said yet, its window ended or not."""
        if not self._owed:           # the common case, read without the lock: checked again under it
            return
        now = self._clock()
        due: list[tuple[str, int]] = []
        with self._lock:
            for key, (began, left_out) in self._seen.items():
                if left_out and (final or not 0 <= now - began < self._every):
                    due.append((key, left_out))
                    self._seen[key] = (began, 0)     # the window is over: the next line is logged at once
                    self._owed -= left_out
        for key, left_out in due:
            self._log.log(self._level, "%s%s", key or "(other messages)", _more(left_out))


def _more(left_out: int) -> str:
    return f" ({left_out} more since the last such line, not logged)" if left_out else ""


def flush_all(final: bool = False) -> None:
    """`Notices.flush` for every instance alive."""
    for notices in list(_ALL):
        notices.flush(final)
