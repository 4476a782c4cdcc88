"""The request as it arrived on the wire, handed by the HTTP adapter to the verifiers.

Verifiers are pure functions over this value: no framework objects cross into auth/.
"""

from __future__ import annotations

from dataclasses import field

from regauth.records import record


@record
class HttpRequest:
    method: str                                  # "GET", "POST", ...
    path: str                                    # raw path as sent, still percent-encoded, no query
    # none of these in the repr: they carry signatures, session tokens, passwords (presigned URLs,
    # Authorization, X-Amz-Security-Token, a form body)
    query: str = field(repr=False)               # raw query string as sent, without "?"
    headers: tuple[tuple[str, str], ...] = field(repr=False)  # (name, value) in wire order, names as sent
    body: bytes = field(default=b"", repr=False)
    source_ip: str = ""
    secure_transport: bool = False                # HTTPS as far as regauth can tell (a trusted proxy says so)
    # lower-cased name -> values in wire order; built once, on first use, then only read
    _lower: dict[str, list[str]] | None = field(default=None, init=False, repr=False, compare=False)

    def header_map(self) -> dict[str, list[str]]:
        """Lower-cased header name -> all its values in wire order. Read-only: do not mutate."""
        lower = self._lower
        if lower is None:
            lower = {}
            for k, v in self.headers:
                k = k.lower()
                if k in lower:
                    lower[k].append(v)
                else:
                    lower[k] = [v]
            object.__setattr__(self, "_lower", lower)   # published whole: safe to share across threads
        return lower

    def header_values(self, name: str) -> list[str]:
        """All values of a header (case-insensitive name), in wire order. Read-only: do not mutate."""
        lower = self._lower if self._lower is not None else self.header_map()
        values = lower.get(name)
        if values is None:
            values = lower.get(name.lower(), [])
        return values

    def header(self, name: str, default: str | None = None) -> str | None:
        values = self.header_values(name)
        return values[0] if values else default
