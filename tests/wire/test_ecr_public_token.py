"""ECR Public GetAuthorizationToken and get-login-password through boto3, AWS CLI v1 and AWS CLI v2.

Contract: aws-wire.md §5 and §7.2, the CLI's ecr-public get-authorization-token page (seed 002):
a single authorizationData object (no list, no proxyEndpoint), valid 12 h, us-east-1 only, and
both ecr-public:GetAuthorizationToken and sts:GetServiceBearerToken are required.
"""

from __future__ import annotations

import base64
import time

import pytest

from tests.fixtures.server import Keys, RegauthServer, new_user
from tests.wire.clients import epoch
from tests.wire.conftest import make_client
from tests.wire.test_ecr_token import TWELVE_HOURS, assert_error, claims, docker_password

ECR_PUBLIC_STATEMENT = {"Effect": "Allow", "Action": "ecr-public:GetAuthorizationToken", "Resource": "*"}


def bearer_statement(service: str) -> dict:
    return {"Effect": "Allow", "Action": "sts:GetServiceBearerToken", "Resource": "*",
            "Condition": {"StringEquals": {"sts:AWSServiceName": service}}}


ECR_PUBLIC_TOKEN_POLICY = {"Version": "2012-10-17",
                           "Statement": [ECR_PUBLIC_STATEMENT, bearer_statement("ecr-public.amazonaws.com")]}
UNSUPPORTED_REGION = "GetAuthorizationToken command is only supported in us-east-1."


def public_token(client, keys: Keys | None, region: str = "us-east-1") -> dict:
    return client.call("ecr-public", "GetAuthorizationToken", {}, keys, region)


@pytest.fixture(scope="module")
def public_user(regauth_server: RegauthServer) -> Keys:
    return new_user(regauth_server, ECR_PUBLIC_TOKEN_POLICY)


def test_single_authorization_object_without_proxy_endpoint(client, regauth_server: RegauthServer,
                                                           public_user: Keys) -> None:
    before = time.time()
    out = public_token(client, public_user)
    after = time.time()
    data = out["authorizationData"]
    assert isinstance(data, dict), data            # an object, not a list
    assert set(data) == {"authorizationToken", "expiresAt"}
    password = docker_password(data["authorizationToken"], prefix="rgecp_")
    expires = epoch(data["expiresAt"])
    assert before + TWELVE_HOURS - 2 <= expires <= after + TWELVE_HOURS + 2
    got = claims(password)
    assert got["k"] == "ecr-public" and got["acct"] == regauth_server.account_id
    assert abs(got["exp"] - expires) < 1


def test_refused_outside_us_east_1(client, public_user: Keys) -> None:
    # Without --endpoint-url the CLIs would try api.ecr-public.us-west-2.amazonaws.com (aws-cli#5917);
    # with it, the request reaches regauth and every client reports the service's refusal.
    err = assert_error("UnsupportedCommandException", public_token, client, public_user, "us-west-2")
    assert UNSUPPORTED_REGION in err.message


@pytest.mark.parametrize("statements, missing", [
    ([ECR_PUBLIC_STATEMENT], "sts:GetServiceBearerToken"),
    ([bearer_statement("ecr-public.amazonaws.com")], "ecr-public:GetAuthorizationToken"),
    ([ECR_PUBLIC_STATEMENT, bearer_statement("codeartifact.amazonaws.com")], "sts:GetServiceBearerToken"),
], ids=["no-bearer", "no-ecr-public", "bearer-for-codeartifact"])
def test_both_permissions_needed(client, regauth_server: RegauthServer, statements: list, missing: str) -> None:
    keys = new_user(regauth_server, {"Version": "2012-10-17", "Statement": statements})
    err = assert_error("AccessDeniedException", public_token, client, keys)
    assert missing in err.message


def test_bad_signature_refused(client, public_user: Keys) -> None:
    wrong = Keys(public_user.access_key_id, public_user.secret_access_key[:-4] + "abcd")
    err = assert_error("InvalidSignatureException", public_token, client, wrong)
    assert wrong.secret_access_key not in err.message


def test_unknown_key_refused(client) -> None:
    assert_error("UnrecognizedClientException", public_token, client, Keys("AKIAZZZZZZZZZZZZZZZZ", "x" * 40))


@pytest.mark.parametrize("cli_name", ["cli-v1", "cli-v2"])
def test_get_login_password_prints_exactly_the_password(cli_name: str, regauth_server: RegauthServer,
                                                        public_user: Keys) -> None:
    cli = make_client(cli_name, regauth_server)
    before = time.time()
    proc = cli.run(["ecr-public", "get-login-password"], public_user)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith("\n") and proc.stdout.count("\n") == 1
    password = proc.stdout[:-1]
    assert docker_password(base64.b64encode(f"AWS:{password}".encode()).decode(), prefix="rgecp_") == password
    got = claims(password)
    assert got["k"] == "ecr-public" and got["acct"] == regauth_server.account_id
    assert before + TWELVE_HOURS - 2 <= got["exp"] <= time.time() + TWELVE_HOURS + 2
    # and outside us-east-1 the CLI fails with the service's message, printing no password
    proc = cli.run(["ecr-public", "get-login-password"], public_user, region="us-west-2")
    assert proc.returncode != 0 and proc.stdout == ""
    assert "UnsupportedCommandException" in proc.stderr and UNSUPPORTED_REGION in proc.stderr
