"""What a request must have stored before its answer may leave.

Services record issued tokens and audit events here instead of writing them one by one; the HTTP
layer commits the records of many requests in one transaction (see `regauth.group_commit`) and
sends each answer only after its own records are stored. A token whose index entry and audit
event cannot be stored is never handed out (fail closed); a denial is answered either way, and a
trail that could not be written is logged.
"""

from __future__ import annotations

from regauth.domain.principals import AuditEvent, IssuedToken


class Pending:
    __slots__ = ("tokens", "events", "_required")

    def __init__(self) -> None:
        self.tokens: list[IssuedToken] = []
        self.events: list[AuditEvent] = []
        self._required = False

    @property
    def required(self) -> bool:
        """A token rides on it: the answer must not leave without the commit."""
        return self._required or bool(self.tokens)

    def require(self) -> None:
        """The answer grants access without an issued token of regauth's own (a registry JWT): it
        must not leave without its audit event either."""
        self._required = True

    def issued(self, token: IssuedToken, event: AuditEvent) -> None:
        self.tokens.append(token)
        self.events.append(event)

    def audited(self, event: AuditEvent) -> None:
        self.events.append(event)

    def __bool__(self) -> bool:
        return bool(self.events)         # every token comes with its event

    def __repr__(self) -> str:
        return f"Pending(tokens={len(self.tokens)}, events={len(self.events)}, required={self.required})"
