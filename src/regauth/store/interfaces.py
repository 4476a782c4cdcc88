"""The store contract used by services. Implemented by `store.sql.SqlStore` (SQLite or PostgreSQL) and,
on a SQLite file, by `store.sqlite_store.SqliteStore` (its reads in plain SQL, the rest through `SqlStore`).

Rules every implementation keeps:
- Every method is one short transaction; nothing scans a table without an index or a LIMIT.
- Secrets (`Secret`) are encrypted before they reach a row and decrypted on the way out.
  Bearer tokens are never stored; session tokens only as a hex sha256.
- Create methods raise `regauth.errors.Conflict` when the natural key exists.
- Get methods return None when absent; delete methods return the deleted record or None
  (or raise `Conflict` where noted).
- A `guard` given to a write is called inside the write's own transaction with what is stored now, and
  raises (a domain error) to refuse the write. Guarded writes of the same records run one at a time, on
  every node sharing the store: a rule that spans rows (a quota, names unique whatever their case, a
  policy revision, a registry host one account owns) cannot be beaten by two concurrent requests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from regauth.domain.principals import (
    AccessKey, AcrInstance, AuditEvent, Credential, Domain, DomainPolicy, EcrRepository, InlinePolicy,
    IssuedToken, RegistryCa, Repository, Revocation, Role, Session, SigningKey, User,
)
from regauth.domain.secret import Secret


class Store(Protocol):
    # --- meta ---------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...
    def set_meta_once(self, key: str, value: str) -> str:
        """Store `value` unless `key` has one; returns what is stored (first writer wins)."""
    def ensure_account(self, account_id: str, now: float) -> None: ...
    def account_exists(self, account_id: str) -> bool: ...
    def list_account_ids(self) -> list[str]:
        """Every account's id, ordered (start-up checks: not the request path)."""

    # --- IAM users and keys ---------------------------------------------------------------------
    def create_user(self, user: User, guard: Callable[[list[str]], None] | None = None) -> User:
        """`guard`: the names of the account's users."""
    def get_user(self, account_id: str, name: str) -> User | None: ...
    def list_users(self, account_id: str) -> list[User]: ...
    def delete_user(self, account_id: str, name: str) -> User | None:
        """Raises Conflict if the user still has access keys or inline policies (AWS DeleteConflict)."""
    def create_access_key(self, key: AccessKey, secret: Secret,
                          guard: Callable[[int], None] | None = None) -> AccessKey:
        """`guard`: how many access keys the user has."""
    def list_access_keys(self, account_id: str, user_name: str) -> list[AccessKey]: ...
    def update_access_key(self, account_id: str, user_name: str, access_key_id: str, status: str) -> AccessKey | None: ...
    def delete_access_key(self, account_id: str, user_name: str, access_key_id: str) -> AccessKey | None: ...
    def get_credential(self, access_key_id: str) -> Credential | None:
        """Long-term user key or STS session key, by id. The hot path: one indexed lookup."""

    def put_user_policy(self, account_id: str, user_name: str, policy: InlinePolicy,
                        guard: Callable[[list[InlinePolicy]], None] | None = None) -> None:
        """`guard`: the user's inline policies."""
    def get_user_policy(self, account_id: str, user_name: str, name: str) -> InlinePolicy | None: ...
    def list_user_policies(self, account_id: str, user_name: str) -> list[InlinePolicy]: ...
    def delete_user_policy(self, account_id: str, user_name: str, name: str) -> InlinePolicy | None: ...

    # --- IAM roles ------------------------------------------------------------------------------
    def create_role(self, role: Role, guard: Callable[[list[str]], None] | None = None) -> Role:
        """`guard`: the names of the account's roles."""
    def get_role(self, account_id: str, name: str) -> Role | None: ...
    def list_roles(self, account_id: str) -> list[Role]:
        """Ordered by name."""
    def delete_role(self, account_id: str, name: str) -> Role | None:
        """Raises Conflict if the role still has inline policies."""
    def update_role_trust_policy(self, account_id: str, name: str, document: str,
                                 principal_ids: tuple[tuple[str, str], ...] = ()) -> Role | None: ...
    def put_role_policy(self, account_id: str, role_name: str, policy: InlinePolicy,
                        guard: Callable[[list[InlinePolicy]], None] | None = None) -> None:
        """`guard`: the role's inline policies."""
    def get_role_policy(self, account_id: str, role_name: str, name: str) -> InlinePolicy | None: ...
    def list_role_policies(self, account_id: str, role_name: str) -> list[InlinePolicy]: ...
    def delete_role_policy(self, account_id: str, role_name: str, name: str) -> InlinePolicy | None: ...

    # --- STS sessions ---------------------------------------------------------------------------
    def create_session(self, session: Session, secret: Secret, token_hash: str) -> None: ...

    # --- CodeArtifact ---------------------------------------------------------------------------
    def create_domain(self, domain: Domain) -> Domain: ...
    def get_domain(self, account_id: str, region: str, name: str) -> Domain | None:
        """repository_count is filled in."""
    def list_domains(self, account_id: str, region: str, limit: int, after_name: str | None) -> list[Domain]:
        """Ordered by name, names > after_name, at most `limit`."""
    def delete_domain(self, account_id: str, region: str, name: str) -> Domain | None:
        """Raises Conflict if repositories remain. Also deletes the domain policy and endpoints."""
    def put_domain_policy(self, policy: DomainPolicy,
                          guard: Callable[[DomainPolicy | None], None] | None = None) -> DomainPolicy:
        """`guard`: the domain's policy now, if any."""
    def get_domain_policy(self, account_id: str, region: str, domain_name: str) -> DomainPolicy | None: ...
    def delete_domain_policy(self, account_id: str, region: str, domain_name: str) -> DomainPolicy | None: ...
    def set_repository_endpoint(self, account_id: str, region: str, domain_name: str, fmt: str, template: str) -> None:
        """Per-domain, per-format endpoint template (see services.codeartifact)."""
    def get_repository_endpoint(self, account_id: str, region: str, domain_name: str, fmt: str) -> str | None: ...
    def list_repository_endpoints(self) -> list[tuple[str, str, str, str, str]]:
        """(account id, region, domain, format, template) of every repository endpoint set, ordered
        (start-up checks: not the request path)."""

    def create_repository(self, repo: Repository) -> Repository: ...
    def get_repository(self, account_id: str, region: str, domain_name: str, name: str) -> Repository | None: ...
    def list_repositories(self, account_id: str, region: str, domain_name: str, prefix: str | None,
                          limit: int, after_name: str | None) -> list[Repository]: ...
    def delete_repository(self, account_id: str, region: str, domain_name: str, name: str) -> Repository | None: ...

    # --- ECR ----------------------------------------------------------------------------------
    def create_ecr_repository(self, repo: EcrRepository) -> EcrRepository: ...
    def get_ecr_repository(self, account_id: str, region: str, name: str) -> EcrRepository | None: ...
    def list_ecr_repositories(self, account_id: str, region: str, limit: int,
                              after_name: str | None) -> list[EcrRepository]:
        """Ordered by name, names > after_name, at most `limit`."""
    def delete_ecr_repository(self, account_id: str, region: str, name: str) -> EcrRepository | None: ...
    def set_registry_endpoint(self, account_id: str, region: str, url: str,
                              guard: Callable[[list[tuple[str, str]]], None] | None = None) -> None:
        """The registry URL (proxyEndpoint) for an account and region, set by the operator.
        `guard`: `list_registry_hosts()`."""
    def get_registry_endpoint(self, account_id: str, region: str) -> str | None: ...
    def list_registry_endpoints(self) -> list[tuple[str, str, str]]:
        """(account id, region, URL) of every registry endpoint set, ordered (start-up checks: not the
        request path)."""

    # --- Alibaba ACR ----------------------------------------------------------------------------
    def create_acr_instance(self, instance: AcrInstance,
                            guard: Callable[[list[tuple[str, str]]], None] | None = None) -> AcrInstance:
        """`guard`: `list_registry_hosts()`."""
    def get_acr_instance(self, instance_id: str) -> AcrInstance | None: ...
    def list_acr_instances(self, account_id: str) -> list[AcrInstance]: ...
    def delete_acr_instance(self, instance_id: str) -> AcrInstance | None:
        """What was deleted, or None."""
    def list_registry_hosts(self) -> list[tuple[str, str]]:
        """(account id, host[:port]) of every registry the operator set: each ECR registry endpoint's
        host and each ACR instance's login server, of every account. For admin checks, and for the
        token realm once per generation (`services.registry_access`), not per request."""

    # --- tokens, audit, keyring -----------------------------------------------------------------
    def record_issued_token(self, token: IssuedToken) -> None: ...
    def record_issuance(self, token: IssuedToken, event: AuditEvent) -> None:
        """Index entry and audit event of one issued token, in one transaction."""
    def record_batch(self, tokens: Sequence[IssuedToken], events: Sequence[AuditEvent]) -> None:
        """Many requests' index entries and audit events in one transaction: all or none."""
    def get_issued_token(self, token_id: str) -> IssuedToken | None: ...
    def record_audit(self, event: AuditEvent) -> None: ...
    def list_audit_events(self, limit: int = 100, principal_arn: str | None = None) -> list[AuditEvent]:
        """Newest first."""
    def add_signing_key(self, key: SigningKey) -> None: ...
    def add_first_signing_key(self, key: SigningKey) -> bool:
        """Store `key` unless an active (unretired) key is stored; True when `key` was stored. One
        writer decides at a time, also among processes starting together on one database."""
    def list_signing_keys(self) -> list[SigningKey]: ...
    def rotate_signing_keys(self, new: SigningKey, retired_at: float, delete_previous: bool) -> list[str]:
        """One transaction: `new` becomes the active key; the other active keys are retired at
        `retired_at` (or, with `delete_previous`, every other key is deleted). The kids affected."""

    # --- revocations and the registry CA ----------------------------------------------------------
    def add_revocation(self, rev: Revocation) -> None:
        """Upsert on (kind, subject): a principal revoked again keeps the later `not_before` (with that
        revocation's created_at and reason); a token revoked again keeps its first row."""
    def list_revocations(self) -> list[Revocation]:
        """Every revocation (a short list, read whole), ordered by created_at, kind, subject."""
    def get_registry_ca(self) -> RegistryCa | None: ...
    def set_registry_ca_once(self, ca: RegistryCa) -> RegistryCa:
        """Store `ca` unless one is stored; returns what is stored afterwards (the first writer wins,
        also among processes sharing one database), which may be another writer's."""
    def prepare_registry_ca(self, ca: RegistryCa) -> RegistryCa:
        """Store `ca` as the next CA unless one is prepared; the prepared one (first writer wins)."""
    def activate_registry_ca(self) -> bool:
        """One transaction: the prepared CA becomes the active one, the active one's certificate joins
        the previous ones. False when none is prepared."""
    def forget_previous_registry_cas(self) -> int:
        """Drop the certificates earlier rotations replaced; how many."""
    def registry_ca_certificates(self) -> tuple[str | None, str | None, list[str]]:
        """(active, next, previous) certificates, PEM; no key is opened."""

    # --- pruning (`services.pruning`): each call one short transaction -----------------------------
    def prune_issued_tokens(self, expired_before: float, limit: int) -> int:
        """Delete up to `limit` issued-token index entries that expired before `expired_before`."""
    def prune_sessions(self, expired_before: float, limit: int) -> int:
        """Delete up to `limit` STS sessions that expired before `expired_before`."""
    def prune_revocations(self, not_before_before: float) -> int:
        """Delete the revocations whose not_before is before `not_before_before`."""
    def prune_signing_keys(self, retired_before: float) -> int:
        """Delete the signing keys retired before `retired_before`."""
    def prune_audit_events(self, before: float, limit: int) -> int:
        """Delete up to `limit` audit events recorded before `before`, oldest first."""

    @property
    def embedded(self) -> bool:
        """True when the database lives in this process (SQLite): reads cost microseconds."""

    def generation(self) -> int:
        """A counter advanced by every write that changes identities, keys, policies, domains,
        endpoints, instances, revocations or the registry CA (not by issued tokens, audit events or
        new sessions)."""

    def close(self) -> None: ...


