"""A first start that fails keeps no master key: left beside no store, it stopped every later start
("the store is gone ... restore the store") though no store ever used it."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from tests.fixtures.server import start_server
from tests.wire.serve_runs import one_line, serve_once


@pytest.mark.parametrize("url", ["sqlite:////proc/nope/regauth.db", "postgresql://nobody@127.0.0.1:1/x"])
def test_a_first_start_that_cannot_open_its_store_keeps_no_key_and_the_next_start_works(
        tmp_path: Path, url: str) -> None:
    data = tmp_path / "d"
    failed = serve_once(data, {"REGAUTH_DATABASE_URL": url})
    assert failed.returncode != 0 and "Traceback" not in failed.stderr
    assert not list(data.glob("*master.key*")), list(data.iterdir())
    server = start_server(data)                   # the operator fixes the setting: a first start as any
    try:
        assert server.admin.secret_access_key
    finally:
        server.stop()


def test_a_key_that_cannot_be_written_whole_is_not_left_behind(tmp_path: Path) -> None:
    """A full disk (here: a file size limit of 0) while the key is written: no key file, not even an
    empty one, may remain."""
    data = tmp_path / "d"

    def no_file_growth() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

    failed = serve_once(data, preexec_fn=no_file_growth)
    assert failed.returncode != 0 and "Traceback" not in failed.stderr
    assert list(data.iterdir()) == []
    assert "master.key" in one_line(failed, 1)     # the file it was writing is named
    start_server(data).stop()
    assert len((data / "master.key").read_text().strip()) == 43


def test_an_empty_key_file_left_by_an_interrupted_write_is_replaced(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir(mode=0o700)
    (data / "master.key").touch(mode=0o600)        # what an earlier version left on a full disk
    server = start_server(data)
    try:
        assert server.admin.secret_access_key
        assert len((data / "master.key").read_text().strip()) == 43
    finally:
        server.stop()


def test_a_key_a_sqlite_store_already_uses_is_never_discarded(tmp_path: Path) -> None:
    """The clean-up after a failed first start keeps a key that the store holds the check of (a first
    start beside it that succeeded): that store would be unreadable without it."""
    from regauth.cli.runtime import _discard_unused_key

    data = tmp_path / "d"
    start_server(data).stop()
    key = (data / "master.key").read_text()
    _discard_unused_key(data / "master.key", f"sqlite:///{data}/regauth.db")
    assert (data / "master.key").read_text() == key
    (data / "other.db").write_bytes(b"")            # a store file holding nothing yet: the key goes
    _discard_unused_key(data / "master.key", f"sqlite:///{data}/other.db")
    assert not (data / "master.key").exists()


def test_a_key_is_kept_only_for_a_store_whose_check_it_opens(tmp_path: Path) -> None:
    """A first start pointed at another server's SQLite store (its own key elsewhere) that fails, here
    on a schema newer than this regauth: the key it made is not that store's and goes; left behind,
    the next start would fail on "the master key does not match"."""
    import sqlite3

    other = tmp_path / "other"
    start_server(other).stop()                      # a store written with other/master.key
    db = sqlite3.connect(other / "regauth.db")
    db.execute("UPDATE alembic_version SET version_num = '0099'")
    db.commit()
    db.close()
    data = tmp_path / "d"
    failed = serve_once(data, {"REGAUTH_DATABASE_URL": f"sqlite:///{other}/regauth.db"})
    assert "newer than this regauth" in one_line(failed)
    assert not (data / "master.key").exists()
