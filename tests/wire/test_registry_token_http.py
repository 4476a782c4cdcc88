"""The token realm over HTTP, case by case: what it grants, what it refuses and how it says so.

The JWTs are checked here as distribution checks them (x5c under `regauth admin registry-ca`);
test_registry_realm.py shows a real registry and skopeo accepting them.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from typing import Iterator
from urllib.parse import urlencode

import pytest

from tests.fixtures.registry_jwt import open_registry_jwt
from tests.fixtures.server import Keys, RegauthServer, new_user, regauth_cli, server_env, start_server, unique

pytestmark = pytest.mark.wire
REGION = "us-east-1"
SERVICE = "registry.test:5000"
ISSUER = "issuer-under-test"


def ecr_policy(*actions: str, resource: str = "*") -> dict:
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken", "ecr-public:GetAuthorizationToken",
                                       "sts:GetServiceBearerToken"], "Resource": "*"},
        *([{"Effect": "Allow", "Action": list(actions), "Resource": resource}] if actions else [])]}


class Realm:
    def __init__(self, server: RegauthServer, ca_pem: str) -> None:
        self.server, self.ca_pem = server, ca_pem

    def password(self, keys: Keys, service: str = "ecr") -> str:
        kw = {"region": "us-east-1"} if service == "ecr-public" else {}
        data = self.server.client(service, keys, **kw).get_authorization_token()["authorizationData"]
        data = data[0] if isinstance(data, list) else data
        return base64.b64decode(data["authorizationToken"]).decode().split(":", 1)[1]

    def get(self, params: list[tuple[str, str]], user: str | None = "AWS", password: str | None = None,
            method: str = "GET", authorization: str | None = None) -> tuple[int, dict[str, str], dict]:
        req = urllib.request.Request(f"{self.server.url}/token?{urlencode(params)}", method=method)
        if authorization is None and password is not None:
            authorization = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        if authorization is not None:
            req.add_header("Authorization", authorization)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, json.loads(e.read() or b"{}")

    def grants(self, password: str, *scopes: str, user: str = "AWS", service: str = SERVICE) -> list[dict]:
        status, headers, body = self.get([("service", service), *(("scope", s) for s in scopes)], user, password)
        assert status == 200, body
        _, claims, _ = open_registry_jwt(body["token"], self.ca_pem)
        return claims["access"]


@pytest.fixture(scope="module")
def realm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Realm]:
    env = {**server_env(), "REGAUTH_REGISTRY_ISSUER": ISSUER, "REGAUTH_REGISTRY_TOKEN_SECONDS": "120"}
    server = start_server(tmp_path_factory.mktemp("realm-http"), env)
    try:
        out = regauth_cli("admin", "set-registry-endpoint", "--account-id", server.account_id, "--region", REGION,
                          "--url", f"https://{SERVICE}", data_dir=server.data_dir)
        assert out.returncode == 0, out.stderr
        ca = regauth_cli("admin", "registry-ca", data_dir=server.data_dir)
        assert ca.returncode == 0, ca.stderr
        yield Realm(server, ca.stdout)
    finally:
        server.stop()


def test_a_grant_is_a_jwt_distribution_accepts(realm: Realm) -> None:
    keys = new_user(realm.server, ecr_policy("ecr:BatchGetImage", "ecr:PutImage"))
    password = realm.password(keys)
    before = int(time.time())
    status, headers, body = realm.get([("account", "AWS"), ("service", SERVICE),
                                       ("scope", "repository:team/app:pull,push")], "AWS", password)
    assert status == 200 and headers["content-type"] == "application/json" and headers["cache-control"] == "no-store"
    assert set(body) == {"token", "access_token", "expires_in", "issued_at"} and body["token"] == body["access_token"]
    assert body["expires_in"] == 120
    issued = time.mktime(time.strptime(body["issued_at"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert before - 1 <= issued <= time.time() + 1
    header, claims, _ = open_registry_jwt(body["token"], realm.ca_pem)
    assert claims["iss"] == ISSUER and claims["aud"] == SERVICE and type(claims["aud"]) is str
    assert claims["exp"] - claims["iat"] == 120 and all(type(claims[k]) is int for k in ("exp", "nbf", "iat"))
    assert claims["sub"].endswith(":user/" + claims["sub"].rsplit("/", 1)[1])
    assert claims["access"] == [{"type": "repository", "name": "team/app", "actions": ["pull", "push"]}]
    assert password not in body["token"] and keys.secret_access_key not in body["token"]


def test_each_scope_gets_what_the_principal_may_do_now(realm: Realm) -> None:
    reader = realm.password(new_user(realm.server, ecr_policy(
        "ecr:BatchGetImage", resource=f"arn:aws:ecr:{REGION}:{realm.server.account_id}:repository/team/*")))
    assert realm.grants(reader, "repository:team/app:pull,push", "repository:other/app:pull") == [
        {"type": "repository", "name": "team/app", "actions": ["pull"]},
        {"type": "repository", "name": "other/app", "actions": []}]
    assert realm.grants(reader) == []                                        # login: no scope, any valid token
    assert realm.grants(reader, service=SERVICE.upper()) == []               # host names compare without case
    everything = realm.password(new_user(realm.server, ecr_policy("ecr:*")))
    assert realm.grants(everything, "repository:a:*", "registry:catalog:*") == [
        {"type": "repository", "name": "a", "actions": ["pull", "push", "delete"]},
        {"type": "registry", "name": "catalog", "actions": ["*"]}]


def test_an_assumed_roles_session_policy_still_applies(realm: Realm) -> None:
    """The token carries its temporary credentials' key id, so the session policy is read at use."""
    iam = realm.server.client("iam")
    role = unique("pusher")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"AWS": f"arn:aws:iam::{realm.server.account_id}:root"}}]}
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=role, PolicyName="p",
                        PolicyDocument=json.dumps(ecr_policy("ecr:BatchGetImage", "ecr:PutImage")))
    sts = realm.server.client("sts")

    def session(policy: dict | None) -> Keys:
        kw = {"Policy": json.dumps(policy)} if policy else {}
        c = sts.assume_role(RoleArn=arn, RoleSessionName="ci-session", **kw)["Credentials"]
        return Keys(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])

    full = realm.password(session(None))
    assert realm.grants(full, "repository:x:pull,push")[0]["actions"] == ["pull", "push"]
    narrowed = realm.password(session(ecr_policy("ecr:BatchGetImage")))
    assert realm.grants(narrowed, "repository:x:pull,push")[0]["actions"] == ["pull"]
    claims = json.loads(base64.urlsafe_b64decode(narrowed.split(".")[1] + "==="))
    assert claims["akid"].startswith("ASIA") and claims["sub"].startswith("arn:aws:sts::")
    # revoking the role refuses what its sessions were issued so far
    out = regauth_cli("admin", "revoke", "--principal-arn", arn, data_dir=realm.server.data_dir)
    assert out.returncode == 0, out.stderr
    for password in (full, narrowed):
        assert realm.get([("service", SERVICE)], "AWS", password)[0] == 401


