"""A flood of refused requests with a genuine token (revoked, of another user name, without the
permission) at the token realm and the package verifier, on the wire.

Such a refusal is audited under the token's principal, so the source address's bucket does not hold
it; it spends the principal's bucket of refusals, not the bucket of its accepted requests (a revoked
token's holder must not be able to keep its principal throttled). Past that bucket the realm answers
429 TOOMANYREQUESTS and the verifier the same 401 or 403 (nginx makes anything else a 500); either way
one refusal a second is audited, not each, and the verifier says in an ERROR line that it left some
out. The rate is 0.001 a second: nothing refills during a test, so what passes is the burst; how many
throttled refusals are audited depends on how many seconds the flood took, which each test measures.
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from regauth.domain import tokens
from regauth.domain.keyring import Keyring
from regauth.store.crypto import load_master_key
from regauth.store.open import default_database_url, open_store
from tests.fixtures.server import Keys, RegauthServer, new_user, regauth_cli, server_env, start_server, unique
from tests.wire.test_package_verify import READ, ca_policy
from tests.wire.test_registry_token_http import REGION, SERVICE, Realm

pytestmark = pytest.mark.wire
BURST = 10
FLOOD = 40
REFUSALS_LINE = "at the package verifier past its rate limit: answered alike, audited once a second"


def _token_id(token: str) -> str:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "==="))["jti"]


def _revoke(server: RegauthServer, token: str) -> None:
    out = regauth_cli("admin", "revoke", "--token-id", _token_id(token), data_dir=server.data_dir)
    assert out.returncode == 0, out.stderr


def _denied(server: RegauthServer, principal: str, action: str) -> list[dict]:
    audit = regauth_cli("admin", "audit", "--limit", "1000", "--principal", principal, data_dir=server.data_dir)
    assert audit.returncode == 0, audit.stderr
    return [e for e in map(json.loads, audit.stdout.splitlines())
            if e["action"] == action and e["outcome"] == "denied"]


def _error_logged(server: RegauthServer, text: str) -> list[str]:
    """The server's ERROR lines with `text`, once there is one (another thread reads its output, in order)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [line for line in server.output if " ERROR " in line and text in line]
        if lines:
            return lines
        time.sleep(0.05)
    return []


@pytest.fixture
def throttled_server(tmp_path: Path) -> Iterator[RegauthServer]:
    env = {**server_env(), "REGAUTH_RATE_LIMIT_PER_SECOND": "0.001", "REGAUTH_RATE_LIMIT_BURST": str(BURST)}
    server = start_server(tmp_path / "data", env)
    try:
        yield server
    finally:
        server.stop()


