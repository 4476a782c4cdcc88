"""SecretBox (AES-256-GCM at rest) and the master key."""

from __future__ import annotations

import base64
import os
import sqlite3
import stat

import pytest

from regauth.domain.principals import AccessKey, Session, SigningKey, User
from regauth.domain.secret import Secret
from regauth.store.crypto import SecretBox, SecretBoxError, load_master_key
from regauth.store.open import open_store

KEY = bytes(range(32))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_round_trip_is_randomised_and_versioned():
    box = SecretBox(KEY)
    a, b = box.encrypt("hunter2", "access_key/AKIA1"), box.encrypt("hunter2", "access_key/AKIA1")
    assert a.startswith("v1:") and a != b                      # fresh nonce per value
    assert len(_unb64(a[3:])) == 12 + len("hunter2") + 16     # nonce | ciphertext | tag
    assert box.decrypt(a, "access_key/AKIA1") == "hunter2"
    assert box.open(box.seal(Secret("ünïcode ✓"), "x"), "x") == Secret("ünïcode ✓")
    assert box.decrypt(box.encrypt("", "x"), "x") == ""


@pytest.mark.parametrize("where", ["nonce", "ciphertext", "tag"])
def test_tampered_value_is_rejected(where):
    box = SecretBox(KEY)
    raw = bytearray(_unb64(box.encrypt("secret-value", "ad")[3:]))
    raw[{"nonce": 0, "ciphertext": 12, "tag": len(raw) - 1}[where]] ^= 0x01
    with pytest.raises(SecretBoxError):
        box.decrypt("v1:" + _b64(bytes(raw)), "ad")


def test_wrong_associated_data_key_or_format_is_rejected():
    box = SecretBox(KEY)
    sealed = box.encrypt("secret-value", "access_key/AKIA1")
    with pytest.raises(SecretBoxError):
        box.decrypt(sealed, "access_key/AKIA2")
    with pytest.raises(SecretBoxError):
        SecretBox(bytes(32)).decrypt(sealed, "access_key/AKIA1")
    for bad in ["v2:" + sealed[3:], sealed[3:], "v1:", "v1:" + sealed[3:12], "v1:!!!"]:
        with pytest.raises(SecretBoxError) as ei:
            box.decrypt(bad, "access_key/AKIA1")
        assert "secret-value" not in str(ei.value)
    with pytest.raises(ValueError):
        SecretBox(b"short")


def test_repr_hides_the_key():
    box = SecretBox(KEY)
    for text in (repr(box), str(box)):
        assert KEY.hex() not in text and _b64(KEY) not in text and repr(KEY) not in text
    with pytest.raises(TypeError):
        import pickle
        pickle.dumps(box)


def test_secrets_are_not_in_clear_in_the_sqlite_files(tmp_path):
    marker_key = "SECRETMARKERaccesskey0123456789abcdefABC"
    marker_session = "SECRETMARKERsession0123456789"
    marker_signing = "SECRETMARKERsigningkey0123456789"
    store = open_store(f"sqlite:///{tmp_path}/regauth.db", KEY)
    try:
        store.create_user(User("123456789012", "alice", "AIDAEXAMPLE", "arn:x", "/", 1.0))
        store.create_access_key(AccessKey("AKIAMARKER0000000001", "123456789012", "alice", "Active", 1.0),
                                Secret(marker_key))
        store.create_session(Session("ASIAMARKER0000000001", "123456789012", "session", "alice", "", "arn:x",
                                     "AIDAEXAMPLE", None, 9e9, 1.0), Secret(marker_session), "ab" * 32)
        store.add_signing_key(SigningKey("kid-1", Secret(marker_signing), 1.0))
        assert store.get_credential("AKIAMARKER0000000001").secret.reveal() == marker_key
        files = [p for p in tmp_path.iterdir() if p.name.startswith("regauth.db")]
        assert any(p.name.endswith("-wal") for p in files)   # WAL mode: the data is (also) there
        blob = b"".join(p.read_bytes() for p in files)
        assert b"AKIAMARKER0000000001" in blob                # the file is readable as such...
        for marker in (marker_key, marker_session, marker_signing):
            assert marker.encode() not in blob                # ...but no secret is in clear
            assert marker.encode("utf-16-le") not in blob
            assert marker[:16].encode() not in blob
    finally:
        store.close()


