"""IAM's List* operations page as IAM does (Marker / MaxItems / IsTruncated, PathPrefix), with boto3,
its paginators and the AWS CLI on top; ListRoles and ListRolePolicies and their permissions."""

from __future__ import annotations

import base64
import json
import subprocess

import pytest
from botocore.exceptions import ClientError

from tests.fixtures.server import RegauthServer, new_user, server_env, start_server, unique
from tests.wire.clients import CliClient, _clean_env
from tests.wire.conftest import make_client

POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "codeartifact:GetAuthorizationToken", "Resource": "*"}]})


def trust(account: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}]}


def refused(fn, **kwargs) -> tuple[int, str, str]:
    """(HTTP status, error code, message) of a call that must fail."""
    with pytest.raises(ClientError) as err:
        fn(**kwargs)
    e = err.value.response
    return e["ResponseMetadata"]["HTTPStatusCode"], e["Error"]["Code"], e["Error"]["Message"]


def follow(call, member: str, **kwargs) -> list[list]:
    """Every page, following Marker by hand; checks each page's IsTruncated/Marker pairing."""
    pages, marker = [], None
    while True:
        out = call(**kwargs, **({"Marker": marker} if marker else {}))
        pages.append(out[member])
        if not out["IsTruncated"]:
            assert "Marker" not in out
            return pages
        marker = out["Marker"]
        assert marker
        assert len(pages) < 50, "the listing never ends"


def assert_refuses_bad_paging(regauth_server: RegauthServer, operation: str, foreign_marker: str, **kwargs) -> None:
    """MaxItems outside 1-1000 and markers not made for this listing: 400 ValidationError."""
    raw = regauth_server.client("iam", parameter_validation=False)    # botocore itself refuses MaxItems 0
    call = getattr(raw, operation)
    for bad in (0, 1001):
        status, code, _ = refused(call, MaxItems=bad, **kwargs)
        assert (status, code) == (400, "ValidationError"), bad
    for marker in ("garbage", "Z2FyYmFnZQ==", foreign_marker):
        assert refused(call, Marker=marker, **kwargs) == (400, "ValidationError", "Invalid Marker."), marker


@pytest.fixture(scope="module")
def regauth_server(tmp_path_factory: pytest.TempPathFactory):
    """A server of this module's own: it makes over a hundred users, which would push other modules'
    users off the shared server's first ListUsers page."""
    server = start_server(tmp_path_factory.mktemp("regauth-iam-lists"), server_env())
    yield server
    server.stop()


@pytest.fixture(scope="module")
def iam(regauth_server: RegauthServer):
    return regauth_server.client("iam")


@pytest.fixture(scope="module")
def five_users(iam) -> tuple[str, list[str]]:
    """Five users under a path of their own (created out of order), one more under a sub-path of it."""
    prefix = f"/{unique('pg')}/"
    base = unique("lu")
    names = [f"{base}-{c}" for c in "dbeac"]
    for name in names:
        iam.create_user(UserName=name, Path=prefix)
    iam.create_user(UserName=f"{base}-sub", Path=prefix + "sub/")
    return prefix, sorted(names + [f"{base}-sub"])


# --- ListUsers ------------------------------------------------------------------------------------

def test_list_users_pages_by_marker_in_name_order(iam, five_users) -> None:
    prefix, names = five_users
    first = iam.list_users(PathPrefix=prefix, MaxItems=2)
    assert len(first["Users"]) == 2 and first["IsTruncated"] is True and first["Marker"]
    pages = follow(iam.list_users, "Users", PathPrefix=prefix, MaxItems=2)
    assert [len(p) for p in pages] == [2, 2, 2]
    assert [u["UserName"] for p in pages for u in p] == names          # each once, in name order
    assert pages[0] == first["Users"]
    assert all(u["Path"].startswith(prefix) for p in pages for u in p)


def test_list_users_with_boto3_paginator(iam, five_users) -> None:
    prefix, names = five_users
    pages = list(iam.get_paginator("list_users").paginate(PathPrefix=prefix, PaginationConfig={"PageSize": 2}))
    assert [len(p["Users"]) for p in pages] == [2, 2, 2]
    assert [u["UserName"] for p in pages for u in p["Users"]] == names
    # the whole account, two at a time: every user once, in order, ours among them
    everyone = [u["UserName"] for p in iam.get_paginator("list_users").paginate(PaginationConfig={"PageSize": 2})
                for u in p["Users"]]
    assert len(everyone) == len(set(everyone)) and everyone == sorted(everyone)
    assert set(names) <= set(everyone)