def test_a_revoked_token_s_realm_refusals_are_throttled_and_not_audited_one_by_one(
        throttled_server: RegauthServer) -> None:
    server = throttled_server
    out = regauth_cli("admin", "set-registry-endpoint", "--account-id", server.account_id, "--region", REGION,
                      "--url", f"https://{SERVICE}", data_dir=server.data_dir)
    assert out.returncode == 0, out.stderr
    realm = Realm(server, "")
    user = new_user(server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken", "ecr:BatchGetImage"], "Resource": "*"}]})
    arn = server.client("sts", user).get_caller_identity()["Arn"]            # one of the user's ten
    revoked = realm.password(user)                                          # two
    _revoke(server, revoked)
    started = time.monotonic()
    answers = [realm.get([("service", SERVICE), ("scope", f"repository:r{n}:pull")], "AWS", revoked)
               for n in range(FLOOD)]
    seconds = time.monotonic() - started
    assert [a[0] for a in answers] == [401] * BURST + [429] * (FLOOD - BURST)
    status, headers, body = answers[-1]
    assert body["errors"][0]["code"] == "TOOMANYREQUESTS" and int(headers["retry-after"]) >= 1
    rows = _denied(server, arn, "registry:GetToken")
    assert sum(e["detail"].startswith("token ") and "is revoked" in e["detail"] for e in rows) == BURST
    throttled = [e for e in rows if e["detail"].startswith("Throttled (token ")]
    assert 1 <= len(throttled) <= 2 + int(seconds), (len(throttled), seconds)        # one a second
    assert all(e["token_id"] == _token_id(revoked) for e in throttled)
    assert len(rows) == BURST + len(throttled)
    # another of the principal's refusals (a live token, the wrong user name) spends the same bucket
    live = realm.password(user)                                             # three
    assert realm.get([("service", SERVICE)], "nobody", live)[0] == 429
    # the principal's own requests are not throttled by what its revoked token's holder did
    assert [realm.get([("service", SERVICE), ("scope", "repository:r:pull")], "AWS", live)[0]
            for _ in range(BURST - 3)] == [200] * (BURST - 3)
    assert realm.get([("service", SERVICE)], "AWS", live)[0] == 429          # and they have their own limit


def _verify(server: RegauthServer, query: str, token: str, method: str = "GET") -> int:
    req = urllib.request.Request(f"{server.url}/auth/verify?{query}", headers={
        "Authorization": "Basic " + base64.b64encode(f"aws:{token}".encode()).decode(),
        "X-Original-Method": method})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_the_verifier_answers_a_flood_of_refusals_alike_and_audits_one_a_second(
        throttled_server: RegauthServer) -> None:
    """Revoked (401) and without the permission (403): every answer stays a refusal, of the same
    status; the audit trail holds the burst and then one a second; an ERROR line names the principal.
    The principal's accepted requests are answered as before."""
    server = throttled_server
    ca = server.client("codeartifact")
    domain, repo = unique("dom"), unique("repo")
    ca.create_domain(domain=domain)
    ca.create_repository(domain=domain, repository=repo)
    query = f"domain={domain}&domain-owner={server.account_id}&region=us-east-1&repository={repo}"

    def token(keys: Keys) -> str:
        return server.client("codeartifact", keys).get_authorization_token(domain=domain)["authorizationToken"]

    for status, method in ((401, "GET"), (403, "PUT")):
        reader = new_user(server, ca_policy(READ))
        arn = server.client("sts", reader).get_caller_identity()["Arn"]
        live = token(reader)
        refused = token(reader)
        if status == 401:
            _revoke(server, refused)
        started = time.monotonic()
        answers = [_verify(server, query, refused, method) for _ in range(FLOOD)]
        seconds = time.monotonic() - started
        assert answers == [status] * FLOOD
        rows = _denied(server, arn, f"package:{method}")
        throttled = [e for e in rows if e["detail"].endswith("(throttled: refusals audited once a second)")]
        assert len(rows) == BURST + len(throttled), rows[:3]
        assert 1 <= len(throttled) <= 2 + int(seconds), (len(throttled), seconds)
        assert _error_logged(server, f"refusals of {arn} {REFUSALS_LINE}")
        assert [_verify(server, query, live) for _ in range(5)] == [200] * 5
        assert _verify(server, query, live, "PUT") == 403                   # still refused, past the bucket


def test_an_older_regauth_s_token_of_temporary_credentials_is_refused_saying_so(
        regauth_server: RegauthServer) -> None:
    """Before tokens carried "akid", a token issued to a session named only the session's ARN: which
    session it was cannot be known, so it is refused, and the audit trail says why (the principal is
    not "not a user": the client must get a new token)."""
    server = regauth_server
    out = regauth_cli("admin", "set-registry-endpoint", "--account-id", server.account_id, "--region", REGION,
                      "--url", f"https://{SERVICE}", data_dir=server.data_dir)
    assert out.returncode == 0, out.stderr
    store = open_store(default_database_url(server.data_dir),
                       load_master_key(server.data_dir, os.environ.get("REGAUTH_MASTER_KEY")))
    try:
        keyring = Keyring(store.list_signing_keys())
    finally:
        store.close()
    session = f"arn:aws:sts::{server.account_id}:assumed-role/{unique('role')}/ci"
    now = int(time.time())
    old = tokens.mint(keyring, tokens.TokenClaims(            # as an older regauth minted it: no "akid"
        kind="ecr", token_id=tokens.new_token_id(), principal_arn=session, account_id=server.account_id,
        scope=f"arn:aws:ecr:{REGION}:{server.account_id}:registry", issued_at=now, expires_at=now + 3600))
    assert Realm(server, "").get([("service", SERVICE)], "AWS", old)[0] == 401
    rows = _denied(server, session, "registry:GetToken")
    assert len(rows) == 1 and "older regauth version" in rows[0]["detail"], rows
    assert "new token" in rows[0]["detail"] and "not a user" not in rows[0]["detail"]
