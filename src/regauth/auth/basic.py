"""The credentials registry and package clients send: HTTP Basic (`user:token`) or a Bearer token.

Pure functions over the Authorization header. Nothing here says whether the token is good; the
registry-access service does. A header that cannot be read is the same as none: the client is
asked for credentials again.
"""

from __future__ import annotations

import base64
import binascii

MAX_HEADER = 8192                   # far above any token regauth issues (2,200 characters)


def credentials(authorization: str | None) -> tuple[str | None, str] | None:
    """(user name, token) from `Basic base64(user:token)`, (None, token) from `Bearer token`, or
    None when there is no usable Authorization header."""
    if not authorization or len(authorization) > MAX_HEADER:
        return None
    scheme, _, rest = authorization.strip().partition(" ")
    rest = rest.strip()
    if not rest:
        return None
    scheme = scheme.lower()
    if scheme == "bearer":
        return None, rest
    if scheme != "basic":
        return None
    try:
        decoded = base64.b64decode(rest, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, colon, token = decoded.partition(":")
    if not colon or not token:
        return None
    return user, token
