"""Encryption of secrets at rest, and the master key it uses.

`SecretBox` seals a text value with AES-256-GCM under the master key. Each value gets a fresh
random 96-bit nonce; the stored text is `v1:<base64url(nonce || ciphertext+tag)>`. The caller passes
associated data naming the row the value belongs to (e.g. `access_key/AKIA...`), so a ciphertext
copied into another row does not decrypt.

The master key comes from `REGAUTH_MASTER_KEY` (32 bytes as base64url or hex) or, when that is
not set, from `<data_dir>/master.key`, which is created on first use with mode 0600, whole or not at
all.
Neither the key nor any plaintext ever appears in a repr or an error message.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
import stat
import tempfile
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
    create_key_file(data_dir)
    return _read_key_file(Path(data_dir) / KEY_FILE_NAME)


def create_key_file(data_dir: Path) -> bool:
    """Make `<data_dir>/master.key` unless it exists; True when this call made it.

    The key is written whole or not at all: into a temporary file (0600) of the same directory,
    flushed to disk, then linked in under its name, which never replaces a key another process made
    meanwhile. A failed write (a full disk) leaves no key file behind. An empty key file (an earlier
    version's interrupted write: no store can have used it) is replaced."""
    path = Path(data_dir) / KEY_FILE_NAME
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        if not (stat.S_ISREG(st.st_mode) and st.st_size == 0):
            return False
        path.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii").rstrip("=")
    fd, temp = tempfile.mkstemp(prefix=f".{KEY_FILE_NAME}.", suffix=".tmp", dir=path.parent)
    try:
        try:
            os.fchmod(fd, 0o600)  # exact mode whatever the umask
            data = memoryview((text + "\n").encode("ascii"))
            while data:
                data = data[os.write(fd, data):]
            os.fsync(fd)
        except OSError as exc:    # a full disk, say: name the file it was for
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        finally:
            os.close(fd)
        try:
            os.link(temp, path)
        except FileExistsError:
            return False          # another process won the race: its key is the one
        except OSError:           # a file system without hard links: rename, which would replace
            if path.exists():
                return False
            os.replace(temp, path)
        _sync_directory(path.parent)
        return True
    finally:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass


def _sync_directory(directory: Path) -> None:
    """The new name on disk too, so a crash right after the first start cannot lose the key."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
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
    text = path.read_text("ascii", errors="replace").strip()     # written whole: see create_key_file
    return parse_master_key(text, f"master key file {path}")
