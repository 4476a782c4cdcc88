"""The audit trail: every token issued and every request denied. Never a secret or a token."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from regauth.domain.principals import AuditEvent
from regauth.log_lines import LogLines
from regauth.metrics import Metrics
from regauth.services.pending import Pending
from regauth.store.interfaces import Store

log = logging.getLogger("regauth.audit")


class Auditor:
    def __init__(self, store: Store, metrics: Metrics | None = None) -> None:
        self._store = store
        self._metrics = metrics

    def commit(self, units: Sequence[Pending]) -> None:
        """The records of several requests in one transaction (all or none), then their log lines:
        one log record for the lot (a record per line cost a tenth of a token request); counted
        (regauth.metrics) once stored."""
        tokens, events = [], []
        for unit in units:
            tokens += unit.tokens
            events += unit.events
        self._store.record_batch(tokens, events)
        if self._metrics is not None:
            self._metrics.stored(tokens, events)
        if events and log.isEnabledFor(logging.INFO):
            log.info(LogLines([line(e) for e in events]))

    def logged(self, event: AuditEvent) -> None:
        """The log line for one event already stored."""
        if log.isEnabledFor(logging.INFO):
            log.info(LogLines([line(event)]))


def line(event: AuditEvent) -> str:
    """An event's log line: one line, whatever the request carried."""
    return (f"audit {event.outcome} {_field(event.action)} {event.request_id} by={_field(event.principal_arn)} "
            f"resource={_field(event.resource)} token_id={_field(event.token_id)} detail={_field(event.detail)} "
            f"ip={_field(event.source_ip)}")


def _field(value: str) -> str:
    """A value as one field: as it is when it is plain printable ASCII without spaces or quotes, else
    as a JSON string (quoted, control characters escaped).
    Some values come from the request (an access key id from a presigned URL, a region): a newline
    in one must not start a line that looks like another audit record, nor a space add a field.

    Plain means every character is in 0x21-0x7E except `"` and `\\`: ASCII, printable (which leaves
    out the controls and DEL, not the space), no space, no quote, no backslash. Written as five C
    scans rather than a set lookup per character (a third of the cost, on ARNs)."""
    if not value:
        return "-"
    if value.isascii() and value.isprintable() and " " not in value and '"' not in value and "\\" not in value:
        return value
    return json.dumps(value)
