"""An empty database is created at head straight from `schema.py` (no Alembic), and an empty SQLite
file from `sqlite_schema`'s plain SQL (no SQLAlchemy either): the result must be the very database
Alembic's migrations build from scratch, on SQLite and PostgreSQL, look to Alembic like any database
at head, and be created once when processes start together."""

from __future__ import annotations

import subprocess
import sys

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.runtime.migration import MigrationContext

from regauth.store import open as store_open
from regauth.store import schema, sqlite_schema
from regauth.store.open import _alembic_config, create_store_engine, head_revision, migrate, open_store
from tests.fixtures.postgres import create_database, drop_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def new_url(request, tmp_path):
    """A factory of URLs of new, empty databases, all on one backend."""
    if request.param == "sqlite":
        count = iter(range(1_000))
        yield lambda: f"sqlite:///{tmp_path}/db{next(count)}.db"
        return
    admin = request.getfixturevalue("postgres_url")
    made: list[str] = []

    def new() -> str:
        made.append(create_database(admin))
        return made[-1]

    yield new
    for url in made:
        drop_database(admin, url)


def _refuse(*_args, **_kw):
    raise AssertionError("this step must not run here")


def _forbid_alembic_upgrade(monkeypatch) -> None:
    """What follows must take the direct path: Alembic's upgrade fails the test if called."""
    monkeypatch.setattr(command, "upgrade", _refuse)


def _on(url: str, work):
    engine = create_store_engine(url)
    try:
        return work(engine)
    finally:
        engine.dispose()


def _alembic_upgrade(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "head")


def _heads(engine: sa.Engine) -> tuple[str, ...]:
    with engine.connect() as conn:
        return tuple(MigrationContext.configure(conn).get_current_heads())


def _optional(call, *args) -> list:
    """An inspector answer, or [] where the dialect does not report that kind of object."""
    try:
        return call(*args)
    except NotImplementedError:
        return []


def _table(insp: sa.Inspector, conn: sa.Connection, name: str) -> dict:
    pk = insp.get_pk_constraint(name)
    return {
        # in table order; the type as the dialect reads it back (e.g. VARCHAR COLLATE "C", DOUBLE PRECISION)
        "columns": [(c["name"], str(c["type"]), c["nullable"], c["default"], c.get("autoincrement"))
                    for c in insp.get_columns(name)],
        "pk": (pk["name"], pk["constrained_columns"]),
        "fks": sorted((f["name"], f["constrained_columns"], f["referred_table"], f["referred_columns"],
                       sorted(f["options"].items())) for f in insp.get_foreign_keys(name)),  # ondelete, ...
        "uniques": sorted((u["name"], u["column_names"]) for u in insp.get_unique_constraints(name)),
        "indexes": sorted((i["name"], i["column_names"], i["unique"]) for i in insp.get_indexes(name)),
        "checks": sorted((c["name"], c["sqltext"]) for c in _optional(insp.get_check_constraints, name)),
        "rows": sorted(tuple(r) for r in conn.execute(sa.text(f'SELECT * FROM "{name}"'))),
    }


def _describe(engine: sa.Engine) -> dict:
    """Everything the inspector reports about the database, every row it holds and, on SQLite,
    the DDL text itself."""
    with engine.connect() as conn:
        insp = sa.inspect(conn)
        described: dict = {"tables": sorted(insp.get_table_names()), "views": insp.get_view_names(),
                           "sequences": _optional(insp.get_sequence_names)}
        for name in described["tables"]:
            described[name] = _table(insp, conn, name)
        if conn.dialect.name == "sqlite":
            described["sqlite_master"] = [tuple(r) for r in conn.exec_driver_sql(
                "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")]
        return described


