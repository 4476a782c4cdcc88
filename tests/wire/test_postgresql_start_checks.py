"""`serve` on PostgreSQL: what the database refuses at start is one line (exit 2), never a traceback;
a database set read-only stops the start instead of a ready server whose every token request fails;
and no part of the URL's password is ever printed."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest

from tests.fixtures.server import start_server
from tests.wire.serve_runs import one_line, serve_once

pytestmark = pytest.mark.postgres


def test_a_read_only_database_stops_serve_at_start(tmp_path: Path, fresh_postgres_url: str) -> None:
    start_server(tmp_path / "d", {"REGAUTH_DATABASE_URL": fresh_postgres_url}).stop()     # a store at head
    name = fresh_postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(fresh_postgres_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    message = one_line(serve_once(tmp_path / "d", {"REGAUTH_DATABASE_URL": fresh_postgres_url}))
    assert "the store cannot be written (cannot execute UPDATE in a read-only transaction)" in message


def test_what_the_database_refuses_is_one_line(tmp_path: Path, fresh_postgres_url: str) -> None:
    message = one_line(serve_once(tmp_path / "d", {"REGAUTH_DATABASE_URL": fresh_postgres_url
                                                   + "?application_nam=typo"}))
    assert message == 'regauth: cannot open the store: invalid connection option "application_nam"'
    role = "weak_" + uuid.uuid4().hex[:12]                 # roles are the cluster's: one of its own
    with psycopg.connect(fresh_postgres_url, autocommit=True) as conn:    # a role that may not create tables
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'weak' NOSUPERUSER")
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    try:
        weak = fresh_postgres_url.replace("postgres@", f"{role}:weak@", 1)
        message = one_line(serve_once(tmp_path / "e", {"REGAUTH_DATABASE_URL": weak}))
        assert message.startswith("regauth: cannot open the store: permission denied for schema public"), message
    finally:
        with psycopg.connect(fresh_postgres_url, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


def test_no_part_of_the_password_is_printed(tmp_path: Path, fresh_postgres_url: str) -> None:
    """An unescaped `@` splits the password: the driver then names its second part as the host."""
    url = fresh_postgres_url.replace("postgres@", "postgres:hunter@2secret@", 1)
    message = one_line(serve_once(tmp_path / "d", {"REGAUTH_DATABASE_URL": url}))
    assert "cannot open the store" in message and "2secret" not in message and "hunter" not in message
