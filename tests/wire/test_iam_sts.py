"""Administering regauth with the real `aws iam` / `aws sts` (boto3, CLI v1, CLI v2)."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.server import Keys, RegauthServer, unique
from tests.wire.clients import ApiError, epoch
from tests.wire.conftest import CA_TOKEN_POLICY

TRUST_ACCOUNT = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": "ACCOUNT"}, "Action": "sts:AssumeRole"}]}


def code_of(fn, *args, **kwargs) -> str:
    with pytest.raises(ApiError) as err:
        fn(*args, **kwargs)
    return err.value.code


def trust(account: str) -> str:
    return json.dumps(TRUST_ACCOUNT).replace("ACCOUNT", account)


def test_user_lifecycle(client, regauth_server: RegauthServer) -> None:
    name = unique("user")
    created = client.call("iam", "CreateUser", {"UserName": name})["User"]
    assert created["Arn"] == f"arn:aws:iam::{regauth_server.account_id}:user/{name}"
    assert created["UserId"].startswith("AIDA")
    assert client.call("iam", "GetUser", {"UserName": name})["User"]["UserName"] == name
    assert name in [u["UserName"] for u in client.call("iam", "ListUsers")["Users"]]
    assert code_of(client.call, "iam", "CreateUser", {"UserName": name}) == "EntityAlreadyExists"
    client.call("iam", "PutUserPolicy", {"UserName": name, "PolicyName": "tok",
                                         "PolicyDocument": json.dumps(CA_TOKEN_POLICY)})
    got = client.call("iam", "GetUserPolicy", {"UserName": name, "PolicyName": "tok"})
    assert got["PolicyDocument"] == CA_TOKEN_POLICY      # clients URL-decode and parse the document
    key = client.call("iam", "CreateAccessKey", {"UserName": name})["AccessKey"]
    assert key["AccessKeyId"].startswith("AKIA") and len(key["SecretAccessKey"]) == 40
    listed = client.call("iam", "ListAccessKeys", {"UserName": name})["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in listed] == [key["AccessKeyId"]]
    assert "SecretAccessKey" not in listed[0]
    assert code_of(client.call, "iam", "DeleteUser", {"UserName": name}) == "DeleteConflict"
    client.call("iam", "DeleteAccessKey", {"UserName": name, "AccessKeyId": key["AccessKeyId"]})
    client.call("iam", "DeleteUserPolicy", {"UserName": name, "PolicyName": "tok"})
    client.call("iam", "DeleteUser", {"UserName": name})
    assert code_of(client.call, "iam", "GetUser", {"UserName": name}) == "NoSuchEntity"


def test_malformed_policy_refused(client) -> None:
    name = unique("user")
    client.call("iam", "CreateUser", {"UserName": name})
    assert code_of(client.call, "iam", "PutUserPolicy", {"UserName": name, "PolicyName": "bad",
                                                         "PolicyDocument": '{"Statement": "nope"}'}) \
        == "MalformedPolicyDocument"


def test_caller_identity_and_session_token(client, token_user: Keys, regauth_server: RegauthServer) -> None:
    me = client.call("sts", "GetCallerIdentity", {}, token_user)
    assert me["Account"] == regauth_server.account_id and ":user/" in me["Arn"]
    creds = client.call("sts", "GetSessionToken", {"DurationSeconds": 900}, token_user)["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    session = Keys(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    assert client.call("sts", "GetCallerIdentity", {}, session)["Arn"] == me["Arn"]
    # session credentials cannot mint more session credentials
    assert code_of(client.call, "sts", "GetSessionToken", {}, session) == "AccessDenied"
    # a wrong session token with the right key id is refused
    forged = Keys(session.access_key_id, session.secret_access_key, session.session_token + "x")
    assert code_of(client.call, "sts", "GetCallerIdentity", {}, forged) == "InvalidClientTokenId"


def test_assume_role_rules(client, regauth_server: RegauthServer) -> None:
    acct = regauth_server.account_id
    role = unique("role")
    created = client.call("iam", "CreateRole", {"RoleName": role, "AssumeRolePolicyDocument": trust(acct),
                                                "MaxSessionDuration": 7200})["Role"]
    assert created["MaxSessionDuration"] == 7200 and created["RoleId"].startswith("AROA")
    arn = f"arn:aws:iam::{acct}:role/{role}"
    out = client.call("sts", "AssumeRole", {"RoleArn": arn, "RoleSessionName": "s1", "DurationSeconds": 7200})
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{acct}:assumed-role/{role}/s1"
    assert epoch(out["Credentials"]["Expiration"]) > 0
    assert code_of(client.call, "sts", "AssumeRole", {"RoleArn": arn, "RoleSessionName": "s1",
                                                      "DurationSeconds": 7201}) == "ValidationError"
    # a trust policy naming someone else refuses us
    client.call("iam", "UpdateAssumeRolePolicy", {"RoleName": role, "PolicyDocument": trust("999999999999")})
    assert code_of(client.call, "sts", "AssumeRole", {"RoleArn": arn, "RoleSessionName": "s1"}) == "AccessDenied"
    assert code_of(client.call, "sts", "AssumeRole", {"RoleArn": f"arn:aws:iam::{acct}:role/nope-{role}",
                                                      "RoleSessionName": "s1"}) == "AccessDenied"


def test_session_policy_narrows_and_chaining_is_capped(client, regauth_server: RegauthServer, domain: str) -> None:
    acct = regauth_server.account_id
    role = unique("narrow")
    iam = regauth_server.client("iam")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust(acct), MaxSessionDuration=43200)
    iam.put_role_policy(RoleName=role, PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": CA_TOKEN_POLICY["Statement"] + [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}))
    arn = f"arn:aws:iam::{acct}:role/{role}"
    only_sts = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:*", "Resource": "*"}]})
    creds = client.call("sts", "AssumeRole", {"RoleArn": arn, "RoleSessionName": "n1", "Policy": only_sts})
    narrowed = Keys(creds["Credentials"]["AccessKeyId"], creds["Credentials"]["SecretAccessKey"],
                    creds["Credentials"]["SessionToken"])
    assert code_of(client.call, "codeartifact", "GetAuthorizationToken", {"domain": domain},
                   narrowed) == "AccessDeniedException"
    full = client.call("sts", "AssumeRole", {"RoleArn": arn, "RoleSessionName": "f1"})["Credentials"]
    wide = Keys(full["AccessKeyId"], full["SecretAccessKey"], full["SessionToken"])
    assert client.call("codeartifact", "GetAuthorizationToken", {"domain": domain}, wide)["authorizationToken"]
    # role chaining: at most one hour
    assert code_of(client.call, "sts", "AssumeRole", {"RoleArn": arn, "RoleSessionName": "c1",
                                                      "DurationSeconds": 3601}, wide) == "ValidationError"
    assert client.call("sts", "AssumeRole", {"RoleArn": arn, "RoleSessionName": "c1", "DurationSeconds": 3600},
                       wide)["Credentials"]["AccessKeyId"].startswith("ASIA")


def test_get_service_bearer_token_is_not_an_endpoint(regauth_server: RegauthServer) -> None:
    import http.client
    from urllib.parse import urlsplit

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    def post(body: str) -> tuple[int, str]:
        req = AWSRequest(method="POST", url=regauth_server.url + "/", data=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        SigV4Auth(Credentials(regauth_server.admin.access_key_id, regauth_server.admin.secret_access_key),
                  "sts", "us-east-1").add_auth(req)
        conn = http.client.HTTPConnection(urlsplit(regauth_server.url).netloc, timeout=30)
        conn.request("POST", "/", body=body, headers=dict(req.headers))
        resp = conn.getresponse()
        return resp.status, resp.read().decode()

    status, text = post("Action=GetServiceBearerToken&Version=2011-06-15")
    assert status == 400 and "<Code>InvalidAction</Code>" in text
    status, text = post("Version=2011-06-15")                  # no Action at all: aws-wire.md's MissingAction
    assert status == 400 and "<Code>MissingAction</Code>" in text and "<Type>Sender</Type>" in text


def test_sessions_die_with_their_user_or_role_and_do_not_pass_to_a_namesake(regauth_server: RegauthServer) -> None:
    """IAM tells principals apart by unique id: a session of a deleted user or role must not act with
    the policies of a later user or role given the same name (policies are found by name)."""
    from botocore.exceptions import ClientError

    from tests.fixtures.server import new_user

    acct = regauth_server.account_id
    iam = regauth_server.client("iam")
    allow_all = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    only_sts = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:*", "Resource": "*"}]}

    def code(keys: Keys, service: str, op: str, **kw) -> str:
        with pytest.raises(ClientError) as err:
            getattr(regauth_server.client(service, keys), op)(**kw)
        return err.value.response["Error"]["Code"]

    # a user's GetSessionToken credentials
    name = unique("namesake")
    keys = new_user(regauth_server, only_sts, name=name)
    c = regauth_server.client("sts", keys).get_session_token(DurationSeconds=900)["Credentials"]
    session = Keys(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    assert code(session, "iam", "list_users") == "AccessDenied"
    iam.delete_access_key(UserName=name, AccessKeyId=keys.access_key_id)
    iam.delete_user_policy(UserName=name, PolicyName="p")
    iam.delete_user(UserName=name)
    assert code(session, "sts", "get_caller_identity") == "InvalidClientTokenId"
    new_user(regauth_server, allow_all, name=name)
    assert code(session, "iam", "list_users") == "InvalidClientTokenId"

    # an assumed role's session
    role = unique("namesake")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust(acct))
    iam.put_role_policy(RoleName=role, PolicyName="p", PolicyDocument=json.dumps(only_sts))
    c = regauth_server.client("sts").assume_role(RoleArn=f"arn:aws:iam::{acct}:role/{role}",
                                                 RoleSessionName="s1")["Credentials"]
    session = Keys(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    assert code(session, "iam", "list_users") == "AccessDenied"
    iam.delete_role_policy(RoleName=role, PolicyName="p")
    iam.delete_role(RoleName=role)
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust(acct))
    iam.put_role_policy(RoleName=role, PolicyName="p", PolicyDocument=json.dumps(allow_all))
    assert code(session, "iam", "list_users") == "InvalidClientTokenId"
    assert code(session, "ecr", "get_authorization_token") == "UnrecognizedClientException"


def test_a_secret_in_the_key_id_slot_is_not_repeated_in_logs_or_audit(regauth_server: RegauthServer) -> None:
    """The classic swapped variables: the secret goes out as the key id. The refusal is logged and
    audited, but only a value shaped like a key id is repeated there."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    from tests.fixtures.server import regauth_cli

    admin = regauth_server.admin
    for service, call in (("sts", "get_caller_identity"), ("ecr", "get_authorization_token")):
        swapped = boto3.client(service, endpoint_url=regauth_server.url, region_name="us-east-1",
                               aws_access_key_id=admin.secret_access_key,
                               aws_secret_access_key=admin.access_key_id,
                               config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
        with pytest.raises(ClientError):
            getattr(swapped, call)()
    audit = regauth_cli("admin", "audit", "--limit", "5", data_dir=regauth_server.data_dir).stdout
    assert "UnknownAccessKey key=(not a key id)" in audit
    for text in (audit, "\n".join(regauth_server.output)):
        assert admin.secret_access_key not in text
        assert admin.secret_access_key[:12] not in text


def test_assume_role_follows_iam_s_rule_for_the_caller_s_own_policies(regauth_server: RegauthServer) -> None:
    """Same account: a trust policy naming the caller's ARN (or "*") grants on its own; one naming the
    account (root, or its id) delegates to the caller's own policies. An explicit Deny in them refuses
    either way."""
    from botocore.exceptions import ClientError

    from tests.fixtures.server import new_user

    acct = regauth_server.account_id
    iam = regauth_server.client("iam")
    nobody = new_user(regauth_server, None)
    nobody_arn = regauth_server.client("sts", nobody).get_caller_identity()["Arn"]
    denier = new_user(regauth_server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": "*"}]})
    denier_arn = regauth_server.client("sts", denier).get_caller_identity()["Arn"]

    def role_trusting(*principals: str) -> str:
        name = unique("trust")
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": list(principals)}, "Action": "sts:AssumeRole"}]}))
        return f"arn:aws:iam::{acct}:role/{name}"

    def assume(keys: Keys, role_arn: str) -> str:
        try:
            regauth_server.client("sts", keys).assume_role(RoleArn=role_arn, RoleSessionName="s1")
            return "OK"
        except ClientError as err:
            return err.response["Error"]["Code"]

    assert assume(nobody, role_trusting(f"arn:aws:iam::{acct}:root")) == "AccessDenied"
    assert assume(nobody, role_trusting(acct)) == "AccessDenied"
    assert assume(nobody, role_trusting(nobody_arn)) == "OK"
    assert assume(nobody, role_trusting("*")) == "OK"
    for principal in (denier_arn, f"arn:aws:iam::{acct}:root", "*"):
        assert assume(denier, role_trusting(principal)) == "AccessDenied"
    # the admin's own policies allow: the account's trust is enough
    assert assume(regauth_server.admin, role_trusting(acct)) == "OK"


def test_assume_role_conditions_see_the_external_id_and_unsupported_parameters_are_refused(
        regauth_server: RegauthServer) -> None:
    from botocore.exceptions import ClientError

    acct = regauth_server.account_id
    iam, sts = regauth_server.client("iam"), regauth_server.client("sts")
    name = unique("extid")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": acct}, "Action": "sts:AssumeRole",
         "Condition": {"StringEquals": {"sts:ExternalId": "abc123"}, "StringLike": {"sts:RoleSessionName": "ci-*"}}}]}))
    arn = f"arn:aws:iam::{acct}:role/{name}"

    def code(**kw) -> str:
        try:
            sts.assume_role(RoleArn=arn, **kw)
            return "OK"
        except ClientError as err:
            return err.response["Error"]["Code"]

    assert code(RoleSessionName="ci-1", ExternalId="abc123") == "OK"
    assert code(RoleSessionName="ci-1", ExternalId="wrong1") == "AccessDenied"
    assert code(RoleSessionName="ci-1") == "AccessDenied"
    assert code(RoleSessionName="dev-1", ExternalId="abc123") == "AccessDenied"
    # what regauth does not implement is refused, never ignored (the session would be wider than asked)
    assert code(RoleSessionName="ci-1", ExternalId="abc123",
                PolicyArns=[{"arn": "arn:aws:iam::aws:policy/AWSDenyAll"}]) == "ValidationError"
    assert code(RoleSessionName="ci-1", ExternalId="abc123", Tags=[{"Key": "team", "Value": "a"}]) == "ValidationError"
    assert code(RoleSessionName="ci-1", ExternalId="abc123", SourceIdentity="alice") == "ValidationError"
    # a session policy past the packed limit is STS's own error, before any parsing
    big = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::bucket-{i:04d}/*"}
        for i in range(80)]})
    assert len(big) > 2048
    assert code(RoleSessionName="ci-1", ExternalId="abc123", Policy=big) == "PackedPolicyTooLarge"
    assert code(RoleSessionName="ci-1", ExternalId="abc123", Policy=big * 3) == "PackedPolicyTooLarge"


def test_paths_are_part_of_the_arns_policies_see(regauth_server: RegauthServer) -> None:
    """A role's or user's path is in its ARN: aws:PrincipalArn of a role session and the resource of
    IAM calls on a user carry it, so a Deny written for the path applies."""
    from botocore.exceptions import ClientError

    from tests.fixtures.server import new_user

    acct = regauth_server.account_id
    iam = regauth_server.client("iam")
    role = unique("pathed")
    created = iam.create_role(RoleName=role, Path="/team/", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": acct},
                                                  "Action": "sts:AssumeRole"}]}))["Role"]
    assert created["Arn"] == f"arn:aws:iam::{acct}:role/team/{role}"
    iam.put_role_policy(RoleName=role, PolicyName="p", PolicyDocument=json.dumps({"Version": "2012-10-17",
                                                                                  "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": "iam:*", "Resource": "*",
         "Condition": {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{acct}:role/team/*"}}}]}))
    c = regauth_server.client("sts").assume_role(RoleArn=created["Arn"], RoleSessionName="s1")["Credentials"]
    session = Keys(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    with pytest.raises(ClientError) as err:
        regauth_server.client("iam", session).list_users()
    assert err.value.response["Error"]["Code"] == "AccessDenied"
    assert regauth_server.client("sts", session).get_caller_identity()["Arn"].endswith(f":assumed-role/{role}/s1")

    target = unique("pathed")
    iam.create_user(UserName=target, Path="/team/")
    reader = new_user(regauth_server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:GetUser", "Resource": f"arn:aws:iam::{acct}:user/team/{target}"}]})
    assert regauth_server.client("iam", reader).get_user(UserName=target)["User"]["Path"] == "/team/"
    blocked = new_user(regauth_server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": "iam:GetUser", "Resource": f"arn:aws:iam::{acct}:user/team/*"}]})
    with pytest.raises(ClientError) as err:
        regauth_server.client("iam", blocked).get_user(UserName=target)
    assert err.value.response["Error"]["Code"] == "AccessDenied"
    # and a missing user is named only to a caller who could have read it
    with pytest.raises(ClientError) as err:
        regauth_server.client("iam", reader).get_user(UserName=unique("ghost"))
    assert err.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError) as err:
        regauth_server.client("iam").get_user(UserName=unique("ghost"))
    assert err.value.response["Error"]["Code"] == "NoSuchEntity"


def test_get_session_token_credentials_cannot_call_iam_and_names_ignore_case(regauth_server: RegauthServer) -> None:
    """IAM's rules: GetSessionToken credentials without MFA call no IAM operation (they may still use
    STS and the token APIs), and user and role names are unique whatever their case."""
    from botocore.exceptions import ClientError

    from tests.fixtures.server import new_user

    keys = new_user(regauth_server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"}]})
    c = regauth_server.client("sts", keys).get_session_token(DurationSeconds=900)["Credentials"]
    session = Keys(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    with pytest.raises(ClientError) as err:
        regauth_server.client("iam", session).list_users()
    assert err.value.response["Error"]["Code"] == "AccessDenied" and "GetSessionToken" in str(err.value)
    assert ":user/" in regauth_server.client("sts", session).get_caller_identity()["Arn"]
    assert regauth_server.client("ecr", session).get_authorization_token()["authorizationData"]

    iam = regauth_server.client("iam")
    user, role = unique("Casey"), unique("Robin")
    iam.create_user(UserName=user)
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust(regauth_server.account_id))
    for create in (lambda: iam.create_user(UserName=user.lower()),
                   lambda: iam.create_role(RoleName=role.upper(),
                                           AssumeRolePolicyDocument=trust(regauth_server.account_id))):
        with pytest.raises(ClientError) as err:
            create()
        assert err.value.response["Error"]["Code"] == "EntityAlreadyExists"
        assert "not distinguished by case" in err.value.response["Error"]["Message"]


def test_a_role_arn_must_be_the_role_s_own_and_mfa_is_refused(regauth_server: RegauthServer) -> None:
    """AssumeRole finds a role by its ARN as given, path included: a role found by name under another
    path would tell any caller, of any account, that it exists and where. GetSessionToken refuses
    MFA parameters it cannot check, as AssumeRole does."""
    from botocore.exceptions import ClientError

    from tests.fixtures.server import create_account

    acct = regauth_server.account_id
    role = unique("hidden")
    regauth_server.client("iam").create_role(RoleName=role, Path="/team/", AssumeRolePolicyDocument=trust(acct))
    _, stranger = create_account(regauth_server)
    messages = []
    for arn in (f"arn:aws:iam::{acct}:role/zz/{role}", f"arn:aws:iam::{acct}:role/zz/{unique('none')}"):
        with pytest.raises(ClientError) as err:
            regauth_server.client("sts", stranger).assume_role(RoleArn=arn, RoleSessionName="s1")
        assert err.value.response["Error"]["Code"] == "AccessDenied"
        messages.append(err.value.response["Error"]["Message"])
    assert "/team/" not in messages[0] and f"role/zz/{role}" in messages[0]
    with pytest.raises(ClientError) as err:                       # the admin, allowed, with a wrong path
        regauth_server.client("sts").assume_role(RoleArn=f"arn:aws:iam::{acct}:role/{role}", RoleSessionName="s1")
    assert err.value.response["Error"]["Code"] == "AccessDenied"
    assert regauth_server.client("sts").assume_role(RoleArn=f"arn:aws:iam::{acct}:role/team/{role}",
                                                    RoleSessionName="s1")["Credentials"]
    with pytest.raises(ClientError) as err:
        regauth_server.client("sts").get_session_token(SerialNumber="arn:aws:iam::123456789012:mfa/x",
                                                       TokenCode="123456")
    assert err.value.response["Error"]["Code"] == "ValidationError"


def test_policies_stand_for_the_principals_they_named_when_stored_not_for_later_namesakes(
        regauth_server: RegauthServer) -> None:
    """IAM resolves a user or role named in a trust or resource policy when the policy is stored (it
    must exist) and keeps its unique id: deleted and created again under the same name (and path),
    it is another principal, which the policy does not name until it is stored again."""
    from botocore.exceptions import ClientError

    from tests.fixtures.server import new_user

    acct = regauth_server.account_id
    iam = regauth_server.client("iam")
    ca = regauth_server.client("codeartifact")
    bearer = {"Version": "2012-10-17", "Statement": [CA_TOKEN_POLICY["Statement"][1]]}

    def outcome(fn, **kw) -> str:
        try:
            fn(**kw)
            return "OK"
        except ClientError as err:
            return err.response["Error"]["Code"]

    def naming(arn: str, action: str, **extra) -> str:
        return json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": arn}, "Action": action, **extra}]})

    def recreate(name: str, policy: dict | None) -> Keys:
        for key in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
            iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
        if policy is not None:
            iam.delete_user_policy(UserName=name, PolicyName="p")
        iam.delete_user(UserName=name)
        return new_user(regauth_server, policy, name=name)

    # a principal that does not exist cannot be named
    ghost = f"arn:aws:iam::{acct}:user/{unique('ghost')}"
    assert outcome(iam.create_role, RoleName=unique("r"),
                   AssumeRolePolicyDocument=naming(ghost, "sts:AssumeRole")) == "MalformedPolicyDocument"
    for wrong in (ghost.replace(":user/", ":group/"), ghost.replace(":user/", ":user/other-path/")):
        assert outcome(iam.create_role, RoleName=unique("r"),
                       AssumeRolePolicyDocument=naming(wrong, "sts:AssumeRole")) == "MalformedPolicyDocument"

    # a trust policy naming a user (which grants on its own in the same account)
    name, role = unique("trusted"), unique("r")
    keys = new_user(regauth_server, None, name=name)
    user_arn = f"arn:aws:iam::{acct}:user/{name}"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=naming(user_arn, "sts:AssumeRole"))
    role_arn = f"arn:aws:iam::{acct}:role/{role}"
    assume = regauth_server.client("sts", keys).assume_role
    assert outcome(assume, RoleArn=role_arn, RoleSessionName="s1") == "OK"
    keys = recreate(name, None)
    assert outcome(regauth_server.client("sts", keys).assume_role, RoleArn=role_arn, RoleSessionName="s1") \
        == "AccessDenied"
    iam.update_assume_role_policy(RoleName=role, PolicyDocument=naming(user_arn, "sts:AssumeRole"))
    assert outcome(regauth_server.client("sts", keys).assume_role, RoleArn=role_arn, RoleSessionName="s1") == "OK"

    # a domain policy naming a user, and one naming a role under a path
    dom = unique("pins")
    ca.create_domain(domain=dom)
    name = unique("reader")
    keys = new_user(regauth_server, bearer, name=name)
    dom_arn = f"arn:aws:codeartifact:us-east-1:{acct}:domain/{dom}"
    assert outcome(ca.put_domain_permissions_policy, domain=dom, policyDocument=naming(
        ghost, "codeartifact:GetAuthorizationToken", Resource=dom_arn)) == "ValidationException"
    ca.put_domain_permissions_policy(domain=dom, policyDocument=naming(
        f"arn:aws:iam::{acct}:user/{name}", "codeartifact:GetAuthorizationToken", Resource=dom_arn))
    token = regauth_server.client("codeartifact", keys).get_authorization_token
    assert outcome(token, domain=dom) == "OK"
    keys = recreate(name, bearer)
    assert outcome(regauth_server.client("codeartifact", keys).get_authorization_token, domain=dom) \
        == "AccessDeniedException"

    role = unique("reader")
    for attempt in range(2):        # the same role name, path and session name both times
        iam.create_role(RoleName=role, Path="/p1/", AssumeRolePolicyDocument=trust(acct))
        iam.put_role_policy(RoleName=role, PolicyName="p", PolicyDocument=json.dumps(bearer))
        if attempt == 0:
            ca.put_domain_permissions_policy(domain=dom, policyDocument=naming(
                f"arn:aws:iam::{acct}:role/p1/{role}", "codeartifact:GetAuthorizationToken", Resource=dom_arn))
        c = regauth_server.client("sts").assume_role(RoleArn=f"arn:aws:iam::{acct}:role/p1/{role}",
                                                     RoleSessionName="s1")["Credentials"]
        session = Keys(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
        got = outcome(regauth_server.client("codeartifact", session).get_authorization_token, domain=dom)
        assert got == ("OK" if attempt == 0 else "AccessDeniedException")
        iam.delete_role_policy(RoleName=role, PolicyName="p")
        iam.delete_role(RoleName=role)


def test_inline_and_trust_policy_sizes_are_iam_s_quotas(regauth_server: RegauthServer) -> None:
    """IAM bounds the inline policies of a user to 2048 characters in all and a role's to 10240
    (white space not counted), and a trust policy to 2048: past them, LimitExceeded (409)."""
    from botocore.exceptions import ClientError

    iam = regauth_server.client("iam")

    def sized(n: int) -> str:
        """A valid policy of exactly `n` characters without white space."""
        base = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/"}]}
        size = len("".join(json.dumps(base).split()))
        base["Statement"][0]["Resource"] += "x" * (n - size)
        text = json.dumps(base, indent=4)          # the white space is free
        assert len("".join(text.split())) == n
        return text

    def refusal(fn, **kw) -> tuple[str, int, str]:
        with pytest.raises(ClientError) as err:
            fn(**kw)
        e = err.value.response
        return e["Error"]["Code"], e["ResponseMetadata"]["HTTPStatusCode"], e["Error"]["Message"]

    user = unique("sized")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="a", PolicyDocument=sized(1500))
    iam.put_user_policy(UserName=user, PolicyName="b", PolicyDocument=sized(548))            # 2048 in all
    assert refusal(iam.put_user_policy, UserName=user, PolicyName="c", PolicyDocument=sized(200)) == (
        "LimitExceeded", 409, f"Maximum policy size of 2048 bytes exceeded for user {user}")
    iam.put_user_policy(UserName=user, PolicyName="a", PolicyDocument=sized(1300))           # replaces a
    iam.put_user_policy(UserName=user, PolicyName="c", PolicyDocument=sized(200))
    assert sorted(iam.list_user_policies(UserName=user)["PolicyNames"]) == ["a", "b", "c"]

    role = unique("sized")
    trust_doc = trust(regauth_server.account_id)
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust_doc)
    iam.put_role_policy(RoleName=role, PolicyName="a", PolicyDocument=sized(7000))
    assert refusal(iam.put_role_policy, RoleName=role, PolicyName="b", PolicyDocument=sized(3241)) == (
        "LimitExceeded", 409, f"Maximum policy size of 10240 bytes exceeded for role {role}")
    iam.put_role_policy(RoleName=role, PolicyName="b", PolicyDocument=sized(3240))

    big_trust = json.loads(trust_doc)
    big_trust["Statement"].append({"Sid": "x" * 2048, "Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole"})
    big_trust = json.dumps(big_trust)
    quota = ("LimitExceeded", 409, "Cannot exceed quota for ACLSizePerRole: 2048")
    assert refusal(iam.create_role, RoleName=unique("sized"), AssumeRolePolicyDocument=big_trust) == quota
    assert refusal(iam.update_assume_role_policy, RoleName=role, PolicyDocument=big_trust) == quota


def test_concurrent_requests_cannot_beat_a_quota_or_names_alike(regauth_server: RegauthServer) -> None:
    """Requests arriving together (served in one turn of the loop, where the cached reads are shared)
    are checked against what is stored at the moment each is written: of 8 policies that each fit
    alone but not two together, one is stored; of 8 access keys, two; of 8 names differing only in
    case, one."""
    import threading

    from botocore.exceptions import ClientError

    def at_once(n: int, call) -> list[str]:
        clients = [regauth_server.client("iam") for _ in range(n)]
        barrier = threading.Barrier(n)
        outcomes: list[str] = [""] * n

        def run(i: int) -> None:
            barrier.wait()
            try:
                call(clients[i], i)
                outcomes[i] = "ok"
            except ClientError as exc:
                outcomes[i] = exc.response["Error"]["Code"]

        threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        return sorted(outcomes)

    iam = regauth_server.client("iam")
    user = unique("racer")
    iam.create_user(UserName=user)
    doc = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/" + "x" * 1400}]})
    assert at_once(8, lambda c, i: c.put_user_policy(UserName=user, PolicyName=f"p{i}", PolicyDocument=doc)) == (
        ["LimitExceeded"] * 7 + ["ok"])
    assert len(iam.list_user_policies(UserName=user)["PolicyNames"]) == 1

    assert at_once(8, lambda c, i: c.create_access_key(UserName=user)) == ["LimitExceeded"] * 6 + ["ok"] * 2
    assert len(iam.list_access_keys(UserName=user)["AccessKeyMetadata"]) == 2

    base = unique("racerabc")                        # its first 8 characters are letters
    names = [base[:i] + base[i].swapcase() + base[i + 1:] for i in range(8)]     # 8 spellings of one name
    assert at_once(8, lambda c, i: c.create_user(UserName=names[i])) == ["EntityAlreadyExists"] * 7 + ["ok"]
    assert len([u for u in iam.list_users()["Users"] if u["UserName"].lower() == base.lower()]) == 1


def test_only_json_white_space_is_free_in_a_policy_s_size(regauth_server: RegauthServer) -> None:
    """IAM does not count white space against its quotas: JSON's (space, tab, line feed, carriage
    return). A no-break space or U+0085 inside a string is content and counts; str.split() dropped
    them, and 100,000 of them fit in a 2048-character quota."""
    from botocore.exceptions import ClientError

    iam, sts = regauth_server.client("iam"), regauth_server.client("sts")
    padded = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:GetObject", "Resource": "*",
                                                      "Condition": {"StringEquals": {"aws:username": "a"}}}]}

    def pad(with_: str, n: int) -> str:
        padded["Statement"][0]["Condition"]["StringEquals"]["aws:username"] = "a" + with_ * n
        return json.dumps(padded, ensure_ascii=False)

    def code(fn, **kw) -> str:
        with pytest.raises(ClientError) as err:
            fn(**kw)
        return err.value.response["Error"]["Code"]

    user = unique("padded")
    iam.create_user(UserName=user)
    assert code(iam.put_user_policy, UserName=user, PolicyName="p", PolicyDocument=pad("\u00a0", 3000)) == (
        "LimitExceeded")
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=pad(" ", 3000))   # spaces are free
    trust_doc = json.loads(trust(regauth_server.account_id))
    trust_doc["Statement"][0]["Sid"] = "a" + "\u00a0" * 3000
    assert code(iam.create_role, RoleName=unique("padded"),
                AssumeRolePolicyDocument=json.dumps(trust_doc, ensure_ascii=False)) == "LimitExceeded"
    role = unique("padded")
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust(regauth_server.account_id))["Role"]["Arn"]
    assert code(sts.assume_role, RoleArn=arn, RoleSessionName="padded", Policy=pad("\u0085", 3000)) == (
        "PackedPolicyTooLarge")


def test_a_permissions_boundary_or_tags_on_a_new_user_or_role_are_refused_not_ignored(
        regauth_server: RegauthServer) -> None:
    from botocore.exceptions import ClientError

    iam = regauth_server.client("iam")
    boundary = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    tags = [{"Key": "env", "Value": "prod"}]
    trust_doc = trust(regauth_server.account_id)
    for fn, kw in ((iam.create_user, {"UserName": unique("bounded"), "PermissionsBoundary": boundary}),
                   (iam.create_user, {"UserName": unique("tagged"), "Tags": tags}),
                   (iam.create_role, {"RoleName": unique("bounded"), "AssumeRolePolicyDocument": trust_doc,
                                      "PermissionsBoundary": boundary}),
                   (iam.create_role, {"RoleName": unique("tagged"), "AssumeRolePolicyDocument": trust_doc,
                                      "Tags": tags})):
        with pytest.raises(ClientError) as err:
            fn(**kw)
        e = err.value.response
        assert (e["Error"]["Code"], e["ResponseMetadata"]["HTTPStatusCode"]) == ("ValidationError", 400)
        assert "regauth does not support" in e["Error"]["Message"]
        name = kw.get("UserName") or kw["RoleName"]
        listed = iam.list_users()["Users"] if "UserName" in kw else iam.list_roles()["Roles"]
        assert name not in [x.get("UserName") or x.get("RoleName") for x in listed]       # nothing created