def test_list_users_path_prefix(iam, five_users) -> None:
    prefix, names = five_users
    sub = iam.list_users(PathPrefix=prefix + "sub/")
    assert [u["UserName"] for u in sub["Users"]] == [n for n in names if n.endswith("-sub")]
    assert sub["Users"][0]["Path"] == prefix + "sub/" and sub["IsTruncated"] is False
    assert iam.list_users(PathPrefix=f"/{unique('none')}/")["Users"] == []
    # a prefix is a plain string prefix, as in IAM: "/pg-xxxx" (no closing slash) matches too
    assert [u["UserName"] for u in iam.list_users(PathPrefix=prefix[:-1])["Users"]] == names
    everyone = {u["UserName"] for u in iam.list_users(MaxItems=1000)["Users"]}
    assert set(names) <= everyone and everyone == {u["UserName"] for u in iam.list_users(PathPrefix="/",
                                                                                          MaxItems=1000)["Users"]}


def test_list_users_answers_100_by_default(iam) -> None:
    prefix, base = f"/{unique('many')}/", unique("m")
    names = sorted(f"{base}-{i:03d}" for i in range(101))
    for name in names:
        iam.create_user(UserName=name, Path=prefix)
    first = iam.list_users(PathPrefix=prefix)
    assert len(first["Users"]) == 100 and first["IsTruncated"] is True
    rest = iam.list_users(PathPrefix=prefix, Marker=first["Marker"])
    assert [u["UserName"] for u in rest["Users"]] == names[100:] and rest["IsTruncated"] is False
    assert len(iam.list_users(PathPrefix=prefix, MaxItems=1000)["Users"]) == 101


def test_list_users_refuses_bad_max_items_and_markers(regauth_server: RegauthServer, iam, five_users) -> None:
    prefix, _ = five_users
    role_marker = _role_marker(regauth_server, iam)
    assert_refuses_bad_paging(regauth_server, "list_users", role_marker, PathPrefix=prefix)


def test_a_marker_survives_the_deletion_of_its_user(iam) -> None:
    prefix, base = f"/{unique('del')}/", unique("d")
    names = [f"{base}-{i}" for i in range(4)]
    for name in names:
        iam.create_user(UserName=name, Path=prefix)
    first = iam.list_users(PathPrefix=prefix, MaxItems=2)
    iam.delete_user(UserName=names[1])                 # the user the marker points after
    rest = iam.list_users(PathPrefix=prefix, Marker=first["Marker"])
    assert [u["UserName"] for u in rest["Users"]] == names[2:]


# --- ListAccessKeys and ListUserPolicies ----------------------------------------------------------------

