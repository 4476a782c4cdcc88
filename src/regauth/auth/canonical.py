"""The request as it arrived on the wire, handed by the HTTP adapter to the verifiers.

Verifiers are pure functions over this value: no framework objects cross into auth/.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class HttpRequest:
    method: str                                  # "GET", "POST", ...
    path: str                                    # raw path as sent, still percent-encoded, no query
    query: str                                   # raw query string as sent, without "?"
    headers: tuple[tuple[str, str], ...]         # (name, value) in wire order, names as sent
    body: bytes = b""
    source_ip: str = ""
    _lower: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def header_values(self, name: str) -> list[str]:
        """All values of a header (case-insensitive name), in wire order."""
        if not self._lower and self.headers:
            for k, v in self.headers:
                self._lower.setdefault(k.lower(), []).append(v)
        return self._lower.get(name.lower(), [])

    def header(self, name: str, default: str | None = None) -> str | None:
        values = self.header_values(name)
        return values[0] if values else default
