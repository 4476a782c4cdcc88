"""First start: the bootstrap account and its IAM user `admin` with Allow * on *."""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass

from regauth.clock import Clock
from regauth.config import Settings, SettingsError
from regauth.domain import ids
from regauth.domain.principals import AccessKey, Credential, InlinePolicy, User
from regauth.domain.secret import Secret
from regauth.errors import Conflict
from regauth.store.interfaces import Store

ADMIN_POLICY = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
ADMIN_USER = "admin"
ACCOUNT_META, KEY_META = "bootstrap_account", "bootstrap_access_key_id"
log = logging.getLogger("regauth.bootstrap")


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
    _ensure_admin(store, acct, now)
    return _admin_key(store, acct, now, access_key_id, secret)


def _admin_key(store: Store, acct: str, now: float, access_key_id: str | None = None,
               secret: Secret | None = None) -> BootstrapResult:
    """One access key for the account's admin (generated unless given)."""
    generated = secret is None
    key_id = access_key_id or ids.access_key_id()
    key_secret = secret or Secret(ids.secret_access_key())
    store.create_access_key(AccessKey(access_key_id=key_id, account_id=acct, user_name=ADMIN_USER,
                                      status="Active", created_at=now), key_secret)
    return BootstrapResult(account_id=acct, access_key_id=key_id, secret=key_secret if generated else None,
                           created=True)


def _ensure_admin(store: Store, acct: str, now: float) -> None:
    """The account and its admin user with its policy, whoever else is making them at the same moment
    (or made part of them before a crash)."""
    store.ensure_account(acct, now)
    if store.get_user(acct, ADMIN_USER) is None:
        try:
            store.create_user(User(account_id=acct, name=ADMIN_USER, user_id=ids.user_id(),
                                   arn=f"arn:aws:iam::{acct}:user/{ADMIN_USER}", path="/", created_at=now))
        except Conflict:
            pass                            # another node made it at the same moment
    if not store.list_user_policies(acct, ADMIN_USER):       # an upsert: nodes putting it together agree
        store.put_user_policy(acct, ADMIN_USER, InlinePolicy(name="AdministratorAccess", document=ADMIN_POLICY))


def _check_account(settings: Settings, stored: str | None) -> None:
    """REGAUTH_ACCOUNT_ID names the bootstrap account only on a first start: on a store that has one,
    another id is a configuration mistake (the wrong store, or the wrong settings), not ignored."""
    if settings.account_id and stored is not None and stored != settings.account_id:
        raise SettingsError(f"REGAUTH_ACCOUNT_ID {settings.account_id} is not this store's bootstrap account "
                            f"({stored}): check the store (--data-dir, REGAUTH_DATABASE_URL) or unset it.")


_OTHER_SECRET = ("The access key {key_id} of REGAUTH_BOOTSTRAP_ACCESS_KEY_ID is stored with another secret than "
                 "REGAUTH_BOOTSTRAP_SECRET_ACCESS_KEY (a changed secret is not applied: delete the key with `aws "
                 "iam delete-access-key` and restart, or configure the stored secret).")


_NOT_ADMINS = ("The access key {key_id} of REGAUTH_BOOTSTRAP_ACCESS_KEY_ID is stored, but as another principal's "
               "than the bootstrap account's admin ({account}:user/admin): configure an admin key, or unset both "
               "REGAUTH_BOOTSTRAP_* settings.")


def _stored_as_admins(stored: Credential, acct: str, key_id: str, secret: Secret) -> None:
    """A configured key found in the store must be the admin's, with the configured secret: a key of
    another user (or a session's) would be reported as the admin's, and a later start's banner would
    name it so."""
    if not hmac.compare_digest(stored.secret.reveal().encode(), secret.reveal().encode()):
        raise SettingsError(_OTHER_SECRET.format(key_id=key_id))      # never start as if it were in use
    if stored.session is not None or stored.user_name != ADMIN_USER or stored.account_id != acct:
        raise SettingsError(_NOT_ADMINS.format(key_id=key_id, account=acct))


