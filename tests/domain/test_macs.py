"""KeyedMac gives exactly the bytes of hmac.digest, for any key and message, and never shows its key."""

from __future__ import annotations

import hashlib
import hmac
import pickle
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regauth.domain.macs import KeyedMac


@pytest.mark.parametrize("length", [0, 1, 32, 63, 64, 65, 200])
@pytest.mark.parametrize("name", ["sha256", "sha1"])
def test_every_key_length_around_the_block_size(length: int, name: str) -> None:
    key = bytes(range(7, 7 + length % 256)) * (length // 256 + 1)
    key = key[:length]
    mac = KeyedMac(key, getattr(hashlib, name))
    for message in (b"", b"x", b"a" * 64, b"b" * 1000):
        assert mac.digest(message) == hmac.digest(key, message, name)


@given(key=st.binary(max_size=150), messages=st.lists(st.binary(max_size=300), min_size=1, max_size=4))
def test_same_bytes_as_hmac_digest_message_after_message(key: bytes, messages: list[bytes]) -> None:
    mac = KeyedMac(key)
    for message in messages:                # the prepared states are copied, never consumed
        assert mac.digest(message) == hmac.digest(key, message, "sha256")


def test_threads_sharing_one_mac_get_their_own_digests() -> None:
    key = b"shared key"
    mac = KeyedMac(key)
    wrong: list[bytes] = []

    def work(n: int) -> None:
        for i in range(2000):
            message = f"{n}-{i}".encode()
            if mac.digest(message) != hmac.digest(key, message, "sha256"):
                wrong.append(message)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


def test_the_key_stays_hidden() -> None:
    mac = KeyedMac(b"do-not-show-me")
    assert "do-not-show-me" not in repr(mac) and "do-not-show-me" not in str(mac)
    with pytest.raises(TypeError):
        pickle.dumps(mac)