def test_list_access_keys_one_at_a_time(regauth_server: RegauthServer, iam) -> None:
    name = unique("keys")
    iam.create_user(UserName=name)
    made = [iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"] for _ in range(2)]
    whole = iam.list_access_keys(UserName=name)
    assert sorted(k["AccessKeyId"] for k in whole["AccessKeyMetadata"]) == sorted(made)
    assert whole["IsTruncated"] is False and "Marker" not in whole
    first = iam.list_access_keys(UserName=name, MaxItems=1)
    assert len(first["AccessKeyMetadata"]) == 1 and first["IsTruncated"] is True and first["Marker"]
    pages = follow(iam.list_access_keys, "AccessKeyMetadata", UserName=name, MaxItems=1)
    assert [len(p) for p in pages] == [1, 1]
    assert [k for p in pages for k in p] == whole["AccessKeyMetadata"]          # the same stable order
    paged = list(iam.get_paginator("list_access_keys").paginate(UserName=name, PaginationConfig={"PageSize": 1}))
    assert [k["AccessKeyId"] for p in paged for k in p["AccessKeyMetadata"]] == \
        [k["AccessKeyId"] for k in whole["AccessKeyMetadata"]] and len(paged) == 2
    # a marker is tied to its user: another user's listing refuses it
    other = unique("keys")
    iam.create_user(UserName=other)
    iam.create_access_key(UserName=other)
    iam.create_access_key(UserName=other)
    assert_refuses_bad_paging(regauth_server, "list_access_keys", first["Marker"], UserName=other)


def test_list_user_policies_sorted_and_paged(regauth_server: RegauthServer, iam) -> None:
    name = unique("pols")
    iam.create_user(UserName=name)
    policies = ["delta", "Alpha", "charlie", "bravo", "echo"]
    for p in policies:
        iam.put_user_policy(UserName=name, PolicyName=p, PolicyDocument=POLICY)
    first = iam.list_user_policies(UserName=name, MaxItems=2)
    assert first["PolicyNames"] == ["Alpha", "bravo"] and first["IsTruncated"] is True
    pages = follow(iam.list_user_policies, "PolicyNames", UserName=name, MaxItems=2)
    assert pages == [["Alpha", "bravo"], ["charlie", "delta"], ["echo"]]
    paged = list(iam.get_paginator("list_user_policies").paginate(UserName=name, PaginationConfig={"PageSize": 3}))
    assert [p["PolicyNames"] for p in paged] == [["Alpha", "bravo", "charlie"], ["delta", "echo"]]
    assert_refuses_bad_paging(regauth_server, "list_user_policies",
                              iam.list_users(MaxItems=1)["Marker"], UserName=name)


# --- ListRoles and ListRolePolicies ----------------------------------------------------------------

def _role_marker(regauth_server: RegauthServer, iam) -> str:
    for _ in range(2):
        iam.create_role(RoleName=unique("mk"), AssumeRolePolicyDocument=json.dumps(trust(regauth_server.account_id)))
    return iam.list_roles(MaxItems=1)["Marker"]


def test_list_roles_pages_with_get_role_entries(regauth_server: RegauthServer, iam) -> None:
    acct = regauth_server.account_id
    prefix, base = f"/{unique('roles')}/", unique("r")
    names = [f"{base}-{c}" for c in "cabed"]
    for i, name in enumerate(names):
        described = {"Description": "the a role"} if name.endswith("a") else {}
        iam.create_role(RoleName=name, Path=prefix, AssumeRolePolicyDocument=json.dumps(trust(acct)),
                        MaxSessionDuration=3600 + i * 600, **described)
    iam.create_role(RoleName=f"{base}-elsewhere", AssumeRolePolicyDocument=json.dumps(trust(acct)))
    first = iam.list_roles(PathPrefix=prefix, MaxItems=2)
    assert len(first["Roles"]) == 2 and first["IsTruncated"] is True and first["Marker"]
    pages = follow(iam.list_roles, "Roles", PathPrefix=prefix, MaxItems=2)
    listed = [r for p in pages for r in p]
    assert [len(p) for p in pages] == [2, 2, 1] and [r["RoleName"] for r in listed] == sorted(names)
    for entry in listed:                        # each entry is GetRole's Role, trust policy included
        assert entry == iam.get_role(RoleName=entry["RoleName"])["Role"]
        assert entry["AssumeRolePolicyDocument"] == trust(acct)      # sent URL-encoded, decoded by boto3
        assert entry["Arn"] == f"arn:aws:iam::{acct}:role{prefix}{entry['RoleName']}"
    assert listed[0]["Description"] == "the a role" and "Description" not in listed[1]
    paged = list(iam.get_paginator("list_roles").paginate(PathPrefix=prefix, PaginationConfig={"PageSize": 4}))
    assert [[r["RoleName"] for r in p["Roles"]] for p in paged] == [sorted(names)[:4], sorted(names)[4:]]
    everyone = [r["RoleName"] for p in iam.get_paginator("list_roles").paginate(PaginationConfig={"PageSize": 3})
                for r in p["Roles"]]
    assert everyone == sorted(set(everyone)) and set(names) | {f"{base}-elsewhere"} <= set(everyone)
    empty = iam.list_roles(PathPrefix=f"/{unique('none')}/")
    assert empty["Roles"] == [] and empty["IsTruncated"] is False and "Marker" not in empty
    assert_refuses_bad_paging(regauth_server, "list_roles", iam.list_users(MaxItems=1)["Marker"], PathPrefix=prefix)


def test_list_role_policies(regauth_server: RegauthServer, iam) -> None:
    role = unique("rp")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust(regauth_server.account_id)))
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == []
    for p in ("pull", "Push", "admin"):
        iam.put_role_policy(RoleName=role, PolicyName=p, PolicyDocument=POLICY)
    whole = iam.list_role_policies(RoleName=role)
    assert whole["PolicyNames"] == ["Push", "admin", "pull"] and whole["IsTruncated"] is False
    first = iam.list_role_policies(RoleName=role, MaxItems=2)
    assert first["PolicyNames"] == ["Push", "admin"] and first["IsTruncated"] is True
    assert follow(iam.list_role_policies, "PolicyNames", RoleName=role, MaxItems=2) == [["Push", "admin"], ["pull"]]
    paged = list(iam.get_paginator("list_role_policies").paginate(RoleName=role, PaginationConfig={"PageSize": 1}))
    assert [p["PolicyNames"] for p in paged] == [["Push"], ["admin"], ["pull"]]
    status, code, message = refused(iam.list_role_policies, RoleName=f"nope-{role}")
    assert (status, code) == (404, "NoSuchEntity") and f"nope-{role}" in message
    other = unique("rp")
    iam.create_role(RoleName=other, AssumeRolePolicyDocument=json.dumps(trust(regauth_server.account_id)))
    assert_refuses_bad_paging(regauth_server, "list_role_policies", first["Marker"], RoleName=other)


