"""Minting: one place that turns an authorized request into a signed, indexed, audited token."""

from __future__ import annotations

from dataclasses import field

from regauth.domain import tokens
from regauth.domain.keyring import Keyring
from regauth.domain.principals import AuditEvent, IssuedToken
from regauth.records import record
from regauth.services.audit import Auditor
from regauth.services.context import Call
from regauth.store.interfaces import Store


@record
class Issued:
    token: str = field(repr=False)          # a bearer token: never in a repr or a log
    token_id: str
    issued_at: int
    expires_at: float


class TokenIssuer:
    def __init__(self, store: Store, keyring: Keyring, auditor: Auditor) -> None:
        self._store = store
        self._keyring = keyring
        self._auditor = auditor

    @property
    def keyring(self) -> Keyring:
        return self._keyring

    def issue(self, call: Call, *, kind: str, action: str, scope: str, expires_at: float) -> Issued:
        c = call.caller
        temporary = c.session_expires_at is not None
        claims = tokens.TokenClaims(
            kind=kind, token_id=tokens.new_token_id(), principal_arn=c.arn, account_id=c.account_id, scope=scope,
            issued_at=int(call.now), expires_at=int(expires_at), access_key_id=c.access_key_id if temporary else "",
            principal_id="" if temporary else c.user_id,
        )
        token = tokens.mint(self._keyring, claims)
        event = AuditEvent(
            at=call.now, request_id=call.request_id, principal_arn=call.caller.arn, action=action, resource=scope,
            outcome="allowed", source_ip=call.source_ip, token_id=claims.token_id,
            detail=f"expires={claims.expires_at}")
        record = IssuedToken(
            token_id=claims.token_id, kind=kind, principal_arn=claims.principal_arn, account_id=claims.account_id,
            scope=scope, issued_at=call.now, expires_at=float(claims.expires_at))
        if call.pending is not None:
            call.pending.issued(record, event)      # stored (with its event) before the answer leaves
        else:
            self._store.record_issuance(record, event)
            self._auditor.logged(event)
        return Issued(token=token, token_id=claims.token_id, issued_at=claims.issued_at,
                      expires_at=float(claims.expires_at))
