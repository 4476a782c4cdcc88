"""`regauth serve`: first start, restarts, settings from REGAUTH_*, PostgreSQL, clean start-up errors."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from tests.fixtures.server import REPO, Keys, RegauthServer, require_program, server_env, start_server, which_aws_v2
from tests.wire.clients import Boto3Client


def test_first_start_prints_working_credentials_and_commands_then_never_the_secret(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        text = "\n".join(server.output)
        assert re.search(r"AWS_ACCESS_KEY_ID=AKIA[A-Z2-7]{16}\b", text)
        assert len(server.admin.secret_access_key) == 40
        # run the printed example commands with the printed credentials and the real AWS CLI v2
        aws = require_program(which_aws_v2(), "AWS CLI v2 (Debian awscli)")
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, **server.admin.env(),
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/nonexistent", "AWS_PAGER": ""}
        commands = [line.strip() for line in text.splitlines() if line.strip().startswith("aws --endpoint-url")]
        assert len(commands) == 2
        outputs = [subprocess.run([aws, *shlex.split(c)[1:]], capture_output=True, text=True, env=env, timeout=60)
                   for c in commands]
        assert all(o.returncode == 0 for o in outputs), [o.stderr for o in outputs]
        assert re.fullmatch(r"rgca_\S+\n", outputs[1].stdout)
    finally:
        server.stop()
    again = start_server(tmp_path / "data")
    try:
        assert server.admin.secret_access_key not in "\n".join(again.output)
        assert server.admin.access_key_id in "\n".join(again.output)   # named, not revealed
        assert Boto3Client(again).call("sts", "GetCallerIdentity", {}, server.admin)["Account"] == server.account_id
    finally:
        again.stop()


def test_settings_from_environment_are_honoured(tmp_path: Path) -> None:
    env = server_env("444455556666")
    server = start_server(tmp_path / "d", env)
    try:
        keys = Keys(env["REGAUTH_BOOTSTRAP_ACCESS_KEY_ID"], env["REGAUTH_BOOTSTRAP_SECRET_ACCESS_KEY"])
        me = Boto3Client(server).call("sts", "GetCallerIdentity", {}, keys)
        assert me == {"UserId": me["UserId"], "Account": "444455556666",
                      "Arn": "arn:aws:iam::444455556666:user/admin"}
        assert env["REGAUTH_BOOTSTRAP_SECRET_ACCESS_KEY"] not in "\n".join(server.output)
        key_file = tmp_path / "d" / "master.key"
        assert key_file.stat().st_mode & 0o777 == 0o600
    finally:
        server.stop()


def test_postgresql_store(tmp_path: Path, fresh_postgres_url: str) -> None:
    env = {**server_env("777788889999"), "REGAUTH_DATABASE_URL": fresh_postgres_url}
    server = start_server(tmp_path / "pg", env)
    try:
        keys = Keys(env["REGAUTH_BOOTSTRAP_ACCESS_KEY_ID"], env["REGAUTH_BOOTSTRAP_SECRET_ACCESS_KEY"])
        client = Boto3Client(server)
        client.call("codeartifact", "CreateDomain", {"domain": "pg-domain"}, keys)
        out = client.call("codeartifact", "GetAuthorizationToken", {"domain": "pg-domain"}, keys)
        assert out["authorizationToken"].startswith("rgca_")
        assert not (tmp_path / "pg" / "regauth.db").exists()
    finally:
        server.stop()
    # a second node on the same database verifies the same caller (stateless nodes, shared store)
    other = start_server(tmp_path / "pg2", {**env, "REGAUTH_MASTER_KEY": (tmp_path / "pg" / "master.key").read_text()
                                            .strip()})
    try:
        assert Boto3Client(other).call("codeartifact", "DescribeDomain", {"domain": "pg-domain"}, keys)
    finally:
        other.stop()


@pytest.mark.parametrize("env, message", [
    ({"REGAUTH_MASTER_KEY": "not-a-key"}, "REGAUTH_MASTER_KEY is not a valid master key"),
    ({"REGAUTH_DATABASE_URL": "nonsense"}, "REGAUTH_DATABASE_URL is not a valid database URL"),
    ({"REGAUTH_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/x"}, "cannot open the store"),
    ({"REGAUTH_ACCOUNT_ID": "12"}, "REGAUTH_ACCOUNT_ID must be 12 digits"),
    ({"REGAUTH_BOOTSTRAP_ACCESS_KEY_ID": "AKIAAAAAAAAAAAAAAAAA"}, "set both"),
    ({"REGAUTH_SIGNATURE_WINDOW_SECONDS": "lots"}, "REGAUTH_SIGNATURE_WINDOW_SECONDS must be a whole number"),
    ({"REGAUTH_TRUSTED_PROXIES": "10.0.0.0/8, not-a-key"}, "REGAUTH_TRUSTED_PROXIES must be a comma-separated list"),
    ({"REGAUTH_MAX_CONNECTIONS": "many"}, "REGAUTH_MAX_CONNECTIONS must be a whole number"),
    ({"REGAUTH_MAX_CONNECTIONS": "-1"}, "REGAUTH_MAX_CONNECTIONS must be between 0 and 10000000"),
    ({"REGAUTH_REGISTRY_TOKEN_SECONDS": "30"}, "REGAUTH_REGISTRY_TOKEN_SECONDS must be between 60 and 3600"),
    ({"REGAUTH_REGISTRY_ISSUER": "two words"}, "REGAUTH_REGISTRY_ISSUER must be 1 to 128 printable characters"),
    ({"REGAUTH_LOG_LEVEL": "verbose"}, "REGAUTH_LOG_LEVEL must be one of debug, info, warning, error"),
    ({"REGAUTH_RATE_LIMIT_PER_SECOND": "nan"}, "REGAUTH_RATE_LIMIT_PER_SECOND must be a finite number"),
    ({"REGAUTH_RATE_LIMIT_PER_SECOND": "inf"}, "REGAUTH_RATE_LIMIT_PER_SECOND must be a finite number"),
    ({"REGAUTH_RATE_LIMIT_PER_SECOND": "-1"}, "REGAUTH_RATE_LIMIT_PER_SECOND must be a finite number"),
])
def test_bad_settings_stop_with_a_clear_message(tmp_path: Path, env: dict[str, str], message: str) -> None:
    full = {k: v for k, v in os.environ.items() if not k.startswith("REGAUTH_")}
    proc = subprocess.run([sys.executable, "-m", "regauth", "serve", "--port", "0", "--data-dir", str(tmp_path)],
                          capture_output=True, text=True, env={**full, **env}, cwd=REPO, timeout=60)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "not-a-key" not in proc.stderr


def test_an_address_in_use_stops_serve_before_it_bootstraps(tmp_path: Path) -> None:
    """The first start makes the bootstrap key and prints its secret once: one that cannot listen must
    stop before making it, or the secret would be lost (later starts never print it)."""
    import socket

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    full = {k: v for k, v in os.environ.items() if not k.startswith("REGAUTH_")}
    try:
        for args, message in ((["--port", str(port)], f"cannot listen on 127.0.0.1:{port}: Address already in use"),
                              (["--port", "70000"], "cannot listen on 127.0.0.1:70000"),
                              (["--host", "999.1.1.1"], "cannot listen on 999.1.1.1:")):
            proc = subprocess.run([sys.executable, "-m", "regauth", "serve", *args, "--data-dir", str(tmp_path / "d")],
                                  capture_output=True, text=True, env=full, cwd=REPO, timeout=60)
            assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
            assert not (tmp_path / "d").exists()
    finally:
        holder.close()
    server = start_server(tmp_path / "d", full)        # the first start that listens shows the secret
    try:
        assert server.admin.secret_access_key
    finally:
        server.stop()


def test_per_principal_rate_limit_answers_429_throttling(tmp_path: Path) -> None:
    env = {**server_env("121212121212"), "REGAUTH_RATE_LIMIT_PER_SECOND": "0.2", "REGAUTH_RATE_LIMIT_BURST": "3"}
    server = start_server(tmp_path / "rl", env)
    try:
        keys = Keys(env["REGAUTH_BOOTSTRAP_ACCESS_KEY_ID"], env["REGAUTH_BOOTSTRAP_SECRET_ACCESS_KEY"])
        ca = server.client("codeartifact", keys)
        ca.create_domain(domain="rl-domain")
        ca.get_authorization_token(domain="rl-domain")
        ca.get_authorization_token(domain="rl-domain")
        from botocore.exceptions import ClientError
        with pytest.raises(ClientError) as err:
            ca.get_authorization_token(domain="rl-domain")
        assert err.value.response["Error"]["Code"] == "ThrottlingException"
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
        assert int(err.value.response["retryAfterSeconds"]) >= 1
        with pytest.raises(ClientError) as sts_err:
            server.client("sts", keys).get_caller_identity()
        assert sts_err.value.response["Error"]["Code"] == "Throttling"
        # a principal's flood is answered, but audited once a second, not row by row
        import json
        import time

        from tests.fixtures.server import regauth_cli

        sts, started, refused = server.client("sts", keys), time.monotonic(), 0
        for _ in range(40):
            try:
                sts.get_caller_identity()
            except ClientError:
                refused += 1
        time.sleep(1.1)                          # a new second: the next refusal is audited again
        with pytest.raises(ClientError):
            sts.get_caller_identity()
        seconds = time.monotonic() - started
        assert refused >= 35
        audit = regauth_cli("admin", "audit", "--limit", "200", data_dir=server.data_dir)
        throttled = [e for e in map(json.loads, audit.stdout.splitlines()) if e["detail"].startswith("Throttled")]
        assert 2 <= len(throttled) <= 2 + seconds, (len(throttled), seconds)       # 43 refused in all
        # refused before its request was parsed, a throttled call is still audited as the operation it named
        assert {e["action"] for e in throttled} <= {"sts:GetCallerIdentity", "codeartifact:?"}
        assert "sts:GetCallerIdentity" in {e["action"] for e in throttled}
    finally:
        server.stop()


def test_a_flood_of_unauthenticated_requests_is_throttled_per_address_and_not_audited_one_by_one(
        tmp_path: Path) -> None:
    """Refusals before any principal is known are audited, and have no principal's bucket: past their
    address's bucket they are answered as throttled (each dialect's own way) and leave no row, so
    a flood fills neither the audit trail nor the log. A real principal is not affected."""
    import base64
    import json
    import urllib.error
    import urllib.request

    from botocore.exceptions import ClientError

    from tests.fixtures.server import regauth_cli

    env = {**server_env("141414141414"), "REGAUTH_RATE_LIMIT_PER_SECOND": "0.01", "REGAUTH_RATE_LIMIT_BURST": "4"}
    server = start_server(tmp_path / "flood", env)
    try:
        def status(path: str, auth: str | None = None, data: bytes | None = None) -> tuple[int, bytes]:
            req = urllib.request.Request(f"{server.url}{path}", data=data, headers={"X-Original-Method": "GET"})
            if auth:
                req.add_header("Authorization", auth)
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    return r.status, r.read()
            except urllib.error.HTTPError as e:
                return e.code, e.read()

        stranger = server.client("sts", Keys("AKIAZZZZZZZZZZZZZZZZ", "x" * 40))     # retries off
        codes = []
        for _ in range(4):
            with pytest.raises(ClientError) as err:
                stranger.get_caller_identity()
            codes.append(err.value.response["Error"]["Code"])
        assert codes == ["InvalidClientTokenId"] * 4
        with pytest.raises(ClientError) as err:                  # the address's bucket is spent
            stranger.get_caller_identity()
        assert err.value.response["Error"]["Code"] == "Throttling"
        bad = "Basic " + base64.b64encode(b"AWS:nope").decode()
        assert status("/token?service=x", bad)[0] == 429                           # the realm
        assert status("/auth/verify?domain=dom&domain-owner=141414141414&region=us-east-1&repository=repo", bad)[0] == 401
        assert status("/?Action=GetAuthorizationToken&Version=2018-12-01&Format=JSON&InstanceId=cri-x"
                      "&AccessKeyId=AKIAZZZZZZZZZZZZZZZZ&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0"
                      "&SignatureNonce=n1&Timestamp=2026-01-01T00%3A00%3A00Z&Signature=AAAA")[1].find(
                          b"Throttling") >= 0                                       # ACR
        # a principal with keys has its own bucket
        keys = Keys(env["REGAUTH_BOOTSTRAP_ACCESS_KEY_ID"], env["REGAUTH_BOOTSTRAP_SECRET_ACCESS_KEY"])
        assert server.client("sts", keys).get_caller_identity()["Account"] == "141414141414"
        audit = regauth_cli("admin", "audit", "--limit", "100", data_dir=server.data_dir).stdout
        unauthenticated = [e for e in map(json.loads, audit.splitlines()) if not e["principal_arn"]]
        assert len(unauthenticated) == 4
    finally:
        server.stop()


SQL_LAYER_LOADED = "loading the SQL layer (SQLAlchemy)"


def test_a_restarted_server_issues_every_token_without_loading_the_sql_layer(tmp_path: Path) -> None:
    """A restart on SQLite reads through plain SQL (store.sqlite_store): a server that only issues
    tokens never imports SQLAlchemy; the first call that writes loads it, and works."""
    import json
    import time

    from tests.fixtures.server import regauth_cli
    from tests.wire.test_acr_sdks import old_sdk

    env = {**server_env("131313131313"), "REGAUTH_LOG_LEVEL": "debug"}
    keys = Keys(env["REGAUTH_BOOTSTRAP_ACCESS_KEY_ID"], env["REGAUTH_BOOTSTRAP_SECRET_ACCESS_KEY"])
    first = start_server(tmp_path, env)
    try:
        first.client("codeartifact", keys).create_domain(domain="restart-domain")
    finally:
        first.stop()
    made = regauth_cli("admin", "create-acr-instance", "--account-id", "131313131313", "--region", "cn-hangzhou",
                       "--name", "restart", "--login-server", "127.0.0.1:5000", data_dir=tmp_path, env=env)
    assert made.returncode == 0, made.stderr
    instance = json.loads(made.stdout)["InstanceId"]

    server = start_server(tmp_path, env)
    try:
        assert server.client("sts", keys).get_caller_identity()["Account"] == "131313131313"
        ecr = server.client("ecr", keys).get_authorization_token()["authorizationData"][0]
        assert ecr["authorizationToken"] and ecr["proxyEndpoint"]
        public = server.client("ecr-public", keys).get_authorization_token()["authorizationData"]
        assert public["authorizationToken"]
        ca = server.client("codeartifact", keys).get_authorization_token(domain="restart-domain")
        assert ca["authorizationToken"]
        acr = old_sdk(server.url.split("://", 1)[1], keys, instance)
        assert acr.ok and acr.body["AuthorizationToken"], acr
        from botocore.exceptions import ClientError
        with pytest.raises(ClientError) as missing:       # an error answer takes the same reads
            server.client("codeartifact", keys).get_authorization_token(domain="no-such-domain")
        assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
        # the registry side too: the realm's first JWT makes the CA, the verifier reads revocations
        import base64
        import urllib.error
        import urllib.request
        password = base64.b64decode(ecr["authorizationToken"]).decode().split(":", 1)[1]
        service = ecr["proxyEndpoint"].split("://", 1)[1]
        realm = urllib.request.Request(f"{server.url}/token?service={service}&scope=repository:a:pull", headers={
            "Authorization": "Basic " + base64.b64encode(f"AWS:{password}".encode()).decode()})
        with urllib.request.urlopen(realm, timeout=10) as r:
            assert r.status == 200 and json.loads(r.read())["token"].count(".") == 2
        check = urllib.request.Request(f"{server.url}/auth/verify?domain=restart-domain&domain-owner="
                                       f"{server.account_id}&region=us-east-1&repository=none", headers={
            "Authorization": f"Bearer {ca['authorizationToken']}", "X-Original-Method": "GET"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(check, timeout=10)
        assert refused.value.code == 403
        assert not any(SQL_LAYER_LOADED in line for line in server.output)
        assert any("regauth.audit" in line and "allowed" in line for line in server.output)

        iam = server.client("iam", keys)
        iam.create_user(UserName="after-restart")     # plain SQL too (store.sqlite_writes), guard and all
        new = iam.create_access_key(UserName="after-restart")["AccessKey"]
        assert not any(SQL_LAYER_LOADED in line for line in server.output)
        iam.create_role(RoleName="after-restart", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": "131313131313"}, "Action": "sts:AssumeRole"}]}))
        # a write of another kind: the SQL layer, once
        deadline = time.monotonic() + 10
        while not any(SQL_LAYER_LOADED in line for line in server.output) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sum(SQL_LAYER_LOADED in line for line in server.output) == 1
        who = server.client("sts", Keys(new["AccessKeyId"], new["SecretAccessKey"])).get_caller_identity()
        assert who["Arn"] == "arn:aws:iam::131313131313:user/after-restart"
    finally:
        server.stop()


def test_a_store_file_that_is_not_a_database_stops_with_a_clear_message(tmp_path: Path) -> None:
    (tmp_path / "regauth.db").write_bytes(b"this is not a SQLite database, " * 100)
    full = {k: v for k, v in os.environ.items() if not k.startswith("REGAUTH_")}
    proc = subprocess.run([sys.executable, "-m", "regauth", "serve", "--port", "0", "--data-dir", str(tmp_path)],
                          capture_output=True, text=True, env=full, cwd=REPO, timeout=60)
    assert proc.returncode == 2
    assert "cannot open the store: file is not a database" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.postgres
def test_a_database_that_stops_answering_does_not_hold_the_server_at_shutdown(tmp_path: Path) -> None:
    """PostgreSQL frozen (a partition, as seen from here): a request waits on it, and SIGTERM must
    still end the server. A second signal stops it at once; the store it could not close is left
    behind (exit 1), not waited for. Requests still waiting for a thread are failed and said once,
    with their count, not a line a batch nor a traceback."""
    import threading
    import time

    with _on_a_postgres_that_can_freeze(tmp_path) as (server, database):
        database.freeze()
        url = server.url + "/auth/verify?domain=d&domain-owner=111111111111&region=us-east-1&repository=r"
        for _ in range(12):                          # more than the 4 threads: some wait for one
            threading.Thread(target=_get_quietly, args=(url,), daemon=True).start()
            time.sleep(0.05)                         # one turn each: batches of their own
        time.sleep(1.0)                              # the requests are in hand, waiting on the store
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert server.process.poll() is None         # answering what it holds, for up to 10 s
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=10) == 1
        time.sleep(0.2)                              # the output reader's last lines
        assert any("did not close" in line for line in server.output), server.output[-5:]
        said = [line for line in server.output if "not handled: the server stopped" in line]
        assert 1 <= len(said) <= 2, said            # at once, then the count left out: not a line a batch
        assert not any("Traceback" in line for line in server.output), server.output[-20:]


@pytest.mark.postgres
def test_a_whole_request_kept_unparsed_behind_slow_answers_is_not_timed_out(tmp_path: Path) -> None:
    """Eight pipelined requests wait on a store that gives no answer; the ninth, sent whole in the same
    write, is kept unparsed meanwhile (at most eight are in hand). Its deadline ran all the same: once
    the store answered, it got a 408 "did not arrive whole" it did not earn."""
    import socket
    import time
    from urllib.parse import urlsplit

    from tests.wire.test_http_server import Reader

    with _on_a_postgres_that_can_freeze(tmp_path, {"REGAUTH_REQUEST_TIMEOUT_SECONDS": "1"}) as (server, database):
        verify = (b"GET /auth/verify?domain=d&domain-owner=111111111111&region=us-east-1&repository=r "
                  b"HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YXdzOng=\r\n\r\n")
        body = b'{"registryIds": []}'.ljust(3000)
        ecr = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n"
               b"X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body)) + body
        u = urlsplit(server.url)
        with socket.create_connection((u.hostname, u.port), timeout=30) as s:
            database.freeze()
            s.sendall(verify * 8 + ecr)
            time.sleep(2.5)                          # past the request timeout, the store still frozen
            database.thaw()
            r = Reader(s)
            answers = [r.response() for _ in range(9)]
        assert 408 not in [status for status, _, _ in answers], answers
        assert b"MissingAuthenticationToken" in answers[-1][2], answers[-1]      # the ECR call: unsigned


class _Freezable:
    """A PostgreSQL's processes, stopped (SIGSTOP: alive, answering nothing) and let go on."""

    def __init__(self, data: Path) -> None:
        postmaster = int((data / "postmaster.pid").read_text().split()[0])
        self._pids = [postmaster, *_children(postmaster)]
        self._frozen = False

    def freeze(self) -> None:
        self._signal(signal.SIGSTOP)
        self._frozen = True

    def thaw(self) -> None:
        if self._frozen:
            self._signal(signal.SIGCONT)
            self._frozen = False

    def _signal(self, sig: int) -> None:
        for pid in self._pids:
            os.kill(pid, sig)


