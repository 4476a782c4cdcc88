"""A store an older regauth wrote, served by today's: what today's admin commands refuse at write time
is neither used nor handed out, and the start names each such row and its fix.

Older versions (before the checks in `regauth admin` and the services) accepted a registry host shared
by two accounts, endpoints holding a user and password or a path, and account ids of any text. The
rows are written here with sqlite3 straight into a store today's `regauth serve` made, while no server
runs on it (the schema is the same): a stand-in for "an older regauth wrote this" that needs no older
checkout. Everything else is real: the server restarted on that store, boto3, the Alibaba SDK, HTTP to
the token realm, `regauth admin`.
"""

from __future__ import annotations

import argparse
import base64
import json
import sqlite3
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import urlencode

import pytest

from tests.fixtures.server import (Keys, RegauthServer, create_account, new_user, regauth_cli, server_env,
                                   start_server)

pytestmark = pytest.mark.wire
A = "121212121212"
SHARED = "shared.test:5000"            # B's endpoint in us-east-1 and A's in us-west-2
ACR_SHARED = "acr-shared.test:5000"    # an ACR instance of each
LEAKY_URL = "https://bob:hunter2@hosty.test/some/path?access_token=t0ken-in-query"   # A's endpoint in eu-west-1
LEAKY_TEMPLATE = "https://ci:s3cret@pypi-host.test/{repository}/#fr4gment-key"     # A's domain `legacy`, pypi
AT_IN_QUERY = "https://hosty2.test/p?owner=ci@corp.example&access_token=t0ken-after-at"   # A's, ap-south-1
SECRETS = ("hunter2", "s3cret", "t0ken-in-query", "fr4gment-key", "t0ken-after-at")
ECR_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken", "ecr:BatchGetImage", "ecr:PutImage"],
     "Resource": "*"}]}
ACR_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["cr:GetAuthorizationToken", "cr:PullRepository", "cr:PushRepository"],
     "Resource": "*"}]}


