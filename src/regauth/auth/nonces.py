"""Replay protection for Alibaba signatures: each (AccessKeyId, SignatureNonce) is accepted once.

Alibaba: "a nonce may be used only once per 15 min" (spec §1.4). The cache remembers a pair
for `window` seconds (or longer, up to `until`, when the caller knows the request stays
acceptable longer), purges expired pairs as time moves on, and never grows past
`max_entries`: when full of live pairs it refuses (NonceCacheFull) rather than forget one,
because forgetting a live pair would re-open a replay. One access key may be held to at most
`max_per_key` of them (past it that key alone is refused, NonceShareFull), so that one key sending
fast cannot fill the cache every key's requests need (the ACR dialect gives each a quarter).

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


_BLAKE2B_16 = hashlib.blake2b(digest_size=16)      # copied for each digest, never updated itself


class NonceCacheFull(Throttled):
    """Too many live nonces to remember safely; the request is refused, never let through."""


class NonceShareFull(NonceCacheFull):
    """This access key holds its whole share of the cache: its request is refused, others' are not."""


class NonceCache:
    def __init__(self, window: float = 900.0, max_entries: int = 1_000_000, since: float | None = None,
                 max_per_key: int | None = None) -> None:
        if window <= 0 or max_entries <= 0 or (max_per_key is not None and max_per_key <= 0):
            raise ValueError("window, max_entries and max_per_key must be positive")
        self.since = since          # requests signed before this may have been accepted by another process
        self.window = float(window)
        self.max_entries = int(max_entries)
        self.max_per_key = int(max_per_key) if max_per_key is not None else self.max_entries
        self._expiry: dict[bytes, float] = {}          # digest -> expires at
        # (expires at, digest, key); may hold stale items. Atoms only, so the collector stops tracking
        # them; the key is the one string its share holds, not each request's copy of it.
        self._heap: list[tuple[float, bytes, str]] = []
        self._shares: dict[str, list] = {}             # key -> [its live pairs, key], for keys with any
        self._lock = threading.Lock()
        self._latest = float("-inf")

    @property
    def latest(self) -> float:
        """The latest `now` the cache was given (pairs older than that less the window may be forgotten)."""
        return self._latest

    @staticmethod
    def digest(key: str, nonce: str) -> bytes:
        """What the cache keeps of (key, nonce): 16 bytes whatever their sizes. Key and nonce are joined
        by a line feed, which no key id holds (the parsers refuse unprintable ones): were one to, two
        pairs could share a digest, and the later be refused as a replay (never the reverse). A copy
        of a ready hash object, as keyword arguments cost more than the copy."""
        text = f"{key}\n{nonce}"
        try:
            raw = text.encode()
        except UnicodeEncodeError:          # a lone surrogate: kept, not refused here
            raw = text.encode("utf-8", "surrogatepass")
        h = _BLAKE2B_16.copy()
        h.update(raw)
        return h.digest()

    def _purge(self, now: float) -> None:
        heap, expiry = self._heap, self._expiry
        while heap and heap[0][0] <= now:
            at, digest, key = heapq.heappop(heap)
            if expiry.get(digest) == at:
                del expiry[digest]
                share = self._shares[key]
                share[0] -= 1
                if not share[0]:
                    del self._shares[key]

    def unused(self, key: str, nonce: str, now: float) -> bytes | None:
        """The digest of (key, nonce) if it is not remembered as live (for `seen_before`), else None.
        Remembers nothing: a look before the request is admitted (`seen_before` then records it, and
        still answers a race of two alike). One dict read, atomic under the GIL: no lock."""
        digest = self.digest(key, nonce)
        at = self._expiry.get(digest)
        return digest if at is None or at <= now else None

    def seen_before(self, key: str, nonce: str, now: float, *, until: float | None = None,
                    digest: bytes | None = None) -> bool:
        """True if (key, nonce) is live; otherwise remember it and return False. `digest`: theirs, when
        the caller has it already.

        It is remembered until max(now + window, until). Raises NonceCacheFull when the cache
        already holds max_entries live pairs, NonceShareFull when `key` holds max_per_key of them
        (nothing is forgotten to make room).
        """
        if digest is None:
            digest = self.digest(key, nonce)
        expires = now + self.window
        if until is not None and until > expires:
            expires = until
        heap, expiry = self._heap, self._expiry
        with self._lock:
            if now > self._latest:
                self._latest = now
            if heap and heap[0][0] <= now:
                self._purge(now)
            at = expiry.get(digest)
            if at is not None and at > now:
                return True
            if len(expiry) >= self.max_entries:
                raise NonceCacheFull("Request was denied due to user flow control.", retry_after=1)
            share = self._shares.get(key)
            if share is None:
                share = self._shares[key] = [0, key]
            elif share[0] >= self.max_per_key:
                raise NonceShareFull("Request was denied due to user flow control.", retry_after=1)
            share[0] += 1
            expiry[digest] = expires
            heapq.heappush(heap, (expires, digest, share[1]))
            return False

    def __len__(self) -> int:
        with self._lock:
            return len(self._expiry)

    def __bool__(self) -> bool:
        # An empty cache is still a cache: keeps `nonces or NonceCache()` from silently swapping it.
        return True
