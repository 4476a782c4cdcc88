"""Replay protection for Alibaba signatures: each (AccessKeyId, SignatureNonce) is accepted once.

Alibaba: "a nonce may be used only once per 15 min" (spec §1.4). The cache remembers a pair
for `window` seconds (or longer, up to `until`, when the caller knows the request stays
acceptable longer), purges expired pairs as time moves on, and never grows past
`max_entries`: when full of live pairs it refuses (NonceCacheFull) rather than forget one,
because forgetting a live pair would re-open a replay.

Time is always passed in (`now`); the cache never reads a clock. Thread-safe.

The cache is in memory, so it knows nothing of the nonces a previous process accepted: `since` (when
it was made, the server's start) is the earliest signing time it can vouch for. A request stamped
before it may have been accepted already, and is refused (`verify` in `acs.py`): a client signs each
attempt afresh, while a request captured before a restart could otherwise be replayed after it.

Pairs are forgotten as the clock passes their expiry. A clock set back afterwards would make their
requests current again, so `latest` (the latest time the cache was given) is kept too: a request
stamped more than the window before it is refused, whatever the clock says now.
"""

from __future__ import annotations

import hashlib
import heapq
import threading

from regauth.errors import Throttled


class NonceCacheFull(Throttled):
    """Too many live nonces to remember safely; the request is refused, never let through."""


class NonceCache:
    def __init__(self, window: float = 900.0, max_entries: int = 1_000_000, since: float | None = None) -> None:
        if window <= 0 or max_entries <= 0:
            raise ValueError("window and max_entries must be positive")
        self.since = since          # requests signed before this may have been accepted by another process
        self.window = float(window)
        self.max_entries = int(max_entries)
        self._expiry: dict[bytes, float] = {}          # digest -> expires at
        self._heap: list[tuple[float, bytes]] = []     # (expires at, digest); may hold stale items
        self._lock = threading.Lock()
        self._latest = float("-inf")

    @property
    def latest(self) -> float:
        """The latest `now` the cache was given (pairs older than that less the window may be forgotten)."""
        return self._latest

    @staticmethod
    def _digest(key: str, nonce: str) -> bytes:
        # Fixed 16 bytes per entry whatever the sizes of key and nonce; length-prefixed, so unambiguous.
        raw = f"{len(key)}:{key}{nonce}".encode("utf-8", "surrogatepass")
        return hashlib.blake2b(raw, digest_size=16).digest()

    def _purge(self, now: float) -> None:
        heap, expiry = self._heap, self._expiry
        while heap and heap[0][0] <= now:
            at, digest = heapq.heappop(heap)
            if expiry.get(digest) == at:
                del expiry[digest]

    def seen_before(self, key: str, nonce: str, now: float, *, until: float | None = None) -> bool:
        """True if (key, nonce) is live; otherwise remember it and return False.

        It is remembered until max(now + window, until). Raises NonceCacheFull when the cache
        already holds max_entries live pairs (nothing is forgotten to make room).
        """
        digest = self._digest(key, nonce)
        expires = max(now + self.window, until if until is not None else now)
        with self._lock:
            if now > self._latest:
                self._latest = now
            self._purge(now)
            at = self._expiry.get(digest)
            if at is not None and at > now:
                return True
            if len(self._expiry) >= self.max_entries:
                raise NonceCacheFull("Request was denied due to user flow control.", retry_after=1)
            self._expiry[digest] = expires
            heapq.heappush(self._heap, (expires, digest))
            return False

    def __len__(self) -> int:
        with self._lock:
            return len(self._expiry)

    def __bool__(self) -> bool:
        # An empty cache is still a cache: keeps `nonces or NonceCache()` from silently swapping it.
        return True
