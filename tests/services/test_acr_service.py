"""AcrService in process: a real SQLite store, a fixed clock, the real policy engine and token minting."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from regauth.clock import FixedClock
from regauth.config import Settings
from regauth.domain import ids, tokens
from regauth.domain.principals import AccessKey, AcrInstance, Caller, InlinePolicy, Role, User
from regauth.domain.secret import Secret
from regauth.errors import AccessDenied, Conflict, InvalidInput, MissingParameter, NotFound
from regauth.services.acr import TEMP_USERNAME, instance_arn
from regauth.services.bootstrap import create_account
from regauth.services.container import Services, build_services
from regauth.services.context import Call
from regauth.store.open import open_store

T0 = 1_800_000_000.0
ACCT, OTHER = "123456789012", "210987654321"
REGION = "cn-hangzhou"
KEY = bytes(range(32))


def allow(action: str = "cr:GetAuthorizationToken", resource: str = "*", **extra: object) -> dict:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource,
                                                    **extra}]}


@dataclass
class World:
    services: Services
    clock: FixedClock
    instance: AcrInstance

    @classmethod
    def build(cls, tmp_path: Path, settings: Settings | None = None) -> World:
        store = open_store(f"sqlite:///{tmp_path}/regauth.db", KEY)
        clock = FixedClock(T0)
        services = build_services(settings or Settings(data_dir=tmp_path), store, clock)
        create_account(store, clock, ACCT)
        create_account(store, clock, OTHER)
        instance = services.acr.create_instance(ACCT, REGION, "main-registry", "registry.example.com:5000")
        return cls(services, clock, instance)

    def user(self, policy: dict | None, account: str = ACCT) -> tuple[str, Secret]:
        """A user with an inline policy and an access key: (access key id, secret)."""
        store = self.services.store
        name = "u-" + ids.access_key_id()[-8:].lower()
        store.create_user(User(account, name, ids.user_id(), f"arn:aws:iam::{account}:user/{name}", "/", T0))
        if policy is not None:
            store.put_user_policy(account, name, InlinePolicy("p", json.dumps(policy)))
        akid, secret = ids.access_key_id(), Secret(ids.secret_access_key())
        store.create_access_key(AccessKey(akid, account, name, "Active", T0), secret)
        return akid, secret

    def caller(self, akid: str) -> Caller:
        cred = self.services.store.get_credential(akid)
        assert cred is not None
        return self.services.authn.caller_of(cred)

    def call(self, akid: str, region: str = "") -> Call:
        return Call(caller=self.caller(akid), region=region, now=self.clock.now(), request_id="req-1")

    def session(self, akid: str, seconds: int) -> tuple[str, Secret, Secret]:
        """GetSessionToken for a user key: (ASIA key id, secret, session token)."""
        creds = self.services.sts.get_session_token(self.call(akid), seconds)
        return creds.access_key_id, creds.secret_access_key, creds.session_token


@pytest.fixture
def world(tmp_path: Path):
    w = World.build(tmp_path)
    yield w
    w.services.store.close()


def claims_of(token: str) -> dict:
    middle = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(middle + "=" * (-len(middle) % 4)))


# --- success ------------------------------------------------------------------------------------

def test_token_is_an_acr_token_scoped_to_the_instance_for_one_hour(world: World) -> None:
    akid, secret = world.user(allow())
    user, issued = world.services.acr.get_authorization_token(world.call(akid), world.instance.instance_id,
                                                              REGION, None)
    assert user == TEMP_USERNAME == "cr_temp_user"
    assert issued.expires_at == T0 + 3600
    arn = f"acs:cr:{REGION}:{ACCT}:instance/{world.instance.instance_id}"
    assert instance_arn(world.instance) == arn
    verified = tokens.verify(world.services.keyring, issued.token, now=T0, kind="acr")
    assert verified.scope == arn and verified.account_id == ACCT
    assert verified.principal_arn == world.caller(akid).arn
    assert issued.token.startswith("rgacr_") and ":" not in issued.token
    body = claims_of(issued.token)
    assert body["scope"] == arn and body["k"] == "acr"
    assert secret.reveal() not in issued.token and akid not in json.dumps(body)
    indexed = world.services.store.get_issued_token(issued.token_id)
    assert indexed is not None and indexed.kind == "acr" and indexed.scope == arn


def test_issuance_is_audited_without_the_token(world: World) -> None:
    akid, _ = world.user(allow())
    _, issued = world.services.acr.get_authorization_token(world.call(akid), world.instance.instance_id, None, None)
    events = world.services.store.list_audit_events(limit=5)
    mine = [e for e in events if e.token_id == issued.token_id]
    assert len(mine) == 1
    assert mine[0].outcome == "allowed" and mine[0].action == "cr:GetAuthorizationToken"
    assert mine[0].resource == instance_arn(world.instance)
    assert issued.token not in json.dumps([e.__dict__ for e in events])


@pytest.mark.parametrize("hours", [1, 2, 24])
def test_expires_in_hours(world: World, hours: int) -> None:
    akid, _ = world.user(allow())
    _, issued = world.services.acr.get_authorization_token(world.call(akid), world.instance.instance_id, None, hours)
    assert issued.expires_at == T0 + hours * 3600


@pytest.mark.parametrize("hours", [0, -1, 25, 1000])
def test_expires_in_hours_out_of_range(world: World, hours: int) -> None:
    akid, _ = world.user(allow())
    with pytest.raises(InvalidInput) as err:
        world.services.acr.get_authorization_token(world.call(akid), world.instance.instance_id, None, hours)
    assert err.value.field == "ExpiresInHours"


@pytest.mark.parametrize("hours, expected", [(None, 900), (5, 900)])
def test_lifetime_never_exceeds_the_temporary_credentials(world: World, hours: int | None, expected: int) -> None:
    akid, _ = world.user(allow())
    sts_key, _, _ = world.session(akid, 900)
    call = world.call(sts_key)
    assert call.caller.is_temporary
    _, issued = world.services.acr.get_authorization_token(call, world.instance.instance_id, None, hours)
    assert issued.expires_at == T0 + expected


def test_long_session_does_not_extend_the_default(world: World) -> None:
    akid, _ = world.user(allow())
    sts_key, _, _ = world.session(akid, 43200)
    _, issued = world.services.acr.get_authorization_token(world.call(sts_key), world.instance.instance_id, None, 3)
    assert issued.expires_at == T0 + 3 * 3600


def test_policy_conditions_see_the_instance_region(world: World) -> None:
    policy = allow(Condition={"StringEquals": {"aws:RequestedRegion": REGION}})
    akid, _ = world.user(policy)
    world.services.acr.get_authorization_token(world.call(akid), world.instance.instance_id, None, None)


# --- refusals -------------------------------------------------------------------------------------

def test_unknown_instance(world: World) -> None:
    akid, _ = world.user(allow())
    with pytest.raises(NotFound) as err:
        world.services.acr.get_authorization_token(world.call(akid), "cri-doesnotexist00", REGION, None)
    assert err.value.resource_type == "instance" and err.value.resource_id == "cri-doesnotexist00"


@pytest.mark.parametrize("instance_id", ["", None])
def test_missing_instance_id(world: World, instance_id: str | None) -> None:
    akid, _ = world.user(allow())
    with pytest.raises(MissingParameter) as err:
        world.services.acr.get_authorization_token(world.call(akid), instance_id or "", None, None)
    assert err.value.field == "InstanceId" and "InstanceId" in err.value.message


def test_overlong_instance_id(world: World) -> None:
    akid, _ = world.user(allow())
    with pytest.raises(InvalidInput):
        world.services.acr.get_authorization_token(world.call(akid), "cri-" + "a" * 200, None, None)


def test_region_must_match_the_instance(world: World) -> None:
    akid, _ = world.user(allow())
    with pytest.raises(InvalidInput) as err:
        world.services.acr.get_authorization_token(world.call(akid), world.instance.instance_id, "cn-shanghai", None)
    assert err.value.field == "RegionId"


def test_region_is_not_revealed_to_a_caller_without_permission(world: World) -> None:
    akid, _ = world.user(allow(action="cr:PullRepository"))
    with pytest.raises(AccessDenied):
        world.services.acr.get_authorization_token(world.call(akid), world.instance.instance_id, "cn-shanghai", None)


@pytest.mark.parametrize("policy", [
    None,
    allow(action="cr:PullRepository"),
    allow(resource=f"acs:cr:{REGION}:{ACCT}:instance/cri-someotherinstance"),
    allow(resource=f"acs:cr:cn-shanghai:{ACCT}:instance/*"),
    {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": "cr:GetAuthorizationToken", "Resource": "acs:cr:*:*:instance/*"}]},
], ids=["no-policy", "other-action", "other-instance", "other-region", "explicit-deny"])
def test_permission_required_on_the_instance(world: World, policy: dict | None) -> None:
    akid, _ = world.user(policy)
    with pytest.raises(AccessDenied) as err:
        world.services.acr.get_authorization_token(world.call(akid), world.instance.instance_id, None, None)
    assert "cr:GetAuthorizationToken" in err.value.message
    assert getattr(err.value, "resource") == instance_arn(world.instance)


def test_permission_on_exactly_this_instance_is_enough(world: World) -> None:
    akid, _ = world.user(allow(resource=instance_arn(world.instance)))
    world.services.acr.get_authorization_token(world.call(akid), world.instance.instance_id, None, None)


def test_other_accounts_are_refused_even_with_allow_all_and_learn_nothing_of_the_instance(world: World) -> None:
    """Refused as a missing instance would be: a 403 naming the ARN would tell another account that
    the instance exists, and its account and region."""
    akid, _ = world.user(allow(action="*"), account=OTHER)
    with pytest.raises(NotFound) as found:
        world.services.acr.get_authorization_token(world.call(akid), world.instance.instance_id, None, None)
    with pytest.raises(NotFound) as missing:
        world.services.acr.get_authorization_token(world.call(akid), "cri-doesnotexist0000", None, None)
    assert str(found.value).replace(world.instance.instance_id, "X") == str(missing.value).replace(
        "cri-doesnotexist0000", "X")
    assert REGION not in str(found.value) and ACCT not in str(found.value)


def test_session_policy_limits_an_assumed_role(world: World) -> None:
    akid, _ = world.user(allow(action="*"))
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCT}:root"}, "Action": "sts:AssumeRole"}]}
    store = world.services.store
    store.create_role(Role(ACCT, "builder", ids.role_id(), f"arn:aws:iam::{ACCT}:role/builder", "/",
                           json.dumps(trust), 3600, "", T0))
    store.put_role_policy(ACCT, "builder", InlinePolicy("p", json.dumps(allow(action="*"))))
    arn = f"arn:aws:iam::{ACCT}:role/builder"
    wide = world.services.sts.assume_role(world.call(akid), arn, "wide", 900, None)
    _, issued = world.services.acr.get_authorization_token(world.call(wide.credentials.access_key_id),
                                                           world.instance.instance_id, None, None)
    assert tokens.verify(world.services.keyring, issued.token, now=T0).principal_arn == wide.arn
    assert issued.expires_at == T0 + 900
    narrow = world.services.sts.assume_role(world.call(akid), arn, "narrow", 900,
                                            json.dumps(allow(action="cr:PullRepository")))
    with pytest.raises(AccessDenied):
        world.services.acr.get_authorization_token(world.call(narrow.credentials.access_key_id),
                                                   world.instance.instance_id, None, None)


# --- operator: instances ----------------------------------------------------------------------------

def test_create_instance_generates_an_id_and_lists(world: World) -> None:
    assert re.fullmatch(r"cri-[a-z0-9]{16}", world.instance.instance_id)
    named = world.services.acr.create_instance(ACCT, "cn-shanghai", "second", "REG.Example.com", "cri-abcd1234")
    assert named.instance_id == "cri-abcd1234" and named.login_server == "reg.example.com"
    assert named.created_at == T0
    listed = world.services.acr.list_instances(ACCT)
    assert {i.instance_id for i in listed} == {world.instance.instance_id, "cri-abcd1234"}
    assert world.services.acr.list_instances(OTHER) == []
    assert world.services.store.get_acr_instance("cri-abcd1234") == named


def test_create_instance_conflict(world: World) -> None:
    with pytest.raises(Conflict):
        world.services.acr.create_instance(ACCT, REGION, "again", "h", world.instance.instance_id)


def test_create_instance_unknown_account(world: World) -> None:
    with pytest.raises(NotFound):
        world.services.acr.create_instance("999999999999", REGION, "name", "h")


@pytest.mark.parametrize("field, args", [
    ("AccountId", ("12345", REGION, "name", "h", None)),
    ("RegionId", (ACCT, "Hangzhou", "name", "h", None)),
    ("InstanceName", (ACCT, REGION, "x", "h", None)),
    ("InstanceName", (ACCT, REGION, "-bad-", "h", None)),
    ("LoginServer", (ACCT, REGION, "name", "https://h", None)),
    ("LoginServer", (ACCT, REGION, "name", "h:0", None)),
    ("LoginServer", (ACCT, REGION, "name", "h:70000", None)),
    ("LoginServer", (ACCT, REGION, "name", "", None)),
    ("InstanceId", (ACCT, REGION, "name", "h", "abc-123")),
    ("InstanceId", (ACCT, REGION, "name", "h", "cri-UPPER")),
])
def test_create_instance_validation(world: World, field: str, args: tuple) -> None:
    with pytest.raises(InvalidInput) as err:
        world.services.acr.create_instance(*args)
    assert err.value.field == field
