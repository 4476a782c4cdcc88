"""Stale request dates and expired sessions, with the server's clock moved by libfaketime."""

from __future__ import annotations

import json
from typing import Iterator

import pytest

from tests.fixtures.clock import ShiftedServer
from tests.fixtures.server import Keys, unique
from tests.wire.clients import ApiError
from tests.wire.conftest import CA_TOKEN_POLICY, CLIENTS, make_client



@pytest.fixture(params=CLIENTS)
def shifted_client(request: pytest.FixtureRequest, shifted_server: ShiftedServer) -> Iterator[object]:
    shifted_server.shift(0)
    yield make_client(request.param, shifted_server.server)
    shifted_server.shift(0)


@pytest.fixture(scope="module")
def shifted_domain(shifted_server: ShiftedServer) -> str:
    name = unique("clock")
    shifted_server.server.client("codeartifact").create_domain(domain=name)
    return name


def _code(fn) -> str:
    with pytest.raises(ApiError) as err:
        fn()
    return err.value.code


def test_stale_request_date_refused(shifted_client, shifted_server: ShiftedServer, shifted_domain: str) -> None:
    shifted_server.shift(20 * 60)   # the server runs 20 minutes ahead: every client date is stale
    assert _code(lambda: shifted_client.call("codeartifact", "GetAuthorizationToken",
                                             {"domain": shifted_domain})) == "InvalidSignatureException"
    assert _code(lambda: shifted_client.call("sts", "GetCallerIdentity")) == "SignatureDoesNotMatch"
    shifted_server.shift(-20 * 60)  # and 20 minutes behind
    assert _code(lambda: shifted_client.call("sts", "GetCallerIdentity")) == "SignatureDoesNotMatch"


def test_expired_session_refused(shifted_client, shifted_server: ShiftedServer, shifted_domain: str) -> None:
    server = shifted_server.server
    role = unique("short")
    iam = server.client("iam")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": server.account_id}, "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName=role, PolicyName="p", PolicyDocument=json.dumps(CA_TOKEN_POLICY))
    creds = server.client("sts").assume_role(RoleArn=f"arn:aws:iam::{server.account_id}:role/{role}",
                                             RoleSessionName="short", DurationSeconds=900)["Credentials"]
    session = Keys(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    assert shifted_client.call("codeartifact", "GetAuthorizationToken", {"domain": shifted_domain}, session)
    later = 16 * 60
    shifted_server.shift(later)
    prefix = ShiftedServer.client_prefix(later)
    assert _code(lambda: shifted_client.call("codeartifact", "GetAuthorizationToken", {"domain": shifted_domain},
                                             session, time_prefix=prefix)) == "ExpiredTokenException"
    assert _code(lambda: shifted_client.call("sts", "GetCallerIdentity", {}, session,
                                             time_prefix=prefix)) == "ExpiredToken"
