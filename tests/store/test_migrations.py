"""Alembic migrations produce exactly `schema.py`, on SQLite and PostgreSQL, and are safe to rerun."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from regauth.domain.principals import User
from regauth.store import schema
from regauth.store.open import (
    _alembic_config, create_store_engine, default_database_url, head_revision, normalize_database_url,
    open_store,
)

KEY = bytes(range(32))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/regauth.db"
    return request.getfixturevalue("fresh_postgres_url")


def _shape(engine: sa.Engine) -> dict:
    insp = sa.inspect(engine)
    shape = {}
    for table in insp.get_table_names():
        if table == "alembic_version":
            continue
        shape[table] = {
            "columns": sorted((c["name"], c["nullable"]) for c in insp.get_columns(table)),
            "pk": insp.get_pk_constraint(table)["constrained_columns"],
            "fks": sorted((tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                          for f in insp.get_foreign_keys(table)),
            "indexes": sorted((i["name"], tuple(i["column_names"])) for i in insp.get_indexes(table)
                              if not i.get("duplicates_constraint")),   # PostgreSQL: a UNIQUE's index
            "uniques": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(table)),
        }
    return shape


def _expected_shape() -> dict:
    shape = {}
    for table in schema.metadata.tables.values():
        shape[table.name] = {
            "columns": sorted((c.name, c.nullable) for c in table.columns),
            "pk": [c.name for c in table.primary_key.columns],
            "fks": sorted((tuple(fk.column_keys), fk.referred_table.name, tuple(e.column.name for e in fk.elements))
                          for fk in table.foreign_key_constraints),
            "indexes": sorted((i.name, tuple(c.name for c in i.columns)) for i in table.indexes),
            "uniques": sorted((c.name,) for c in table.columns if c.unique),
        }
    return shape


@pytest.mark.parametrize("build", ["alembic-upgrade", "open_store"])
def test_upgrade_from_empty_gives_exactly_the_schema(database_url, build):
    # open_store creates an empty database straight from schema.py (see test_fresh_schema); the
    # migrations themselves are checked here by running Alembic's upgrade from nothing
    if build == "alembic-upgrade":
        engine = create_store_engine(database_url)
        try:
            with engine.begin() as conn:
                command.upgrade(_alembic_config(conn), "head")
        finally:
            engine.dispose()
    open_store(database_url, KEY).close()
    engine = create_store_engine(database_url)
    try:
        assert set(sa.inspect(engine).get_table_names()) == set(schema.metadata.tables) | {"alembic_version"}
        assert _shape(engine) == _expected_shape()
        with engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_heads() == (head_revision(),)
            diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                     schema.metadata)
        assert diffs == []
    finally:
        engine.dispose()


def test_open_store_twice_is_idempotent(database_url):
    first = open_store(database_url, KEY)
    first.create_user(User("123456789012", "alice", "AIDAEXAMPLE", "arn:x", "/", 1.0))
    check = first.get_meta("store.master_key_check")
    first.close()
    # the second open also goes through the `postgres://` alias where that applies
    second = open_store(database_url.replace("postgresql://", "postgres://"), KEY)
    try:
        assert second.get_user("123456789012", "alice") is not None
        assert second.get_meta("store.master_key_check") == check
        with second.engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_heads() == (head_revision(),)
    finally:
        second.close()


def test_concurrent_first_opens_migrate_once(database_url):
    errors, stores = [], []
    barrier = threading.Barrier(4)

    def opener():
        try:
            barrier.wait()
            stores.append(open_store(database_url, KEY))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    try:
        assert errors == []
        assert len(stores) == 4
        stores[0].set_meta("k", "v")
        assert all(s.get_meta("k") == "v" for s in stores)
    finally:
        for s in stores:
            s.close()


def test_downgrade_to_base_and_back(database_url):
    open_store(database_url, KEY).close()
    engine = create_store_engine(database_url)
    try:
        with engine.begin() as conn:
            command.downgrade(_alembic_config(conn), "base")
        assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    open_store(database_url, KEY).close()
    engine = create_store_engine(database_url)
    try:
        assert _shape(engine) == _expected_shape()
    finally:
        engine.dispose()


def test_urls():
    assert default_database_url(Path("/var/lib/regauth")) == "sqlite:////var/lib/regauth/regauth.db"
    assert default_database_url(Path(".regauth")) == "sqlite:///.regauth/regauth.db"
    for given in ("postgres://u:p@h:5432/db", "postgresql://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"):
        url = normalize_database_url(given)
        assert url.drivername == "postgresql+psycopg" and url.database == "db" and url.password == "p"
    with pytest.raises(ValueError, match="unsupported"):
        create_store_engine("mysql://h/db")


def test_sqlite_connection_settings(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/sub/dir/regauth.db", KEY)   # parent dirs are created
    try:
        with store.engine.connect() as conn:
            pragma = lambda name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
            assert pragma("journal_mode") == "wal"
            assert pragma("synchronous") == 1          # NORMAL
            assert pragma("busy_timeout") == 5000
            assert pragma("foreign_keys") == 1
    finally:
        store.close()


def test_upgrading_a_populated_store_keeps_its_rows(database_url):
    """0004 adds columns to tables that hold rows and are referenced (roles by role_policies): the
    rows stay, and the policies stored before have no principal ids pinned."""
    from regauth.domain.principals import Domain, DomainPolicy, InlinePolicy, Role

    store = open_store(database_url, KEY)
    try:
        acct = "111111111111"
        store.ensure_account(acct, 1.0)
        store.create_role(Role(acct, "r", "AROAEXAMPLE0000000001", f"arn:aws:iam::{acct}:role/r", "/", "{}",
                               3600, "", 1.0, (("arn:aws:iam::111111111111:user/u", "AIDAEXAMPLE0000000001"),)))
        store.put_role_policy(acct, "r", InlinePolicy("p", "{}"))
        store.create_domain(Domain(acct, "us-east-1", "d", f"arn:aws:codeartifact:us-east-1:{acct}:domain/d", "k", 1.0))
        store.put_domain_policy(DomainPolicy(acct, "us-east-1", "d", '{"v":1}', "rev"))
    finally:
        store.close()
    engine = create_store_engine(database_url)
    try:
        with engine.begin() as conn:
            command.downgrade(_alembic_config(conn), "0003")
        with engine.begin() as conn:
            command.upgrade(_alembic_config(conn), "head")
        assert _shape(engine) == _expected_shape()
    finally:
        engine.dispose()
    store = open_store(database_url, KEY)
    try:
        role = store.get_role(acct, "r")
        assert (role.role_id, role.trust_principal_ids) == ("AROAEXAMPLE0000000001", ())
        assert [p.name for p in store.list_role_policies(acct, "r")] == ["p"]
        assert store.get_domain_policy(acct, "us-east-1", "d").principal_ids == ()
    finally:
        store.close()
