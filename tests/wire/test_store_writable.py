"""`serve` refuses at start a SQLite store it cannot write, rather than report ready and answer every
token request with a 500."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

from tests.fixtures.server import require_program, start_server
from tests.wire.serve_runs import one_line, serve_once


def test_a_store_serve_cannot_write_stops_it_at_start(tmp_path: Path) -> None:
    """SQLite opens a file it may not write read-only, silently. As root the server runs without
    CAP_DAC_OVERRIDE, as a service user would, so that the file's mode applies to it."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = require_program(shutil.which("setpriv"), "setpriv (util-linux)")
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search"]
    data = tmp_path / "d"
    start_server(data).stop()
    (data / "regauth.db").chmod(0o400)
    try:
        message = one_line(serve_once(data, prefix=prefix))
        assert f"the store {data / 'regauth.db'} cannot be written (attempt to write a readonly database)" in message
    finally:
        (data / "regauth.db").chmod(0o600)
    conn = sqlite3.connect(data / "regauth.db")
    try:
        assert conn.execute("SELECT count(*) FROM meta").fetchone()[0] > 0     # the store is intact
    finally:
        conn.close()
    start_server(data).stop()