_FULL = ("The access key {key_id} of REGAUTH_BOOTSTRAP_ACCESS_KEY_ID is not stored, and the admin user has "
         "{count} access keys already (IAM's quota is {quota} a user; nodes or restarts configured with other "
         "keys added them): delete the one no longer used with `aws iam delete-access-key --user-name admin "
         "--access-key-id ...` and restart, or configure a stored key.")


def _given_key(store: Store, acct: str, key_id: str, secret: Secret, now: float, added_later: bool = False) -> None:
    """The configured admin key (REGAUTH_BOOTSTRAP_*), unless it is stored already with that secret.

    Within IAM's quota of access keys a user: each node or restart configured with another key adds it,
    and the earlier ones stay active (they may be in use), so past the quota the start stops and says
    which key to delete, as CreateAccessKey would refuse a third key."""
    from regauth.services.iam import MAX_KEYS_PER_USER    # here: a restart with its key stored never needs it

    def within_quota(count: int) -> None:
        if count >= MAX_KEYS_PER_USER:
            raise SettingsError(_FULL.format(key_id=key_id, count=count, quota=MAX_KEYS_PER_USER))

    def check_stored() -> None:
        stored = store.get_credential(key_id)
        if stored is None:
            raise SettingsError(_OTHER_SECRET.format(key_id=key_id)) from None
        _stored_as_admins(stored, acct, key_id, secret)

    if store.get_credential(key_id) is not None:      # stored already: its secret decides, not the quota
        check_stored()
        return
    try:
        store.create_access_key(AccessKey(access_key_id=key_id, account_id=acct, user_name=ADMIN_USER,
                                          status="Active", created_at=now), secret, guard=within_quota)
    except Conflict:                                  # another node stored it a moment ago
        check_stored()
        return
    if added_later:
        log.warning("added the access key %s of REGAUTH_BOOTSTRAP_ACCESS_KEY_ID to the admin user (not in the "
                    "store: configured after the first start, or deleted since; delete it again only once "
                    "the setting no longer names it)", key_id)


def bootstrap(settings: Settings, store: Store, clock: Clock) -> BootstrapResult:
    """Idempotent: the first start creates the account; later starts only report it.

    Nodes starting together on an empty shared store agree: the account id is the first one stored
    (`set_meta_once`), each creation tolerates the same record made by another node, and of the admin
    keys generated at once only the first one recorded is kept (the others are deleted, so a single
    secret is printed, by the node that made it)."""
    now = clock.now()
    existing = store.get_meta(ACCOUNT_META)
    _check_account(settings, existing)
    key = store.get_meta(KEY_META)
    given = settings.bootstrap_access_key_id, settings.bootstrap_secret
    if existing is not None and key is not None:
        if given[0] and given[1] is not None:
            stored = store.get_credential(given[0])      # a read: a restart loads no SQL layer for this
            if stored is None:                          # configured after the first start, or deleted since
                _given_key(store, existing, given[0], given[1], now, added_later=True)
            else:
                _stored_as_admins(stored, existing, given[0], given[1])
            if key != given[0]:
                store.set_meta(KEY_META, given[0])
                key = given[0]
        return BootstrapResult(account_id=existing, access_key_id=key, secret=None, created=False)
    acct = existing or store.set_meta_once(ACCOUNT_META, settings.account_id or ids.account_id())
    _check_account(settings, acct)                 # another node, configured otherwise, may have been first
    _ensure_admin(store, acct, now)
    if given[0] and given[1] is not None:
        _given_key(store, acct, given[0], given[1], now)
        store.set_meta_once(KEY_META, given[0])
        return BootstrapResult(account_id=acct, access_key_id=given[0], secret=None, created=True)
    made = _admin_key(store, acct, now)              # the admin is there: one more key, the election below
    winner = store.set_meta_once(KEY_META, made.access_key_id)
    if winner != made.access_key_id:                # another node's key was recorded first: keep only that one
        store.delete_access_key(acct, ADMIN_USER, made.access_key_id)
        return BootstrapResult(account_id=acct, access_key_id=winner, secret=None, created=False)
    return made
