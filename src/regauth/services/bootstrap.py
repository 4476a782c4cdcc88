"""First start: the bootstrap account and its IAM user `admin` with Allow * on *."""

from __future__ import annotations

from dataclasses import dataclass

from regauth.clock import Clock
from regauth.config import Settings
from regauth.domain import ids
from regauth.domain.principals import AccessKey, InlinePolicy, User
from regauth.domain.secret import Secret
from regauth.store.interfaces import Store

ADMIN_POLICY = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
ADMIN_USER = "admin"


@dataclass(frozen=True)
class BootstrapResult:
    account_id: str
    access_key_id: str
    secret: Secret | None      # set only when the keys were generated now (shown once)
    created: bool


def create_account(store: Store, clock: Clock, account_id: str | None = None,
                   access_key_id: str | None = None, secret: Secret | None = None) -> BootstrapResult:
    """An account with an admin user and one access key (generated unless given)."""
    now = clock.now()
    acct = account_id or ids.account_id()
    store.ensure_account(acct, now)
    if store.get_user(acct, ADMIN_USER) is None:
        store.create_user(User(account_id=acct, name=ADMIN_USER, user_id=ids.user_id(),
                               arn=f"arn:aws:iam::{acct}:user/{ADMIN_USER}", path="/", created_at=now))
        store.put_user_policy(acct, ADMIN_USER, InlinePolicy(name="AdministratorAccess", document=ADMIN_POLICY))
    generated = secret is None
    key_id = access_key_id or ids.access_key_id()
    key_secret = secret or Secret(ids.secret_access_key())
    store.create_access_key(AccessKey(access_key_id=key_id, account_id=acct, user_name=ADMIN_USER,
                                      status="Active", created_at=now), key_secret)
    return BootstrapResult(account_id=acct, access_key_id=key_id, secret=key_secret if generated else None,
                           created=True)


def bootstrap(settings: Settings, store: Store, clock: Clock) -> BootstrapResult:
    """Idempotent: the first start creates the account; later starts only report it."""
    existing = store.get_meta("bootstrap_account")
    if existing is not None:
        key = store.get_meta("bootstrap_access_key_id") or ""
        if settings.bootstrap_access_key_id and settings.bootstrap_secret and \
                store.get_credential(settings.bootstrap_access_key_id) is None:
            create_account(store, clock, existing, settings.bootstrap_access_key_id, settings.bootstrap_secret)
            key = settings.bootstrap_access_key_id
            store.set_meta("bootstrap_access_key_id", key)
        return BootstrapResult(account_id=existing, access_key_id=key, secret=None, created=False)
    result = create_account(store, clock, settings.account_id, settings.bootstrap_access_key_id,
                            settings.bootstrap_secret)
    store.set_meta("bootstrap_account", result.account_id)
    store.set_meta("bootstrap_access_key_id", result.access_key_id)
    return result