def test_direct_creation_gives_the_database_the_migrations_build(new_url, monkeypatch):
    by_alembic, direct = new_url(), new_url()
    _on(by_alembic, _alembic_upgrade)
    _forbid_alembic_upgrade(monkeypatch)
    _on(direct, migrate)
    expected, got = _on(by_alembic, _describe), _on(direct, _describe)

    assert expected["tables"] == sorted([*schema.metadata.tables, "alembic_version"])
    assert got["tables"] == expected["tables"]
    for key in expected:                       # one key at a time: a failure names the table
        assert (key, got[key]) == (key, expected[key])
    assert got == expected
    assert got["alembic_version"]["rows"] == [(head_revision(),)]
    assert got["alembic_version"]["pk"] == ("alembic_version_pkc", ["version_num"])
    assert got["generation"]["rows"] == [(1, 1)]          # migration 0002's seed row


def test_the_plain_sql_schema_is_what_schema_py_renders():
    assert sqlite_schema.STATEMENTS == sqlite_schema.render(), \
        "schema.py changed: rewrite it with `.venv/bin/python -m regauth.store.sqlite_schema`"
    assert sqlite_schema.STATEMENTS[0].startswith("CREATE TABLE") and len(sqlite_schema.STATEMENTS) > 20


def _plain_sql_store(url: str):
    from regauth.store.crypto import SecretBox
    from regauth.store.sqlite_store import SqliteStore

    return SqliteStore(url, sa.make_url(url).database, SecretBox(bytes(range(32))))


def test_plain_sql_creation_on_sqlite_gives_the_database_the_migrations_build(tmp_path, monkeypatch):
    by_alembic, plain = f"sqlite:///{tmp_path}/alembic.db", f"sqlite:///{tmp_path}/plain.db"
    _on(by_alembic, _alembic_upgrade)
    _forbid_alembic_upgrade(monkeypatch)
    monkeypatch.setattr(store_open, "_create_at_head", _refuse)
    store = _plain_sql_store(plain)
    try:
        assert store.create_at_head(head_revision()) is True
        assert store.in_wal_mode() and store.revisions() == (head_revision(),)
        assert store.create_at_head(head_revision()) is True      # found at head: nothing done
        assert store._full is None
    finally:
        store.close()
    expected, got = _on(by_alembic, _describe), _on(plain, _describe)
    for key in expected:
        assert (key, got[key]) == (key, expected[key])
    assert got == expected                                         # sqlite_master's DDL text included
    assert _on(plain, _heads) == (head_revision(),)


def test_plain_sql_creation_leaves_a_file_with_anything_in_it_to_alembic(tmp_path):
    url = f"sqlite:///{tmp_path}/db.db"

    def add_foreign_table(engine: sa.Engine) -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE not_ours (x INTEGER)")
    _on(url, add_foreign_table)
    store = _plain_sql_store(url)
    try:
        assert store.create_at_head(head_revision()) is False
        assert store.revisions() == ()
    finally:
        store.close()
    assert _on(url, _describe)["tables"] == ["not_ours"]          # untouched
    open_store(url, bytes(range(32))).close()                    # Alembic then builds the rest
    assert _on(url, _heads) == (head_revision(),)


def test_after_direct_creation_migrate_is_a_no_op_and_alembic_sees_head(new_url, monkeypatch):
    url = new_url()
    with monkeypatch.context() as mp:
        _forbid_alembic_upgrade(mp)
        _on(url, migrate)
    before = _on(url, _describe)
    assert _on(url, _heads) == (head_revision(),)

    with monkeypatch.context() as mp:           # neither creation nor upgrade runs again
        mp.setattr(store_open, "_create_at_head", _refuse)
        _forbid_alembic_upgrade(mp)
        _on(url, migrate)
    assert _on(url, _describe) == before
    _on(url, _alembic_upgrade)                  # and Alembic itself finds nothing to do
    assert _on(url, _describe) == before
    assert _on(url, _heads) == (head_revision(),)