def test_refusals_use_the_registry_envelope(realm: Realm) -> None:
    keys = new_user(realm.server, ecr_policy("ecr:BatchGetImage"))
    password = realm.password(keys)

    def refused(status: int, code: str, **kw: object) -> dict[str, str]:
        got, headers, body = realm.get(**kw)  # type: ignore[arg-type]
        assert (got, body["errors"][0]["code"]) == (status, code), body
        assert password not in json.dumps(body)
        return headers

    headers = refused(401, "UNAUTHORIZED", params=[("service", SERVICE)])                      # no credentials
    assert headers["www-authenticate"] == 'Basic realm="regauth"'
    refused(401, "UNAUTHORIZED", params=[("service", SERVICE)], password=password[:-2] + "xx")
    refused(401, "UNAUTHORIZED", params=[("service", SERVICE)], user="aws", password=password)  # not "AWS"
    refused(401, "UNAUTHORIZED", params=[("service", "elsewhere:5000")], password=password)
    refused(401, "UNAUTHORIZED", params=[("service", SERVICE)], authorization=f"Bearer {password}")
    refused(401, "UNAUTHORIZED", params=[("service", SERVICE)], authorization="Basic %%%")
    refused(400, "UNSUPPORTED", params=[], password=password)                                   # no service
    refused(400, "UNSUPPORTED", params=[("service", SERVICE), ("scope", "repository:Bad Name:pull")],
            password=password)
    refused(400, "UNSUPPORTED", params=[("service", SERVICE), ("service", SERVICE)], password=password)
    post = refused(405, "UNSUPPORTED", params=[("service", SERVICE)], password=password, method="POST")  # no OAuth2
    assert post["allow"] == "GET, HEAD"
    public = realm.password(keys_with_public(realm), "ecr-public")
    refused(401, "UNAUTHORIZED", params=[("service", SERVICE)], password=public)
    assert password not in "\n".join(realm.server.output)


