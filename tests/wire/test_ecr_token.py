"""ECR GetAuthorizationToken, get-login-password and repositories through boto3, AWS CLI v1 and AWS CLI v2.

Contract: aws-wire.md §4 and §7.2, the boto3 ECR get_authorization_token page (seed 003): one
authorizationData entry per requested registry id, token = base64("AWS:<password>"), valid 12 h,
proxyEndpoint https://<account>.dkr.ecr.<region>.amazonaws.com.
"""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.fixtures.server import Keys, RegauthServer, create_account, new_user, server_env, start_server, unique
from tests.wire.clients import ApiError, Boto3Client, epoch
from tests.wire.conftest import make_client

TWELVE_HOURS = 43200
FOREIGN_IDS = ("123456789012", "210987654321")

ECR_TOKEN_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}]}


# --- helpers shared by the ECR test files ---------------------------------------------------------

def docker_password(authorization_token: str, prefix: str = "rgecr_") -> str:
    """base64 -> exactly 'AWS:<password>'; the CLI splits on ':' and needs exactly two parts."""
    raw = base64.b64decode(authorization_token, validate=True).decode()
    parts = raw.split(":")
    assert len(parts) == 2, raw
    user, password = parts
    assert user == "AWS"
    assert password.startswith(prefix), password
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", password), password
    return password


def claims(password: str) -> dict:
    """The claims segment of a regauth token (domain/tokens.py layout)."""
    body = password.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def default_endpoint(account: str, region: str = "us-east-1") -> str:
    return f"https://{account}.dkr.ecr.{region}.amazonaws.com"


def assert_error(code: str, fn, *args, **kwargs) -> ApiError:
    with pytest.raises(ApiError) as err:
        fn(*args, **kwargs)
    assert err.value.code == code, err.value.message
    return err.value


def gat(client, keys: Keys | None = None, region: str = "us-east-1", **params) -> dict:
    return client.call("ecr", "GetAuthorizationToken", params, keys, region)


# --- fixtures -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ecr_user(regauth_server: RegauthServer) -> Keys:
    return new_user(regauth_server, ECR_TOKEN_POLICY)


@pytest.fixture(scope="module")
def ecr_account(regauth_server: RegauthServer) -> tuple[str, Keys]:
    """A fresh account, so repository listings hold only what this module creates."""
    return create_account(regauth_server)


# --- GetAuthorizationToken ------------------------------------------------------------------------

def test_token_for_the_callers_registry(client, regauth_server: RegauthServer, ecr_user: Keys) -> None:
    before = time.time()
    out = gat(client, ecr_user)
    after = time.time()
    data = out["authorizationData"]
    assert isinstance(data, list) and len(data) == 1          # never empty: get-login-password takes [0]
    entry = data[0]
    assert set(entry) == {"authorizationToken", "expiresAt", "proxyEndpoint"}
    assert entry["proxyEndpoint"] == default_endpoint(regauth_server.account_id)
    password = docker_password(entry["authorizationToken"])
    expires = epoch(entry["expiresAt"])
    assert before + TWELVE_HOURS - 2 <= expires <= after + TWELVE_HOURS + 2
    got = claims(password)
    assert got["k"] == "ecr" and got["acct"] == regauth_server.account_id
    assert abs(got["exp"] - expires) < 1


def test_one_entry_per_registry_id_in_request_order(client, regauth_server: RegauthServer, ecr_user: Keys) -> None:
    acct = regauth_server.account_id
    single = gat(client, ecr_user, registryIds=[acct])["authorizationData"]
    assert [e["proxyEndpoint"] for e in single] == [default_endpoint(acct)]
    docker_password(single[0]["authorizationToken"])
    ids = [FOREIGN_IDS[0], acct, FOREIGN_IDS[1]]
    before = time.time()
    many = gat(client, ecr_user, registryIds=ids)["authorizationData"]
    assert [e["proxyEndpoint"] for e in many] == [default_endpoint(i) for i in ids]
    for entry in many:
        docker_password(entry["authorizationToken"])
        assert before + TWELVE_HOURS - 2 <= epoch(entry["expiresAt"]) <= time.time() + TWELVE_HOURS + 2


def test_proxy_endpoint_region_comes_from_the_client(client, regauth_server: RegauthServer, ecr_user: Keys) -> None:
    # No `regauth admin` command sets an account's proxyEndpoint yet, so this is the default template.
    data = gat(client, ecr_user, region="eu-west-1")["authorizationData"]
    assert [e["proxyEndpoint"] for e in data] == [default_endpoint(regauth_server.account_id, "eu-west-1")]


INVALID_REGISTRY_IDS = [
    [str(100000000000 + i) for i in range(11)],   # max 10
    ["abc"],                                      # pattern [0-9]{12}
    ["1234567890123"],                            # 13 digits
]


