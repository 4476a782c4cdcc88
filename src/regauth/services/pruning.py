"""Pruning: the operator deletes what no longer has any effect (`regauth admin prune`).

What goes, at the moment `now` of the run:
- issued-token index entries whose token has expired, leeway included: an expired token is refused
  wherever it is presented (its expiry is in the token and is checked first), and the audit trail
  keeps its id;
- STS sessions (temporary credentials) that expired more than ACCEPTED_BOUND ago, not at
  their expiry: a token issued with temporary credentials may outlive them (an ECR token lives 12 h
  whatever the session has left), and the registry realm and the auth_request verifier rebuild a
  token's principal from its session (`RegistryAccess.caller_of`); a session pruned while one of its
  tokens lives would make that token fail (closed, but a surprise);
- revocations whose `not_before` is more than ACCEPTED_BOUND + `revocations.CLOCK_MARGIN` ago: a
  revocation refuses only tokens issued before its `not_before` (a principal's, up to CLOCK_MARGIN
  after it: nodes' clocks differ), and those are past their expiry and its leeway;
- signing keys retired more than ACCEPTED_BOUND ago (`admin rotate-signing-key`): a retired key
  signs nothing, so every token it signed is past its expiry and leeway by then.
The audit trail is pruned only when the operator names a retention (`audit_days`): events older than
that many days go. The run itself is audited ("regauth:Prune", with its counts), after the pruning,
so the trail always shows it.

Large deletions run as many small transactions (BATCH rows each), so a server sharing the store
keeps issuing tokens in between.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from regauth.clock import Clock
from regauth.domain import ids, tokens
from regauth.domain.principals import AuditEvent
from regauth.errors import InvalidInput
from regauth.services import acr, codeartifact, ecr
from regauth.services import revocations as revocations_svc
from regauth.services.audit import Auditor
from regauth.store.interfaces import Store

# The longest any token regauth issues can live: ACR's 24 h (CodeArtifact's and ECR's are 12 h).
TOKEN_LIFETIME_BOUND = max(acr.MAX_HOURS * 3600, codeartifact.MAX_DURATION, ecr.TOKEN_LIFETIME)
# How long after its issue a token can still be accepted: its lifetime, then the expiry leeway
# (`domain.tokens.LEEWAY_SECONDS`). Nothing a token still accepted depends on goes before that.
ACCEPTED_BOUND = TOKEN_LIFETIME_BOUND + tokens.LEEWAY_SECONDS
BATCH = 5000
PRUNE = "regauth:Prune"

Progress = Callable[[str, int], None]          # (what, how many deleted so far)


@dataclass(frozen=True)
class Pruned:
    at: float
    issued_tokens: int
    sessions: int
    revocations: int
    signing_keys: int
    audit_events: int
    tokens_expired_before: float
    sessions_expired_before: float
    revocations_before: float
    audit_before: float | None


class Pruner:
    def __init__(self, store: Store, clock: Clock, auditor: Auditor, batch: int = BATCH) -> None:
        self._store = store
        self._clock = clock
        self._auditor = auditor
        self._batch = batch

    def run(self, progress: Progress | None = None, audit_days: int | None = None) -> Pruned:
        if audit_days is not None and audit_days < 1:
            raise InvalidInput("The audit retention must be at least 1 day.", "audit_days")
        now = self._clock.now()
        older = now - ACCEPTED_BOUND
        expired = now - tokens.LEEWAY_SECONDS        # past its expiry and its leeway: refused everywhere
        revoked_before = older - revocations_svc.CLOCK_MARGIN
        revocations = self._store.prune_revocations(revoked_before)
        keys = self._store.prune_signing_keys(older)
        sessions = self._drain(self._store.prune_sessions, older, "sessions", progress)
        issued = self._drain(self._store.prune_issued_tokens, expired, "issued tokens", progress)
        audit_before = None if audit_days is None else now - audit_days * 86400.0
        audit = 0 if audit_before is None else self._drain(self._store.prune_audit_events, audit_before,
                                                           "audit events", progress)
        done = Pruned(now, issued, sessions, revocations, keys, audit, expired, older, revoked_before, audit_before)
        event = AuditEvent(at=now, request_id=ids.request_id(), principal_arn="", action=PRUNE, resource="",
                           outcome="allowed", source_ip="",
                           detail=f"issued_tokens={issued} sessions={sessions} revocations={revocations} "
                                  f"signing_keys={keys} audit_events={audit}")
        self._store.record_audit(event)
        self._auditor.logged(event)
        return done

    def _drain(self, prune: Callable[[float, int], int], before: float, what: str,
               progress: Progress | None) -> int:
        total = 0
        while True:
            n = prune(before, self._batch)
            total += n
            if n == self._batch and progress is not None:         # more may follow: say how far it got
                progress(what, total)
            if n < self._batch:
                return total
