"""Refusals in the audit trail name what was asked for (README, Operations: "a refusal before that names
what was asked for"): the ACR instance id behind an INSTANCE_NOT_EXIST, which is audited as a denial
like CodeArtifact's equivalent."""

from __future__ import annotations

import json

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