def test_invalid_registry_ids_refused_by_the_server(client, ecr_user: Keys) -> None:
    # botocore and both CLIs check only `min`, so all three cases reach the server (verified);
    # one test per client, not per case: each CLI start costs about a second.
    for registry_ids in INVALID_REGISTRY_IDS:
        err = assert_error("InvalidParameterException", gat, client, ecr_user, registryIds=registry_ids)
        assert "registryIds" in err.message, registry_ids


def test_user_without_the_permission_is_denied(client, regauth_server: RegauthServer) -> None:
    keys = new_user(regauth_server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecr:DescribeRepositories", "Resource": "*"}]})
    err = assert_error("AccessDeniedException", gat, client, keys)
    assert "ecr:GetAuthorizationToken" in err.message


def test_explicit_deny_wins(client, regauth_server: RegauthServer) -> None:
    keys = new_user(regauth_server, {"Version": "2012-10-17", "Statement": ECR_TOKEN_POLICY["Statement"] + [
        {"Effect": "Deny", "Action": "ecr:*", "Resource": "*"}]})
    assert_error("AccessDeniedException", gat, client, keys)


def test_bad_signature_refused(client, ecr_user: Keys) -> None:
    wrong = Keys(ecr_user.access_key_id, ecr_user.secret_access_key[:-4] + "abcd")
    err = assert_error("InvalidSignatureException", gat, client, wrong)
    assert wrong.secret_access_key not in err.message


def test_unknown_key_refused(client) -> None:
    assert_error("UnrecognizedClientException", gat, client, Keys("AKIAZZZZZZZZZZZZZZZZ", "x" * 40))


def test_inactive_key_refused_until_reactivated(client, regauth_server: RegauthServer) -> None:
    name = unique("ecr-inactive")
    keys = new_user(regauth_server, ECR_TOKEN_POLICY, name=name)
    iam = regauth_server.client("iam")
    iam.update_access_key(UserName=name, AccessKeyId=keys.access_key_id, Status="Inactive")
    assert_error("UnrecognizedClientException", gat, client, keys)
    iam.update_access_key(UserName=name, AccessKeyId=keys.access_key_id, Status="Active")
    assert len(gat(client, keys)["authorizationData"]) == 1


def test_session_credentials_work(client, regauth_server: RegauthServer, ecr_user: Keys) -> None:
    creds = regauth_server.client("sts", ecr_user).get_session_token(DurationSeconds=900)["Credentials"]
    session = Keys(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    data = gat(client, session)["authorizationData"]
    assert [e["proxyEndpoint"] for e in data] == [default_endpoint(regauth_server.account_id)]
    user_arn = regauth_server.client("sts", ecr_user).get_caller_identity()["Arn"]
    got = claims(docker_password(data[0]["authorizationToken"]))
    assert got["acct"] == regauth_server.account_id and got["sub"] == user_arn   # issued to the session's user


# --- the CLI's own commands -----------------------------------------------------------------------

@pytest.mark.parametrize("cli_name", ["cli-v1", "cli-v2"])
def test_get_login_password_prints_exactly_the_password(cli_name: str, regauth_server: RegauthServer,
                                                        ecr_user: Keys) -> None:
    cli = make_client(cli_name, regauth_server)
    before = time.time()
    proc = cli.run(["ecr", "get-login-password"], ecr_user)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith("\n") and proc.stdout.count("\n") == 1
    password = proc.stdout[:-1]
    # exactly what base64("AWS:" + password) would carry: re-encode it and decode as the CLI does
    assert docker_password(base64.b64encode(f"AWS:{password}".encode()).decode()) == password
    got = claims(password)
    assert got["k"] == "ecr" and got["acct"] == regauth_server.account_id
    assert before + TWELVE_HOURS - 2 <= got["exp"] <= time.time() + TWELVE_HOURS + 2


def test_cli_v1_get_login_prints_docker_login_per_registry(regauth_server: RegauthServer, ecr_user: Keys) -> None:
    cli = make_client("cli-v1", regauth_server)
    acct = regauth_server.account_id
    proc = cli.run(["ecr", "get-login", "--no-include-email"], ecr_user)
    assert proc.returncode == 0, proc.stderr
    m = re.fullmatch(r"docker login -u AWS -p (\S+) (\S+)\n", proc.stdout)
    assert m, proc.stdout
    assert m.group(1).startswith("rgecr_") and m.group(2) == default_endpoint(acct)
    proc = cli.run(["ecr", "get-login", "--no-include-email", "--registry-ids", acct, FOREIGN_IDS[0]], ecr_user)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2, proc.stdout
    for line, registry in zip(lines, [acct, FOREIGN_IDS[0]]):
        m = re.fullmatch(r"docker login -u AWS -p (\S+) (\S+)", line)
        assert m, line
        assert m.group(2) == default_endpoint(registry)
        docker_password(base64.b64encode(f"AWS:{m.group(1)}".encode()).decode())


# --- repositories and registry --------------------------------------------------------------------

def test_repository_lifecycle(client, ecr_account: tuple[str, Keys]) -> None:
    acct, admin = ecr_account
    name = f"team-{unique('app')}/web"
    before = time.time()
    repo = client.call("ecr", "CreateRepository", {"repositoryName": name}, admin)["repository"]
    assert repo["repositoryName"] == name and repo["registryId"] == acct
    assert repo["repositoryArn"] == f"arn:aws:ecr:us-east-1:{acct}:repository/{name}"
    assert repo["repositoryUri"] == f"{acct}.dkr.ecr.us-east-1.amazonaws.com/{name}"
    assert repo["imageTagMutability"] == "MUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": False}
    assert repo["encryptionConfiguration"]["encryptionType"] == "AES256"
    assert before - 2 <= epoch(repo["createdAt"]) <= time.time() + 2
    err = assert_error("RepositoryAlreadyExistsException", client.call, "ecr", "CreateRepository",
                       {"repositoryName": name}, admin)
    assert f"The repository with name '{name}' already exists in the registry with id" in err.message
    by_name = client.call("ecr", "DescribeRepositories", {"repositoryNames": [name]}, admin)["repositories"]
    assert [r["repositoryArn"] for r in by_name] == [repo["repositoryArn"]]
    deleted = client.call("ecr", "DeleteRepository", {"repositoryName": name}, admin)["repository"]
    assert deleted["repositoryArn"] == repo["repositoryArn"]
    err = assert_error("RepositoryNotFoundException", client.call, "ecr", "DescribeRepositories",
                       {"repositoryNames": [name]}, admin)
    assert name in err.message and acct in err.message


def test_repository_name_pattern_enforced(client, ecr_account: tuple[str, Keys]) -> None:
    for bad in ("Bad_Name", "a//b"):     # botocore checks only min length 2: these reach the server
        err = assert_error("InvalidParameterException", client.call, "ecr", "CreateRepository",
                           {"repositoryName": bad}, ecr_account[1])
        assert "repositoryName" in err.message, bad


def test_describe_repositories_pages_with_max_results(client, regauth_server: RegauthServer,
                                                      ecr_account: tuple[str, Keys]) -> None:
    acct, admin = ecr_account
    ecr = regauth_server.client("ecr", admin)
    stem = unique("pg")
    mine = [f"{stem}-{c}" for c in "abc"]
    for name in mine:
        ecr.create_repository(repositoryName=name)
    try:
        seen: list[str] = []
        params: dict = {"maxResults": 1}
        for _ in range(50):
            out = client.call("ecr", "DescribeRepositories", params, admin)
            assert len(out["repositories"]) == 1, out
            seen += [r["repositoryName"] for r in out["repositories"]]
            if not out.get("nextToken"):
                break
            params = {"maxResults": 1, "nextToken": out["nextToken"]}
        else:
            pytest.fail("DescribeRepositories never stopped returning nextToken")
        assert len(seen) == len(set(seen))
        assert [n for n in seen if n.startswith(stem)] == mine
        assert seen == sorted(seen)
    finally:
        for name in mine:
            ecr.delete_repository(repositoryName=name)


def test_describe_registry_is_the_callers_account(client, ecr_account: tuple[str, Keys]) -> None:
    acct, admin = ecr_account
    out = client.call("ecr", "DescribeRegistry", {}, admin)
    assert out["registryId"] == acct
    assert out["replicationConfiguration"]["rules"] == []


# --- operator-configured registry URL -------------------------------------------------------------

@pytest.fixture(scope="module")
def templated_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegauthServer]:
    env = dict(server_env("444455556666"),
               REGAUTH_REGISTRY_ENDPOINT="https://{account}.registry.example.test:5443/")
    server = start_server(Path(tmp_path_factory.mktemp("regauth-ecr-template")), env)
    yield server
    server.stop()


def test_operator_registry_template_shapes_proxy_endpoint(templated_server: RegauthServer) -> None:
    """REGAUTH_REGISTRY_ENDPOINT (server-wide) replaces the amazonaws.com default; the trailing '/'
    is dropped, and repositoryUri uses the same host."""
    boto = Boto3Client(templated_server)
    data = gat(boto, registryIds=["444455556666", FOREIGN_IDS[0]])["authorizationData"]
    assert [e["proxyEndpoint"] for e in data] == ["https://444455556666.registry.example.test:5443",
                                                  f"https://{FOREIGN_IDS[0]}.registry.example.test:5443"]
    repo = boto.call("ecr", "CreateRepository", {"repositoryName": "svc/api"})["repository"]
    assert repo["repositoryUri"] == "444455556666.registry.example.test:5443/svc/api"
