"""The store's outage is told from a fault of ours by the error's kind, whatever the driver."""

from __future__ import annotations

import logging
import sqlite3

import psycopg
import pytest
import sqlalchemy as sa

from regauth.faults import log_fault, outage


def test_an_outage_is_one_line_and_a_fault_of_ours_keeps_its_traceback(caplog, tmp_path) -> None:
    with pytest.raises(psycopg.OperationalError) as refused:          # nothing listens on port 1
        psycopg.connect("postgresql://nobody@127.0.0.1:1/x", connect_timeout=2)
    engine = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/x")
    with pytest.raises(sa.exc.OperationalError) as wrapped:
        engine.connect()
    engine.dispose()
    lock = sqlite3.connect(tmp_path / "l.db", isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    with pytest.raises(sqlite3.OperationalError) as locked:
        sqlite3.connect(tmp_path / "l.db", timeout=0).execute("SELECT 1 FROM sqlite_master")
    lock.close()
    for exc in (refused.value, wrapped.value, locked.value):
        line = outage(exc)
        assert line and "\n" not in line
    assert outage(locked.value) == "database is locked"
    assert outage(KeyError("a bug")) is None and outage(sa.exc.IntegrityError("x", {}, Exception())) is None
    log = logging.getLogger("regauth.test_faults")
    with caplog.at_level("ERROR", logger=log.name):
        log_fault(log, locked.value, "serving request %s", "r-1")
        log_fault(log, KeyError("a bug"), "serving request %s", "r-2")
    first, second = caplog.records
    assert first.getMessage() == "serving request r-1: the store is unavailable: database is locked"
    assert first.exc_info is None and second.exc_info is not None
