"""The `Store` contract for revocations and the registry CA, on SQLite and PostgreSQL alike (the
`store` fixture of test_conformance: on SQLite a `SqliteStore`, whose two reads are plain SQL)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import sqlalchemy as sa

from regauth.domain.principals import RegistryCa, Revocation
from regauth.domain.secret import Secret
from regauth.store import row_records as rr
from regauth.store.crypto import SecretBox, SecretBoxError
from regauth.store.open import open_store
from tests.fixtures.race import on_stores_at_once
from tests.store.test_conformance import ACCT, KEY, T0, pg_template, store  # noqa: F401 - fixtures

ALICE = f"arn:aws:iam::{ACCT}:user/alice"
BOB = f"arn:aws:iam::{ACCT}:user/bob"
KEY_BODY = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgREGAUTHTESTKEYMATERIALNOTREAL"


def ca(name: str) -> RegistryCa:
    cert = f"-----BEGIN CERTIFICATE-----\nMIIB{name}CERT\n-----END CERTIFICATE-----\n"
    return RegistryCa(cert, Secret(f"-----BEGIN PRIVATE KEY-----\n{KEY_BODY}{name}\n-----END PRIVATE KEY-----\n"))


def _raw_meta(store, key: str) -> str | None:
    with store.engine.connect() as conn:
        return conn.execute(sa.text("SELECT value FROM meta WHERE key = :k"), {"k": key}).scalar()


def test_revocations_round_trip_in_order(store):
    assert store.list_revocations() == []
    revs = [Revocation("principal", BOB, T0 + 2.5, T0 + 2.5, "laptop lost"),
            Revocation("token", "tid-b", T0 + 1, T0 + 1),
            Revocation("token", "tid-a", T0 + 1, T0 + 1, "ünïcödé, 'quotes' and\nnewline"),
            Revocation("principal", ALICE, T0 + 1, T0 + 1)]
    for r in revs:
        assert store.add_revocation(r) is None
    # created_at, then kind, then subject (binary order on both databases)
    assert store.list_revocations() == [revs[3], revs[2], revs[1], revs[0]]
    assert all(type(r.not_before) is float and type(r.created_at) is float for r in store.list_revocations())


def test_a_principal_revoked_again_keeps_the_later_not_before(store):
    store.add_revocation(Revocation("principal", ALICE, T0 + 10, T0 + 10, "first"))
    store.add_revocation(Revocation("principal", ALICE, T0 + 5, T0 + 11, "older, arriving late"))
    assert store.list_revocations() == [Revocation("principal", ALICE, T0 + 10, T0 + 10, "first")]
    store.add_revocation(Revocation("principal", ALICE, T0 + 20.75, T0 + 20.75, "again"))
    assert store.list_revocations() == [Revocation("principal", ALICE, T0 + 20.75, T0 + 20.75, "again")]


def test_a_token_revoked_twice_stays_one_row_the_first(store):
    first = Revocation("token", "tid-0123", T0, T0, "leaked")
    store.add_revocation(first)
    store.add_revocation(Revocation("token", "tid-0123", T0 + 60, T0 + 60, "leaked again"))
    assert store.list_revocations() == [first]
    # the same subject under the other kind is another row
    store.add_revocation(Revocation("principal", "tid-0123", T0 + 1, T0 + 1))
    assert [(r.kind, r.subject) for r in store.list_revocations()] == [("token", "tid-0123"),
                                                                       ("principal", "tid-0123")]


def test_every_revocation_and_ca_write_advances_the_generation(store):
    writes = [
        lambda: store.add_revocation(Revocation("token", "tid-1", T0, T0)),
        lambda: store.add_revocation(Revocation("token", "tid-1", T0 + 1, T0 + 1)),       # no change: still a write
        lambda: store.add_revocation(Revocation("principal", ALICE, T0, T0)),
        lambda: store.add_revocation(Revocation("principal", ALICE, T0 + 1, T0 + 1)),
        lambda: store.set_registry_ca_once(ca("a")),
        lambda: store.set_registry_ca_once(ca("b")),
    ]
    for i, write in enumerate(writes):
        before = store.generation()
        write()
        assert store.generation() == before + 1, i


def test_registry_ca_round_trip_and_the_first_writer_wins(store):
    assert store.get_registry_ca() is None
    first, second = ca("first"), ca("second")
    assert store.set_registry_ca_once(first) == first
    got = store.set_registry_ca_once(second)
    assert got == first and got.key_pem.reveal() == first.key_pem.reveal()
    stored = store.get_registry_ca()
    assert stored == first and stored.cert_pem == first.cert_pem
    assert "PRIVATE KEY" not in repr(stored)


def test_the_ca_key_is_stored_sealed_never_in_clear(store):
    pair = ca("sealed")
    store.set_registry_ca_once(pair)
    raw = _raw_meta(store, rr.REGISTRY_CA_META)
    assert raw is not None
    assert pair.cert_pem in raw.replace("\\n", "\n")            # the certificate is public
    for clear in (pair.key_pem.reveal(), KEY_BODY, "PRIVATE KEY"):
        assert clear not in raw and clear not in raw.replace("\\n", "\n")
    assert '"key_pem":"v1:' in raw
    # sealed for this record only: under another record's associated data it does not open
    sealed = json.loads(raw)["key_pem"]
    with pytest.raises(SecretBoxError):
        SecretBox(KEY).open(sealed, "signing_key/registry-ca")
    assert SecretBox(KEY).open(sealed, rr.REGISTRY_CA_AD).reveal() == pair.key_pem.reveal()


def test_a_tampered_ca_key_does_not_open(store):
    store.set_registry_ca_once(ca("tamper"))
    raw = _raw_meta(store, rr.REGISTRY_CA_META)
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE meta SET value = :v WHERE key = :k"),
                     {"v": raw.replace('"key_pem":"v1:', '"key_pem":"v1:AAAA'), "k": rr.REGISTRY_CA_META})
    with pytest.raises(SecretBoxError):
        store.get_registry_ca()


def test_set_registry_ca_once_has_one_winner_among_stores_on_one_database(store):
    """Several stores (own engines and connections, as separate processes would have) racing on one
    database: all of them get the same CA back, the one stored."""
    results = on_stores_at_once(store, KEY, 4, lambda i, s: s.set_registry_ca_once(ca(f"writer{i}")))
    winner = store.get_registry_ca()
    assert winner is not None and winner.cert_pem in {ca(f"writer{i}").cert_pem for i in range(4)}
    assert results == [winner] * 4


def test_a_sqlite_server_answers_both_reads_without_sqlalchemy(tmp_path):
    url = f"sqlite:///{tmp_path}/regauth.db"
    first = open_store(url, KEY)
    try:
        first.add_revocation(Revocation("principal", ALICE, T0 + 0.5, T0 + 0.5, "r"))
        first.set_registry_ca_once(ca("restart"))
    finally:
        first.close()
    code = ("import sys\nfrom regauth.store.open import open_store\n"
            f"s = open_store({url!r}, bytes(range(32)))\n"
            "revs, pair = s.list_revocations(), s.get_registry_ca()\n"
            "print([(r.kind, r.not_before) for r in revs], pair.cert_pem.splitlines()[1], 'sqlalchemy' in sys.modules)\n"
            "s.close()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == f"[('principal', {T0 + 0.5!r})] MIIBrestartCERT False"


def test_registry_ca_rotation_prepare_activate_finish(store):
    assert store.registry_ca_certificates() == (None, None, [])
    assert store.activate_registry_ca() is False                        # nothing prepared: nothing changes
    store.set_registry_ca_once(ca("one"))
    g = store.generation()
    assert store.prepare_registry_ca(ca("two")) == ca("two")
    assert store.prepare_registry_ca(ca("three")) == ca("two")           # the prepared one is kept
    assert store.generation() > g
    assert store.get_registry_ca() == ca("one")                          # still the one that signs
    assert store.registry_ca_certificates() == (ca("one").cert_pem, ca("two").cert_pem, [])
    g = store.generation()
    assert store.activate_registry_ca() is True
    assert store.generation() > g                                        # every node's cache moves on
    assert store.get_registry_ca() == ca("two")                          # with its key, still sealed in the row
    assert store.registry_ca_certificates() == (ca("two").cert_pem, None, [ca("one").cert_pem])
    assert "PRIVATE KEY" not in (_raw_meta(store, rr.REGISTRY_CA_META) or "")
    store.prepare_registry_ca(ca("four"))
    assert store.activate_registry_ca() is True
    assert store.registry_ca_certificates() == (ca("four").cert_pem, None, [ca("one").cert_pem, ca("two").cert_pem])
    assert store.forget_previous_registry_cas() == 2
    assert store.registry_ca_certificates() == (ca("four").cert_pem, None, [])
    assert store.get_registry_ca() == ca("four")
