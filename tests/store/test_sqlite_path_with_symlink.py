"""A SQLite path with `..` after a symlinked directory names the file past the symlink, as the kernel
resolves it: the store is opened (and, once opened, reopened) there, not at the textual `..`."""

from __future__ import annotations

import os
from pathlib import Path

from regauth.store.open import open_store
from regauth.store.sqlite_direct import connect_file

KEY = bytes(range(32))


def test_dot_dot_after_a_symlink_is_resolved_as_the_kernel_does(tmp_path: Path) -> None:
    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "a").mkdir()
    os.symlink("../real/sub", tmp_path / "a" / "link")
    path = f"{tmp_path}/a/link/../regauth.db"            # the kernel: real/regauth.db
    store = open_store(f"sqlite:///{path}", KEY)
    try:
        store.ensure_account("123456789012", 1.0)
    finally:
        store.close()
    assert (tmp_path / "real" / "regauth.db").is_file() and not (tmp_path / "a" / "regauth.db").exists()
    conn = connect_file(path, create=False)                # a later connection finds the same file
    try:
        assert conn.execute("SELECT count(*) FROM accounts").fetchone() == (1,)
    finally:
        conn.close()