@dataclass
class Upgraded:
    server: RegauthServer
    b: str                       # the second account's id
    a_ecr: Keys
    b_ecr: Keys
    a_acr: Keys
    start: list[str]             # what the server logged up to its banner

    def template_host(self, account: str, region: str) -> str:
        return f"{account}.dkr.ecr.{region}.amazonaws.com"

    def ecr_password(self, keys: Keys, region: str) -> tuple[str, str]:
        """(password, proxyEndpoint) from GetAuthorizationToken in `region`."""
        data = self.server.client("ecr", keys, region=region).get_authorization_token()["authorizationData"][0]
        return base64.b64decode(data["authorizationToken"]).decode().split(":", 1)[1], data["proxyEndpoint"]

    def realm(self, service: str, user: str, password: str) -> tuple[int, dict]:
        query = urlencode([("service", service), ("scope", "repository:app:pull,push")])
        req = urllib.request.Request(f"{self.server.url}/token?{query}", headers={
            "Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def logged(self, *needles: str) -> str:
        """The first line the server logged holding every needle (waiting for the output to be read)."""
        deadline = time.monotonic() + 10
        while True:
            found = [line for line in list(self.server.output) if all(n in line for n in needles)]
            if found or time.monotonic() > deadline:
                assert found, (needles, self.server.output[-20:])
                return found[0]
            time.sleep(0.05)


def _write_as_an_older_regauth(db: Path, b: str) -> None:
    now = time.time()
    conn = sqlite3.connect(db)
    try:
        with conn:
            conn.executemany("INSERT INTO ecr_registry_endpoints (account_id, region, url) VALUES (?, ?, ?)", [
                (b, "us-east-1", f"https://{SHARED}"), (A, "us-west-2", f"https://{SHARED}"),
                (b, "eu-central-1", f"https://{A}.dkr.ecr.eu-central-1.amazonaws.com"),   # A's by the template
                (A, "eu-west-1", LEAKY_URL), (A, "ap-south-1", AT_IN_QUERY)])
            conn.executemany("INSERT INTO acr_instances (instance_id, account_id, region, name, login_server, "
                             "created_at) VALUES (?, ?, 'cn-hangzhou', ?, ?, ?)", [
                                 ("cri-legacyaaaa0001", A, "legacy-a", ACR_SHARED, now),
                                 ("cri-legacybbbb0001", b, "legacy-b", ACR_SHARED, now)])
            conn.execute("INSERT INTO codeartifact_repository_endpoints (account_id, region, domain_name, format, "
                         "template) VALUES (?, 'us-east-1', 'legacy', 'pypi', ?)", (A, LEAKY_TEMPLATE))
            conn.execute("INSERT INTO accounts (account_id, created_at) VALUES ('acct one', ?)", (now,))
    finally:
        conn.close()


@pytest.fixture(scope="module")
def upgraded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upgraded]:
    data = tmp_path_factory.mktemp("legacy")
    env = server_env(A)
    first = start_server(data, env)
    try:
        b, b_admin = create_account(first)
        a_ecr, b_ecr = new_user(first, ECR_POLICY), new_user(first, ECR_POLICY, admin=b_admin)
        a_acr = new_user(first, ACR_POLICY)
        ca = first.client("codeartifact")
        ca.create_domain(domain="legacy")
        ca.create_repository(domain="legacy", repository="repo2")
    finally:
        first.stop()
    _write_as_an_older_regauth(data / "regauth.db", b)
    server = start_server(data, env)
    try:
        yield Upgraded(server, b, a_ecr, b_ecr, a_acr, list(server.output))
    finally:
        server.stop()


def test_the_start_names_each_problem_and_its_fix_and_serves(upgraded: Upgraded) -> None:
    b = upgraded.b
    errors = [line for line in upgraded.start if " ERROR " in line]
    assert len(errors) == 7, errors
    shared = next(line for line in errors if f"host {SHARED} " in line)
    assert f"account {A} (its registry endpoint in us-west-2), account {b} (its registry endpoint in us-east-1)" \
        in shared
    assert "regauth admin set-registry-endpoint" in shared
    acr = next(line for line in errors if f"host {ACR_SHARED} " in line)
    assert "cri-legacyaaaa0001" in acr and "cri-legacybbbb0001" in acr and "regauth admin delete-acr-instance" in acr
    by_template = next(line for line in errors if f"host {upgraded.template_host(A, 'eu-central-1')} " in line)
    assert f"account {A} (its host under the registry URL template), account {b} (its registry endpoint in " \
        "eu-central-1)" in by_template
    leaky = next(line for line in errors if "hosty.test" in line)
    assert "(https://***@hosty.test/***)" in leaky and "no path, user" in leaky
    assert f"regauth admin set-registry-endpoint --account-id {A} --region eu-west-1" in leaky
    template = next(line for line in errors if "pypi-host.test" in line)
    assert "(https://***@pypi-host.test/***)" in template and "user or password" in template
    at_in_query = next(line for line in errors if "ap-south-1" in line)     # which part is the host: unknown
    assert "(https://***/***)" in at_in_query
    assert f"regauth admin set-repository-endpoint --account-id {A} --region us-east-1 --domain legacy --format pypi" \
        in template
    account = next(line for line in errors if "'acct one'" in line)
    assert "not 12 digits" in account and "regauth admin create-account" in account
    listed = regauth_cli("admin", "list-accounts", data_dir=upgraded.server.data_dir)    # listed as it is
    assert listed.returncode == 0 and "acct one" in [a["AccountId"] for a in json.loads(listed.stdout)["Accounts"]]
    assert not any(s in line for s in SECRETS for line in upgraded.server.output)
    # and it serves
    assert upgraded.server.client("sts").get_caller_identity()["Account"] == A


def test_a_registry_host_two_accounts_claim_opens_nothing_for_either(upgraded: Upgraded) -> None:
    """Each account's tokens would open the other's repositories: the realm answers as for a host it
    does not know, for both, and logs who shares the host."""
    a_password, a_endpoint = upgraded.ecr_password(upgraded.a_ecr, "us-west-2")
    b_password, b_endpoint = upgraded.ecr_password(upgraded.b_ecr, "us-east-1")
    assert a_endpoint == b_endpoint == f"https://{SHARED}"
    unknown = upgraded.realm("unknown.test:5000", "AWS", a_password)
    assert unknown[0] == 401 and unknown[1]["errors"][0]["code"] == "UNAUTHORIZED"
    as_unknown = (unknown[0], json.loads(json.dumps(unknown[1]).replace("unknown.test:5000", SHARED)))
    for password in (a_password, b_password):
        assert upgraded.realm(SHARED, "AWS", password) == as_unknown
    line = upgraded.logged("ERROR", f"the registry host {SHARED} is claimed by more than one account", A, upgraded.b)
    assert "set-registry-endpoint" in line
    # a host that is one account's by the registry URL template and another's by an endpoint
    a_password, _ = upgraded.ecr_password(upgraded.a_ecr, "eu-central-1")
    b_password, _ = upgraded.ecr_password(upgraded.b_ecr, "eu-central-1")
    for password in (a_password, b_password):
        assert upgraded.realm(upgraded.template_host(A, "eu-central-1"), "AWS", password)[0] == 401


def test_an_acr_login_server_two_accounts_claim_opens_nothing(upgraded: Upgraded) -> None:
    from tests.wire.test_acr_sdks import old_sdk

    out = old_sdk(upgraded.server.url.split("://", 1)[1], upgraded.a_acr, "cri-legacyaaaa0001", region="cn-hangzhou")
    assert out.ok, (out.code, out.message)
    status, body = upgraded.realm(ACR_SHARED, out.body["TempUsername"], out.body["AuthorizationToken"])
    assert status == 401 and body["errors"][0]["code"] == "UNAUTHORIZED", body
    upgraded.logged("ERROR", f"the registry host {ACR_SHARED} is claimed by more than one account")


def test_a_stored_endpoint_with_credentials_is_never_handed_out(upgraded: Upgraded) -> None:
    """Falls back to the default, as if none were set: clients keep working, the credentials stay."""
    password, endpoint = upgraded.ecr_password(upgraded.a_ecr, "eu-west-1")
    assert endpoint == f"https://{upgraded.template_host(A, 'eu-west-1')}"
    assert upgraded.realm(upgraded.template_host(A, "eu-west-1"), "AWS", password)[0] == 200
    admin = upgraded.server.client("ecr", region="eu-west-1")
    uri = admin.create_repository(repositoryName="legacy-app")["repository"]["repositoryUri"]
    assert uri == f"{upgraded.template_host(A, 'eu-west-1')}/legacy-app"
    line = upgraded.logged("ERROR", f"account {A} in eu-west-1", "(https://***@hosty.test/***)")
    assert "set-registry-endpoint" in line
    got = upgraded.server.client("codeartifact").get_repository_endpoint(domain="legacy", repository="repo2",
                                                                         format="pypi")["repositoryEndpoint"]
    assert got == f"https://legacy-{A}.d.codeartifact.us-east-1.amazonaws.com/pypi/repo2/"
    upgraded.logged("ERROR", "domain legacy", "format pypi", "(https://***@pypi-host.test/***)")
    assert not any(s in line for s in SECRETS for line in upgraded.server.output)


def test_each_problem_is_fixed_by_the_admin_command_the_start_names(upgraded: Upgraded) -> None:
    """The fixes take effect at the next request, on a running server (the generation moves)."""
    server, b = upgraded.server, upgraded.b

    def admin(*args: str) -> None:
        out = regauth_cli("admin", *args, data_dir=server.data_dir)
        assert out.returncode == 0, out.stderr

    admin("set-registry-endpoint", "--account-id", b, "--region", "us-east-1", "--url", "https://b-own.test:5000")
    password, _ = upgraded.ecr_password(upgraded.a_ecr, "us-west-2")
    status, body = upgraded.realm(SHARED, "AWS", password)
    assert status == 200 and body["token"].count(".") == 2
    admin("delete-acr-instance", "--instance-id", "cri-legacybbbb0001")
    from tests.wire.test_acr_sdks import old_sdk
    out = old_sdk(server.url.split("://", 1)[1], upgraded.a_acr, "cri-legacyaaaa0001", region="cn-hangzhou")
    assert upgraded.realm(ACR_SHARED, out.body["TempUsername"], out.body["AuthorizationToken"])[0] == 200
    admin("set-registry-endpoint", "--account-id", A, "--region", "eu-west-1", "--url", "https://hosty.test")
    assert upgraded.ecr_password(upgraded.a_ecr, "eu-west-1")[1] == "https://hosty.test"
    admin("set-repository-endpoint", "--account-id", A, "--region", "us-east-1", "--domain", "legacy", "--format",
          "pypi", "--template", "https://pypi-host.test/{repository}/")
    got = server.client("codeartifact").get_repository_endpoint(domain="legacy", repository="repo2", format="pypi")
    assert got["repositoryEndpoint"] == "https://pypi-host.test/repo2/"


def _commands_taking_an_account_id() -> list[str]:
    from regauth.cli.main import build_parser

    admin = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices["admin"]
    commands = next(a for a in admin._actions if isinstance(a, argparse._SubParsersAction)).choices
    return sorted(name for name, p in commands.items() if any("--account-id" in a.option_strings for a in p._actions))


def test_every_admin_command_taking_an_account_id_refuses_one_not_twelve_digits(upgraded: Upgraded) -> None:
    """Even one an older create-account made ('acct one' is in this store)."""
    rest = {"create-account": [], "list-acr-instances": [],
            "create-acr-instance": ["--region", "cn-hangzhou", "--name", "acct-one", "--login-server", "one.test"],
            "set-registry-endpoint": ["--region", "us-east-1", "--url", "https://one.test"],
            "set-repository-endpoint": ["--region", "us-east-1", "--domain", "legacy", "--format", "pypi",
                                        "--template", "https://one.test/{repository}/"]}
    assert _commands_taking_an_account_id() == sorted(rest)
    for command, args in rest.items():
        for bad in ("acct one", "12345678901", "1234567890123"):
            out = regauth_cli("admin", command, "--account-id", bad, *args, data_dir=upgraded.server.data_dir)
            assert out.returncode == 1 and "--account-id must be 12 digits" in out.stderr, (command, bad, out)
