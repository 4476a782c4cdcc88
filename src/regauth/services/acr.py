"""Alibaba ACR (`cr` 2018-12-01): operator-created instances and GetAuthorizationToken.

Rules (the adapter in `protocols/acr.py` only parses and serializes):

- Instances belong to one account and one region; the operator creates them (`regauth admin
  create-acr-instance`). Ids are `cri-` + 16 lowercase letters/digits unless the operator names one.
- GetAuthorizationToken(InstanceId, RegionId?, ExpiresInHours?):
  1. input: InstanceId 1-128 characters; ExpiresInHours, when given, 1..24 (else InvalidInput);
  2. the instance must exist in the caller's account (else NotFound("instance", id) ->
     INSTANCE_NOT_EXIST). ACR has no resource policies, so another account's instance could only
     be refused; answering as for a missing one tells a caller of another account nothing about it
     (a 403 naming its ARN would give away that it exists, its account and its region). Either is
     audited as a denial (`resource` the id asked for), so instance ids are not probed unseen;
  3. `cr:GetAuthorizationToken` on `acs:cr:<region>:<account>:instance/<id>`, evaluated in the
     instance's region (AccessDenied -> Forbidden.RAM);
  4. RegionId, when given, must equal the instance's region (else InvalidInput). The real service
     derives the region from the endpoint host; behind a local endpoint the instance knows it, and
     a request naming another region is a caller mistake worth a clear 400 rather than a silent
     answer. Checked after the permission check so that the region of an instance is only
     revealed to a caller allowed to use it, or told it may not (same account);
  5. lifetime 3600 s, or ExpiresInHours * 3600, never past the end of the caller's temporary
     credentials (docs: "with STS the effective validity is min(STS validity, value)");
  6. the password is an "acr" token whose scope records the instance ARN asked for; like the real
     token it logs on to every instance of the principal's account, each use decided by the
     principal's policies then (`services.registry_access`). The user name is the fixed TEMP_USERNAME
     (the registry identifies the caller from the token, not from the user name).
"""

from __future__ import annotations

import re
import secrets
import string

from regauth.clock import Clock
from regauth.domain.arn import format_arn
from regauth.domain.principals import AcrInstance
from regauth.errors import Conflict, InvalidInput, MissingParameter, NotFound
from regauth.services.authz import Authorizer
from regauth.services.context import Call
from regauth.services.ecr import DEFAULT_REGISTRY, foreign_host_owner
from regauth.services.tokens import Issued, TokenIssuer
from regauth.store.interfaces import Store

ACTION = "cr:GetAuthorizationToken"
TEMP_USERNAME = "cr_temp_user"          # like the real API's fixed temporary user name
DEFAULT_LIFETIME = 3600
MIN_HOURS, MAX_HOURS = 1, 24
MAX_INSTANCE_ID = 128

_ID_ALPHABET = string.ascii_lowercase + string.digits
# all used with fullmatch (`$` also matches before a final "\n"; a login server's length check ends at `\Z`)
_INSTANCE_ID = re.compile(r"cri-[a-z0-9]{4,64}")
_ACCOUNT = re.compile(r"[0-9]{12}")
_REGION = re.compile(r"[a-z]{2,}(-[a-z0-9]+){1,4}")
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,62}[a-z0-9]")
_LOGIN_SERVER = re.compile(r"(?=.{1,253}(:|\Z))[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*"
                           r"(:[0-9]{1,5})?")


def new_instance_id() -> str:
    return "cri-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))


def instance_arn(instance: AcrInstance) -> str:
    return format_arn("cr", instance.region, instance.account_id, f"instance/{instance.instance_id}", scheme="acs")


