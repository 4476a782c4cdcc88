"""`serve` on PostgreSQL: a database that is alive but gives no answer (its processes stopped, as a
frozen host or a paused container; a statement waiting on a lock held elsewhere) fails the request
after REGAUTH_DATABASE_TIMEOUT_SECONDS, in the dialect's own envelope and with one log line, instead
of holding it (and every request behind it) for as long as the database stays stuck. Once the database
answers again, so does regauth."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from botocore.exceptions import ClientError

from tests.fixtures.postgres import PostgresServer, create_database, start_postgres
from tests.fixtures.server import Keys, RegauthServer, start_server
from tests.wire.serve_runs import one_line, serve_once

pytestmark = pytest.mark.postgres

DEADLINE = 2
NO_ANSWER = f"the store is unavailable: PostgreSQL gave no answer within {DEADLINE} s"


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test's own: it is going to be stopped."""
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


def _serve(data_dir: Path, url: str) -> RegauthServer:
    return start_server(data_dir, {"REGAUTH_DATABASE_URL": url, "REGAUTH_DATABASE_TIMEOUT_SECONDS": str(DEADLINE)})


def _processes(pg: PostgresServer) -> list[int]:
    postmaster = int((pg.data / "postmaster.pid").read_text().split()[0])
    children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True, text=True).stdout.split()
    return [postmaster, *map(int, children)]


def _fails_in_envelope(call, code: str) -> ClientError:
    """The call fails with a 500 in its dialect's envelope; a read timeout (the request held while the
    database is stuck: the client gives up long after the deadline) fails the test."""
    with pytest.raises(ClientError) as info:
        call()
    err = info.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 500, err
    assert err["Error"]["Code"] == code, err
    return info.value


def _denied(call) -> ClientError:
    with pytest.raises(ClientError) as info:
        call()
    assert info.value.response["Error"]["Code"] == "AccessDeniedException", info.value.response
    return info.value


def _log_lines(server: RegauthServer, needle: str) -> list[str]:
    return [line for line in server.output if needle in line]


def test_a_stopped_database_fails_requests_and_serving_resumes_with_it(tmp_path: Path,
                                                                        own_postgres: PostgresServer) -> None:
    server = _serve(tmp_path / "d", create_database(own_postgres.url))
    try:
        ecr = server.client("ecr", read_timeout=60, connect_timeout=5)
        ecr.get_authorization_token()
        frozen = _processes(own_postgres)
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        try:
            _fails_in_envelope(ecr.get_authorization_token, "ServerException")
            _fails_in_envelope(ecr.get_authorization_token, "ServerException")    # on a new connection too
        finally:
            for pid in frozen:
                os.kill(pid, signal.SIGCONT)
        assert ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
        time.sleep(0.2)
        lines = _log_lines(server, "the store is unavailable")
        assert lines and all("ecr request" in line for line in lines), lines
        assert any(NO_ANSWER in line for line in lines), lines
        assert not _log_lines(server, "Traceback")
    finally:
        server.stop()


def test_a_statement_held_by_a_lock_fails_after_the_deadline(tmp_path: Path, fresh_postgres_url: str) -> None:
    """The token's records wait on a lock another session holds: the request is answered, as a failure
    (no token handed out), and the next one after the lock is released gets its token. The same for a
    write that goes through a transaction of its own (IAM CreateUser)."""
    server = _serve(tmp_path / "d", fresh_postgres_url)
    try:
        ecr = server.client("ecr", read_timeout=60, connect_timeout=5)
        iam = server.client("iam", read_timeout=60, connect_timeout=5)
        ecr.get_authorization_token()
        with psycopg.connect(fresh_postgres_url) as holder:
            holder.execute("LOCK TABLE issued_tokens, users IN ACCESS EXCLUSIVE MODE")
            _fails_in_envelope(ecr.get_authorization_token, "ServerException")
            _fails_in_envelope(lambda: iam.create_user(UserName="held-by-a-lock"), "InternalFailure")
            holder.rollback()
        assert ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
        assert iam.create_user(UserName="after-the-lock")["User"]["UserName"] == "after-the-lock"
        time.sleep(0.2)
        assert len(_log_lines(server, NO_ANSWER)) == 2, server.output[-10:]
        assert not _log_lines(server, "Traceback")
    finally:
        server.stop()


