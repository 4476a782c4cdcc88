"""Refusals in the audit trail name what was asked for (README, Operations: "a refusal before that names
what was asked for"): the realm's `service` and scopes, and the ACR instance id behind an
INSTANCE_NOT_EXIST, which is audited as a denial like CodeArtifact's equivalent."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from urllib.parse import urlencode

import pytest

from tests.fixtures.server import RegauthServer, create_account, new_user, regauth_cli, unique
from tests.wire.test_acr_sdks import hand_rpc

pytestmark = pytest.mark.wire


def audit_event(server: RegauthServer, request_id: str) -> dict:
    out = regauth_cli("admin", "audit", "--limit", "50", data_dir=server.data_dir)
    assert out.returncode == 0, out.stderr
    found = [e for e in map(json.loads, out.stdout.splitlines()) if e["request_id"].lower() == request_id.lower()]
    assert len(found) == 1, out.stdout
    return found[0]


def logged(server: RegauthServer, before: int, marker: str) -> list[str]:
    """Server output lines after the first `before` holding `marker`, once one has come (another thread
    reads the output)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any(marker in line for line in server.output[before:]):
        time.sleep(0.05)
    return [line for line in server.output[before:] if marker in line]


def test_a_realm_refusal_names_the_service_and_scopes_asked_for(regauth_server: RegauthServer) -> None:
    server = regauth_server
    data = server.client("ecr").get_authorization_token()["authorizationData"][0]
    service = f"{unique('other')}.local x\nFORGED"      # a host no token opens; a space and a newline too
    query = urlencode([("service", service), ("scope", "repository:team/app:pull,push"),
                       ("scope", "registry:catalog:*")])
    req = urllib.request.Request(f"{server.url}/token?{query}",
                                 headers={"Authorization": "Basic " + data["authorizationToken"]})
    before = len(server.output)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 401
    request_id = err.value.headers["x-request-id"]
    event = audit_event(server, request_id)
    assert event["outcome"] == "denied" and event["action"] == "registry:GetToken"
    assert event["resource"] == service
    assert event["detail"].endswith(" scope=repository:team/app:pull,push scope=registry:catalog:*")
    assert event["principal_arn"].endswith(":user/admin") and event["token_id"]
    line = logged(server, before, f"audit denied registry:GetToken {request_id}")
    assert len(line) == 1 and f"resource={json.dumps(service)} " in line[0]    # one field, newline escaped
    assert not any(x.startswith("FORGED") for x in server.output[before:])


def test_instance_not_exist_is_audited_as_a_denial(regauth_server: RegauthServer) -> None:
    """An unknown instance id and another account's instance get the same INSTANCE_NOT_EXIST as before,
    and now each leaves a denial under the caller, naming the id asked for."""
    server = regauth_server
    other_account, _ = create_account(server)
    made = regauth_cli("admin", "create-acr-instance", "--account-id", other_account, "--region", "cn-hangzhou",
                       "--name", unique("acr"), "--login-server", f"{unique('acr')}.test:5000",
                       data_dir=server.data_dir)
    assert made.returncode == 0, made.stderr
    foreign = json.loads(made.stdout)["InstanceId"]
    keys = new_user(server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "cr:GetAuthorizationToken", "Resource": "*"}]})
    arn = server.client("sts", keys).get_caller_identity()["Arn"]
    for instance_id in ("cri-" + unique("nosuch").replace("-", ""), foreign):
        status, _, body = hand_rpc(server, keys, InstanceId=instance_id, Format="JSON")
        answer = json.loads(body)
        assert (status, answer["Code"]) == (404, "INSTANCE_NOT_EXIST"), answer
        event = audit_event(server, answer["RequestId"])
        assert (event["outcome"], event["action"], event["resource"], event["principal_arn"]) == (
            "denied", "cr:GetAuthorizationToken", instance_id, arn)