@contextlib.contextmanager
def _on_a_postgres_that_can_freeze(tmp_path: Path, env: dict[str, str] | None = None
                                   ) -> Iterator[tuple[RegauthServer, _Freezable]]:
    """A server on a PostgreSQL of its own (4 connections), the store seen working; at the end the
    database is let go on, and both are stopped."""
    from tests.fixtures.postgres import start_postgres

    pg = start_postgres()
    try:
        server = start_server(tmp_path / "d", {**server_env(), "REGAUTH_DATABASE_URL": pg.url,
                                               "REGAUTH_DATABASE_CONNECTIONS": "4", **(env or {})})
        try:
            Boto3Client(server).call("sts", "GetCallerIdentity", {}, server.admin)   # the store works
            database = _Freezable(pg.data)
            try:
                yield server, database
            finally:
                database.thaw()
        finally:
            server.stop()
    finally:
        pg.stop()


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _get_quietly(url: str) -> None:
    import urllib.request

    try:
        urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": "Bearer x"}), timeout=60)
    except Exception:  # noqa: BLE001 - the answer, if any, is not what this test looks at
        pass


def test_a_store_gone_from_beside_its_master_key_stops_serve(tmp_path: Path) -> None:
    """The SQLite file deleted or moved, its key left: a new empty store would refuse every token
    issued so far, silently. serve stops and says what to do; without the key it starts afresh."""
    data = tmp_path / "d"
    start_server(data).stop()
    for name in ("regauth.db", "regauth.db-wal", "regauth.db-shm"):
        (data / name).unlink(missing_ok=True)
    full = {k: v for k, v in os.environ.items() if not k.startswith("REGAUTH_")}
    proc = subprocess.run([sys.executable, "-m", "regauth", "serve", "--port", "0", "--data-dir", str(data)],
                          capture_output=True, text=True, env=full, cwd=REPO, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"the store {data / 'regauth.db'} is gone, but its master key is in {data}" in proc.stderr
    assert not (data / "regauth.db").exists()
    (data / "master.key").unlink()
    server = start_server(data)
    try:
        assert server.admin.secret_access_key                # a new store, with a new bootstrap key
    finally:
        server.stop()


def test_a_store_deleted_under_a_running_server_takes_no_more_tokens(tmp_path: Path) -> None:
    """The server's connection would go on writing the unlinked file, which nothing reads again: the
    tokens it records would vanish with it. It refuses to commit instead (fail closed)."""
    from botocore.exceptions import ClientError

    server = start_server(tmp_path / "d")
    try:
        ecr = server.client("ecr")
        assert ecr.get_authorization_token()["authorizationData"]
        for name in ("regauth.db", "regauth.db-wal", "regauth.db-shm"):
            (tmp_path / "d" / name).unlink(missing_ok=True)
        with pytest.raises(ClientError) as err:
            ecr.get_authorization_token()
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert any("was deleted or replaced while the server ran" in line for line in server.output)
        for call in (lambda: server.client("iam").create_user(UserName="after"),        # through SQLAlchemy
                     lambda: server.client("codeartifact").list_domains()):
            with pytest.raises(ClientError) as err:
                call()
            assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert not (tmp_path / "d" / "regauth.db").exists()       # no new empty store made in its place
    finally:
        server.stop()
    full = {k: v for k, v in os.environ.items() if not k.startswith("REGAUTH_")}
    restart = subprocess.run([sys.executable, "-m", "regauth", "serve", "--port", "0", "--data-dir",
                              str(tmp_path / "d")], capture_output=True, text=True, env=full, cwd=REPO, timeout=60)
    assert restart.returncode == 2 and "is gone, but its master key is in" in restart.stderr
