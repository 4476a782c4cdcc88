"""Every server operation as a `regauth <group> <command>`, run as a real process against a real `regauth serve`:
IAM users, keys and policies; roles and STS; CodeArtifact and ECR administration; AWS CLI pagination."""

from __future__ import annotations

import json
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.cli.test_commands import AWS_ERROR, CA_GAT, REGAUTH, Cli, inprocess  # noqa: F401 - a fixture
from tests.fixtures.server import REPO, Keys, RegauthServer, unique

pytestmark = pytest.mark.wire


@pytest.fixture(scope="module")
def cli(regauth_server: RegauthServer, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    return Cli(regauth_server, tmp_path_factory.mktemp("cli-api-home"))


def doc(proc: subprocess.CompletedProcess[str]) -> dict:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def failed(proc: subprocess.CompletedProcess[str], code: str, op: str) -> bool:
    """Exit 254, nothing on stdout, and the AWS CLI's one-line error on stderr."""
    return (proc.returncode == 254 and proc.stdout == ""
            and re.search(AWS_ERROR.format(code=code, op=op), proc.stderr) is not None)


def as_keys(cli: Cli, *calls: tuple[Keys | None, tuple[str, ...]]) -> list[subprocess.CompletedProcess[str]]:
    """Like Cli.many, each command with its own keys (None: the admin's)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda call: cli.run(*call[1], keys=call[0]), calls))


# --------------------------------------------------------------------------- IAM users, keys and policies

def test_iam_user_keys_and_policies_through_the_cli(cli: Cli, tmp_path: Path) -> None:
    ca = cli.server.client("codeartifact")
    domain = unique("iamflow")
    ca.create_domain(domain=domain)
    arn = f"arn:aws:codeartifact:us-east-1:{cli.server.account_id}:domain/{domain}"
    user = unique("alice")
    document = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "codeartifact:GetAuthorizationToken", "Resource": arn},
        {"Effect": "Allow", "Action": "sts:GetServiceBearerToken", "Resource": "*",
         "Condition": {"StringEquals": {"sts:AWSServiceName": "codeartifact.amazonaws.com"}}}]}
    (tmp_path / "policy.json").write_text(json.dumps(document))

    created = doc(cli.run("iam", "create-user", "--user-name", user))
    assert created["User"]["UserName"] == user
    assert created["User"]["Arn"] == f"arn:aws:iam::{cli.server.account_id}:user/{user}"
    put, key = cli.many(("iam", "put-user-policy", "--user-name", user, "--policy-name", "ca",
                         "--policy-document", f"file://{tmp_path / 'policy.json'}"),
                        ("iam", "create-access-key", "--user-name", user))
    assert put.returncode == 0 and put.stdout == "", put.stderr
    access = doc(key)["AccessKey"]
    assert access["UserName"] == user and access["Status"] == "Active" and access["SecretAccessKey"]
    keys = Keys(access["AccessKeyId"], access["SecretAccessKey"])
    gat = (*CA_GAT, "--domain", domain, "--query", "authorizationToken", "--output", "text")

    token = cli.run(*gat, keys=keys)
    got, users, listed, pol, names = cli.many(
        ("iam", "get-user", "--user-name", user), ("iam", "list-users", "--query", "Users[].UserName"),
        ("iam", "list-access-keys", "--user-name", user), ("iam", "get-user-policy", "--user-name", user,
                                                           "--policy-name", "ca"),
        ("iam", "list-user-policies", "--user-name", user))
    assert token.returncode == 0 and token.stdout.startswith("rgca_"), token.stderr
    assert doc(got)["User"]["UserId"] == created["User"]["UserId"]
    assert user in doc(users) and "admin" in doc(users)
    assert [(k["AccessKeyId"], k["Status"]) for k in doc(listed)["AccessKeyMetadata"]] == [(keys.access_key_id,
                                                                                            "Active")]
    assert "SecretAccessKey" not in listed.stdout
    assert doc(pol)["PolicyDocument"] == document          # decoded from IAM's URL-encoding, as JSON
    assert doc(names)["PolicyNames"] == ["ca"]

    assert cli.run("iam", "delete-user-policy", "--user-name", user, "--policy-name", "ca").returncode == 0
    denied, who = as_keys(cli, (keys, gat),
                          (keys, ("sts", "get-caller-identity", "--query", "Arn", "--output", "text")))
    assert failed(denied, "AccessDeniedException", "GetAuthorizationToken"), denied.stderr
    assert "not authorized" in denied.stderr and keys.secret_access_key not in denied.stderr
    assert who.returncode == 0 and who.stdout.strip() == created["User"]["Arn"]   # the key itself still works

    assert cli.run("iam", "update-access-key", "--user-name", user, "--access-key-id", keys.access_key_id,
                   "--status", "Inactive").returncode == 0
    inactive, status = as_keys(cli, (keys, ("sts", "get-caller-identity")),
                               (None, ("iam", "list-access-keys", "--user-name", user, "--query",
                                       "AccessKeyMetadata[0].Status", "--output", "text")))
    assert failed(inactive, "InvalidClientTokenId", "GetCallerIdentity"), inactive.stderr
    assert status.stdout == "Inactive\n"

    conflict = cli.run("iam", "delete-user", "--user-name", user)        # the key is still there
    assert failed(conflict, "DeleteConflict", "DeleteUser"), conflict.stderr
    assert cli.run("iam", "delete-access-key", "--user-name", user, "--access-key-id",
                   keys.access_key_id).returncode == 0
    assert cli.run("iam", "delete-user", "--user-name", user).returncode == 0
    gone = cli.run("iam", "get-user", "--user-name", user)
    assert failed(gone, "NoSuchEntity", "GetUser"), gone.stderr


# --------------------------------------------------------------------------- roles and STS

def test_roles_assume_role_and_session_tokens(cli: Cli) -> None:
    role = unique("ci")
    acct = cli.server.account_id
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                    "Principal": {"AWS": f"arn:aws:iam::{acct}:root"}}]}
    inline = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:GetAuthorizationToken",
                                                     "Resource": "*"}]}
    created, session = cli.many(
        ("iam", "create-role", "--role-name", role, "--assume-role-policy-document", json.dumps(trust),
         "--max-session-duration", "7200"),
        ("sts", "get-session-token", "--duration-seconds", "900", "--output", "json"))
    role_arn = doc(created)["Role"]["Arn"]
    assert role_arn == f"arn:aws:iam::{acct}:role/{role}" and doc(created)["Role"]["MaxSessionDuration"] == 7200
    temp = doc(session)["Credentials"]
    put = cli.run("iam", "put-role-policy", "--role-name", role, "--policy-name", "ecr",
                  "--policy-document", json.dumps(inline))
    assert put.returncode == 0, put.stderr
    assumed = doc(cli.run("sts", "assume-role", "--role-arn", role_arn, "--role-session-name", "build-42",
                          "--output", "json"))
    creds = assumed["Credentials"]
    assert assumed["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{acct}:assumed-role/{role}/build-42"
    as_role = Keys(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    as_session = Keys(temp["AccessKeyId"], temp["SecretAccessKey"], temp["SessionToken"])

    who_role, who_session = as_keys(cli, (as_role, ("sts", "get-caller-identity")),
                                    (as_session, ("sts", "get-caller-identity")))
    got, pol = cli.many(("iam", "get-role", "--role-name", role),
                        ("iam", "get-role-policy", "--role-name", role, "--policy-name", "ecr"))
    assert doc(who_role)["Arn"] == assumed["AssumedRoleUser"]["Arn"]
    assert doc(who_role)["UserId"] == assumed["AssumedRoleUser"]["AssumedRoleId"]
    assert doc(who_session)["Arn"] == f"arn:aws:iam::{acct}:user/admin"
    assert doc(got)["Role"]["AssumeRolePolicyDocument"] == trust
    assert doc(pol)["PolicyDocument"] == inline

    elsewhere = {**trust, "Statement": [{**trust["Statement"][0],
                                         "Principal": {"AWS": "arn:aws:iam::999999999999:root"}}]}
    assert cli.run("iam", "update-assume-role-policy", "--role-name", role, "--policy-document",
                   json.dumps(elsewhere)).returncode == 0
    refused, got = cli.many(("sts", "assume-role", "--role-arn", role_arn, "--role-session-name", "again"),
                            ("iam", "get-role", "--role-name", role, "--query", "Role.AssumeRolePolicyDocument"))
    assert failed(refused, "AccessDenied", "AssumeRole"), refused.stderr
    assert doc(got) == elsewhere

    conflict = cli.run("iam", "delete-role", "--role-name", role)        # the inline policy is still there
    assert failed(conflict, "DeleteConflict", "DeleteRole"), conflict.stderr
    assert cli.run("iam", "delete-role-policy", "--role-name", role, "--policy-name", "ecr").returncode == 0
    assert cli.run("iam", "delete-role", "--role-name", role).returncode == 0
    assert failed(cli.run("iam", "get-role", "--role-name", role), "NoSuchEntity", "GetRole")


# --------------------------------------------------------------------------- CodeArtifact administration

def test_codeartifact_domains_repositories_and_policies(cli: Cli) -> None:
    domain = unique("admin")
    acct = cli.server.account_id
    created = doc(cli.run("codeartifact", "create-domain", "--domain", domain))["domain"]
    assert created["name"] == domain and created["owner"] == acct and created["repositoryCount"] == 0
    resource = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "codeartifact:*",
                                                       "Principal": {"AWS": f"arn:aws:iam::{acct}:root"},
                                                       "Resource": "*"}]}
    repo, put = cli.many(
        ("codeartifact", "create-repository", "--domain", domain, "--repository", "pypi-store",
         "--description", "Python packages"),
        ("codeartifact", "put-domain-permissions-policy", "--domain", domain, "--policy-document",
         json.dumps(resource)))
    assert doc(repo)["repository"]["arn"] == f"arn:aws:codeartifact:us-east-1:{acct}:repository/{domain}/pypi-store"
    revision = doc(put)["policy"]["revision"]
    app = doc(cli.run("codeartifact", "create-repository", "--domain", domain, "--repository", "app",
                      "--upstreams", '[{"repositoryName": "pypi-store"}]'))["repository"]
    assert app["upstreams"] == [{"repositoryName": "pypi-store"}]
    described, listed, got, domain_doc = cli.many(
        ("codeartifact", "describe-repository", "--domain", domain, "--repository", "pypi-store"),
        ("codeartifact", "list-repositories-in-domain", "--domain", domain, "--query", "repositories[].name"),
        ("codeartifact", "get-domain-permissions-policy", "--domain", domain),
        ("codeartifact", "describe-domain", "--domain", domain, "--query", "domain.repositoryCount"))
    assert doc(described)["repository"]["description"] == "Python packages"
    assert doc(listed) == ["app", "pypi-store"]
    assert doc(got)["policy"]["revision"] == revision and json.loads(doc(got)["policy"]["document"]) == resource
    assert doc(domain_doc) == 2
    stale = cli.run("codeartifact", "put-domain-permissions-policy", "--domain", domain, "--policy-revision",
                    "not-the-revision", "--policy-document", json.dumps(resource))
    assert failed(stale, "ConflictException", "PutDomainPermissionsPolicy"), stale.stderr

    busy = cli.run("codeartifact", "delete-domain", "--domain", domain)
    assert failed(busy, "ConflictException", "DeleteDomain") and "still has repositories" in busy.stderr
    deleted = cli.many(*[("codeartifact", "delete-repository", "--domain", domain, "--repository", r)
                         for r in ("app", "pypi-store")])
    assert [doc(d)["repository"]["name"] for d in deleted] == ["app", "pypi-store"]
    assert doc(cli.run("codeartifact", "delete-domain", "--domain", domain))["domain"]["name"] == domain
    missing = cli.run("codeartifact", "describe-domain", "--domain", domain)
    assert failed(missing, "ResourceNotFoundException", "DescribeDomain"), missing.stderr


# --------------------------------------------------------------------------- pagination

def test_list_commands_paginate_like_the_aws_cli(cli: Cli) -> None:
    domain = unique("pages")
    ca = cli.server.client("codeartifact")
    ca.create_domain(domain=domain)
    names = [f"repo-{i}" for i in range(5)]
    for name in names:
        ca.create_repository(domain=domain, repository=name)
    ls = ("codeartifact", "list-repositories-in-domain", "--domain", domain)

    everything, first, no_paginate, manual = cli.many(
        (*ls, "--page-size", "2", "--debug"),
        (*ls, "--page-size", "2", "--max-items", "3"),
        (*ls, "--no-paginate", "--page-size", "2"),
        (*ls, "--max-results", "2"))
    full = doc(everything)
    assert [r["name"] for r in full["repositories"]] == names and "NextToken" not in full
    assert everything.stderr.count("HTTP 200") == 3                     # pages of 2, 2 and 1
    cut = doc(first)
    assert [r["name"] for r in cut["repositories"]] == names[:3] and cut["NextToken"]
    assert no_paginate.returncode == 252 and no_paginate.stdout == ""
    assert "Cannot specify --no-paginate along with pagination arguments: --page-size" in no_paginate.stderr
    one_call = doc(manual)                          # the operation's own token or limit: one request, as aws does
    assert [r["name"] for r in one_call["repositories"]] == names[:2]
    assert one_call["nextToken"] and "NextToken" not in one_call

    rest, two, single = cli.many(
        (*ls, "--page-size", "2", "--starting-token", cut["NextToken"]),
        (*ls, "--max-items", "2", "--query", "[repositories[].name, NextToken]"),
        (*ls, "--no-paginate", "--next-token", one_call["nextToken"], "--query", "repositories[].name"))
    assert [r["name"] for r in doc(rest)["repositories"]] == names[3:] and "NextToken" not in doc(rest)
    two_names, token = doc(two)
    assert two_names == names[:2] and token
    after, = cli.many((*ls, "--starting-token", token, "--max-items", "2", "--query", "repositories[].name"))
    assert doc(after) == names[2:4]                                 # no overlap, no gap
    assert doc(single) == names[2:]


def test_iam_and_ecr_lists_paginate_and_global_options_go_first(cli: Cli) -> None:
    iam = cli.server.client("iam")
    for _ in range(2):
        iam.create_user(UserName=unique("pager"))
    env = cli.env(cli.server.admin)
    hoisted = subprocess.run([*REGAUTH, "--endpoint-url", cli.server.url, "--output", "json", "iam", "list-users",
                              "--max-items", "1"], capture_output=True, text=True, cwd=REPO, timeout=60, env=env)
    shadowed = cli.run("iam", "list-users", "--no-paginate", "--max-items", "1")
    first = doc(hoisted)
    assert len(first["Users"]) == 1 and first["NextToken"]
    rest = doc(cli.run("iam", "list-users", "--starting-token", first["NextToken"]))
    everyone = doc(cli.run("iam", "list-users"))["Users"]
    assert [u["UserName"] for u in first["Users"] + rest["Users"]] == [u["UserName"] for u in everyone]
    assert len(everyone) >= 3
    # under --no-paginate, --max-items is IAM's own MaxItems parameter (the server may return more: it does
    # not page IAM lists), never the CLI's page limit, so no NextToken
    assert shadowed.returncode == 0 and "NextToken" not in doc(shadowed), shadowed.stderr


def test_ecr_repositories(cli: Cli) -> None:
    name = f"team/{unique('app')}"
    created = doc(cli.run("ecr", "create-repository", "--repository-name", name, "--image-tag-mutability",
                          "IMMUTABLE", "--image-scanning-configuration", '{"scanOnPush": true}'))["repository"]
    acct = cli.server.account_id
    assert created["repositoryArn"] == f"arn:aws:ecr:us-east-1:{acct}:repository/{name}"
    assert created["imageTagMutability"] == "IMMUTABLE" and created["imageScanningConfiguration"]["scanOnPush"]
    named, registry, listed = cli.many(
        ("ecr", "describe-repositories", "--repository-names", name, "--query", "repositories[].repositoryName"),
        ("ecr", "describe-registry"),
        ("ecr", "describe-repositories", "--page-size", "1", "--query", "repositories[].repositoryUri"))
    assert doc(named) == [name]
    assert doc(registry)["registryId"] == acct
    assert created["repositoryUri"] in doc(listed)
    assert doc(cli.run("ecr", "delete-repository", "--repository-name", name))["repository"]["repositoryName"] == name
    missing = cli.run("ecr", "describe-repositories", "--repository-names", name)
    assert failed(missing, "RepositoryNotFoundException", "DescribeRepositories"), missing.stderr


# --------------------------------------------------------------------------- parameters and help, in-process

def test_parameter_errors_exit_252_before_any_request(inprocess) -> None:
    dead = ("--endpoint-url", "http://127.0.0.1:9", "--region", "us-east-1")
    code, _, err = inprocess("iam", "create-user", *dead)
    assert code == 252 and err.startswith("usage: regauth iam create-user [--path <value>] --user-name <value>")
    assert "the following arguments are required: --user-name" in err
    code, _, err = inprocess("ecr", "create-repository", "--repository-name", "x",
                             "--image-scanning-configuration", "{scanOnPush", *dead)
    assert code == 252 and "Error parsing parameter '--image-scanning-configuration': Invalid JSON: " in err
    assert err.endswith("\nJSON received: {scanOnPush\n")                                # as the AWS CLI says it
    code, _, err = inprocess("iam", "put-user-policy", "--user-name", "u", "--policy-name", "p",
                             "--policy-document", "file:///nonexistent/policy.json", *dead)
    assert code == 252 and ("Error parsing parameter '--policy-document': Unable to load paramfile "
                            "file:///nonexistent/policy.json") in err
    code, _, err = inprocess("iam", "list-users", "--no-paginate", "--starting-token", "x", *dead)
    assert code == 252 and "Cannot specify --no-paginate along with pagination arguments: --starting-token" in err
    code, _, err = inprocess("iam", "get-user", "--max-items", "1", *dead)
    assert code == 252 and "unrecognized arguments: --max-items" in err       # only paginated commands have it


def test_help_lists_the_iam_commands_and_paging_options(inprocess) -> None:
    from regauth.cli.commands import COMMANDS
    from regauth.protocols.aws.handlers import TABLES
    code, out, _ = inprocess("iam", "--help")
    assert code == 0
    for name in ("create-user", "create-access-key", "put-user-policy", "create-role", "update-assume-role-policy"):
        assert re.search(rf"^\s+{name}\s", out, re.M), name
    code, out, _ = inprocess("iam", "create-user", "--help")
    assert code == 0 and "examples:\n  regauth iam create-user --user-name alice\n" in out
    code, out, _ = inprocess("codeartifact", "list-repositories-in-domain", "--help")
    usage = out.split("\n\n")[0]
    assert "[--starting-token <value>] [--page-size <value>] [--max-items <value>]" in usage
    assert "--next-token" not in out and "--max-results" not in out             # accepted, not documented
    code, out, _ = inprocess("codeartifact", "describe-domain", "--help")
    assert "--max-items <value>" not in out and "--starting-token <value>" not in out
    # every server operation has a command with a summary and an example
    covered = {(c.service, c.operation) for c in COMMANDS}
    assert {(s, op) for s, ops in TABLES.items() for op in ops} <= covered
    for spec in COMMANDS:
        assert spec.summary.endswith((".", ")")) and spec.examples
        assert all(e.startswith(f"regauth {spec.group} {spec.name}") for e in spec.examples), spec.name