def _waiting_on_a_lock(url: str, holder_pid: int) -> int:
    """The database's sessions, other than the holder's, waiting on a lock now."""
    with psycopg.connect(url, autocommit=True) as conn:
        (n,), = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                             "AND wait_event_type = 'Lock' AND pid <> %s", (holder_pid,)).fetchall()
    return n


def test_a_statement_cut_by_the_deadline_is_cancelled_not_left_to_run(tmp_path: Path,
                                                                      fresh_postgres_url: str) -> None:
    """Four requests at once, their records (a denial's audit events: no unique key) waiting on a lock:
    each is answered (a denial is, stored or not) once the deadline cuts the statement, which is
    cancelled on the server: no session is left waiting on the lock, and once the lock goes nothing
    of theirs is stored, neither late nor twice (their batch is not retried request by request)."""
    server = _serve(tmp_path / "d", fresh_postgres_url)
    try:
        iam = server.client("iam")
        iam.create_user(UserName="nopriv")
        key = iam.create_access_key(UserName="nopriv")["AccessKey"]
        keys = Keys(key["AccessKeyId"], key["SecretAccessKey"])
        ecr = server.client("ecr", keys, read_timeout=60, connect_timeout=5)
        with psycopg.connect(fresh_postgres_url) as holder:
            holder.execute("LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE")
            with ThreadPoolExecutor(4) as pool:
                denials = list(pool.map(lambda _: _denied(ecr.get_authorization_token), range(4)))
            request_ids = [d.response["ResponseMetadata"]["RequestId"] for d in denials]
            deadline = time.monotonic() + 10
            while _waiting_on_a_lock(fresh_postgres_url, holder.info.backend_pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert _waiting_on_a_lock(fresh_postgres_url, holder.info.backend_pid) == 0
            holder.rollback()
        time.sleep(0.5)
        with psycopg.connect(fresh_postgres_url) as conn:
            (stored,), = conn.execute("SELECT count(*) FROM audit_events WHERE request_id = ANY(%s)",
                                      (request_ids,)).fetchall()
        assert stored == 0
        assert len(_log_lines(server, "not known to be stored: audit denied ecr:GetAuthorizationToken")) == 4
    finally:
        server.stop()


def test_requests_queued_behind_a_stopped_database_are_failed_unstarted(tmp_path: Path,
                                                                        own_postgres: PostgresServer) -> None:
    """One request thread (four connections), the database stopped, eight requests at once: each
    started request waits for the deadline or a new connection's connect_timeout, one after the other,
    so without a bound the eighth waited for all seven before it. A request that has waited longer than
    the deadline for the thread is answered at once, unstarted, in its envelope, and one line says so;
    every request is answered and the database, once back, serves the next."""
    url = create_database(own_postgres.url) + f"?connect_timeout={DEADLINE}"
    server = start_server(tmp_path / "d", {"REGAUTH_DATABASE_URL": url, "REGAUTH_DATABASE_CONNECTIONS": "4",
                                           "REGAUTH_DATABASE_TIMEOUT_SECONDS": str(DEADLINE)})
    try:
        ecr = server.client("ecr", read_timeout=120, connect_timeout=5)
        ecr.get_authorization_token()
        frozen = _processes(own_postgres)
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        try:
            with ThreadPoolExecutor(8) as pool:
                fail = lambda _: _fails_in_envelope(ecr.get_authorization_token, "ServerException")  # noqa: E731
                first = pool.submit(fail, 0)
                time.sleep(0.2)     # it holds the thread: at least the deadline, then the cancel's wait
                rest = pool.map(fail, range(7))        # submitted now, behind it
                failures = [first.result(), *rest]
        finally:
            for pid in frozen:
                os.kill(pid, signal.SIGCONT)
        assert len(failures) == 8
        assert ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
        time.sleep(0.2)
        unstarted = _log_lines(server, "was failed without being started")
        assert len(unstarted) == 1, server.output[-12:]     # one line at once, the rest summed up later
        assert re.search(r"regauth.http a request waited more than 2 s for a request thread", unstarted[0]), unstarted
        assert _log_lines(server, NO_ANSWER), server.output[-12:]
        assert not _log_lines(server, "Traceback")
    finally:
        server.stop()


def _backend_state(url: str, pid: int) -> tuple[str, str]:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT coalesce(state, ''), coalesce(wait_event_type, '') FROM pg_stat_activity "
                           "WHERE pid = %s", (pid,)).fetchone()
    return (row[0], row[1]) if row else ("gone", "")


