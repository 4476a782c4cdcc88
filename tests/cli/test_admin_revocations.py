"""`regauth admin revoke` and `regauth admin list-revocations`, run as the real command against the
store of a real server that issued the token."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Iterator

import pytest

from tests.fixtures.server import RegauthServer, regauth_cli, server_env, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegauthServer]:
    """A server of its own: revoking a principal here must not touch other tests' servers."""
    s = start_server(tmp_path_factory.mktemp("regauth-revocations"), server_env("444455556666"))
    yield s
    s.stop()


def _ecr_token(server: RegauthServer) -> tuple[str, str]:
    """(password, token id) of an ECR token the server issues to its admin."""
    data = server.client("ecr").get_authorization_token()["authorizationData"][0]
    password = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)[1]
    claims = password.split(".")[1]
    return password, json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["jti"]


def _cli(server: RegauthServer, *args: str):
    return regauth_cli("admin", *args, data_dir=server.data_dir)


def test_revoke_a_token_by_id_then_list_it(server: RegauthServer) -> None:
    _, token_id = _ecr_token(server)
    proc = _cli(server, "revoke", "--token-id", token_id, "--reason", "pasted in a CI log")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) == {"Kind", "Subject", "NotBefore", "CreatedAt", "Reason"}
    assert (out["Kind"], out["Subject"], out["Reason"]) == ("token", token_id, "pasted in a CI log")
    assert out["NotBefore"] == out["CreatedAt"]
    again = _cli(server, "revoke", "--token-id", token_id, "--reason", "twice")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == out                               # the first revocation stands
    listed = _cli(server, "list-revocations")
    assert listed.returncode == 0, listed.stderr
    assert out in json.loads(listed.stdout)["Revocations"]
    audit = _cli(server, "audit", "--limit", "20")
    events = [json.loads(line) for line in audit.stdout.splitlines()]
    mine = [e for e in events if e["action"] == "regauth:RevokeToken" and e["token_id"] == token_id]
    assert len(mine) == 2 and mine[0]["resource"] == f"arn:aws:iam::{server.account_id}:user/admin"


def test_revoke_a_principal_and_list_oldest_first(server: RegauthServer) -> None:
    arn = f"arn:aws:iam::{server.account_id}:user/ci-{server.process.pid}"
    unknown = _cli(server, "revoke", "--principal-arn", arn)        # a typo would revoke nothing: refused
    assert unknown.returncode == 1 and "No user or role of this store has that ARN" in unknown.stderr
    acct = server.account_id
    for matches_no_token in (f"arn:aws:iam::{acct}:usr/admin", f"arn:aws:iam::{acct}:root",
                             f"arn:aws:iam::{acct}:group/g", f"arn:aws:ecr:us-east-1:{acct}:repository/x"):
        refused = _cli(server, "revoke", "--principal-arn", matches_no_token)
        assert refused.returncode == 1 and "No user or role of this store has that ARN" in refused.stderr
    server.client("iam").create_user(UserName=f"ci-{server.process.pid}")
    first = _cli(server, "revoke", "--principal-arn", arn)
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    assert (out["Kind"], out["Subject"], out["Reason"]) == ("principal", arn, "")
    listed = json.loads(_cli(server, "list-revocations").stdout)["Revocations"]
    assert listed[-1] == out
    times = [r["CreatedAt"] for r in listed]
    assert times == sorted(times)


def test_an_unknown_token_id_fails_clearly(server: RegauthServer) -> None:
    proc = _cli(server, "revoke", "--token-id", "0660f69db0226fNOSUCHTOKENxxxxxxxxxxxxxxxxxxxxx")
    assert proc.returncode != 0 and proc.stdout == ""
    assert "No issued token has the id 0660f69db0226fNOSUCHTOKEN" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_token_the_store_has_no_record_of_can_still_be_revoked(server: RegauthServer) -> None:
    """A store restored from a backup taken before a token was issued: the token still verifies (it
    is self-verifying) but has no index entry. `--unindexed` revokes it; the realm then refuses it."""
    import sqlite3
    import urllib.error
    import urllib.request

    password, token_id = _ecr_token(server)
    host = server.client("ecr").get_authorization_token()["authorizationData"][0]["proxyEndpoint"].split("://")[1]
    with sqlite3.connect(server.data_dir / "regauth.db") as db:
        assert db.execute("DELETE FROM issued_tokens WHERE token_id = ?", (token_id,)).rowcount == 1

    def realm() -> int:
        req = urllib.request.Request(f"{server.url}/token?service={host}", headers={
            "Authorization": "Basic " + base64.b64encode(f"AWS:{password}".encode()).decode()})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    assert realm() == 200
    refused = _cli(server, "revoke", "--token-id", token_id)
    assert refused.returncode != 0 and "--unindexed revokes it anyway" in refused.stderr
    done = _cli(server, "revoke", "--token-id", token_id, "--unindexed", "--reason", "restored store")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["Subject"] == token_id
    assert realm() == 401
    # a token from a regauth older than 2026-11-23 (ids without the time prefix), still valid after an upgrade
    legacy = "0t7og-Gyvqo444o71rZiGsI-Yev9Jk6t"
    done = _cli(server, "revoke", "--token-id", legacy, "--unindexed")
    assert done.returncode == 0, done.stderr
    assert legacy in [r["Subject"] for r in json.loads(_cli(server, "list-revocations").stdout)["Revocations"]]
    secretish = _cli(server, "revoke", "--token-id", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "--unindexed")
    assert secretish.returncode != 0 and "not shaped like a token id" in secretish.stderr
    assert "wJalrXUtnFEMI" not in secretish.stderr