def test_a_database_with_any_table_goes_through_alembic(new_url, monkeypatch):
    url = new_url()

    def add_foreign_table(engine: sa.Engine) -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE not_ours (x INTEGER)")
    _on(url, add_foreign_table)
    monkeypatch.setattr(store_open, "_create_at_head", _refuse)
    _on(url, migrate)
    described = _on(url, _describe)
    assert described["tables"] == sorted([*schema.metadata.tables, "alembic_version", "not_ours"])
    assert described["generation"]["rows"] == [(1, 1)]
    assert _on(url, _heads) == (head_revision(),)


_OPEN_WHEN_TOLD = """
import sys, time
from pathlib import Path
from regauth.store.open import open_store
go = Path(sys.argv[2])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
key = bytes(range(32)) if len(sys.argv) <= 3 else bytes([int(sys.argv[3])]) * 32
try:
    open_store(sys.argv[1], key).close()
except ValueError as exc:
    print("refused:", exc)
    raise SystemExit(3)
print("alembic" in sys.modules, "sqlalchemy" in sys.modules)
"""


def _open_together(url: str, go, extra_args: list[list[str]]):
    """One process per entry of `extra_args`, each opening `url` once all are ready; their outputs."""
    procs = [subprocess.Popen([sys.executable, "-c", _OPEN_WHEN_TOLD, url, str(go), *extra],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for extra in extra_args]
    try:
        assert [p.stdout.readline() for p in procs] == ["ready\n"] * len(procs)     # imports done in all
        go.touch()
        results = [p.communicate(timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    return procs, results


def test_processes_starting_together_on_an_empty_store_create_it_once(new_url, tmp_path):
    """Processes opening the same empty store at the same moment: all succeed, one creates."""
    url = new_url()
    procs, results = _open_together(url, tmp_path / "go", [[], []])
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in results]
    # neither loaded Alembic; on SQLite, not even SQLAlchemy
    sqlalchemy = url.startswith("postgresql")
    assert [out for out, _ in results] == [f"False {sqlalchemy}\n"] * 2
    described = _on(url, _describe)
    assert described["tables"] == sorted([*schema.metadata.tables, "alembic_version"])
    assert described["alembic_version"]["rows"] == [(head_revision(),)]
    assert [row[0] for row in described["generation"]["rows"]] == [1]   # (its value: writes since)
    assert len(described["meta"]["rows"]) == 1                # one master key check


def test_processes_starting_together_with_different_master_keys_one_wins(new_url, tmp_path):
    """Two first starts at once with different master keys: exactly one key is the store's, and the
    other process is refused (not both accepted with the last writer's check row winning)."""
    procs, results = _open_together(new_url(), tmp_path / "go", [["1"], ["2"]])
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 3], [err[-2000:] for _, err in results]
    refused = next(out for p, (out, _) in zip(procs, results) if p.returncode == 3)
    assert "master key does not match" in refused


def test_a_key_check_written_between_our_read_and_our_write_is_not_overwritten(tmp_path):
    """The race above, made certain: another process writes its key check right after this one
    found none. This one must then be refused, not overwrite the check with its own key."""
    from regauth.store.crypto import SecretBox
    from regauth.store.open import KEY_CHECK_META, _check_master_key
    from regauth.store.sql import SqlStore

    url = f"sqlite:///{tmp_path}/db.db"
    open_store(url, bytes([1]) * 32).close()              # the other process, a moment earlier

    class ReadBeforeTheOtherWrote(SqlStore):
        def get_meta(self, key: str) -> str | None:
            return None if key == KEY_CHECK_META else super().get_meta(key)

    box = SecretBox(bytes([2]) * 32)
    engine = create_store_engine(url)
    try:
        with pytest.raises(ValueError, match="master key does not match"):
            _check_master_key(ReadBeforeTheOtherWrote(engine, box), box)
    finally:
        engine.dispose()
    open_store(url, bytes([1]) * 32).close()              # the first key is still the store's
