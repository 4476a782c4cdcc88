"""The head revision is read from the migration files, and Alembic is imported only to upgrade."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from regauth.store.open import (
    MIGRATIONS_DIR, _alembic_config, _head_in_files, create_store_engine, head_revision, open_store,
)

KEY = bytes(range(32))


def test_head_revision_is_alembics():
    assert head_revision() == ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert _head_in_files(MIGRATIONS_DIR / "versions") == head_revision()


def _migration(path: Path, revision: str, down: str) -> None:
    """A version file as Alembic's newer templates write it (annotated assignments)."""
    path.write_text(f'"""Revision ID: {revision}"""\nrevision: str = {revision!r}\n'
                    f"down_revision: str | tuple | None = {down}\n\ndef upgrade() -> None:\n    pass\n")


def test_head_in_files_follows_the_chain_and_gives_up_when_unclear(tmp_path):
    _migration(tmp_path / "a.py", "a", "None")
    _migration(tmp_path / "b.py", "b", "'a'")
    assert _head_in_files(tmp_path) == "b"
    _migration(tmp_path / "c.py", "c", "'a'")          # a branch: two heads
    assert _head_in_files(tmp_path) is None
    _migration(tmp_path / "d.py", "d", "('b', 'c')")   # merged
    assert _head_in_files(tmp_path) == "d"
    (tmp_path / "e.py").write_text("revision = make_id()\ndown_revision = 'd'\n")
    assert _head_in_files(tmp_path) is None
    (tmp_path / "e.py").write_text("x = 1\n")
    assert _head_in_files(tmp_path) is None


def _opens_and_says_whether_alembic_loaded(url: str) -> bool:
    code = ("import sys\nfrom regauth.store.open import open_store\n"
            f"open_store({url!r}, bytes(range(32))).close()\nprint('alembic' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip() == "True"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/regauth.db"
    return request.getfixturevalue("fresh_postgres_url")


def test_first_start_on_an_empty_store_does_not_import_alembic(empty_database_url):
    assert _opens_and_says_whether_alembic_loaded(empty_database_url) is False   # created at head
    assert _opens_and_says_whether_alembic_loaded(empty_database_url) is False   # restart
    engine = create_store_engine(empty_database_url)
    try:
        with engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_heads() == (head_revision(),)
    finally:
        engine.dispose()


def test_alembic_is_imported_only_when_there_is_an_upgrade(tmp_path):
    url = f"sqlite:///{tmp_path}/regauth.db"
    assert _opens_and_says_whether_alembic_loaded(url) is False     # empty: created at head
    assert _opens_and_says_whether_alembic_loaded(url) is False     # at head: only checked
    engine = create_store_engine(url)
    try:
        with engine.begin() as conn:
            command.downgrade(_alembic_config(conn), "-1")
    finally:
        engine.dispose()
    assert _opens_and_says_whether_alembic_loaded(url) is True      # older: upgraded
    store = open_store(url, KEY)
    try:
        with store.engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_heads() == (head_revision(),)
            assert sa.inspect(conn).has_table("generation")
    finally:
        store.close()