class AcrService:
    def __init__(self, store: Store, authz: Authorizer, issuer: TokenIssuer, clock: Clock,
                 registry_template: str = DEFAULT_REGISTRY) -> None:
        self._registry_template = registry_template       # ECR's hosts, which no instance may take
        self._store = store
        self._authz = authz
        self._issuer = issuer
        self._clock = clock

    # --- operator -----------------------------------------------------------------------------
    def create_instance(self, account_id: str, region: str, name: str, login_server: str,
                        instance_id: str | None = None) -> AcrInstance:
        """Raises InvalidInput on a malformed value, NotFound for an unknown account, Conflict on a taken id."""
        if not _ACCOUNT.fullmatch(account_id):
            raise InvalidInput("The account id must be 12 digits.", "AccountId")
        if not _REGION.fullmatch(region):
            raise InvalidInput("The region must look like cn-hangzhou (lowercase letters, digits, hyphens).",
                               "RegionId")
        if not _NAME.fullmatch(name):
            raise InvalidInput("The instance name must be 3-64 lowercase letters, digits or hyphens, "
                               "starting and ending with a letter or digit.", "InstanceName")
        server = login_server.lower()
        port = server.rpartition(":")[2] if ":" in server else "443"
        if not _LOGIN_SERVER.fullmatch(server) or not 1 <= int(port) <= 65535:
            raise InvalidInput("The login server must be host[:port].", "LoginServer")
        if instance_id is not None and not _INSTANCE_ID.fullmatch(instance_id):
            raise InvalidInput("The instance id must be cri- followed by 4-64 lowercase letters or digits.",
                               "InstanceId")
        if not self._store.account_exists(account_id):
            raise NotFound("account", account_id, f"The account {account_id} does not exist.")

        def server_free(hosts: list[tuple[str, str]]) -> None:     # checked in the write, hosts locked
            owner = foreign_host_owner(hosts, self._registry_template, account_id, server)
            if owner is not None:  # an ACR token opens every instance of its account, found by login server
                raise Conflict("instance", server, f"The login server {server} is already a registry of account "
                               f"{owner}: each account needs registry hosts of its own (its tokens would open "
                               "the other's repositories).")
        return self._store.create_acr_instance(AcrInstance(
            instance_id=instance_id or new_instance_id(), account_id=account_id, region=region, name=name,
            login_server=server, created_at=self._clock.now()), guard=server_free)

    def list_instances(self, account_id: str) -> list[AcrInstance]:
        return self._store.list_acr_instances(account_id)

    def delete_instance(self, instance_id: str) -> AcrInstance:
        """Delete an instance: its login server opens nothing from the next request on (the realm
        finds no instance by it), and GetAuthorizationToken names it INSTANCE_NOT_EXIST. Raises NotFound."""
        deleted = self._store.delete_acr_instance(instance_id)
        if deleted is None:
            raise NotFound("instance", instance_id, f"The instance {instance_id} does not exist.")
        return deleted

    # --- GetAuthorizationToken ----------------------------------------------------------------
    def get_authorization_token(self, call: Call, instance_id: str, region_id: str | None,
                                expires_in_hours: int | None) -> tuple[str, Issued]:
        if not instance_id:
            raise MissingParameter('The input parameter "InstanceId" that is mandatory for processing this '
                                   'request is not supplied.', "InstanceId")
        if len(instance_id) > MAX_INSTANCE_ID:
            raise InvalidInput(f"InstanceId must be at most {MAX_INSTANCE_ID} characters.", "InstanceId")
        if expires_in_hours is not None and not MIN_HOURS <= expires_in_hours <= MAX_HOURS:
            raise InvalidInput(f"ExpiresInHours must be between {MIN_HOURS} and {MAX_HOURS}.", "ExpiresInHours")
        instance = self._store.get_acr_instance(instance_id)
        if instance is None or instance.account_id != call.caller.account_id:
            missing = NotFound("instance", instance_id, f"The instance {instance_id} does not exist.")
            missing.resource = instance_id      # type: ignore[attr-defined]  # the denial's, for the audit trail
            raise missing
        arn = instance_arn(instance)
        call = call.in_region(instance.region)
        self._authz.require(call, ACTION, arn, resource_account=instance.account_id)
        if region_id is not None and region_id != instance.region:
            raise InvalidInput(f"RegionId {region_id} is not the region of instance {instance_id} "
                               f"({instance.region}).", "RegionId")
        seconds = DEFAULT_LIFETIME if expires_in_hours is None else expires_in_hours * 3600
        expires_at = call.now + seconds
        if call.caller.session_expires_at is not None:
            expires_at = min(expires_at, call.caller.session_expires_at)
        issued = self._issuer.issue(call, kind="acr", action=ACTION, scope=arn, expires_at=expires_at)
        return TEMP_USERNAME, issued