def test_a_whole_token_given_as_the_id_is_refused_and_not_echoed(server: RegauthServer) -> None:
    password, token_id = _ecr_token(server)
    proc = _cli(server, "revoke", "--token-id", password)
    assert proc.returncode != 0 and proc.stdout == ""
    assert "not a token id" in proc.stderr
    assert password not in proc.stderr and password.split(".")[2] not in proc.stderr
    assert token_id not in _cli(server, "list-revocations").stdout


def test_a_bad_principal_arn_fails_clearly(server: RegauthServer) -> None:
    proc = _cli(server, "revoke", "--principal-arn", "alice")
    assert proc.returncode != 0 and "must be an ARN" in proc.stderr


@pytest.mark.parametrize("args", [[], ["--token-id", "t", "--principal-arn", "arn:aws:iam::1:user/x"]])
def test_exactly_one_of_token_id_and_principal_arn(server: RegauthServer, args: list[str]) -> None:
    proc = _cli(server, "revoke", *args)
    assert proc.returncode == 2
    assert "--token-id" in proc.stderr and "--principal-arn" in proc.stderr


def test_list_revocations_on_a_new_store_is_empty(tmp_path: Path) -> None:
    fresh = start_server(tmp_path, server_env("555566667777"))
    try:
        proc = regauth_cli("admin", "list-revocations", data_dir=tmp_path)
    finally:
        fresh.stop()
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"Revocations": []}


def test_help_shows_examples() -> None:
    import subprocess

    from tests.fixtures.server import REGAUTH, REPO

    out = subprocess.run([*REGAUTH, "admin", "revoke", "--help"], capture_output=True, text=True, cwd=REPO,
                         timeout=60)
    assert out.returncode == 0
    assert "regauth admin revoke --token-id" in out.stdout and "regauth admin revoke --principal-arn" in out.stdout


def test_admin_commands_refuse_a_store_no_server_has_started_on(tmp_path: Path) -> None:
    """A revocation sent to a mistyped --data-dir must not land in a new empty store and report
    success: no server would ever see it."""
    for args in (["admin", "revoke", "--principal-arn", "arn:aws:iam::123456789012:user/admin", "--reason", "x"],
                 ["admin", "rotate-signing-key", "--revoke-previous"], ["admin", "list-revocations"]):
        proc = regauth_cli(*args, data_dir=tmp_path / "typo")
        assert proc.returncode == 2 and "no regauth store at" in proc.stderr and "Traceback" not in proc.stderr
        assert not (tmp_path / "typo").exists()
    # the store named by REGAUTH_DATABASE_URL, with a data dir that holds no master key: none is made
    fresh = start_server(tmp_path / "real", server_env("666677778888"))
    fresh.stop()
    proc = regauth_cli("admin", "list-revocations", data_dir=tmp_path / "other",
                       env={"REGAUTH_DATABASE_URL": f"sqlite:///{tmp_path / 'real' / 'regauth.db'}"})
    assert proc.returncode == 2 and "no master key at" in proc.stderr
    assert not (tmp_path / "other").exists()


@pytest.mark.postgres
def test_admin_commands_refuse_a_database_no_server_has_started_on(tmp_path: Path, fresh_postgres_url: str) -> None:
    proc = regauth_cli("admin", "list-revocations", data_dir=tmp_path,
                       env={"REGAUTH_DATABASE_URL": fresh_postgres_url, "REGAUTH_MASTER_KEY": "A" * 43 + "="})
    assert proc.returncode == 2 and "never been started by `regauth serve`" in proc.stderr, proc.stderr
    assert fresh_postgres_url.split("@")[0] not in proc.stderr


def test_a_store_that_fails_is_one_line_not_a_traceback(server: RegauthServer) -> None:
    """The database locked by another writer past the busy timeout (5 s): the command says so in one
    line and exits 1, without the database library's traceback."""
    import sqlite3

    lock = sqlite3.connect(server.data_dir / "regauth.db", isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")
        proc = _cli(server, "revoke", "--principal-arn", f"arn:aws:iam::{server.account_id}:user/nobody",
                    "--unindexed")
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert proc.returncode == 1
    assert proc.stderr.strip() == "regauth: the store failed: database is locked"
