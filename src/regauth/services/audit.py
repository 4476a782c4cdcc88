"""The audit trail: every token issued and every request denied. Never a secret or a token."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from regauth.domain.principals import AuditEvent
from regauth.services.pending import Pending
from regauth.store.interfaces import Store

log = logging.getLogger("regauth.audit")


class Auditor:
    def __init__(self, store: Store) -> None:
        self._store = store

    def commit(self, units: Sequence[Pending]) -> None:
        """The records of several requests in one transaction (all or none), then their log lines."""
        tokens, events = [], []
        for unit in units:
            tokens += unit.tokens
            events += unit.events
        self._store.record_batch(tokens, events)
        for event in events:
            self.logged(event)

    def logged(self, event: AuditEvent) -> None:
        """The log line for an event already stored."""
        log.info("audit %s %s %s by=%s resource=%s token_id=%s detail=%s ip=%s", event.outcome, event.action,
                 event.request_id, event.principal_arn or "-", event.resource or "-", event.token_id or "-",
                 event.detail or "-", event.source_ip or "-")
