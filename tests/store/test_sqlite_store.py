"""A SQLite file store answers a first start's and a restart's reads and writes, and the request
path's, without SQLAlchemy, exactly as `SqlStore` does, and loads SQLAlchemy for the first call that
needs it.

The whole `Store` contract runs against `SqliteStore` in test_conformance.py (`open_store` on a
SQLite file gives one); here: the reads agree with `SqlStore`'s row for row, the writes leave the
same rows and advance the generation alike, what loads SQLAlchemy and what does not, and opening a
store whose file needs work (not at head, not in WAL mode).
"""

from __future__ import annotations

import inspect
import json
import sqlite3
import subprocess
import sys

import pytest

from regauth.domain.principals import AcrInstance, DomainPolicy, InlinePolicy, RegistryCa, Revocation, SigningKey
from regauth.domain.secret import Secret
from regauth.store.interfaces import Store
from regauth.store.open import open_store, sqlite_file
from regauth.store.sql import SqlStore
from regauth.store.sqlite_reads import READS, SqliteReads
from regauth.store.sqlite_store import SqliteStore
from regauth.store import row_records as rr
from regauth.store.sqlite_writes import WRITES, SqliteWrites
from tests.store.test_conformance import ACCT, KEY, OTHER, REGION, T0, akey, domain, repo, role, session, user


@pytest.fixture
def store(tmp_path):
    s = open_store(f"sqlite:///{tmp_path}/regauth.db", KEY)
    assert isinstance(s, SqliteStore)
    yield s
    s.close()


def test_the_reads_have_the_store_contracts_signatures():
    assert {"get_credential", "get_user", "list_user_policies", "get_domain", "generation"} <= READS
    assert {"set_meta_once", "create_user", "create_access_key", "add_signing_key"} <= WRITES
    assert not READS & WRITES
    own = [(SqliteReads, name) for name in READS] + [(SqliteWrites, name) for name in WRITES] + \
        [(SqliteStore, "record_batch"), (SqliteStore, "close")]
    for cls, name in own:
        proto = getattr(Store, name)
        assert list(inspect.signature(getattr(cls, name)).parameters) == \
            list(inspect.signature(proto).parameters), name


def _populate(store: SqliteStore) -> None:
    store.ensure_account(ACCT, T0)
    store.create_user(user("alice"))
    store.create_access_key(akey("AKIAALICE00000000001", "alice"), Secret("alice-secret"))
    store.create_access_key(akey("AKIAALICE00000000002", "alice", status="Inactive", at=T0 + 1.5), Secret("s2"))
    store.put_user_policy(ACCT, "alice", InlinePolicy("zeta", '{"Statement":[]}'))
    store.put_user_policy(ACCT, "alice", InlinePolicy("alpha", '{"Statement":[{"Effect":"Allow"}]}'))
    store.create_role(role("deployer"))
    store.put_role_policy(ACCT, "deployer", InlinePolicy("push", '{"Statement":[]}'))
    store.create_session(session("ASIASESSION000000001", T0 + 3600.25), Secret("session-secret"), "ab" * 32)
    store.create_domain(domain("d1"))
    store.create_domain(domain("empty"))
    store.create_repository(repo("d1", "pypi-store", ("upstream-a", "upstream-b")))
    store.create_repository(repo("d1", "other"))
    store.put_domain_policy(DomainPolicy(ACCT, REGION, "d1", '{"Version":"2012-10-17"}', "rev-1"))
    store.set_repository_endpoint(ACCT, REGION, "d1", "pypi", "http://pypi.example/{repository}/")
    store.set_registry_endpoint(ACCT, REGION, "https://registry.example:5000")
    store.create_acr_instance(AcrInstance("cri-abc", ACCT, "cn-hangzhou", "main", "acr.example:5000", T0 + 7))
    store.create_acr_instance(AcrInstance("cri-abd", ACCT, "cn-beijing", "backup", "acr2.example:5000", T0 + 8))
    store.add_signing_key(SigningKey("kid-2", Secret("a" * 43), T0 + 2))
    store.add_signing_key(SigningKey("kid-1", Secret("b" * 43), T0 + 2, retired_at=T0 + 9))
    store.add_revocation(Revocation("token", "tid-revoked-1", T0 + 3, T0 + 3, "leaked"))
    store.add_revocation(Revocation("principal", f"arn:aws:iam::{ACCT}:user/alice", T0 + 3.25, T0 + 3.25))
    store.set_registry_ca_once(RegistryCa("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
                                          Secret("-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n")))


