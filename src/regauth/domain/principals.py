"""Plain records for accounts, identities, credentials and resources.

Frozen dataclasses with no behaviour that needs HTTP or SQL. Times are epoch seconds (float).
"""

from __future__ import annotations

from dataclasses import field

from regauth.domain.secret import Secret
from regauth.records import record


@record
class User:
    account_id: str
    name: str
    user_id: str            # AIDA... (21 chars)
    arn: str                # arn:aws:iam::<acct>:user<path><name>
    path: str
    created_at: float


@record
class AccessKey:
    access_key_id: str      # AKIA... (20 chars)
    account_id: str
    user_name: str
    status: str             # "Active" | "Inactive"
    created_at: float


@record
class Role:
    account_id: str
    name: str
    role_id: str            # AROA...
    arn: str                # arn:aws:iam::<acct>:role<path><name>
    path: str
    trust_policy: str       # JSON text as given
    max_session_duration: int
    description: str
    created_at: float
    # (ARN, unique id) of the users and roles the trust policy named when it was set
    # (services/policy_principals); () for roles stored before they were pinned
    trust_principal_ids: tuple[tuple[str, str], ...] = ()


@record
class Session:
    """Temporary credentials from AssumeRole ("assumed-role") or GetSessionToken ("session")."""

    access_key_id: str      # ASIA...
    account_id: str
    kind: str               # "assumed-role" | "session"
    source_name: str        # role name (assumed-role) or user name (session)
    session_name: str       # RoleSessionName ("" for GetSessionToken)
    arn: str                # arn:aws:sts::<acct>:assumed-role/<role>/<session> or the user's arn
    user_id: str            # AROA...:<session> or the user's AIDA id
    session_policy: str | None
    expires_at: float
    created_at: float


@record
class Credential:
    """What the store knows about an access key id, for signature verification."""

    access_key_id: str
    account_id: str
    secret: Secret
    status: str                         # "Active" | "Inactive"
    user_name: str | None = None        # long-term key of an IAM user
    session: Session | None = None      # temporary credentials
    session_token_hash: str | None = None  # hex sha256 of the session token (sessions only)


@record
class InlinePolicy:
    name: str
    document: str


@record
class Domain:
    account_id: str
    region: str
    name: str
    arn: str                # arn:aws:codeartifact:<region>:<acct>:domain/<name>
    encryption_key: str
    created_at: float
    repository_count: int = 0


@record
class Repository:
    account_id: str
    region: str
    domain_name: str
    name: str
    arn: str                # arn:aws:codeartifact:<region>:<acct>:repository/<domain>/<name>
    description: str
    upstreams: tuple[str, ...]
    created_at: float


@record
class DomainPolicy:
    account_id: str
    region: str
    domain_name: str
    document: str
    revision: str
    # (ARN, unique id) of the users and roles the document named when it was put
    principal_ids: tuple[tuple[str, str], ...] = ()


@record
class IssuedToken:
    """Index entry for an issued token: never the token itself."""

    token_id: str
    kind: str               # "codeartifact" | "ecr" | "ecr-public" | "acr"
    principal_arn: str
    account_id: str
    scope: str              # domain ARN, registry id, instance ARN
    issued_at: float
    expires_at: float


@record
class AuditEvent:
    at: float
    request_id: str
    principal_arn: str      # "" when unauthenticated
    action: str             # e.g. "codeartifact:GetAuthorizationToken"
    resource: str
    outcome: str            # "allowed" | "denied" | "error"
    source_ip: str
    token_id: str = ""
    detail: str = ""        # error code or short reason; never a secret


@record
class SigningKey:
    kid: str
    secret: Secret          # raw key bytes, base64url text
    created_at: float
    retired_at: float | None = None


@record
class Caller:
    """The authenticated principal of one request."""

    account_id: str
    arn: str
    user_id: str
    kind: str                       # "user" | "assumed-role" | "session"
    name: str                       # user name or role name
    access_key_id: str
    session_expires_at: float | None = None
    session_issued_at: float | None = None     # when the temporary credentials were issued
    session_policy: str | None = None
    session_name: str = ""
    tags: tuple[tuple[str, str], ...] = field(default=())

    @property
    def is_temporary(self) -> bool:
        return self.session_expires_at is not None


@record
class EcrRepository:
    account_id: str
    region: str
    name: str
    arn: str                # arn:aws:ecr:<region>:<acct>:repository/<name>
    uri: str                # <registry host>/<name>
    image_tag_mutability: str
    scan_on_push: bool
    encryption_type: str
    created_at: float


@record
class AcrInstance:
    """An Alibaba ACR Enterprise instance, created by the operator."""

    instance_id: str        # cri-...
    account_id: str
    region: str
    name: str
    login_server: str       # host[:port] that docker logs in to
    created_at: float


@record
class Revocation:
    """Tokens refused on use: one token by id, or every token of a principal issued before `not_before`."""

    kind: str               # "token" | "principal"
    subject: str            # the token id, or the principal ARN
    not_before: float       # principal: its tokens issued before this are refused; token: when it was revoked
    created_at: float
    reason: str = ""


@record
class RegistryCa:
    """The CA that signs the leaf certificates of registry JWTs (x5c). The key is secret."""

    cert_pem: str
    key_pem: Secret         # PEM (PKCS#8) of the CA private key
