from __future__ import annotations

import secrets

import pytest

from tests.fixtures.server import Keys, RegauthServer, create_account, new_user, require_program, which_aws_v2
from tests.wire.clients import VENV_AWS, Boto3Client, CliClient

CLIENTS = ["boto3", "cli-v1", "cli-v2"]

CA_TOKEN_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "codeartifact:GetAuthorizationToken", "Resource": "*"},
    {"Effect": "Allow", "Action": "sts:GetServiceBearerToken", "Resource": "*",
     "Condition": {"StringEquals": {"sts:AWSServiceName": "codeartifact.amazonaws.com"}}}]}


def make_client(name: str, server: RegauthServer):
    if name == "boto3":
        return Boto3Client(server)
    if name == "cli-v1":
        exe = require_program(str(VENV_AWS) if VENV_AWS.exists() else None, "AWS CLI v1 (pip awscli)")
        return CliClient(server, exe, name)
    return CliClient(server, require_program(which_aws_v2(), "AWS CLI v2 (Debian awscli)"), name)


@pytest.fixture(params=CLIENTS)
def client(request: pytest.FixtureRequest, regauth_server: RegauthServer):
    return make_client(request.param, regauth_server)


@pytest.fixture(scope="session")
def domain(regauth_server: RegauthServer) -> str:
    name = "dom-" + secrets.token_hex(4)
    regauth_server.client("codeartifact").create_domain(domain=name)
    return name


@pytest.fixture(scope="session")
def token_user(regauth_server: RegauthServer) -> Keys:
    return new_user(regauth_server, CA_TOKEN_POLICY)


@pytest.fixture(scope="session")
def second_account(regauth_server: RegauthServer) -> tuple[str, Keys]:
    """Another account on the same server, created with `regauth admin create-account`."""
    return create_account(regauth_server)
