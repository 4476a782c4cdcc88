"""Signing keys for issued tokens, named by kid. Newest key signs; every known key verifies.

Keys live encrypted in the store and are loaded into memory, so any node verifies a token
without a database read.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import threading

from regauth.domain.macs import KeyedMac
from regauth.domain.principals import SigningKey
from regauth.domain.secret import Secret


def new_signing_key(now: float) -> SigningKey:
    raw = secrets.token_bytes(32)
    kid = "k" + secrets.token_hex(4)
    return SigningKey(kid=kid, secret=Secret(base64.urlsafe_b64encode(raw).decode()), created_at=now)


class Keyring:
    def __init__(self, keys: list[SigningKey]) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, KeyedMac] = {}
        self._active: str = ""
        self.replace(keys)

    def replace(self, keys: list[SigningKey]) -> None:
        usable = [k for k in keys if k.retired_at is None]
        if not usable:
            raise ValueError("the keyring needs at least one active signing key")
        table = {k.kid: KeyedMac(base64.urlsafe_b64decode(k.secret.reveal())) for k in keys}
        active = max(usable, key=lambda k: (k.created_at, k.kid)).kid
        with self._lock:
            self._keys, self._active = table, active

    @property
    def active_kid(self) -> str:
        return self._active

    def knows(self, kid: str) -> bool:
        return kid in self._keys

    def sign(self, kid: str, message: bytes) -> bytes:
        """MAC with the named key (callers take `active_kid` once, then sign with it)."""
        return self._keys[kid].digest(message)

    def check(self, kid: str, message: bytes, signature: bytes) -> bool:
        mac = self._keys.get(kid)
        if mac is None:
            return False
        return hmac.compare_digest(mac.digest(message), signature)

    def __repr__(self) -> str:
        return f"Keyring(kids={sorted(self._keys)}, active={self._active!r})"