# Each read with arguments that find something (True) and arguments that do not (False).
CALLS = [
    ("get_meta", ("store.master_key_check",), True), ("get_meta", ("nothing",), False),
    ("account_exists", (ACCT,), True), ("account_exists", (OTHER,), False),
    ("get_credential", ("AKIAALICE00000000001",), True), ("get_credential", ("AKIAALICE00000000002",), True),
    ("get_credential", ("ASIASESSION000000001",), True), ("get_credential", ("AKIANOBODY0000000000",), False),
    ("get_user", (ACCT, "alice"), True), ("get_user", (OTHER, "alice"), False), ("get_user", (ACCT, "Alice"), False),
    ("get_role", (ACCT, "deployer"), True), ("get_role", (ACCT, "nobody"), False),
    ("list_user_policies", (ACCT, "alice"), True), ("list_user_policies", (ACCT, "nobody"), False),
    ("list_role_policies", (ACCT, "deployer"), True), ("list_role_policies", (OTHER, "deployer"), False),
    ("get_domain", (ACCT, REGION, "d1"), True), ("get_domain", (ACCT, REGION, "empty"), True),
    ("get_domain", (ACCT, "eu-west-1", "d1"), False),
    ("get_domain_policy", (ACCT, REGION, "d1"), True), ("get_domain_policy", (ACCT, REGION, "empty"), False),
    ("get_repository", (ACCT, REGION, "d1", "pypi-store"), True),
    ("get_repository", (ACCT, REGION, "d1", "nope"), False),
    ("get_repository_endpoint", (ACCT, REGION, "d1", "pypi"), True),
    ("get_repository_endpoint", (ACCT, REGION, "d1", "npm"), False),
    ("get_registry_endpoint", (ACCT, REGION), True), ("get_registry_endpoint", (ACCT, "eu-west-1"), False),
    ("get_acr_instance", ("cri-abc",), True), ("get_acr_instance", ("cri-none",), False),
    ("list_acr_instances", (ACCT,), True), ("list_acr_instances", (OTHER,), False),
    ("list_signing_keys", (), True),
    # the start's check of what older versions let in, and the realm's host owners (once per generation)
    ("list_account_ids", (), True), ("list_registry_endpoints", (), True), ("list_registry_hosts", (), True),
    ("list_repository_endpoints", (), True),
    ("list_revocations", (), True), ("get_registry_ca", (), True),
    ("generation", (), True),
]


def test_every_read_answers_what_sqlstore_answers(store):
    assert {name for name, _, _ in CALLS} == READS
    _populate(store)
    full = store.sql_store()
    for name, args, finds in CALLS:
        ours, theirs = getattr(store, name)(*args), getattr(SqlStore, name)(full, *args)
        assert ours == theirs, (name, args)
        assert type(ours) is type(theirs), (name, args)
        assert bool(ours) is finds, (name, args)     # agreeing on nothing found would prove little
    cred = store.get_credential("ASIASESSION000000001")
    assert cred.secret.reveal() == "session-secret" and cred.session.expires_at == T0 + 3600.25
    assert [p.name for p in store.list_user_policies(ACCT, "alice")] == ["alpha", "zeta"]
    assert store.get_domain(ACCT, REGION, "d1").repository_count == 2
    assert store.get_repository(ACCT, REGION, "d1", "pypi-store").upstreams == ("upstream-a", "upstream-b")
    assert [(k.kid, k.retired_at) for k in store.list_signing_keys()][-2:] == [("kid-1", T0 + 9), ("kid-2", None)]


# Each write a first start makes, in the order it makes them (and a second time where that differs).
WRITE_CALLS = [
    ("set_meta_once", ("store.check", "first")), ("set_meta_once", ("store.check", "second")),
    ("add_signing_key", (SigningKey("kid-1", Secret("b" * 43), T0 + 2, retired_at=T0 + 9),)),
    ("add_first_signing_key", (SigningKey("kid-2", Secret("a" * 43), T0 + 2),)),      # stored: True
    ("add_first_signing_key", (SigningKey("kid-3", Secret("c" * 43), T0 + 3),)),      # one is active: False
    ("add_signing_key", (SigningKey("kid-0", Secret("d" * 43), T0 + 1, retired_at=T0 + 1),)),
    ("ensure_account", (ACCT, T0)), ("ensure_account", (ACCT, T0 + 5)),
    ("create_user", (user("admin"),)),
    ("put_user_policy", (ACCT, "admin", InlinePolicy("AdministratorAccess", '{"Statement":[]}'))),
    ("put_user_policy", (ACCT, "admin", InlinePolicy("AdministratorAccess", '{"Statement":[{}]}'))),
    ("create_access_key", (akey("AKIAADMIN00000000001", "admin"), Secret("admin/secret+"))),
    ("set_meta", ("bootstrap_account", ACCT)), ("set_meta", ("bootstrap_account", OTHER)),
    ("set_registry_ca_once", (RegistryCa("-----CA 1-----", Secret("key 1")),)),
    ("set_registry_ca_once", (RegistryCa("-----CA 2-----", Secret("key 2")),)),
]