def keys_with_public(realm: Realm) -> Keys:
    return new_user(realm.server, ecr_policy("ecr-public:*"))


def test_a_deleted_user_s_token_opens_nothing(realm: Realm) -> None:
    name = unique("gone")
    keys = new_user(realm.server, ecr_policy("ecr:BatchGetImage"), name=name)
    password = realm.password(keys)
    assert realm.grants(password, "repository:a:pull")[0]["actions"] == ["pull"]
    iam = realm.server.client("iam")
    iam.delete_user_policy(UserName=name, PolicyName="p")
    iam.delete_access_key(UserName=name, AccessKeyId=keys.access_key_id)
    iam.delete_user(UserName=name)
    status, _, body = realm.get([("service", SERVICE), ("scope", "repository:a:pull")], "AWS", password)
    assert status == 401 and body["errors"][0]["code"] == "UNAUTHORIZED"
    # and the refusal is in the audit trail under the principal, without the token
    audit = regauth_cli("admin", "audit", "--limit", "5", data_dir=realm.server.data_dir)
    events = [json.loads(line) for line in audit.stdout.splitlines()]
    refusal = next(e for e in events if e["action"] == "registry:GetToken" and e["outcome"] == "denied")
    assert refusal["principal_arn"].endswith(f":user/{name}") and "gone" in refusal["detail"]
    assert password not in audit.stdout


def test_a_later_user_of_the_same_name_does_not_inherit_the_token(realm: Realm) -> None:
    """Policies are found by name and the ARN is the same: only the user's unique id in the token
    tells the old user from a new one made under its name."""
    name = unique("again")
    keys = new_user(realm.server, ecr_policy("ecr:BatchGetImage"), name=name)
    password = realm.password(keys)
    iam = realm.server.client("iam")
    iam.delete_user_policy(UserName=name, PolicyName="p")
    iam.delete_access_key(UserName=name, AccessKeyId=keys.access_key_id)
    iam.delete_user(UserName=name)
    new_keys = new_user(realm.server, ecr_policy("ecr:BatchGetImage", "ecr:PutImage"), name=name)
    status, _, body = realm.get([("service", SERVICE), ("scope", "repository:a:pull")], "AWS", password)
    assert status == 401 and body["errors"][0]["code"] == "UNAUTHORIZED"
    # the new user's own token is granted: the refusal is about the old token, not the name
    assert realm.grants(realm.password(new_keys), "repository:a:pull,push")[0]["actions"] == ["pull", "push"]