def _wait_for(predicate, what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_frozen_node_holding_a_write_lock_is_ended_by_the_database(tmp_path: Path, fresh_postgres_url: str) -> None:
    """Node A is stopped (SIGSTOP) inside a CreateUser transaction, after it took the account's advisory
    lock: its session sits idle in the transaction, holding the lock. Node B's CreateUser in that account
    waited on it until B's own deadline cut it (a 500), and so would every such write until A resumed.
    PostgreSQL now ends A's session once it has been idle that long (A's REGAUTH_DATABASE_TIMEOUT_SECONDS),
    which frees the lock: B's write goes through."""
    a = start_server(tmp_path / "a", {"REGAUTH_DATABASE_URL": fresh_postgres_url,
                                      "REGAUTH_DATABASE_TIMEOUT_SECONDS": str(DEADLINE)})
    key = (tmp_path / "a" / "master.key").read_text().strip()
    b = start_server(tmp_path / "b", {"REGAUTH_DATABASE_URL": fresh_postgres_url, "REGAUTH_MASTER_KEY": key,
                                      "REGAUTH_DATABASE_TIMEOUT_SECONDS": "60"})
    stopped = False
    try:
        iam_a = a.client("iam", read_timeout=120, connect_timeout=5)
        iam_b = b.client("iam", a.admin, read_timeout=120, connect_timeout=5)
        iam_a.create_user(UserName="warm-up")
        with psycopg.connect(fresh_postgres_url) as holder, ThreadPoolExecutor(1) as pool:
            # the write's last statement (the generation's bump, after the advisory lock and the insert)
            # waits on this; reads of the table do not
            holder.execute("LOCK TABLE generation IN EXCLUSIVE MODE")
            stuck = pool.submit(lambda: iam_a.create_user(UserName="frozen-in-its-write"))
            waiting: list[int] = []

            def a_waits_on_the_table() -> bool:
                with psycopg.connect(fresh_postgres_url, autocommit=True) as watcher:
                    rows = watcher.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                           "AND wait_event_type = 'Lock' AND pid <> %s",
                                           (holder.info.backend_pid,)).fetchall()
                waiting[:] = [r[0] for r in rows]
                return len(waiting) == 1

            _wait_for(a_waits_on_the_table, "node A's INSERT never waited on the table lock")
            os.kill(a.process.pid, signal.SIGSTOP)
            stopped = True
            holder.rollback()           # A's INSERT completes on the server; A, stopped, cannot commit
            _wait_for(lambda: _backend_state(fresh_postgres_url, waiting[0])[0] != "active",
                      "node A's session never went idle")
            assert iam_b.create_user(UserName="after-the-freeze")["User"]["UserName"] == "after-the-freeze"
            assert _backend_state(fresh_postgres_url, waiting[0])[0] == "gone"
            os.kill(a.process.pid, signal.SIGCONT)
            stopped = False
            with pytest.raises(ClientError):           # its transaction was ended under it
                stuck.result(timeout=60)
        names = {u["UserName"] for u in iam_b.list_users()["Users"]}
        assert "after-the-freeze" in names and "frozen-in-its-write" not in names
    finally:
        if stopped:
            os.kill(a.process.pid, signal.SIGCONT)
        a.stop()
        b.stop()


@pytest.mark.parametrize("value", ["0", "3601", "ten"])
def test_the_deadline_is_bounded(tmp_path: Path, value: str) -> None:
    message = one_line(serve_once(tmp_path / "d", {"REGAUTH_DATABASE_TIMEOUT_SECONDS": value}))
    assert "REGAUTH_DATABASE_TIMEOUT_SECONDS" in message
