"""REGAUTH_DATABASE_CONNECTIONS bounds the PostgreSQL connections a node opens, under load, with
every request still answered (fewer request threads, not failed checkouts); unset, a node opens as
many as its request threads want (README: 20 kept, 30 at a peak)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from tests.fixtures.server import start_server
from tests.wire.serve_runs import one_line, serve_once

pytestmark = pytest.mark.postgres


def _most_connections_under_load(data_dir: Path, url: str, env: dict[str, str]) -> int:
    """The most connections the node held to its database while 24 clients called it at once."""
    server = start_server(data_dir, {"REGAUTH_DATABASE_URL": url, "REGAUTH_RATE_LIMIT_PER_SECOND": "0", **env})
    name = url.rsplit("/", 1)[1]
    most, done = [0], threading.Event()

    def watch() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            while not done.is_set():
                (n,), = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                                     "AND pid <> pg_backend_pid()", (name,)).fetchall()
                most[0] = max(most[0], n)
                time.sleep(0.01)

    def calls(i: int) -> None:
        iam, ecr, sts = server.client("iam"), server.client("ecr"), server.client("sts")
        for j in range(6):
            iam.create_user(UserName=f"u-{i}-{j}")
            iam.list_users(MaxItems=5)
            ecr.get_authorization_token()
            sts.get_caller_identity()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        with ThreadPoolExecutor(24) as pool:
            list(pool.map(calls, range(24)))            # any failed call fails the test
        assert len(server.client("iam").list_users(MaxItems=1000)["Users"]) == 1 + 24 * 6
    finally:
        done.set()
        watcher.join()
        server.stop()
    return most[0]


def test_a_node_opens_no_more_connections_than_it_is_given(tmp_path: Path, fresh_postgres_url: str) -> None:
    assert _most_connections_under_load(tmp_path / "d", fresh_postgres_url, {"REGAUTH_DATABASE_CONNECTIONS": "4"}) <= 4


def test_unset_a_node_opens_more_under_the_same_load(tmp_path: Path, fresh_postgres_url: str) -> None:
    """What the bound above holds back: without it the same load takes more than 4."""
    most = _most_connections_under_load(tmp_path / "d", fresh_postgres_url, {})
    assert 4 < most <= 30


@pytest.mark.parametrize("value", ["3", "1001", "many"])
def test_the_bound_is_checked(tmp_path: Path, value: str) -> None:
    message = one_line(serve_once(tmp_path / "d", {"REGAUTH_DATABASE_CONNECTIONS": value}))
    assert "REGAUTH_DATABASE_CONNECTIONS" in message
