"""Revocation: the operator refuses one issued token, or every token a principal holds so far.

Issued tokens verify offline (a MAC under the keyring), so a revocation takes effect where regauth
checks a token on use (the registry token realm, the auth_request verifier): `revoked()` is asked
on every such request. It costs O(1): the store hands out one list object per generation (the
request-path cache, `services.cache`), and this class indexes that object once — a set of token
ids and a dict of principal "not before" times — and reuses the index for as long as the store
hands back the same object. A revocation written on any node moves the generation, so every node
rebuilds its index on its next request.

Each revocation goes to the audit trail ("regauth:RevokeToken", "regauth:RevokePrincipal") after
the revocation itself is stored: if the trail cannot be written the revocation still stands (a
refusal kept is the safe side) and the error reaches the operator. Neither record holds a secret:
a token id is an index key, not the token.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from regauth.clock import Clock
from regauth.domain import ids
from regauth.domain import tokens as tokens_domain
from regauth.domain.arn import is_arn, parse_arn
from regauth.domain.principals import AuditEvent, Revocation
from regauth.errors import InvalidInput, NotFound
from regauth.services.audit import Auditor
from regauth.services.policy_principals import named_principal
from regauth.store.interfaces import Store

TOKEN = "token"
PRINCIPAL = "principal"
REVOKE_TOKEN = "regauth:RevokeToken"
REVOKE_PRINCIPAL = "regauth:RevokePrincipal"
MAX_REASON = 512
# how far past its time a principal revocation reaches: the clock difference between nodes that
# token checks allow (see `Revocations.revoked`)
CLOCK_MARGIN = tokens_domain.LEEWAY_SECONDS
# domain.tokens.new_token_id; before 2026-11-23 (011ae42) ids had no time prefix, and such tokens, from an
# upgraded store, still verify until they expire
_TOKEN_ID = re.compile(r"(?:[0-9a-f]{14})?[A-Za-z0-9_-]{32}")
MAX_TOKEN_ID = 128          # ids are 46 characters (32 before); a longer value is likely a token pasted by mistake


class Revocations:
    def __init__(self, store: Store, clock: Clock, auditor: Auditor) -> None:
        self._store = store
        # reads that must see this call's own write: not from the request-path cache, which keeps
        # the list from before it until the next request
        self._uncached: Store = getattr(store, "inner", store)
        self._clock = clock
        self._auditor = auditor
        # (the list object indexed, revoked token ids, principal ARN -> not_before): replaced whole, so
        # a thread reading it never sees one part of one index with another part of the next
        self._index: tuple[object, frozenset[str], dict[str, float]] = (None, frozenset(), {})

    # --- operator ---------------------------------------------------------------------------------
    def revoke_token(self, token_id: str, reason: str = "", *, unindexed: bool = False) -> Revocation:
        """Refuse one issued token from now on. Raises NotFound when the id is not in the
        issued-token index (InvalidInput when it cannot be an id), unless `unindexed`: a token
        issued after the backup a store was restored from verifies (it is self-verifying) but has no
        index entry, and must still be revocable; then the id must have the shape issued ids have.
        Revoking it again keeps the first revocation (which is returned)."""
        _check_reason(reason)
        if not token_id or len(token_id) > MAX_TOKEN_ID or "." in token_id:
            # never echoed: what was passed may be a whole token (a secret) instead of its id
            raise InvalidInput("That is not a token id: pass the id of an issued token (its jti claim, the audit "
                               "trail's token_id), not the token itself.", "token_id")
        issued = self._store.get_issued_token(token_id)
        if issued is None and not unindexed:
            raise NotFound("token", token_id, f"No issued token has the id {token_id} (the token id is the "
                                              f"jti claim, as in the audit trail's token_id); --unindexed "
                                              f"revokes it anyway.")
        if issued is None and not _TOKEN_ID.fullmatch(token_id):
            raise InvalidInput("That is not shaped like a token id (14 hex digits, then 32 base64url characters; "
                               "32 base64url characters alone for a token issued by a regauth older than "
                               "2026-11-23; not repeated here).", "token_id")
        now = self._clock.now()
        stored = self._revoke(Revocation(kind=TOKEN, subject=token_id, not_before=now, created_at=now,
                                         reason=reason))
        self._audit(now, REVOKE_TOKEN, resource=issued.principal_arn if issued else "", token_id=token_id,
                    reason=reason)
        return stored

    def revoke_principal(self, principal_arn: str, reason: str = "", *, unknown_ok: bool = True) -> Revocation:
        """Refuse every token of `principal_arn` issued up to now, and in the next CLOCK_MARGIN seconds
        (see `revoked` for why).
        Tokens issued to it later are accepted: to keep a principal out, also remove its keys or
        permissions. Raises InvalidInput when `principal_arn` is not an ARN; unless `unknown_ok`,
        NotFound when it names no user or role of the store (a typo would revoke nothing, and a
        deleted principal's tokens are refused already)."""
        _check_reason(reason)
        if not is_arn(principal_arn) or any(c.isspace() for c in principal_arn):
            raise InvalidInput("The principal must be an ARN, e.g. arn:aws:iam::123456789012:user/ci "
                               "(the value is not repeated here).", "principal_arn")
        if not unknown_ok and not self._known(principal_arn):
            raise NotFound("principal", principal_arn, "No user or role of this store has that ARN (a deleted "
                                                       "one's tokens are refused already); --unindexed revokes "
                                                       "it anyway.")
        now = self._clock.now()
        stored = self._revoke(Revocation(kind=PRINCIPAL, subject=principal_arn, not_before=now, created_at=now,
                                         reason=reason))
        self._audit(now, REVOKE_PRINCIPAL, resource=principal_arn, token_id="", reason=reason)
        return stored

    def _known(self, principal_arn: str) -> bool:
        """A user, role or role session ARN whose user or role is in the store (path aside, as
        revocations match). Tokens are issued to users and role sessions only: any other ARN (an
        account's root, a group, `usr/` for `user/`) would match none of them."""
        named = named_principal(self._store, parse_arn(principal_arn))
        return named is not None and named[1] is not None

    def list(self) -> list[Revocation]:
        """Every revocation, oldest first."""
        return self._store.list_revocations()

    # --- on use -----------------------------------------------------------------------------------
    def revoked(self, token_id: str, principal_arn: str, issued_at: float) -> bool:
        """True when the token must be refused: its id is revoked, or its principal was revoked no
        earlier than CLOCK_MARGIN seconds before the token was issued.

        A token's `iat` is read off the clock of the node that minted it, a revocation's `not_before`
        off the clock of the host that ran `admin revoke`: the two differ. Tokens are accepted up to
        `tokens.LEEWAY_SECONDS` ahead of the clock where they are used, so nodes may run that far
        apart, and a node running ahead mints tokens with an `iat` past `not_before`: compared as
        they are (`iat <= not_before`), a revocation missed the tokens such a node issued in the
        seconds before it, and they stayed valid everywhere until they expired. So a principal
        revocation also covers the tokens issued in the CLOCK_MARGIN after it (on any node's clock):
        refused, like those before, and the caller asks again a minute later, when its new token is
        past the margin. `iat` is whole seconds, rounded down; `<=` keeps the same second in."""
        rows = self._store.list_revocations()
        source, tokens, principals = self._index
        if rows is not source:
            tokens, principals = _build_index(rows)
            self._index = (rows, tokens, principals)
        if token_id in tokens:
            return True
        if not principals:
            return False
        covers = principals.get(principal_key(principal_arn))
        return covers is not None and issued_at <= covers

    # --- helpers ----------------------------------------------------------------------------------
    def _revoke(self, rev: Revocation) -> Revocation:
        """Store `rev`; what is stored afterwards for its (kind, subject), which an earlier
        revocation of the same token or a later one of the same principal may have decided."""
        self._store.add_revocation(rev)
        for stored in self._uncached.list_revocations():
            if stored.kind == rev.kind and stored.subject == rev.subject:
                return stored
        return rev                      # not reached: the row was written in the call above

    def _audit(self, now: float, action: str, *, resource: str, token_id: str, reason: str) -> None:
        # principal_arn "": the operator acts on the store directly, as no IAM principal
        event = AuditEvent(at=now, request_id=ids.request_id(), principal_arn="", action=action, resource=resource,
                           outcome="allowed", source_ip="", token_id=token_id, detail=reason)
        self._store.record_audit(event)
        self._auditor.logged(event)


_PATHED = re.compile(r"(arn:[^:]*:iam::[^:]*:(?:user|role)/)[^/]*/(?:[^/]*/)*([^/]+)")


def principal_key(arn: str) -> str:
    """The ARN a principal revocation is matched by. An IAM user's or role's name is unique in its
    account whatever its path, and the ARN of a path-less name is what a role's sessions lead back
    to (`authz.role_arn_of`), so `user/team/ci` and `user/ci` are one principal here: revoking either
    form revokes it. Any other ARN (an assumed-role session, a path-less one) is its own key."""
    match = _PATHED.fullmatch(arn)
    return match.group(1) + match.group(2) if match else arn


def _build_index(rows: Sequence[Revocation]) -> tuple[frozenset[str], dict[str, float]]:
    """(revoked token ids, principal key -> the last `iat` its revocations refuse)."""
    tokens = frozenset(r.subject for r in rows if r.kind == TOKEN)
    principals: dict[str, float] = {}
    for r in rows:
        subject = principal_key(r.subject)
        if r.kind == PRINCIPAL and r.not_before + CLOCK_MARGIN > principals.get(subject, float("-inf")):
            principals[subject] = r.not_before + CLOCK_MARGIN
    return tokens, principals


def _check_reason(reason: str) -> None:
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"The reason must be at most {MAX_REASON} characters.", "reason")
