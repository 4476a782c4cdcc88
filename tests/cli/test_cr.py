"""`regauth cr ...` run as a real process against a real `regauth serve`: ACR tokens from Alibaba-style credentials."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_commands import closed_port_url
from tests.fixtures.server import REPO, Keys, RegauthServer, new_user, regauth_cli, unique

pytestmark = pytest.mark.wire

REGAUTH = [sys.executable, "-m", "regauth"]
REGION = "cn-hangzhou"
LOGIN_SERVER = "acr-cli.test:5000"
CR_GAT = ("cr", "get-authorization-token")


@dataclass
class Acr:
    server: RegauthServer
    home: Path
    instance: str
    allowed: Keys        # cr:GetAuthorizationToken on the instance, cr:PullRepository on its repositories
    denied: Keys         # no policy at all

    def run(self, *args: str, keys: Keys | None = None, endpoint: bool = True, home: Path | None = None,
            **env: str) -> subprocess.CompletedProcess[str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ALIBABA_", "REGAUTH_"))}
        base["HOME"] = str(home or self.home)
        if keys is not None:
            base.update(ALIBABA_CLOUD_ACCESS_KEY_ID=keys.access_key_id,
                        ALIBABA_CLOUD_ACCESS_KEY_SECRET=keys.secret_access_key)
            if keys.session_token:
                base["ALIBABA_CLOUD_SECURITY_TOKEN"] = keys.session_token
        base.update(env)
        argv = [*REGAUTH, *args] + (["--endpoint-url", self.server.url] if endpoint else [])
        return subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=60, env=base)

    def token(self, *args: str, keys: Keys | None = None, **env: str) -> dict[str, Any]:
        proc = self.run(*CR_GAT, "--instance-id", self.instance, *args, keys=keys or self.allowed, **env)
        assert proc.returncode == 0, proc.stderr
        out: dict[str, Any] = json.loads(proc.stdout)
        return out


@pytest.fixture(scope="module")
def acr(regauth_server: RegauthServer, tmp_path_factory: pytest.TempPathFactory) -> Acr:
    proc = regauth_cli("admin", "create-acr-instance", "--account-id", regauth_server.account_id, "--region",
                       REGION, "--name", unique("cli"), "--login-server", LOGIN_SERVER,
                       data_dir=regauth_server.data_dir)
    assert proc.returncode == 0, proc.stderr
    instance = json.loads(proc.stdout)["InstanceId"]
    prefix = f"acs:cr:{REGION}:{regauth_server.account_id}"
    allowed = new_user(regauth_server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "cr:GetAuthorizationToken", "Resource": f"{prefix}:instance/{instance}"},
        {"Effect": "Allow", "Action": "cr:PullRepository", "Resource": f"{prefix}:repository/{instance}/*"}]})
    denied = new_user(regauth_server, None)
    return Acr(regauth_server, tmp_path_factory.mktemp("cr-home"), instance, allowed, denied)


def realm_status(server: RegauthServer, user: str, password: str, service: str = LOGIN_SERVER) -> tuple[int, Any]:
    """The registry token realm's answer to docker-style Basic credentials (what the token is for)."""
    query = urllib.parse.urlencode({"service": service, "scope": "repository:ns/app:pull"})
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    req = urllib.request.Request(f"{server.url}/token?{query}", headers={"Authorization": f"Basic {auth}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, None


def write_aliyun_config(home: Path, profiles: list[dict[str, Any]], current: str) -> None:
    (home / ".aliyun").mkdir(parents=True, exist_ok=True)
    (home / ".aliyun" / "config.json").write_text(json.dumps({"current": current, "profiles": profiles}))


def test_token_from_environment_credentials_opens_the_instance_registry(acr: Acr) -> None:
    before = time.time()
    out = acr.token()
    assert out["TempUsername"] == "cr_temp_user" and out["Code"] == "success" and out["IsSuccess"] is True
    assert before + 3600 - 5 <= out["ExpireTime"] / 1000 <= time.time() + 3600 + 5      # one hour by default
    status, body = realm_status(acr.server, out["TempUsername"], out["AuthorizationToken"])
    assert status == 200 and body["token"].count(".") == 2
    status, _ = realm_status(acr.server, out["TempUsername"], out["AuthorizationToken"] + "x")
    assert status == 401


def test_expires_in_hours_query_and_text_output(acr: Acr) -> None:
    proc = acr.run(*CR_GAT, "--instance-id", acr.instance, "--expires-in-hours", "2", "--query", "ExpireTime",
                   "--output", "text", keys=acr.allowed)
    assert proc.returncode == 0, proc.stderr
    assert abs(int(proc.stdout.strip()) / 1000 - (time.time() + 7200)) < 30


def test_get_login_password_prints_only_a_working_password(acr: Acr) -> None:
    proc = acr.run("cr", "get-login-password", "--instance-id", acr.instance, keys=acr.allowed)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("rgacr_")
    assert realm_status(acr.server, "cr_temp_user", lines[0])[0] == 200


def test_global_options_before_the_command(acr: Acr) -> None:
    proc = acr.run("--endpoint-url", acr.server.url, "cr", "get-login-password", "--instance-id", acr.instance,
                   keys=acr.allowed, endpoint=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("rgacr_")


def test_sts_credentials_send_their_security_token(acr: Acr) -> None:
    sts = acr.server.client("sts", acr.allowed)
    creds = sts.get_session_token(DurationSeconds=900)["Credentials"]
    session = Keys(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    out = acr.token("--expires-in-hours", "5", keys=session)
    assert out["ExpireTime"] / 1000 <= creds["Expiration"].timestamp() + 1      # capped at the session's end
    without = Keys(session.access_key_id, session.secret_access_key)
    proc = acr.run(*CR_GAT, "--instance-id", acr.instance, keys=without)
    assert proc.returncode == 254 and "(MissingSecurityToken)" in proc.stderr


def test_aliyun_cli_profiles(acr: Acr, tmp_path: Path) -> None:
    sts = acr.server.client("sts", acr.allowed)
    creds = sts.get_session_token(DurationSeconds=900)["Credentials"]
    write_aliyun_config(tmp_path, [
        {"name": "default", "mode": "AK", "access_key_id": acr.denied.access_key_id,
         "access_key_secret": acr.denied.secret_access_key, "region_id": REGION},
        {"name": "ci", "mode": "AK", "access_key_id": acr.allowed.access_key_id,
         "access_key_secret": acr.allowed.secret_access_key, "region_id": REGION},
        {"name": "sts", "mode": "StsToken", "access_key_id": creds["AccessKeyId"],
         "access_key_secret": creds["SecretAccessKey"], "sts_token": creds["SessionToken"]},
        {"name": "wrong-region", "mode": "AK", "access_key_id": acr.allowed.access_key_id,
         "access_key_secret": acr.allowed.secret_access_key, "region_id": "cn-beijing"},
        {"name": "ecs", "mode": "EcsRamRole", "ram_role_name": "r"},
        {"name": "broken", "mode": "StsToken", "access_key_id": "x", "access_key_secret": "y"},
    ], current="ci")
    gat = (*CR_GAT, "--instance-id", acr.instance, "--query", "TempUsername", "--output", "text")
    results = {name: acr.run(*gat, *args, home=tmp_path, **env) for name, args, env in (
        ("current", (), {}),
        ("sts", ("--profile", "sts"), {}),
        ("env-profile", (), {"ALIBABA_CLOUD_PROFILE": "default"}),
        ("region", ("--profile", "wrong-region"), {}),
        ("region-env", (), {"ALIBABA_CLOUD_REGION_ID": "cn-shanghai"}),
        ("ecs", ("--profile", "ecs"), {}),
        ("broken", ("--profile", "broken"), {}),
        ("missing", ("--profile", "nope"), {}),
    )}
    assert results["current"].returncode == 0 and results["current"].stdout == "cr_temp_user\n"
    assert results["sts"].returncode == 0, results["sts"].stderr
    # the profile named by ALIBABA_CLOUD_PROFILE has no permission: the server said so
    assert results["env-profile"].returncode == 254 and "(Forbidden" in results["env-profile"].stderr
    # the profile's region_id and ALIBABA_CLOUD_REGION_ID are sent, and the server checks them
    assert results["region"].returncode == 254 and "cn-beijing" in results["region"].stderr
    assert results["region-env"].returncode == 254 and "cn-shanghai" in results["region-env"].stderr
    assert results["ecs"].returncode == 253 and "EcsRamRole" in results["ecs"].stderr
    assert results["broken"].returncode == 253 and "sts_token" in results["broken"].stderr
    assert results["missing"].returncode == 253 and "(nope)" in results["missing"].stderr
    # environment keys win over the file unless --profile is given
    env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": acr.denied.access_key_id,
           "ALIBABA_CLOUD_ACCESS_KEY_SECRET": acr.denied.secret_access_key}
    assert acr.run(*gat, home=tmp_path, **env).returncode == 254
    assert acr.run(*gat, "--profile", "ci", home=tmp_path, **env).returncode == 0


def test_errors_and_exit_codes(acr: Acr, tmp_path: Path) -> None:
    wrong = Keys(acr.allowed.access_key_id, "wrong-" + acr.allowed.secret_access_key[6:])
    runs = {
        "unknown-instance": acr.run(*CR_GAT, "--instance-id", "cri-doesnotexist0", keys=acr.allowed),
        "denied": acr.run(*CR_GAT, "--instance-id", acr.instance, keys=acr.denied),
        "hours": acr.run(*CR_GAT, "--instance-id", acr.instance, "--expires-in-hours", "25", keys=acr.allowed),
        "secret": acr.run(*CR_GAT, "--instance-id", acr.instance, "--debug", keys=wrong),
        "no-credentials": acr.run(*CR_GAT, "--instance-id", acr.instance, home=tmp_path),
        "no-endpoint": acr.run(*CR_GAT, "--instance-id", acr.instance, keys=acr.allowed, endpoint=False),
        "closed": acr.run(*CR_GAT, "--instance-id", acr.instance, "--endpoint-url", closed_port_url(),
                          keys=acr.allowed, endpoint=False),
        "no-instance": acr.run(*CR_GAT, keys=acr.allowed),
        "hours-type": acr.run(*CR_GAT, "--instance-id", acr.instance, "--expires-in-hours", "two", keys=acr.allowed),
        "bad-query": acr.run(*CR_GAT, "--instance-id", acr.instance, "--query", "[", keys=acr.allowed),
        "bad-url": acr.run(*CR_GAT, "--instance-id", acr.instance, "--endpoint-url", "ftp://x", keys=acr.allowed,
                           endpoint=False),
    }
    shape = "An error occurred ({}) when calling the GetAuthorizationToken operation: "
    assert runs["unknown-instance"].returncode == 254
    assert shape.format("INSTANCE_NOT_EXIST") in runs["unknown-instance"].stderr
    assert runs["denied"].returncode == 254 and "(Forbidden" in runs["denied"].stderr
    assert runs["hours"].returncode == 254 and "ExpiresInHours" in runs["hours"].stderr
    assert runs["secret"].returncode == 254 and shape.format("SignatureDoesNotMatch") in runs["secret"].stderr
    assert wrong.secret_access_key not in runs["secret"].stderr and "Signature=" not in runs["secret"].stderr
    assert "DEBUG" in runs["secret"].stderr                       # --debug logged, and still nothing secret
    assert runs["no-credentials"].returncode == 253 and "ALIBABA_CLOUD_ACCESS_KEY_ID" in runs["no-credentials"].stderr
    assert runs["no-endpoint"].returncode == 253 and "region" in runs["no-endpoint"].stderr
    assert runs["closed"].returncode == 255 and "Could not connect to the endpoint URL" in runs["closed"].stderr
    for name in ("no-instance", "hours-type", "bad-query", "bad-url"):
        assert runs[name].returncode == 252, (name, runs[name].stderr)
    for proc in runs.values():
        assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_help_names_credentials_and_examples(acr: Acr) -> None:
    proc = acr.run("cr", "get-login-password", "--help", endpoint=False)
    assert proc.returncode == 0
    for text in ("--instance-id", "--expires-in-hours", "ALIBABA_CLOUD_ACCESS_KEY_ID", "~/.aliyun/config.json",
                 "docker login --username cr_temp_user --password-stdin"):
        assert text in proc.stdout


def test_a_deleted_instance_refuses_its_tokens_and_new_ones(acr: Acr) -> None:
    gone = "acr-gone.test:5000"
    made = regauth_cli("admin", "create-acr-instance", "--account-id", acr.server.account_id, "--region", REGION,
                       "--name", unique("gone"), "--login-server", gone, data_dir=acr.server.data_dir)
    assert made.returncode == 0, made.stderr
    instance = json.loads(made.stdout)["InstanceId"]
    proc = acr.run(*CR_GAT, "--instance-id", instance, keys=acr.server.admin)
    assert proc.returncode == 0, proc.stderr
    token = json.loads(proc.stdout)["AuthorizationToken"]
    assert realm_status(acr.server, "cr_temp_user", token, gone)[0] == 200

    deleted = regauth_cli("admin", "delete-acr-instance", "--instance-id", instance, data_dir=acr.server.data_dir)
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(deleted.stdout)["Deleted"]["InstanceId"] == instance
    assert realm_status(acr.server, "cr_temp_user", token, gone)[0] == 401        # its login server opens nothing
    # like the real token, it still logs on to the account's other instances
    assert realm_status(acr.server, "cr_temp_user", token)[0] == 200
    again = acr.run(*CR_GAT, "--instance-id", instance, keys=acr.server.admin)
    assert again.returncode == 254 and "(INSTANCE_NOT_EXIST)" in again.stderr
    twice = regauth_cli("admin", "delete-acr-instance", "--instance-id", instance, data_dir=acr.server.data_dir)
    assert twice.returncode != 0 and "does not exist" in twice.stderr