def acr_credentials(server: RegauthServer, login_server: str, actions: list[str], repositories: str) -> tuple[str, str]:
    """(TempUsername, AuthorizationToken) from aliyun-python-sdk-core for a new user of a new ACR instance
    whose login server is `login_server`, allowed `actions` on `repository/<instance>/<repositories>`."""
    from tests.wire.test_acr_sdks import old_sdk

    proc = regauth_cli("admin", "create-acr-instance", "--account-id", server.account_id, "--region",
                       "cn-hangzhou", "--name", unique("acr"), "--login-server", login_server,
                       data_dir=server.data_dir)
    assert proc.returncode == 0, proc.stderr
    instance = json.loads(proc.stdout)["InstanceId"]
    prefix = f"acs:cr:cn-hangzhou:{server.account_id}"
    keys = new_user(server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "cr:GetAuthorizationToken", "Resource": f"{prefix}:instance/{instance}"},
        {"Effect": "Allow", "Action": actions, "Resource": f"{prefix}:repository/{instance}/{repositories}"}]})
    out = old_sdk(server.url.split("://", 1)[1], keys, instance, region="cn-hangzhou")
    assert out.ok, (out.code, out.message)
    return out.body["TempUsername"], out.body["AuthorizationToken"]


def test_acr_tokens_open_the_instance_s_login_server(realm: Realm) -> None:
    user, token = acr_credentials(realm.server, "acr.test:5000", ["cr:PullRepository"], "ns/*")
    assert realm.grants(token, "repository:ns/app:pull,push", "repository:other/app:pull", user=user,
                        service="acr.test:5000") == [
        {"type": "repository", "name": "ns/app", "actions": ["pull"]},
        {"type": "repository", "name": "other/app", "actions": []}]
    status, _, _ = realm.get([("service", SERVICE)], user, token)           # another registry's service
    assert status == 401
    status, _, _ = realm.get([("service", "acr.test:5000")], "AWS", token)  # the ECR user name
    assert status == 401


def test_a_session_token_whose_role_is_gone_is_refused_under_its_principal(realm: Realm) -> None:
    acct = realm.server.account_id
    iam = realm.server.client("iam")
    role = unique("gone")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": acct}, "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName=role, PolicyName="p", PolicyDocument=json.dumps(ecr_policy("ecr:BatchGetImage")))
    c = realm.server.client("sts").assume_role(RoleArn=f"arn:aws:iam::{acct}:role/{role}",
                                               RoleSessionName="s1")["Credentials"]
    password = realm.password(Keys(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]))
    assert realm.grants(password, "repository:a:pull")[0]["actions"] == ["pull"]
    iam.delete_role_policy(RoleName=role, PolicyName="p")
    iam.delete_role(RoleName=role)
    status, _, _ = realm.get([("service", SERVICE), ("scope", "repository:a:pull")], "AWS", password)
    assert status == 401
    audit = regauth_cli("admin", "audit", "--limit", "5", data_dir=realm.server.data_dir).stdout
    refusal = next(e for e in map(json.loads, audit.splitlines()) if e["action"] == "registry:GetToken")
    assert refusal["outcome"] == "denied" and refusal["principal_arn"].endswith(f":assumed-role/{role}/s1")
    assert refusal["token_id"] and "lost its user or role" in refusal["detail"]


def create_instance(server: RegauthServer, login_server: str, region: str = "cn-hangzhou",
                    account: str | None = None) -> str:
    proc = regauth_cli("admin", "create-acr-instance", "--account-id", account or server.account_id, "--region",
                       region, "--name", unique("acr"), "--login-server", login_server, data_dir=server.data_dir)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["InstanceId"]


