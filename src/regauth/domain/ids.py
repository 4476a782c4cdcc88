"""Identifiers and generated credentials in AWS's shapes, from the OS CSPRNG."""

from __future__ import annotations

import os
import re
import secrets
import string

_UPPER_ALNUM = string.ascii_uppercase + "234567"          # base32 alphabet, as AWS key ids use
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


def _pick(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def access_key_id() -> str:          # long-term IAM user key
    return "AKIA" + _pick(_UPPER_ALNUM, 16)


def session_access_key_id() -> str:  # STS temporary credentials
    return "ASIA" + _pick(_UPPER_ALNUM, 16)


def user_id() -> str:
    return "AIDA" + _pick(_UPPER_ALNUM, 17)


def role_id() -> str:
    return "AROA" + _pick(_UPPER_ALNUM, 17)


def secret_access_key() -> str:      # 40 characters, like AWS
    return _pick(_SECRET_ALPHABET, 40)


def session_token() -> str:
    return "RGST" + secrets.token_urlsafe(96)


def account_id() -> str:
    return str(secrets.randbelow(9 * 10**11) + 10**11)


def request_id() -> str:
    h = os.urandom(16).hex()               # what secrets.token_hex(16) returns, without its two calls
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_KEY_ID_SHAPE = re.compile(r"(AKIA|ASIA)[A-Z0-9]{16}")


def key_id_for_log(text: str) -> str:
    """A presented access key id as logs and the audit trail may show it: only when it has a key id's
    shape. Anything else may be a secret pasted into the wrong variable, and is not repeated."""
    return text if _KEY_ID_SHAPE.fullmatch(text) else "(not a key id)"
