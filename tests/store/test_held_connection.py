"""The request path's statements on PostgreSQL (the generation read, the group commit's batch): a held
autocommit connection each, replaced when it fails or ages."""

from __future__ import annotations

import secrets
import time

import pytest
import sqlalchemy as sa

from regauth.domain.principals import User
from regauth.store.held_connection import HeldConnection
from regauth.store.open import open_store
from tests.fixtures.pg_proxy import AnswerLosingProxy

pytestmark = pytest.mark.postgres

ACCT = "123456789012"
T0 = 1_795_000_000.0
KEY = bytes(range(32))
NEVER = ("SELECT 1 WHERE false", ())          # a write that never lands before it is sent


@pytest.fixture
def nodes(fresh_postgres_url: str):
    key = secrets.token_bytes(32)
    a, b = open_store(fresh_postgres_url, key), open_store(fresh_postgres_url, key)   # two nodes, one database
    a.ensure_account(ACCT, T0)
    yield a, b
    a.close()
    b.close()


def _state_of(admin: sa.Engine, pid: int) -> str | None:
    with admin.connect() as conn:
        return conn.execute(sa.text("SELECT state FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}).scalar()


def _gone(admin: sa.Engine, pid: int) -> bool:
    """The backend has exited (it does so just after its client closes: allow it a moment)."""
    deadline = time.monotonic() + 5
    while _state_of(admin, pid) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_write_on_another_node_is_seen_by_the_next_read(nodes) -> None:
    a, b = nodes
    before = b.generation()
    a.create_user(User(ACCT, "alice", "AIDAALICE", f"arn:aws:iam::{ACCT}:user/alice", "/", T0))
    assert b.generation() == before + 1            # no snapshot or cache kept between reads
    assert b.generation() == before + 1


def test_the_held_connection_is_left_idle_not_inside_a_transaction(fresh_postgres_url: str) -> None:
    engine = sa.create_engine(fresh_postgres_url)
    held = HeldConnection(engine)
    try:
        pid = held.read_one("SELECT pg_backend_pid()")[0]
        assert held.read_one("SELECT pg_backend_pid()")[0] == pid      # the same connection, kept
        assert _state_of(engine, pid) == "idle"                        # autocommit: no open snapshot
        held.close()
        assert _gone(engine, pid)                                      # closed, not parked in the pool
    finally:
        held.close()
        engine.dispose()


def test_a_connection_the_server_dropped_is_replaced_and_the_statement_sent_again(fresh_postgres_url: str) -> None:
    """PostgreSQL restarted, or an idle connection was cut: the next statement finds its held
    connection dead and goes out once more on a new one, instead of failing a request."""
    engine = sa.create_engine(fresh_postgres_url)
    held = HeldConnection(engine)
    try:
        held.execute("CREATE TABLE t (n integer PRIMARY KEY)", (), landed=NEVER)
        admin = sa.create_engine(fresh_postgres_url, poolclass=sa.pool.NullPool)
        for statement in ("read", "write"):
            pid = held.read_one("SELECT pg_backend_pid()")[0]
            with engine.connect() as conn:          # an idle connection left in the pool, as a server has
                idle = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
            with admin.connect() as conn:           # a restart, as the pool sees it: every connection dies
                for victim in (pid, idle):
                    assert conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": victim}).scalar() is True
            assert _gone(admin, pid) and _gone(admin, idle)
            if statement == "read":
                assert held.read_one("SELECT pg_backend_pid()")[0] != pid
            else:
                held.execute("INSERT INTO t VALUES (%s)", (1,), landed=("SELECT 1 FROM t WHERE n = %s", (1,)))
                with engine.connect() as conn:
                    assert conn.execute(sa.text("SELECT array_agg(n) FROM t")).scalar() == [1]
        # a new connection that fails is not tried again: the failure is the database's answer
        held.close()
        engine.dispose()
        broken = sa.create_engine(fresh_postgres_url.rsplit("/", 1)[0] + "/no_such_database")
        with pytest.raises(Exception):
            HeldConnection(broken).read_one("SELECT 1")
        broken.dispose()
    finally:
        held.close()
        engine.dispose()


def test_an_aged_connection_is_replaced(fresh_postgres_url: str) -> None:
    engine = sa.create_engine(fresh_postgres_url)
    held = HeldConnection(engine, recycle=0.0)
    try:
        first = held.read_one("SELECT pg_backend_pid()")[0]
        second = held.read_one("SELECT pg_backend_pid()")[0]
        assert first != second
        assert _gone(engine, first)                    # the old one was closed, not leaked
    finally:
        held.close()
        engine.dispose()


def test_a_statement_is_committed_on_its_own_and_a_failed_one_leaves_nothing(fresh_postgres_url: str) -> None:
    engine = sa.create_engine(fresh_postgres_url)
    held = HeldConnection(engine)
    try:
        held.execute("CREATE TABLE t (n integer PRIMARY KEY)", (), landed=NEVER)
        held.execute("WITH a AS (INSERT INTO t VALUES (%s)) INSERT INTO t VALUES (%s)", (1, 2), landed=NEVER)
        with engine.connect() as conn:                 # seen by another connection at once: committed
            assert conn.execute(sa.text("SELECT array_agg(n ORDER BY n) FROM t")).scalar() == [1, 2]
        pid = held.read_one("SELECT pg_backend_pid()")[0]
        with pytest.raises(Exception):                 # 3 is new, 2 is taken: the statement fails whole
            held.execute("WITH a AS (INSERT INTO t VALUES (%s)) INSERT INTO t VALUES (%s)", (3, 2), landed=NEVER)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT array_agg(n ORDER BY n) FROM t")).scalar() == [1, 2]
        assert held.read_one("SELECT pg_backend_pid()")[0] != pid      # a failed connection is not reused
        assert _gone(engine, pid)
    finally:
        held.close()
        engine.dispose()


def test_connections_are_bounded_against_a_database_that_stops_answering(fresh_postgres_url: str) -> None:
    """Connect timeout, keepalives and TCP_USER_TIMEOUT on every connection, unless the URL says
    otherwise: a partition fails requests instead of holding them for ever."""
    from regauth.store.open import create_store_engine

    for url, timeout in ((fresh_postgres_url, "10"), (fresh_postgres_url + "?connect_timeout=3", "3")):
        engine = create_store_engine(url)
        try:
            conn = engine.raw_connection()
            params = conn.driver_connection.info.get_parameters()
            conn.close()
        finally:
            engine.dispose()
        assert (params["connect_timeout"], params["tcp_user_timeout"], params["keepalives_idle"]) == (
            timeout, "30000", "30")


def test_a_write_whose_answer_was_lost_is_not_sent_again(fresh_postgres_url: str) -> None:
    """The statement was committed and the connection broke before its answer came back: the new
    connection is asked first whether it landed, and it is not stored a second time (audit events
    have no unique key that would refuse a copy)."""
    url = sa.engine.make_url(fresh_postgres_url)
    proxy = AnswerLosingProxy(url.port)
    engine = sa.create_engine(url.set(port=proxy.port))
    held = HeldConnection(engine)
    try:
        held.execute("CREATE TABLE log (note text)", (), landed=NEVER)          # no unique key
        found = ("SELECT 1 FROM log WHERE note = %s", ("lost-answer",))
        proxy.lose_the_answer_to(b"lost-answer")
        held.execute("INSERT INTO log VALUES (%s)", ("lost-answer",), landed=found)
        assert proxy.lost.is_set()                        # the first attempt's answer was lost
        held.execute("INSERT INTO log VALUES (%s)", ("sent-once-more",), landed=NEVER)
        with engine.connect() as conn:
            notes = conn.execute(sa.text("SELECT note FROM log ORDER BY note")).scalars().all()
        assert notes == ["lost-answer", "sent-once-more"]
    finally:
        held.close()
        engine.dispose()
        proxy.close()


@pytest.mark.parametrize("with_token", [False, True])
def test_a_batch_whose_answer_was_lost_is_stored_once_and_answered(fresh_postgres_url: str, with_token: bool) -> None:
    """The group commit's batch (one statement) committed, its answer lost: the store finds it on the
    new connection and reports it stored, rather than storing its audit events twice or refusing a
    token that is stored."""
    from regauth.domain.principals import AuditEvent, IssuedToken

    url = sa.engine.make_url(fresh_postgres_url)
    open_store(fresh_postgres_url, KEY).close()                  # the schema, made directly
    proxy = AnswerLosingProxy(url.port)
    store = open_store(url.set(port=proxy.port).render_as_string(hide_password=False), KEY)
    try:
        warm = AuditEvent(T0, "req-warm", f"arn:aws:iam::{ACCT}:user/a", "ecr:GetAuthorizationToken", "*",
                          "denied", "127.0.0.1", "", "")
        store.record_batch([], [warm])                           # the writer's connection, held from before
        tokens = [IssuedToken("tok-lost", "ecr", warm.principal_arn, ACCT, "*", T0, T0 + 60)] if with_token else []
        lost = AuditEvent(T0 + 1, "req-lost-answer", warm.principal_arn, "ecr:GetAuthorizationToken", "*",
                          "allowed" if with_token else "denied", "127.0.0.1", "tok-lost" if with_token else "", "")
        proxy.lose_the_answer_to(b"req-lost-answer")
        store.record_batch(tokens, [lost])
        assert proxy.lost.is_set()
        events = [e.request_id for e in store.list_audit_events(limit=10)]
        assert sorted(events) == ["req-lost-answer", "req-warm"]
        assert (store.get_issued_token("tok-lost") is not None) == with_token
    finally:
        store.close()
        proxy.close()
