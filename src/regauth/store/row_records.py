"""Rows <-> records, one place per table: what a row becomes, and what a record is stored as.

Free of SQLAlchemy (a row is anything with the columns as attributes), so the SQLite request path
(`store.sqlite_reads`) and `SqlStore` build the same records from the same columns. The `*_ad`
functions name the associated data each stored secret is sealed under (see `store.crypto`); the
converters of rows that hold one open it with the `SecretBox` they are given.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from regauth.domain.principals import (
    AccessKey, AcrInstance, AuditEvent, Credential, Domain, DomainPolicy, EcrRepository, InlinePolicy, IssuedToken,
    RegistryCa, Repository, Revocation, Role, Session, SigningKey, User,
)

if TYPE_CHECKING:
    from regauth.store.crypto import SecretBox

ACTIVE = "Active"


def access_key_ad(access_key_id: str) -> str:
    return f"access_key/{access_key_id}"


def session_ad(access_key_id: str) -> str:
    return f"session/{access_key_id}"


def user_values(u: User) -> dict:
    return dict(account_id=u.account_id, name=u.name, user_id=u.user_id, arn=u.arn, path=u.path,
                created_at=u.created_at)


def user(row) -> User:
    return User(account_id=row.account_id, name=row.name, user_id=row.user_id, arn=row.arn,
                path=row.path, created_at=row.created_at)


def access_key(row) -> AccessKey:
    return AccessKey(access_key_id=row.access_key_id, account_id=row.account_id,
                     user_name=row.user_name, status=row.status, created_at=row.created_at)


def principal_ids_text(pins: tuple[tuple[str, str], ...]) -> str | None:
    """A policy's pinned principals as stored: a JSON list of [ARN, unique id] pairs; NULL for none."""
    return json.dumps([list(p) for p in pins], separators=(",", ":")) if pins else None


def principal_ids(text: str | None) -> tuple[tuple[str, str], ...]:
    return tuple((arn, uid) for arn, uid in json.loads(text)) if text else ()


def role_values(r: Role) -> dict:
    return dict(account_id=r.account_id, name=r.name, role_id=r.role_id, arn=r.arn, path=r.path,
                trust_policy=r.trust_policy, max_session_duration=r.max_session_duration,
                description=r.description, created_at=r.created_at,
                trust_principal_ids=principal_ids_text(r.trust_principal_ids))


def role(row) -> Role:
    return Role(account_id=row.account_id, name=row.name, role_id=row.role_id, arn=row.arn,
                path=row.path, trust_policy=row.trust_policy,
                max_session_duration=row.max_session_duration, description=row.description,
                created_at=row.created_at, trust_principal_ids=principal_ids(row.trust_principal_ids))


def inline_policy(row) -> InlinePolicy:
    return InlinePolicy(name=row.policy_name, document=row.document)


def session_values(s: Session) -> dict:
    return dict(access_key_id=s.access_key_id, account_id=s.account_id, kind=s.kind,
                source_name=s.source_name, session_name=s.session_name, arn=s.arn,
                user_id=s.user_id, session_policy=s.session_policy, expires_at=s.expires_at,
                created_at=s.created_at)


def session(row) -> Session:
    return Session(access_key_id=row.access_key_id, account_id=row.account_id, kind=row.kind,
                   source_name=row.source_name, session_name=row.session_name, arn=row.arn,
                   user_id=row.user_id, session_policy=row.session_policy,
                   expires_at=row.expires_at, created_at=row.created_at)


def key_credential(access_key_id: str, row, box: SecretBox) -> Credential:
    """A user's long-term key, from its access_keys row (account_id, user_name, status, secret)."""
    return Credential(access_key_id=access_key_id, account_id=row.account_id,
                      secret=box.open(row.secret, access_key_ad(access_key_id)),
                      status=row.status, user_name=row.user_name)


def session_credential(access_key_id: str, row, box: SecretBox) -> Credential:
    """An STS session's key, from its whole sessions row."""
    return Credential(access_key_id=access_key_id, account_id=row.account_id,
                      secret=box.open(row.secret, session_ad(access_key_id)),
                      status=ACTIVE, session=session(row), session_token_hash=row.token_hash)


def domain_values(d: Domain) -> dict:
    return dict(account_id=d.account_id, region=d.region, name=d.name, arn=d.arn,
                encryption_key=d.encryption_key, created_at=d.created_at)


def domain(row, repository_count: int = 0) -> Domain:
    return Domain(account_id=row.account_id, region=row.region, name=row.name, arn=row.arn,
                  encryption_key=row.encryption_key, created_at=row.created_at,
                  repository_count=repository_count)


def domain_policy(row) -> DomainPolicy:
    return DomainPolicy(account_id=row.account_id, region=row.region, domain_name=row.domain_name,
                        document=row.document, revision=row.revision, principal_ids=principal_ids(row.principal_ids))


def repository_values(r: Repository) -> dict:
    return dict(account_id=r.account_id, region=r.region, domain_name=r.domain_name, name=r.name,
                arn=r.arn, description=r.description, upstreams=json.dumps(list(r.upstreams)),
                created_at=r.created_at)


def repository(row) -> Repository:
    return Repository(account_id=row.account_id, region=row.region, domain_name=row.domain_name,
                      name=row.name, arn=row.arn, description=row.description,
                      upstreams=tuple(json.loads(row.upstreams)), created_at=row.created_at)


