"""`regauth admin prune`, run as the real command (its clock moved with the `faketime` program) against
the store of a real server that issued the token, the session and the revocation it judges."""

from __future__ import annotations

import json
import os
from datetime import datetime
import shutil
import subprocess
from typing import Any, Iterator

import botocore.exceptions
import pytest

from tests.cli.test_admin_revocations import _ecr_token
from tests.fixtures.server import REGAUTH, REPO, Keys, RegauthServer, require_program, server_env, start_server

pytestmark = pytest.mark.wire


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegauthServer]:
    s = start_server(tmp_path_factory.mktemp("regauth-prune"), server_env("555566667777"))
    yield s
    s.stop()


def admin(server: RegauthServer, *args: str, shift: str | None = None) -> subprocess.CompletedProcess[str]:
    """`regauth admin ...` on the server's store, its clock `shift` ahead (e.g. "+3d") when given."""
    prefix = [require_program(shutil.which("faketime"), "faketime"), "-f", shift] if shift else []
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGAUTH_", "AWS_"))}
    return subprocess.run([*prefix, *REGAUTH, "admin", *args, "--data-dir", str(server.data_dir)],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=60)


def prune(server: RegauthServer, shift: str | None = None) -> dict[str, Any]:
    proc = admin(server, "prune", shift=shift)
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


def prune_with(server: RegauthServer, shift: str, *args: str) -> dict[str, Any]:
    proc = admin(server, "prune", "--quiet", *args, shift=shift)
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


def caller(server: RegauthServer, keys: Keys) -> str:
    return str(server.client("sts", keys).get_caller_identity()["Arn"])


def test_prune_deletes_only_what_has_no_effect_left(server: RegauthServer) -> None:
    _, token_id = _ecr_token(server)                                     # 12 h
    creds = server.client("sts").get_session_token(DurationSeconds=900)["Credentials"]
    session = Keys(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    revoked = f"arn:aws:iam::{server.account_id}:user/somebody"
    assert admin(server, "revoke", "--principal-arn", revoked, "--unindexed").returncode == 0    # no such user

    # now, and two hours on: the token lives, the session may have issued live tokens, the revocation counts
    for shift in (None, "+2h"):
        out = prune(server, shift)
        assert (out["IssuedTokens"], out["Sessions"], out["Revocations"]) == (0, 0, 0), (shift, out)
    assert caller(server, session).endswith(":user/admin")
    assert [r["Subject"] for r in json.loads(admin(server, "list-revocations").stdout)["Revocations"]] == [revoked]

    # three days on, all of it is past any effect
    out = prune(server, "+3d")
    assert out["IssuedTokens"] >= 1 and out["Sessions"] == 1 and out["Revocations"] == 1, out
    assert out["SessionsExpiredBefore"] < out["TokensExpiredBefore"]
    with pytest.raises(botocore.exceptions.ClientError) as ei:           # the session's key is gone
        caller(server, session)
    assert ei.value.response["Error"]["Code"] == "InvalidClientTokenId"
    assert json.loads(admin(server, "list-revocations").stdout)["Revocations"] == []
    gone = admin(server, "revoke", "--token-id", token_id)
    assert gone.returncode != 0 and "No issued token has the id" in gone.stderr
    events = [json.loads(line) for line in admin(server, "audit", "--limit", "5").stdout.splitlines()]
    assert any(e["action"] == "regauth:Prune" and e["detail"].startswith(f"issued_tokens={out['IssuedTokens']} ")
               for e in events)
    assert out["AuditEvents"] == 0 and out["AuditEventsBefore"] is None             # the trail is kept...
    trail = [json.loads(line) for line in admin(server, "audit", "--limit", "1000").stdout.splitlines()]
    assert len(trail) > 3

    for days in ("0", "800000"):                                                   # refused before pruning
        refused = admin(server, "prune", "--audit-days", days)
        assert refused.returncode == 2 and "--audit-days: must be from 1 to 36500" in refused.stderr
        assert "Traceback" not in refused.stderr
    kept = prune_with(server, "+3d", "--audit-days", "4")                          # ...within a retention
    assert kept["AuditEvents"] == 0
    gone = prune_with(server, "+3d", "--audit-days", "1")                          # ...and pruned past it
    cutoff = datetime.fromisoformat(gone["AuditEventsBefore"]).timestamp()
    old = [e for e in trail if e["at"] < cutoff]
    assert len(old) >= 3 and gone["AuditEvents"] == len(old)
    left = [json.loads(line) for line in admin(server, "audit", "--limit", "1000").stdout.splitlines()]
    assert left and all(e["at"] >= cutoff - 1 and e["action"] == "regauth:Prune" for e in left)  # the +3 d runs
    assert left[0]["detail"].endswith(f"audit_events={len(old)}")


def test_prune_help_says_what_it_deletes(server: RegauthServer) -> None:
    proc = admin(server, "prune", "--help")
    assert proc.returncode == 0
    for text in ("expired tokens", "24 hours", "--audit-days N", "(kept otherwise)", "cron"):
        assert text in proc.stdout