def test_a_ciphertext_moved_to_another_row_does_not_decrypt(tmp_path):
    db = tmp_path / "regauth.db"
    store = open_store(f"sqlite:///{db}", KEY)
    try:
        store.create_user(User("123456789012", "alice", "AIDAEXAMPLE", "arn:x", "/", 1.0))
        for akid in ("AKIAROW0000000000001", "AKIAROW0000000000002"):
            store.create_access_key(AccessKey(akid, "123456789012", "alice", "Active", 1.0), Secret(akid + "-s"))
        with sqlite3.connect(db) as raw:
            raw.execute("UPDATE access_keys SET secret = (SELECT secret FROM access_keys "
                        "WHERE access_key_id = 'AKIAROW0000000000001') WHERE access_key_id = 'AKIAROW0000000000002'")
        assert store.get_credential("AKIAROW0000000000001").secret.reveal() == "AKIAROW0000000000001-s"
        with pytest.raises(SecretBoxError):
            store.get_credential("AKIAROW0000000000002")
    finally:
        store.close()


def test_reopening_with_another_master_key_fails_clearly(tmp_path):
    url = f"sqlite:///{tmp_path}/regauth.db"
    open_store(url, KEY).close()
    with pytest.raises(ValueError, match="master key does not match"):
        open_store(url, bytes(32))
    open_store(url, KEY).close()


# --- master key ---------------------------------------------------------------------------------

def test_key_file_is_created_0600_whatever_the_umask_and_reused(tmp_path):
    data_dir = tmp_path / "data"
    old = os.umask(0)
    try:
        key = load_master_key(data_dir, None)
    finally:
        os.umask(old)
    path = data_dir / "master.key"
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _unb64(path.read_text().strip()) == key
    assert load_master_key(data_dir, None) == key


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_key_file_accessible_by_group_or_others_is_refused(tmp_path, mode):
    key = load_master_key(tmp_path, None)
    path = tmp_path / "master.key"
    os.chmod(path, mode)
    with pytest.raises(ValueError, match="group or others") as ei:
        load_master_key(tmp_path, None)
    assert _b64(key) not in str(ei.value)


def test_env_key_hex_or_base64url_is_used_instead_of_the_file(tmp_path):
    key = os.urandom(32)
    assert load_master_key(tmp_path, key.hex()) == key
    assert load_master_key(tmp_path, key.hex().upper()) == key
    assert load_master_key(tmp_path, _b64(key)) == key
    assert load_master_key(tmp_path, base64.urlsafe_b64encode(key).decode() + "\n") == key
    assert not (tmp_path / "master.key").exists()


@pytest.mark.parametrize("value", [
    "correct horse battery staple SECRETISH",
    "SECRETISH" + "A" * 33,                                     # base64url alphabet, 31 bytes
    "SECRETISH+" + "A" * 33,                                    # 43 chars, not base64url
    _b64(os.urandom(31)),
    _b64(os.urandom(33)),
    os.urandom(31).hex(),
    os.urandom(32).hex() + "ab",
    "  ",
    "",
], ids=["words", "b64url-31-bytes", "43-not-b64url", "b64-31-random", "b64-33-random", "hex-31-random",
        "hex-32-random-plus-2", "spaces", "empty"])     # stable ids: a random value in an id differs per collection
def test_bad_env_key_is_refused_without_echoing_it(tmp_path, value):
    with pytest.raises(ValueError) as ei:
        load_master_key(tmp_path, value)
    message = str(ei.value)
    assert "REGAUTH_MASTER_KEY" in message
    if value.strip():
        assert value.strip() not in message
        assert value.strip()[:8] not in message
    assert ei.value.__cause__ is None
    assert ei.value.__context__ is None or ei.value.__suppress_context__
    assert not (tmp_path / "master.key").exists()
