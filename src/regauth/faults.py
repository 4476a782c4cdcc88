"""How a request's fault is logged: a traceback for a fault of ours, one line for the store's outage.

A store that cannot be reached or used (PostgreSQL down, restarting, out of connection slots; a SQLite
lock held past the busy timeout; a store file gone) fails every request while it lasts: a traceback
each (about 110 lines on PostgreSQL) buried the log, 32,000 lines on one node in a minute of
connection exhaustion, and said nothing the first line does not.
"""

from __future__ import annotations

import logging


def outage(exc: BaseException) -> str | None:
    """The first line of an error that says the store is unavailable (a DB-API OperationalError, as
    sqlite3, psycopg and SQLAlchemy name it), else None. No driver is imported to tell."""
    if not any(cls.__name__ == "OperationalError" for cls in type(exc).__mro__):
        return None
    orig = getattr(exc, "orig", None) or exc            # SQLAlchemy wraps the driver's error
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__


def log_fault(log: logging.Logger, exc: BaseException, what: str, *args: object) -> None:
    """`what % args` at ERROR: with the traceback, unless the store's outage says it in one line."""
    line = outage(exc)
    if line is None:
        log.error(what, *args, exc_info=exc)
    else:
        log.error(what + ": the store is unavailable: %s", *args, line)
