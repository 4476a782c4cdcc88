"""Encryption of secrets at rest, and the master key it uses.

`SecretBox` seals a text value with AES-256-GCM under the master key. Each value gets a fresh
random 96-bit nonce; the stored text is `v1:<base64url(nonce || ciphertext+tag)>`. The caller passes
associated data naming the row the value belongs to (e.g. `access_key/AKIA...`), so a ciphertext
copied into another row does not decrypt.

The master key comes from `REGAUTH_MASTER_KEY` (32 bytes as base64url or hex) or, when that is
not set, from `<data_dir>/master.key`, which is created on first use with mode 0600.
Neither the key nor any plaintext ever appears in a repr or an error message.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
import stat
import time
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from regauth.domain.secret import Secret

KEY_BYTES = 32
NONCE_BYTES = 12
KEY_FILE_NAME = "master.key"
ENV_VAR = "REGAUTH_MASTER_KEY"
_V1 = "v1:"
_B64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_HEX = re.compile(r"[0-9A-Fa-f]{64}")


class SecretBoxError(ValueError):
    """A stored secret could not be decrypted (wrong key, wrong row, or tampered). Never holds data."""


class SecretBox:
    """AES-256-GCM envelope for secrets stored in the database."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_BYTES:
            raise ValueError(f"the master key must be exactly {KEY_BYTES} bytes")
        self._aead = AESGCM(bytes(key))

    def encrypt(self, plaintext: str, associated_data: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), associated_data.encode("utf-8"))
        return _V1 + base64.urlsafe_b64encode(nonce + sealed).decode("ascii").rstrip("=")

    def decrypt(self, stored: str, associated_data: str) -> str:
        if not stored.startswith(_V1):
            raise SecretBoxError("stored secret has an unknown format version")
        body = stored[len(_V1):]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            raise SecretBoxError("stored secret is not valid base64url") from None
        if len(raw) < NONCE_BYTES + 16:
            raise SecretBoxError("stored secret is truncated")
        try:
            plain = self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated_data.encode("utf-8"))
        except InvalidTag:
            raise SecretBoxError(
                "stored secret failed authentication (wrong master key, wrong row, or tampered)"
            ) from None
        return plain.decode("utf-8")

    def seal(self, secret: Secret, associated_data: str) -> str:
        return self.encrypt(secret.reveal(), associated_data)

    def open(self, stored: str, associated_data: str) -> Secret:
        return Secret(self.decrypt(stored, associated_data))

    def __repr__(self) -> str:
        return "SecretBox(AES-256-GCM, v1)"

    __str__ = __repr__

    def __reduce__(self):  # the key must not travel by pickle
        raise TypeError("SecretBox is not picklable")


def parse_master_key(text: str, source: str = ENV_VAR) -> bytes:
    """32 bytes from base64url (padding optional) or hex. Errors never contain the value."""
    value = text.strip()
    if not value:
        raise ValueError(f"{source} is set but empty; it must hold {KEY_BYTES} bytes as base64url or hex")
    if _HEX.fullmatch(value):
        return bytes.fromhex(value)
    if _B64URL.fullmatch(value):
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) == KEY_BYTES:
            return raw
    raise ValueError(
        f"{source} is not a valid master key: expected {KEY_BYTES} bytes encoded as base64url "
        f"(43 characters) or hex (64 characters)"
    )


def load_master_key(data_dir: Path, env_value: str | None) -> bytes:
    """The master key from `env_value` (REGAUTH_MASTER_KEY) if given, else `<data_dir>/master.key`.

    The key file is created (32 random bytes, base64url, mode 0600) when it does not exist. An
    existing key file that group or others may access is refused.
    """
    if env_value is not None:
        return parse_master_key(env_value, ENV_VAR)
    path = Path(data_dir) / KEY_FILE_NAME
    if not path.exists():
        _create_key_file(path)
    return _read_key_file(path)


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        return  # another process won the race; _read_key_file waits for its content
    try:
        os.fchmod(fd, 0o600)  # exact mode whatever the umask
        text = base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii").rstrip("=")
        os.write(fd, (text + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_key_file(path: Path) -> bytes:
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"master key file {path} is not a regular file")
    if st.st_mode & 0o077:
        raise ValueError(
            f"master key file {path} is accessible by group or others "
            f"(mode {stat.S_IMODE(st.st_mode):04o}); run `chmod 600 {path}` and start again"
        )
    text = ""
    for _ in range(50):  # a concurrent creator may not have written the key yet
        text = path.read_text("ascii", errors="replace").strip()
        if text:
            break
        time.sleep(0.02)
    return parse_master_key(text, f"master key file {path}")
