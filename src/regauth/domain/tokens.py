"""Issued tokens: self-verifying, URL-safe, no ':' and a recognisable prefix per kind.

Layout (all characters in [A-Za-z0-9_.-]):

    <prefix><kid>.<claims>.<mac>

- prefix: one per kind ("rgca_", "rgecr_", "rgecp_", "rgacr_") so secret scanners can find them;
- kid: the keyring key that signed it;
- claims: base64url (no padding) of compact JSON {"v":1,"k":kind,"jti":id,"sub":principal ARN,
  "acct":account,"scope":scope,"iat":int,"exp":int}; jti carries 192 random bits after a time prefix;
  tokens issued to temporary credentials also carry "akid", the credential's access key id, so that
  where the token is used (a registry's realm, a package index's verifier) the caller is rebuilt
  exactly, session policy included;
- mac: base64url HMAC-SHA256 over "<prefix><kid>.<claims>" with the kid's key.

Field order inside claims is not significant; new claims may be added, never removed, and "v"
changes only when an existing claim changes meaning.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import time

from regauth.domain.keyring import Keyring
from regauth.records import record

PREFIXES = {"codeartifact": "rgca_", "ecr": "rgecr_", "ecr-public": "rgecp_", "acr": "rgacr_"}
_KIND_BY_PREFIX = {v: k for k, v in PREFIXES.items()}
# used with fullmatch: `$` would also match before a final "\n", passing a token followed by a newline
_SHAPE = re.compile(r"(rg[a-z]+_)([A-Za-z0-9]{1,32})\.([A-Za-z0-9_-]{1,2048})\.([A-Za-z0-9_-]{43})")
LEEWAY_SECONDS = 60
MAX_TOKEN_LENGTH = 2200


class InvalidToken(Exception):
    """The token is malformed, forged, of another kind, or expired. `reason` is for logs only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TokenExpired(InvalidToken):
    """A genuine token (its MAC checked) past its expiry; `claims` say whose it was."""

    def __init__(self, claims: "TokenClaims") -> None:
        super().__init__("expired")
        self.claims = claims


class TokenNotYetValid(InvalidToken):
    """A genuine token (its MAC checked) issued more than the leeway after `now` (a clock stepped back,
    or a node far behind the one that minted it); `claims` say whose it was."""

    def __init__(self, claims: "TokenClaims") -> None:
        super().__init__("not yet valid")
        self.claims = claims


@record
class TokenClaims:
    kind: str
    token_id: str
    principal_arn: str
    account_id: str
    scope: str
    issued_at: int
    expires_at: int
    access_key_id: str = ""      # temporary credentials only ("akid"); "" for long-term callers
    principal_id: str = ""       # an IAM user's unique id ("uid", AIDA...): a later user of the same name
                                 # has the same ARN but not this id; "" for temporary credentials (their
                                 # session names its user or role by id) and in tokens minted before it


_quote = json.encoder.encode_basestring_ascii   # what json.dumps(ensure_ascii=True) uses for str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_token_id() -> str:
    """14 hex digits of the current time in microseconds, then 192 random bits (base64url). The time
    prefix keeps new ids at the end of the issued-token index: random ids scattered each batch of
    inserts over the whole index, doubling what every commit and checkpoint writes."""
    # 24 bytes are 32 base64url characters without padding: secrets.token_urlsafe(24), called directly
    return f"{time.time_ns() // 1000:014x}{base64.urlsafe_b64encode(os.urandom(24)).decode()}"


def claims_json(claims: TokenClaims) -> bytes:
    """Exactly `json.dumps(<claims dict>, separators=(",", ":"), sort_keys=True)`, without building the
    dict and sorting it on every mint: the keys in sorted order, each string through the same
    (C) ASCII escaper json.dumps uses."""
    q = _quote
    akid = f',"akid":{q(claims.access_key_id)}' if claims.access_key_id else ""
    uid = f',"uid":{q(claims.principal_id)}' if claims.principal_id else ""
    return (f'{{"acct":{q(claims.account_id)}{akid},"exp":{int(claims.expires_at)},"iat":{int(claims.issued_at)},'
            f'"jti":{q(claims.token_id)},"k":{q(claims.kind)},"scope":{q(claims.scope)},'
            f'"sub":{q(claims.principal_arn)}{uid},"v":1}}').encode()


def mint(keyring: Keyring, claims: TokenClaims) -> str:
    prefix = PREFIXES[claims.kind]
    body = claims_json(claims)
    kid = keyring.active_kid
    head = f"{prefix}{kid}.{_b64(body)}"
    return f"{head}.{_b64(keyring.sign(kid, head.encode()))}"


def verify(keyring: Keyring, token: str, *, now: float, kind: str | None = None) -> TokenClaims:
    """Check shape, MAC (constant time), kind and expiry. No database read."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("too long")
    m = _SHAPE.fullmatch(token)
    if m is None:
        raise InvalidToken("malformed")
    prefix, kid, body, mac = m.groups()
    token_kind = _KIND_BY_PREFIX.get(prefix)
    if token_kind is None:
        raise InvalidToken("unknown prefix")
    try:
        mac_bytes = _unb64(mac)
    except (binascii.Error, ValueError):
        raise InvalidToken("malformed") from None
    if _b64(mac_bytes) != mac:  # non-canonical base64 (spare low bits set): one token, one spelling
        raise InvalidToken("malformed")
    if not keyring.check(kid, f"{prefix}{kid}.{body}".encode(), mac_bytes):
        raise InvalidToken("bad signature or unknown kid")
    try:
        data = json.loads(_unb64(body))
        claims = TokenClaims(
            kind=str(data["k"]), token_id=str(data["jti"]), principal_arn=str(data["sub"]),
            account_id=str(data["acct"]), scope=str(data["scope"]),
            issued_at=int(data["iat"]), expires_at=int(data["exp"]), access_key_id=str(data.get("akid", "")),
            principal_id=str(data.get("uid", "")),
        )
    except (ValueError, KeyError, TypeError):
        raise InvalidToken("bad claims") from None
    if claims.kind != token_kind or (kind is not None and claims.kind != kind):
        raise InvalidToken("wrong kind")
    if now >= claims.expires_at + LEEWAY_SECONDS:
        raise TokenExpired(claims)
    if now + LEEWAY_SECONDS < claims.issued_at:
        raise TokenNotYetValid(claims)
    return claims