def ecr_repository_values(r: EcrRepository) -> dict:
    return dict(account_id=r.account_id, region=r.region, name=r.name, arn=r.arn, uri=r.uri,
                image_tag_mutability=r.image_tag_mutability, scan_on_push=bool(r.scan_on_push),
                encryption_type=r.encryption_type, created_at=r.created_at)


def ecr_repository(row) -> EcrRepository:
    return EcrRepository(account_id=row.account_id, region=row.region, name=row.name, arn=row.arn,
                         uri=row.uri, image_tag_mutability=row.image_tag_mutability,
                         scan_on_push=bool(row.scan_on_push), encryption_type=row.encryption_type,
                         created_at=row.created_at)


def acr_instance_values(i: AcrInstance) -> dict:
    return dict(instance_id=i.instance_id, account_id=i.account_id, region=i.region, name=i.name,
                login_server=i.login_server, created_at=i.created_at)


def acr_instance(row) -> AcrInstance:
    return AcrInstance(instance_id=row.instance_id, account_id=row.account_id, region=row.region,
                       name=row.name, login_server=row.login_server, created_at=row.created_at)


def signing_key_ad(kid: str) -> str:
    return f"signing_key/{kid}"


def signing_key(row, box: SecretBox) -> SigningKey:
    return SigningKey(kid=row.kid, secret=box.open(row.secret, signing_key_ad(row.kid)),
                      created_at=row.created_at, retired_at=row.retired_at)


def revocation_values(r: Revocation) -> dict:
    return dict(kind=r.kind, subject=r.subject, not_before=r.not_before, created_at=r.created_at, reason=r.reason)


def revocation(row) -> Revocation:
    return Revocation(kind=row.kind, subject=row.subject, not_before=row.not_before, created_at=row.created_at,
                      reason=row.reason)


# The registry CA is one `meta` value: certificate and sealed key in one JSON text, so the pair is
# written (and first-writer-wins decided) by one statement, never half of it.
REGISTRY_CA_META = "registry.ca"
REGISTRY_CA_NEXT_META = "registry.ca.next"          # prepared by a rotation, trusted, not yet signing
REGISTRY_CA_PREVIOUS_META = "registry.ca.previous"  # JSON list of certificates a rotation replaced
REGISTRY_CA_AD = "registry-ca"


def registry_ca_text(ca: RegistryCa, box: SecretBox) -> str:
    return json.dumps({"cert_pem": ca.cert_pem, "key_pem": box.seal(ca.key_pem, REGISTRY_CA_AD)},
                      sort_keys=True, separators=(",", ":"))


def registry_ca(text: str, box: SecretBox) -> RegistryCa:
    stored = json.loads(text)
    return RegistryCa(cert_pem=stored["cert_pem"], key_pem=box.open(stored["key_pem"], REGISTRY_CA_AD))


def registry_ca_cert(text: str) -> str:
    """The certificate of a stored CA, without opening its key."""
    return str(json.loads(text)["cert_pem"])


def token_values(x: IssuedToken) -> dict:
    return dict(token_id=x.token_id, kind=x.kind, principal_arn=x.principal_arn,
                account_id=x.account_id, scope=x.scope, issued_at=x.issued_at,
                expires_at=x.expires_at)


def token(row) -> IssuedToken:
    return IssuedToken(token_id=row.token_id, kind=row.kind, principal_arn=row.principal_arn,
                       account_id=row.account_id, scope=row.scope, issued_at=row.issued_at,
                       expires_at=row.expires_at)


def event_values(e: AuditEvent) -> dict:
    return dict(at=e.at, request_id=e.request_id, principal_arn=e.principal_arn, action=e.action,
                resource=e.resource, outcome=e.outcome, source_ip=e.source_ip,
                token_id=e.token_id, detail=e.detail)


def event(row) -> AuditEvent:
    return AuditEvent(at=row.at, request_id=row.request_id, principal_arn=row.principal_arn,
                      action=row.action, resource=row.resource, outcome=row.outcome,
                      source_ip=row.source_ip, token_id=row.token_id, detail=row.detail)


# The group commit's rows and statements (no statement building per batch): see `SqlStore.record_batch`.
TOKEN_COLUMNS = ("token_id", "kind", "principal_arn", "account_id", "scope", "issued_at", "expires_at")
EVENT_COLUMNS = ("at", "request_id", "principal_arn", "action", "resource", "outcome", "source_ip", "token_id",
                 "detail")


def batch_rows(tokens: Sequence[IssuedToken], events: Sequence[AuditEvent]) -> tuple[list[tuple], list[tuple]]:
    """Issued tokens and audit events as row tuples, in TOKEN_COLUMNS and EVENT_COLUMNS order."""
    return ([(x.token_id, x.kind, x.principal_arn, x.account_id, x.scope, x.issued_at, x.expires_at) for x in tokens],
            [(e.at, e.request_id, e.principal_arn, e.action, e.resource, e.outcome, e.source_ip, e.token_id,
              e.detail) for e in events])


def insert_sql(table: str, columns: tuple[str, ...], placeholder: str) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([placeholder] * len(columns))})"


SQLITE_BATCH_SQL = (insert_sql("issued_tokens", TOKEN_COLUMNS, "?"),          # sqlite3's parameter style
                    insert_sql("audit_events", EVENT_COLUMNS, "?"))