def _rows(path: str) -> dict[str, list[tuple]]:
    """Every row of every table; sealed values (a fresh nonce each time) as whether they are set."""
    db = sqlite3.connect(path)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        dump = {}
        for table in tables:
            cursor = db.execute(f'SELECT * FROM "{table}"')
            names = [d[0] for d in cursor.description]
            rows = [tuple(bool(v) if n == "secret" else v for n, v in zip(names, row)) for row in cursor]
            if table == "meta":                            # the master key check and the CA's key are sealed too
                rows = [(k, bool(v)) if k == "store.master_key_check" else
                        (k, json.loads(v)["cert_pem"]) if k == rr.REGISTRY_CA_META else (k, v) for k, v in rows]
            dump[table] = sorted(rows, key=repr)
        return dump
    finally:
        db.close()


def test_every_write_leaves_what_sqlstore_leaves_and_advances_the_generation(tmp_path):
    assert {name for name, _ in WRITE_CALLS} == WRITES
    plain = open_store(f"sqlite:///{tmp_path}/plain.db", KEY)
    through_sql = open_store(f"sqlite:///{tmp_path}/sql.db", KEY)
    try:
        full = through_sql.sql_store()
        for name, args in WRITE_CALLS:
            before = (plain.generation(), through_sql.generation())
            ours, theirs = getattr(plain, name)(*args), getattr(SqlStore, name)(full, *args)
            assert ours == theirs, (name, args)
            assert (plain.generation(), through_sql.generation()) == (before[0] + 1, before[1] + 1), name
        for store in (plain, through_sql):
            assert store.get_meta("store.check") == "first"
            assert store.get_credential("AKIAADMIN00000000001").secret.reveal() == "admin/secret+"
            assert [(k.kid, k.secret.reveal()) for k in store.list_signing_keys()] == [
                ("kid-0", "d" * 43), ("kid-1", "b" * 43), ("kid-2", "a" * 43)]
        assert plain._full is None                       # all of it without SQLAlchemy's help
        ours, theirs = _rows(f"{tmp_path}/plain.db"), _rows(f"{tmp_path}/sql.db")
        for table in theirs:
            assert (table, ours[table]) == (table, theirs[table])
        assert ours == theirs
        assert theirs["user_policies"] == [(ACCT, "admin", "AdministratorAccess", '{"Statement":[{}]}')]
    finally:
        plain.close()
        through_sql.close()


def test_a_failed_write_leaves_nothing_and_does_not_advance_the_generation(store):
    from regauth.errors import Conflict, NotFound

    store.ensure_account(ACCT, T0)
    store.create_user(user("admin"))
    before = store.generation()
    with pytest.raises(Conflict) as conflict:
        store.create_user(user("admin"))
    assert (conflict.value.resource_type, conflict.value.resource_id) == ("user", "admin")
    with pytest.raises(NotFound) as missing:
        store.create_access_key(akey("AKIAGHOST00000000001", "ghost"), Secret("s"))
    assert (missing.value.resource_type, missing.value.resource_id) == ("user", "ghost")
    with pytest.raises(NotFound):
        store.put_user_policy(ACCT, "ghost", InlinePolicy("p", "{}"))
    store.add_signing_key(SigningKey("kid-1", Secret("b" * 43), T0))
    with pytest.raises(Conflict):
        store.add_signing_key(SigningKey("kid-1", Secret("c" * 43), T0 + 1))
    assert store.generation() == before + 1              # the one write that succeeded
    assert store.get_credential("AKIAGHOST00000000001") is None
    assert store.list_user_policies(ACCT, "ghost") == []
    assert [k.secret.reveal() for k in store.list_signing_keys()] == ["b" * 43]
    store.set_meta("after", "ok")                         # the connection is usable afterwards
    assert store.get_meta("after") == "ok"
    assert store._full is None


def test_a_secret_sealed_for_another_row_does_not_open(store):
    _populate(store)
    with sqlite3.connect(store.engine.url.database) as db:
        sealed = db.execute("SELECT secret FROM access_keys WHERE access_key_id = 'AKIAALICE00000000002'").fetchone()
        db.execute("UPDATE access_keys SET secret = ? WHERE access_key_id = 'AKIAALICE00000000001'", sealed)
    from regauth.store.crypto import SecretBoxError
    with pytest.raises(SecretBoxError):
        store.get_credential("AKIAALICE00000000001")


