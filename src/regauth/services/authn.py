"""Who is calling: access key -> credential -> verified signature -> Caller."""

from __future__ import annotations

import hashlib
import hmac
import re

from regauth.auth import sigv4
from regauth.auth.canonical import HttpRequest
from regauth.clock import Clock
from regauth.domain.principals import Caller, Credential, Session
from regauth.errors import ExpiredToken, InactiveAccessKey, UnknownAccessKey
from regauth.store.interfaces import Store

_INVALID_TOKEN = "The security token included in the request is invalid."
_MAX_CALLERS = 10_000
# An access key id as AWS defines it (16 to 128 characters; real ones, and every one regauth issues or
# accepts at bootstrap, are upper-case letters and digits). Anything else cannot be in the store.
_KEY_ID = re.compile(r"[A-Z0-9]{16,128}")
_MAX_WELL_FORMED = 4096


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Authenticator:
    def __init__(self, store: Store, clock: Clock, window: float) -> None:
        self._store = store
        self._clock = clock
        self._window = window
        # id(credential) -> (that credential, its Caller). The request-path cache hands out the same
        # Credential object until a write that could change the answer (the generation moves), so
        # the object's identity is the key; the entry holds it, so its id cannot be reused meanwhile.
        self._callers: dict[int, tuple[Credential, Caller]] = {}
        # key ids that passed `_check_key_id`: a client presents the same one all day, and a set lookup
        # costs a fifth of the match (at most _MAX_WELL_FORMED ids of at most 128 characters)
        self._well_formed: set[str] = set()

    def credential(self, access_key_id: str, session_token: str | None) -> Credential:
        """The active credential for a key id, with its session token checked (constant time)."""
        if access_key_id not in self._well_formed:
            self._check_key_id(access_key_id)
        cred = self._store.get_credential(access_key_id)
        if cred is None:
            raise UnknownAccessKey(_INVALID_TOKEN)
        if cred.status != "Active":
            raise InactiveAccessKey(_INVALID_TOKEN)
        if cred.session is None:
            if session_token:  # a session token with long-term keys is not a thing AWS accepts
                raise UnknownAccessKey(_INVALID_TOKEN)
        else:
            presented = token_hash(session_token or "")
            if not session_token or not hmac.compare_digest(presented, cred.session_token_hash or ""):
                raise UnknownAccessKey(_INVALID_TOKEN)
        return cred

    def _check_key_id(self, access_key_id: str) -> None:
        """Refuse, as an unknown key, a key id that cannot be one, before the store is asked: the store's
        answer (a miss too) is cached under the key id, and the Credential scope bounds it only by the
        header's size, so distinct 60,000-character ids each held 60 kB until the cache was full."""
        if not _KEY_ID.fullmatch(access_key_id):
            raise UnknownAccessKey(_INVALID_TOKEN)
        if len(self._well_formed) >= _MAX_WELL_FORMED:
            self._well_formed = set()
        self._well_formed.add(access_key_id)

    def check_not_expired(self, cred: Credential, now: float) -> None:
        if cred.session is not None and now >= cred.session.expires_at:
            raise ExpiredToken("The security token included in the request is expired")

    def sigv4(self, req: HttpRequest, claim: sigv4.SigV4Claim) -> Caller:
        cred = self.credential(claim.access_key_id, claim.session_token)
        now = self._clock.now()
        sigv4.verify(req, claim, cred.secret, now=now, skew=self._window)
        self.check_not_expired(cred, now)
        return self.caller_of(cred)

    def caller_of(self, cred: Credential) -> Caller:
        hit = self._callers.get(id(cred))
        if hit is not None and hit[0] is cred:
            return hit[1]
        caller = self._caller_of(cred)
        if len(self._callers) >= _MAX_CALLERS:
            self._callers = {}
        self._callers[id(cred)] = (cred, caller)
        return caller

    def _caller_of(self, cred: Credential) -> Caller:
        s = cred.session
        if s is not None:
            if not self._source_is_current(s):
                raise UnknownAccessKey(_INVALID_TOKEN)
            return _session_caller(cred)
        user = self._store.get_user(cred.account_id, cred.user_name or "")
        if user is None:
            raise UnknownAccessKey(_INVALID_TOKEN)
        return Caller(account_id=cred.account_id, arn=user.arn, user_id=user.user_id, kind="user",
                      name=user.name, access_key_id=cred.access_key_id)

    def _source_is_current(self, s: Session) -> bool:
        """Whether the user or role a session was made from is still there and still the same entity.
        Policies are found by name, so without this a session of a deleted user or role would act with
        the policies of whoever is later created under that name (IAM tells them apart by unique id)."""
        if s.kind == "assumed-role":
            role = self._store.get_role(s.account_id, s.source_name)
            return role is not None and s.user_id.split(":", 1)[0] == role.role_id
        user = self._store.get_user(s.account_id, s.source_name)
        return user is not None and user.user_id == s.user_id


def _session_caller(cred: Credential) -> Caller:
    s = cred.session
    assert s is not None
    return Caller(account_id=cred.account_id, arn=s.arn, user_id=s.user_id, kind=s.kind, name=s.source_name,
                  access_key_id=cred.access_key_id, session_expires_at=s.expires_at, session_issued_at=s.created_at,
                  session_policy=s.session_policy, session_name=s.session_name)
