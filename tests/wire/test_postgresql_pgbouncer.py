"""`serve` on PostgreSQL behind a real PgBouncer (Debian 12's 1.18), as platform teams run it.

In transaction pool mode each transaction may run in another server session. psycopg prepares a
statement on the server after its 5th use (`_pg3_0`, ...): through PgBouncer the next use could land
where it was never prepared, or where another client's `_pg3_0` already was, and token requests
failed with 500s while the group commit lost audit records. Behind a pooler regauth now prepares
nothing on the server (store.open.PoolerCheck), and refuses at start, in one line, a pool mode that
cannot run its transactions and URL options the pooler would drop."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from botocore.exceptions import ClientError

from regauth.store.open import create_store_engine
from tests.fixtures.pgbouncer import PgBouncer, start_pgbouncer
from tests.fixtures.server import RegauthServer, server_env, start_server
from tests.wire.serve_runs import one_line, serve_once

pytestmark = pytest.mark.postgres

CALLS_PER_NODE = 24           # well past psycopg's 5 uses before it prepares a statement


def _nodes(tmp_path: Path, url: str, n: int, **extra: str) -> list[RegauthServer]:
    """`n` regauth nodes on one store (one master key, one bootstrap admin)."""
    env = {**server_env(), "REGAUTH_DATABASE_URL": url, "REGAUTH_MASTER_KEY": secrets.token_hex(32), **extra}
    nodes: list[RegauthServer] = []
    try:
        for i in range(n):
            nodes.append(start_server(tmp_path / f"node{i}", env))
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return nodes


def _calls(node: RegauthServer, i: int) -> None:
    """A token (its records stored before it is sent) and a user (a write transaction of its own)."""
    assert node.client("ecr").get_authorization_token()["authorizationData"][0]["authorizationToken"]
    assert node.client("iam").create_user(UserName=f"u{i}")["User"]["UserName"] == f"u{i}"


def _audited(url: str) -> int:
    with psycopg.connect(url) as conn:
        (n,), = conn.execute("SELECT count(*) FROM audit_events").fetchall()
    return n


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_two_nodes_behind_pgbouncer_answer_every_call_and_store_every_record(
        tmp_path: Path, fresh_postgres_url: str, mode: str, request: pytest.FixtureRequest) -> None:
    bouncer: PgBouncer = request.getfixturevalue(f"pgbouncer_{mode}")
    nodes = _nodes(tmp_path, bouncer.url_for(fresh_postgres_url), 2)
    try:
        before = _audited(fresh_postgres_url)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: _calls(nodes[i % 2], i), range(2 * CALLS_PER_NODE)))
        assert _audited(fresh_postgres_url) - before == 4 * CALLS_PER_NODE
        for node in nodes:
            assert not [line for line in node.output if "ERROR" in line or "prepared statement" in line]
            assert [line for line in node.output if "PostgreSQL is reached through a connection pooler" in line]
    finally:
        for node in nodes:
            node.stop()


def test_a_statement_cut_by_the_deadline_is_cancelled_through_pgbouncer(tmp_path: Path, fresh_postgres_url: str,
                                                                         pgbouncer_transaction: PgBouncer) -> None:
    """The deadline's cancel goes to PgBouncer, which passes it to the server session running the
    statement: none is left waiting on the lock, and the next request after it is released succeeds."""
    node, = _nodes(tmp_path, pgbouncer_transaction.url_for(fresh_postgres_url), 1,
                   REGAUTH_DATABASE_TIMEOUT_SECONDS="1")
    try:
        ecr = node.client("ecr", read_timeout=60, connect_timeout=5)
        ecr.get_authorization_token()
        with psycopg.connect(fresh_postgres_url) as holder:
            holder.execute("LOCK TABLE issued_tokens IN ACCESS EXCLUSIVE MODE")
            with pytest.raises(ClientError) as info:
                ecr.get_authorization_token()
            assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
            (waiting,), = holder.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
                "AND pid <> pg_backend_pid()").fetchall()
            holder.rollback()
        assert waiting == 0
        assert ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    finally:
        node.stop()


def test_statements_are_prepared_on_the_server_only_without_a_pooler(fresh_postgres_url: str,
                                                                     pgbouncer_session: PgBouncer) -> None:
    """Straight to PostgreSQL psycopg still prepares what is used often (a token request costs less
    CPU); through PgBouncer, in either mode, nothing."""
    for url, threshold in ((fresh_postgres_url, 5), (pgbouncer_session.url_for(fresh_postgres_url), None)):
        engine = create_store_engine(url)
        try:
            with engine.connect() as conn:
                assert conn.connection.driver_connection.prepare_threshold == threshold, url
        finally:
            engine.dispose()


def test_statement_pool_mode_is_refused_at_start(tmp_path: Path, postgres_url: str, fresh_postgres_url: str) -> None:
    bouncer = start_pgbouncer(postgres_url, "statement")
    try:
        message = one_line(serve_once(tmp_path / "d", {"REGAUTH_DATABASE_URL": bouncer.url_for(fresh_postgres_url)}))
    finally:
        bouncer.stop()
    assert message == ("regauth: the connection pooler in front of PostgreSQL refuses transactions (PgBouncer's "
                       "pool_mode = statement): regauth's writes are transactions; use pool_mode = transaction or "
                       "session")


@pytest.mark.parametrize("given_in", ["url", "PGOPTIONS"])
def test_url_options_a_pooler_drops_are_refused_at_start(tmp_path: Path, postgres_url: str,
                                                         fresh_postgres_url: str, given_in: str) -> None:
    """PgBouncer refuses `options` unless told to ignore them; ignored, a search_path given there never
    reached the server, and regauth created a new, empty store in the public schema beside the one in
    the schema named."""
    with psycopg.connect(fresh_postgres_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA regauth")
    bouncer = start_pgbouncer(postgres_url, "transaction", ignore_startup_parameters="options")
    try:
        url = bouncer.url_for(fresh_postgres_url)
        if given_in == "url":
            env = {"REGAUTH_DATABASE_URL": url + "?options=-csearch_path%3Dregauth"}
        else:                   # libpq's own variable, which regauth's driver reads too
            env = {"REGAUTH_DATABASE_URL": url, "PGOPTIONS": "-c search_path=regauth"}
        message = one_line(serve_once(tmp_path / "d", env))
    finally:
        bouncer.stop()
    source = "REGAUTH_DATABASE_URL's options" if given_in == "url" else "PGOPTIONS"
    assert message.startswith(f"regauth: {source} (search_path) did not reach PostgreSQL: "
                              "the connection pooler in front of it drops them"), message
    with psycopg.connect(fresh_postgres_url) as conn:
        assert conn.execute("SELECT table_schema, table_name FROM information_schema.tables "
                            "WHERE table_schema IN ('public', 'regauth')").fetchall() == []