def test_only_the_store_contract_is_handed_on_and_nothing_loads_for_a_missing_name(tmp_path):
    url = f"sqlite:///{tmp_path}/regauth.db"
    open_store(url, KEY).close()                 # created, then a restart:
    store = open_store(url, KEY)
    try:
        assert store._full is None
        assert store.get_user(ACCT, "alice") is None
        with pytest.raises(AttributeError):
            store.no_such_method
        assert store._full is None
        assert store.list_users(ACCT) == []      # a call the reads do not answer: the SQL layer
        assert store._full is not None
    finally:
        store.close()


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", "import sys\nfrom regauth.store.open import open_store\n" + code],
                         capture_output=True, text=True, check=True, timeout=60)
    return out.stdout.strip()


def test_a_start_reads_writes_and_records_without_sqlalchemy_and_an_admin_write_loads_it(tmp_path):
    url = f"sqlite:///{tmp_path}/regauth.db"
    first = ("s = open_store(URL, bytes(range(32)))\nprint('sqlalchemy' in sys.modules)\n"
             "from regauth.domain.principals import AccessKey, User\nfrom regauth.domain.secret import Secret\n"
             "s.ensure_account('123456789012', 1.0)\n"
             "s.create_user(User('123456789012', 'u', 'AIDAX', 'arn:aws:iam::123456789012:user/u', '/', 1.0))\n"
             "s.create_access_key(AccessKey('AKIAX', '123456789012', 'u', 'Active', 1.0), Secret('sec'))\n"
             "print('sqlalchemy' in sys.modules)\n"
             "s.update_access_key('123456789012', 'u', 'AKIAX', 'Active')\n"
             "print('sqlalchemy' in sys.modules)\n"
             "s.close()\n").replace("URL", repr(url))
    # an empty store: created and first written in plain SQL; a write a start never makes loads it
    assert _run(first).splitlines() == ["False", "False", "True"]
    restart = ("s = open_store(URL, bytes(range(32)))\n"
               "from regauth.domain.principals import AuditEvent, IssuedToken\n"
               "c = s.get_credential('AKIAX'); u = s.get_user('123456789012', 'u'); g = s.generation()\n"
               "s.record_batch([IssuedToken('t1', 'ecr', u.arn, '123456789012', '*', 5.0, 9.0)],\n"
               "               [AuditEvent(5.0, 'r1', u.arn, 'ecr:GetAuthorizationToken', '*', 'allowed', '', 't1', '')])\n"
               "print(c.secret.reveal(), u.name, g > 0, 'sqlalchemy' in sys.modules)\n"
               "print(s.get_issued_token('t1').kind, 'sqlalchemy' in sys.modules)\n"
               "s.close()\n").replace("URL", repr(url))
    assert _run(restart).splitlines() == ["sec u True False", "ecr True"]


def test_a_store_left_out_of_wal_mode_is_put_back_in_it(tmp_path):
    url = f"sqlite:///{tmp_path}/regauth.db"
    open_store(url, KEY).close()
    with sqlite3.connect(tmp_path / "regauth.db") as db:
        assert db.execute("PRAGMA journal_mode=DELETE").fetchone() == ("delete",)
    s = open_store(url, KEY)
    try:
        assert s.in_wal_mode()
        assert s.get_meta("bootstrap_account") is None
    finally:
        s.close()


@pytest.mark.parametrize("url, path", [
    ("sqlite:///data/regauth.db", "data/regauth.db"),
    ("sqlite:////var/lib/regauth/regauth.db", "/var/lib/regauth/regauth.db"),
    ("sqlite://", None), ("sqlite:///:memory:", None), ("sqlite:///a.db?mode=ro", None),
    ("sqlite:///a%20b.db", None), ("sqlite+pysqlite:///a.db", None), ("postgresql://u@h/db", None),
])
def test_which_urls_open_without_sqlalchemy(url, path):
    assert sqlite_file(url) == path


def test_a_new_sqlite_file_is_private_wherever_it_is(tmp_path):
    """REGAUTH_DATABASE_URL may name a file outside the data dir (0700): the umask must not leave the
    store, which holds sealed secrets and the audit trail, readable by others."""
    import os
    import stat

    old = os.umask(0o022)
    try:
        s = open_store(f"sqlite:///{tmp_path}/elsewhere/regauth.db", KEY)
    finally:
        os.umask(old)
    try:
        assert stat.S_IMODE((tmp_path / "elsewhere" / "regauth.db").stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "elsewhere").stat().st_mode) == 0o700
    finally:
        s.close()