def test_an_acr_token_opens_every_instance_of_its_account_the_principal_may_use(realm: Realm) -> None:
    """The seed: an account's or a RAM user's token logs on to all the instances that belong to it; a
    token scoped by policy opens only what the policy allows (the instances its principal may get a
    token for, as the policies are at each use). The instance named in the request is where the
    token was asked for, not the only place it opens."""
    from tests.wire.test_acr_sdks import old_sdk

    server = realm.server
    first = create_instance(server, "acr-a.test:5000")
    second = create_instance(server, "acr-b.test:5000", region="cn-shanghai")
    create_instance(server, "acr-c.test:5000")       # the account's, outside the user's policy
    other = json.loads(regauth_cli("admin", "create-account", data_dir=server.data_dir).stdout)["AccountId"]
    create_instance(server, "acr-x.test:5000", account=other)
    keys = new_user(server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "cr:GetAuthorizationToken",
         "Resource": [f"acs:cr:*:*:instance/{first}", f"acs:cr:*:*:instance/{second}"]},
        {"Effect": "Allow", "Action": "cr:PullRepository", "Resource": "acs:cr:*:*:repository/*/ns/*"},
        {"Effect": "Allow", "Action": "cr:PushRepository",
         "Resource": f"acs:cr:cn-shanghai:{server.account_id}:repository/{second}/ns/*"}]})
    out = old_sdk(server.url.split("://", 1)[1], keys, first, region="cn-hangzhou")
    assert out.ok, (out.code, out.message)
    user, token = out.body["TempUsername"], out.body["AuthorizationToken"]
    assert realm.grants(token, "repository:ns/app:pull,push", user=user, service="acr-a.test:5000") == [
        {"type": "repository", "name": "ns/app", "actions": ["pull"]}]
    assert realm.grants(token, "repository:ns/app:pull,push", user=user, service="ACR-B.test:5000") == [
        {"type": "repository", "name": "ns/app", "actions": ["pull", "push"]}]
    # another account's instance is not the principal's, and the account's third instance is outside
    # the principal's policies: no login there at all, even one asking for no scope (docker login)
    for host in ("acr-x.test:5000", "acr-c.test:5000"):
        status, _, body = realm.get([("service", host)], user, token)
        assert status == 401 and body["errors"][0]["code"] == "UNAUTHORIZED"
    assert realm.get([("service", "acr-b.test:5000")], user, token)[0] == 200
    # the instance the token was asked for goes; the others still open
    assert regauth_cli("admin", "delete-acr-instance", "--instance-id", first,
                       data_dir=server.data_dir).returncode == 0
    assert realm.get([("service", "acr-a.test:5000")], user, token)[0] == 401
    assert realm.grants(token, "repository:ns/app:pull", user=user, service="acr-b.test:5000")[0]["actions"] == ["pull"]
    # a deleted instance's id and login server reused in another account open nothing for this token
    create_instance(server, "acr-a.test:5000", account=other)
    assert realm.get([("service", "acr-a.test:5000")], user, token)[0] == 401


def test_an_ecr_token_opens_its_principal_s_registry_whichever_registry_it_was_asked_for(realm: Realm) -> None:
    """ECR: "can be used to access any Amazon ECR registry that your IAM principal has access to"."""
    keys = new_user(realm.server, ecr_policy("ecr:BatchGetImage"))
    data = realm.server.client("ecr", keys).get_authorization_token(registryIds=["999988887777"])
    password = base64.b64decode(data["authorizationData"][0]["authorizationToken"]).decode().split(":", 1)[1]
    assert realm.grants(password, "repository:a:pull")[0]["actions"] == ["pull"]     # the principal's own
    other = data["authorizationData"][0]["proxyEndpoint"].split("://", 1)[1]
    assert realm.grants(password, "repository:a:pull", service=other)[0]["actions"] == []   # cross-account


def test_acr_delete_follows_cr_delete_repository_tag(realm: Realm) -> None:
    """ACR's DeleteRepoTag is authorized by cr:DeleteRepositoryTag on the repository: the realm grants
    `delete` on it, and only where the principal has it."""
    user, token = acr_credentials(realm.server, "acr-del.test:5000", ["cr:PullRepository", "cr:DeleteRepositoryTag"],
                                  "ns/*")
    assert realm.grants(token, "repository:ns/app:pull,push,delete", "repository:other/app:delete", user=user,
                        service="acr-del.test:5000") == [
        {"type": "repository", "name": "ns/app", "actions": ["pull", "delete"]},
        {"type": "repository", "name": "other/app", "actions": []}]
    user, token = acr_credentials(realm.server, "acr-del.test:5000", ["cr:PullRepository", "cr:PushRepository"],
                                  "ns/*")
    assert realm.grants(token, "repository:ns/app:delete", user=user, service="acr-del.test:5000") == [
        {"type": "repository", "name": "ns/app", "actions": []}]


