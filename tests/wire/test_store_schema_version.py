"""A store at a schema this regauth does not run on: newer (a newer regauth's) is refused by `serve`
and the admin commands in one line; older is upgraded by `serve` only, never by an admin command."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from regauth.store.open import head_revision
from tests.fixtures.server import start_server
from tests.wire.serve_runs import admin, one_line, serve_once


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def _set_revision(url: str, revision: str) -> None:
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    finally:
        engine.dispose()


def _revision(url: str) -> str:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
    finally:
        engine.dispose()


def _downgrade(url: str, revision: str) -> None:
    from alembic import command

    from regauth.store.open import _alembic_config, create_store_engine

    engine = create_store_engine(url)
    try:
        with engine.begin() as conn:
            command.downgrade(_alembic_config(conn), revision)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[dict[str, str], str]:
    """Settings for serve and admin, and the URL to reach the same store directly."""
    if request.param == "sqlite":
        return {}, f"sqlite:///{tmp_path / 'd' / 'regauth.db'}"
    url = request.getfixturevalue("fresh_postgres_url")
    return {"REGAUTH_DATABASE_URL": url}, url


def test_a_store_newer_than_this_regauth_is_refused_in_one_line(tmp_path: Path, store_url) -> None:
    env, url = store_url
    data = tmp_path / "d"
    start_server(data, env).stop()
    _set_revision(url, "0099")                    # what a newer regauth's migration leaves
    expected = f"the store's schema is at revision 0099, newer than this regauth's {head_revision()}: upgrade regauth"
    assert expected in one_line(serve_once(data, env))
    assert expected in one_line(admin("audit", data=data, env=env))
    assert _revision(url) == "0099"


def test_admin_commands_never_migrate_a_store_serve_of_this_version_upgrades_it(tmp_path: Path, store_url) -> None:
    """An older server's store: a newer `regauth admin` (even one that only reads) must leave it as it is,
    or the older server could not start again on it."""
    env, url = store_url
    data = tmp_path / "d"
    start_server(data, env).stop()
    _downgrade(url, "0003")                       # the store an older regauth runs on
    for args in (["list-revocations"], ["audit", "--limit", "1"], ["rotate-signing-key"]):
        message = one_line(admin(*args, data=data, env=env))
        assert "the store is at schema 0003; start `regauth serve` of this version to upgrade it" in message
    assert _revision(url) == "0003"
    server = start_server(data, env)              # serve migrates, as it always did, and says so
    server.stop()
    assert _revision(url) == head_revision()
    said = [line for line in server.output if "upgraded the store's schema" in line]
    assert len(said) == 1 and f"from revision 0003 to {head_revision()}" in said[0], server.output[-5:]
    assert admin("list-revocations", data=data, env=env).returncode == 0


@pytest.mark.postgres
def test_an_admin_command_makes_no_schema_in_an_empty_database(tmp_path: Path, fresh_postgres_url: str) -> None:
    env = {"REGAUTH_DATABASE_URL": fresh_postgres_url, "REGAUTH_MASTER_KEY": "A" * 43 + "="}
    assert "never been started by `regauth serve`" in one_line(admin("list-revocations", data=tmp_path, env=env))
    engine = _engine(fresh_postgres_url)
    try:
        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