def test_role_listings_need_their_permissions(regauth_server: RegauthServer, iam) -> None:
    acct = regauth_server.account_id
    role, other = unique("authz"), unique("authz")
    for r in (role, other):
        iam.create_role(RoleName=r, AssumeRolePolicyDocument=json.dumps(trust(acct)))
    users_only = new_user(regauth_server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iam:ListUsers", "iam:GetRole", "iam:GetRolePolicy"], "Resource": "*"}]})
    denied = regauth_server.client("iam", users_only)
    assert denied.list_users(MaxItems=1)["Users"]                       # the user works...
    for call, kwargs in ((denied.list_roles, {}), (denied.list_role_policies, {"RoleName": role})):
        status, code, _ = refused(call, **kwargs)                      # ...but may not list roles
        assert (status, code) == (403, "AccessDenied")
    lister = new_user(regauth_server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:ListRoles", "Resource": f"arn:aws:iam::{acct}:role/*"},
        {"Effect": "Allow", "Action": "iam:ListRolePolicies", "Resource": f"arn:aws:iam::{acct}:role/{role}"}]})
    allowed = regauth_server.client("iam", lister)
    assert role in [r["RoleName"] for p in allowed.get_paginator("list_roles").paginate() for r in p["Roles"]]
    assert allowed.list_role_policies(RoleName=role)["PolicyNames"] == []
    assert refused(allowed.list_role_policies, RoleName=other)[:2] == (403, "AccessDenied")
    assert refused(allowed.list_users)[:2] == (403, "AccessDenied")


# --- the AWS CLI: client paging (--max-items / --starting-token) over the server's --------------------

@pytest.mark.parametrize("cli", ["cli-v1", "cli-v2"])
def test_aws_cli_max_items_and_starting_token(cli: str, regauth_server: RegauthServer, five_users,
                                              tmp_path) -> None:
    prefix, names = five_users
    client = make_client(cli, regauth_server)
    assert isinstance(client, CliClient)
    env = {**_clean_env(regauth_server.admin, "us-east-1"), "HOME": str(tmp_path)}

    def aws(*args: str) -> dict:
        proc = subprocess.run([client.exe, "--endpoint-url", regauth_server.url, "--output", "json", "iam",
                               "list-users", "--path-prefix", prefix, *args],
                              capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    # server pages of 1 (MaxItems=1 on the wire), the CLI stops after 2 items and hands out a NextToken
    got, token, rounds = [], None, 0
    while True:
        out = aws("--max-items", "2", "--page-size", "1", *(("--starting-token", token) if token else ()))
        got += [u["UserName"] for u in out["Users"]]
        token = out.get("NextToken")
        rounds += 1
        if token is None:
            break
        assert len(out["Users"]) == 2
        # the token carries the server's Marker: the CLI resumes from the server, not from the first page
        assert "Marker" in json.loads(base64.b64decode(token)), token
        assert rounds < 10
    assert got == names and rounds == 3
    # the CLI's default: it follows every server page (of 2 here) and prints them merged
    assert [u["UserName"] for u in aws("--page-size", "2")["Users"]] == names
    # --no-paginate with the operation's own MaxItems: one server page, its Marker shown
    single = aws("--no-paginate", "--max-items", "2")
    assert [u["UserName"] for u in single["Users"]] == names[:2] and single["IsTruncated"] is True
    assert single["Marker"]