@pytest.mark.postgres
def test_nodes_sharing_postgresql_share_the_ca_and_the_revocations(tmp_path, fresh_postgres_url: str) -> None:
    """Stateless nodes: a token issued by one is granted by another (nodes starting together on an
    empty store make one keyring key), under the one CA the store keeps (made once however many
    nodes start), and a revocation made anywhere is seen by every node."""
    import secrets
    import threading
    from concurrent.futures import ThreadPoolExecutor

    env = {**server_env("222233334444"), "REGAUTH_DATABASE_URL": fresh_postgres_url,
           "REGAUTH_MASTER_KEY": secrets.token_hex(32)}
    with ThreadPoolExecutor(2) as pool:       # started together on the empty store: one keyring key between them
        nodes = list(pool.map(lambda i: start_server(tmp_path / f"node{i}", env), range(2)))
    try:
        a, b = nodes
        out = regauth_cli("admin", "set-registry-endpoint", "--account-id", "222233334444", "--region", REGION,
                          "--url", f"https://{SERVICE}", data_dir=tmp_path / "node0", env=env)
        assert out.returncode == 0, out.stderr
        keys = new_user(a, ecr_policy("ecr:BatchGetImage"))
        password = Realm(a, "").password(keys)
        results: dict[int, tuple] = {}

        def ask(i: int) -> None:           # both nodes make their first JWT at once: the CA is made once
            results[i] = Realm(nodes[i], "").get([("service", SERVICE), ("scope", "repository:a:pull")], "AWS",
                                                 password)
        threads = [threading.Thread(target=ask, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ca = regauth_cli("admin", "registry-ca", data_dir=tmp_path / "node1", env=env)
        assert ca.returncode == 0, ca.stderr
        for i in range(2):
            status, _, body = results[i]
            assert status == 200, body
            _, claims, _ = open_registry_jwt(body["token"], ca.stdout)      # either node's leaf, one CA
            assert claims["access"] == [{"type": "repository", "name": "a", "actions": ["pull"]}]
        claims = json.loads(base64.urlsafe_b64decode(password.split(".")[1] + "==="))
        out = regauth_cli("admin", "revoke", "--token-id", claims["jti"], data_dir=tmp_path / "node0", env=env)
        assert out.returncode == 0, out.stderr
        assert Realm(b, ca.stdout).get([("service", SERVICE)], "AWS", password)[0] == 401
    finally:
        for node in nodes:
            node.stop()


def test_the_realm_spends_the_principal_s_rate(tmp_path) -> None:
    """The realm draws on the bucket the principal's API calls draw on: a client looping on /token is
    throttled with the registry's TOOMANYREQUESTS and a Retry-After, not served without end."""
    env = {**server_env(), "REGAUTH_RATE_LIMIT_PER_SECOND": "0.5", "REGAUTH_RATE_LIMIT_BURST": "3"}
    server = start_server(tmp_path / "data", env)
    try:
        out = regauth_cli("admin", "set-registry-endpoint", "--account-id", server.account_id, "--region", REGION,
                          "--url", f"https://{SERVICE}", data_dir=server.data_dir)
        assert out.returncode == 0, out.stderr
        realm = Realm(server, "")
        password = realm.password(server.admin)                     # the API call takes one of the three
        answers = [realm.get([("service", SERVICE)], "AWS", password) for _ in range(3)]
        assert [a[0] for a in answers] == [200, 200, 429]
        status, headers, body = answers[2]
        assert body["errors"][0]["code"] == "TOOMANYREQUESTS" and int(headers["retry-after"]) >= 1
        audit = regauth_cli("admin", "audit", "--limit", "5", data_dir=server.data_dir).stdout
        throttled = [e for e in map(json.loads, audit.splitlines()) if e["detail"] == "Throttled"]
        assert len(throttled) == 1 and throttled[0]["principal_arn"].endswith(":user/admin")    # the token's
        assert throttled[0]["token_id"]
    finally:
        server.stop()
