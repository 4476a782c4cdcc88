"""`regauth admin rotate-signing-key` / `list-signing-keys`, run as the real command against the store of
a running server: the server signs with the new key from its next request on, without a restart, a
retired key still verifies what it signed until `admin prune` deletes it, and `--revoke-previous`
refuses every earlier token at once. Also across two nodes sharing PostgreSQL."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.cli.test_admin_prune import admin
from tests.fixtures.server import RegauthServer, regauth_cli, server_env, start_server
from tests.wire.test_registry_token_http import REGION, SERVICE, Realm

pytestmark = pytest.mark.wire


def set_endpoint(server: RegauthServer, data_dir: Path, env: dict[str, str] | None = None) -> None:
    out = regauth_cli("admin", "set-registry-endpoint", "--account-id", server.account_id, "--region", REGION,
                      "--url", f"https://{SERVICE}", data_dir=data_dir, env=env)
    assert out.returncode == 0, out.stderr


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegauthServer]:
    s = start_server(tmp_path_factory.mktemp("regauth-keys"), server_env("666677778888"))
    set_endpoint(s, s.data_dir)
    yield s
    s.stop()


def kid(password: str) -> str:
    return password.split("_", 1)[1].split(".", 1)[0]          # rgecr_<kid>.<claims>.<mac>


def opens(server: RegauthServer, password: str) -> int:
    """The realm's answer to an ECR password: 200 when its MAC verifies (and it is not refused otherwise)."""
    return Realm(server, "").get([("service", SERVICE), ("scope", "repository:a:pull")], "AWS", password)[0]


def run(server: RegauthServer, *args: str, shift: str | None = None) -> dict[str, Any]:
    proc = admin(server, *args, shift=shift)
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


def test_rotation_retires_then_prune_and_revoke_previous_refuse(server: RegauthServer) -> None:
    realm = Realm(server, "")
    first = realm.password(server.admin)
    listed = run(server, "list-signing-keys")["SigningKeys"]
    assert [(k["Kid"], k["Active"], k["RetiredAt"]) for k in listed] == [(kid(first), True, None)]

    rotated = run(server, "rotate-signing-key", "--reason", "yearly")
    assert rotated["RetiredKids"] == [kid(first)] and rotated["DeletedKids"] == []
    second = realm.password(server.admin)
    assert kid(second) == rotated["ActiveKid"] != kid(first)           # the running server signs with it now
    assert opens(server, first) == 200 and opens(server, second) == 200   # the retired key still verifies
    listed = run(server, "list-signing-keys")["SigningKeys"]
    assert [(k["Kid"], k["Active"], k["RetiredAt"] is None) for k in listed] == [
        (kid(first), False, False), (rotated["ActiveKid"], True, True)]
    assert "secret" not in json.dumps(listed).lower()

    assert run(server, "prune")["SigningKeys"] == 0                    # retired minutes ago: kept
    assert run(server, "prune", shift="+2d")["SigningKeys"] == 1        # a day after retirement: gone
    assert opens(server, first) == 401 and opens(server, second) == 200

    revoked = run(server, "rotate-signing-key", "--revoke-previous", "--reason", "backup leaked")
    assert revoked["DeletedKids"] == [kid(second)] and revoked["RetiredKids"] == []
    third = realm.password(server.admin)
    assert kid(third) == revoked["ActiveKid"]
    assert opens(server, second) == 401 and opens(server, third) == 200
    assert [k["Kid"] for k in run(server, "list-signing-keys")["SigningKeys"]] == [kid(third)]

    events = [json.loads(line) for line in admin(server, "audit", "--limit", "20").stdout.splitlines()]
    details = [e["detail"] for e in events if e["action"] == "regauth:RotateSigningKey"]
    assert f"new={kid(third)} deleted={kid(second)} reason=backup leaked" in details
    assert f"new={kid(second)} retired={kid(first)} reason=yearly" in details


@pytest.mark.postgres
def test_a_rotation_reaches_every_node_sharing_postgresql(tmp_path: Path, fresh_postgres_url: str) -> None:
    env = {**server_env("888899990000"), "REGAUTH_DATABASE_URL": fresh_postgres_url,
           "REGAUTH_MASTER_KEY": secrets.token_hex(32)}
    nodes = [start_server(tmp_path / f"node{i}", env) for i in range(2)]
    try:
        a, b = nodes
        set_endpoint(a, tmp_path / "node0", env)
        before = Realm(a, "").password(a.admin)
        assert opens(b, before) == 200
        out = regauth_cli("admin", "rotate-signing-key", data_dir=tmp_path / "node1", env=env)
        assert out.returncode == 0, out.stderr
        new = json.loads(out.stdout)["ActiveKid"]
        after = Realm(a, "").password(a.admin)
        assert kid(after) == new and opens(b, after) == 200 and opens(b, before) == 200
    finally:
        for node in nodes:
            node.stop()
