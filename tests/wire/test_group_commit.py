"""Group commit, seen from outside: many concurrent token requests are each stored and audited before
they are answered, on both stores; a token whose records cannot be stored is never handed out."""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.fixtures.server import Keys, regauth_cli, server_env, start_server

CONCURRENT = 24


def _jti(ecr_token: str) -> str:
    """The token id inside an ECR authorization token: base64("AWS:" + rgecr_<kid>.<claims>.<mac>)."""
    password = base64.b64decode(ecr_token).decode().split(":", 1)[1]
    claims = password.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["jti"]


def _audit(data_dir: Path, env: dict[str, str], limit: int) -> list[dict]:
    out = regauth_cli("admin", "audit", "--limit", str(limit), data_dir=data_dir, env=env)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_concurrent_token_requests_are_each_stored_and_audited(tmp_path: Path, store: str,
                                                              request: pytest.FixtureRequest) -> None:
    env = server_env()
    if store == "postgresql":
        env["REGAUTH_DATABASE_URL"] = request.getfixturevalue("fresh_postgres_url")
    server = start_server(tmp_path / "data", env)
    try:
        keys = Keys(env["REGAUTH_BOOTSTRAP_ACCESS_KEY_ID"], env["REGAUTH_BOOTSTRAP_SECRET_ACCESS_KEY"])
        start = threading.Barrier(CONCURRENT)

        def one(_: int) -> str:
            client = server.client("ecr", keys)
            start.wait(timeout=30)
            return client.get_authorization_token()["authorizationData"][0]["authorizationToken"]

        with ThreadPoolExecutor(CONCURRENT) as pool:
            tokens = list(pool.map(one, range(CONCURRENT)))
        # reading through another process: what the server answered with is already stored
        cli_env = {k: v for k, v in env.items() if k == "REGAUTH_DATABASE_URL"}
        events = _audit(tmp_path / "data", cli_env, limit=CONCURRENT * 4)
    finally:
        server.stop()
    issued = {_jti(t) for t in tokens}
    assert len(issued) == CONCURRENT
    audited = {e["token_id"] for e in events if e["outcome"] == "allowed" and e["action"] == "ecr:GetAuthorizationToken"}
    assert issued <= audited


def test_every_token_answered_before_the_server_is_killed_is_in_the_store(tmp_path: Path) -> None:
    # SIGKILL, no shutdown: what was answered was committed first (WAL, synchronous=NORMAL survives a
    # process crash), and the restarted server recovers the store and goes on issuing.
    env = server_env()
    server = start_server(tmp_path / "data", env)
    keys = Keys(env["REGAUTH_BOOTSTRAP_ACCESS_KEY_ID"], env["REGAUTH_BOOTSTRAP_SECRET_ACCESS_KEY"])
    try:
        with ThreadPoolExecutor(8) as pool:
            tokens = list(pool.map(lambda _: server.client("ecr", keys).get_authorization_token()
                                   ["authorizationData"][0]["authorizationToken"], range(CONCURRENT)))
    finally:
        server.process.kill()
        server.process.wait()
    events = _audit(tmp_path / "data", {}, limit=CONCURRENT * 4)
    audited = {e["token_id"] for e in events if e["outcome"] == "allowed"}
    assert {_jti(t) for t in tokens} <= audited
    db = sqlite3.connect(tmp_path / "data" / "regauth.db")
    stored = {row[0] for row in db.execute("SELECT token_id FROM issued_tokens")}
    db.close()
    assert {_jti(t) for t in tokens} <= stored
    again = start_server(tmp_path / "data", env)
    try:
        assert _jti(again.client("ecr", keys).get_authorization_token()["authorizationData"][0]["authorizationToken"])
    finally:
        again.stop()


def test_a_token_whose_records_cannot_be_stored_is_never_answered(tmp_path: Path) -> None:
    env = server_env()
    server = start_server(tmp_path / "data", env)
    keys = Keys(env["REGAUTH_BOOTSTRAP_ACCESS_KEY_ID"], env["REGAUTH_BOOTSTRAP_SECRET_ACCESS_KEY"])
    db = tmp_path / "data" / "regauth.db"
    try:
        client = server.client("ecr", keys, read_timeout=60)
        client.get_authorization_token()                     # warm: keys and policies cached
        blocker = sqlite3.connect(db, isolation_level=None, timeout=1)
        blocker.execute("BEGIN IMMEDIATE")                   # another process holds the write lock
        try:
            with pytest.raises(ClientError) as refused:       # past the store's 5 s busy timeout
                client.get_authorization_token()
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        error = refused.value.response
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert error["Error"]["Code"] in ("InternalFailure", "ServerException")
        assert "authorizationData" not in error
        after = client.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    finally:
        server.stop()
    count = sqlite3.connect(db).execute(
        "SELECT COUNT(*) FROM audit_events WHERE action = 'ecr:GetAuthorizationToken' AND outcome = 'allowed'"
    ).fetchone()[0]
    assert count == 2                                        # the warm-up and the last one: nothing else
    assert _jti(after)


def test_on_postgresql_a_batch_that_cannot_be_stored_leaves_nothing_and_is_never_answered(
        tmp_path: Path, fresh_postgres_url: str) -> None:
    """A batch is one statement for both tables: a refused audit row takes its token rows with it."""
    import psycopg

    env = {**server_env(), "REGAUTH_DATABASE_URL": fresh_postgres_url}
    server = start_server(tmp_path / "data", env)
    keys = Keys(env["REGAUTH_BOOTSTRAP_ACCESS_KEY_ID"], env["REGAUTH_BOOTSTRAP_SECRET_ACCESS_KEY"])
    db = psycopg.connect(fresh_postgres_url, autocommit=True)

    def count(sql: str, *params: str) -> int:
        return db.execute(sql, params).fetchone()[0]  # type: ignore[index]
    try:
        client = server.client("ecr", keys, read_timeout=60)
        client.get_authorization_token()                     # warm: keys and policies cached
        tokens_before = count("SELECT COUNT(*) FROM issued_tokens")
        db.execute("ALTER TABLE audit_events ADD CONSTRAINT refuse_ecr_tokens "
                   "CHECK (action <> 'ecr:GetAuthorizationToken') NOT VALID")
        try:
            with pytest.raises(ClientError) as refused:
                client.get_authorization_token()
            assert count("SELECT COUNT(*) FROM issued_tokens") == tokens_before   # its token row went too
        finally:
            db.execute("ALTER TABLE audit_events DROP CONSTRAINT refuse_ecr_tokens")
        error = refused.value.response
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert "authorizationData" not in error
        after = client.get_authorization_token()["authorizationData"][0]["authorizationToken"]  # the writer recovers
        assert count("SELECT COUNT(*) FROM issued_tokens") == tokens_before + 1
        assert count("SELECT COUNT(*) FROM issued_tokens WHERE token_id = %s", _jti(after)) == 1
        assert count("SELECT COUNT(*) FROM audit_events WHERE action = 'ecr:GetAuthorizationToken' "
                     "AND outcome = 'allowed'") == 2        # the warm-up and the last one: nothing else
    finally:
        db.close()
        server.stop()
