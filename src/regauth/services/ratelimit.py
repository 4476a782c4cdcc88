"""Token buckets (per node): one per principal, and one per source address for requests refused
before any principal was known."""

from __future__ import annotations

import math
import threading

from regauth.errors import Throttled

_MAX_BUCKETS = 100_000


class RateLimiter:
    def __init__(self, per_second: float, burst: int) -> None:
        self._rate = per_second
        self._burst = float(max(burst, 1))
        # key -> (tokens, last time, when a throttled request of it was last audited)
        self._buckets: dict[str, tuple[float, float, float]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._rate > 0

    def take(self, key: str, now: float) -> None:
        """Spend one token for `key` or raise Throttled with a whole-second retry hint; of the
        throttled requests of one key, one a second is to be audited (`Throttled.audited`)."""
        if not self.enabled:
            return
        with self._lock:
            tokens, last, audited_at = self._buckets.get(key, (self._burst, now, -math.inf))
            tokens = min(self._burst, tokens + max(0.0, now - last) * self._rate)
            if tokens < 1.0:
                audit = now - audited_at >= 1.0
                self._buckets[key] = (tokens, now, now if audit else audited_at)
                raise Throttled("Rate exceeded", retry_after=max(1, math.ceil((1.0 - tokens) / self._rate)),
                                audited=audit)
            if len(self._buckets) >= _MAX_BUCKETS and key not in self._buckets:
                self._evict(now)
            self._buckets[key] = (tokens - 1.0, now, audited_at)

    def take_unauthenticated(self, source_ip: str, now: float) -> Throttled | None:
        """Charge a request refused before any principal was known (no, bad or unknown credentials)
        to its source address's bucket; past it, the Throttled to answer instead. Such refusals are
        audited one by one, and they have no principal's bucket to stop a flood of them filling the
        audit trail and the log: this one does (per principal and per address, as issuance is)."""
        try:
            self.take(f"ip {source_ip}", now)       # principals' keys are ARNs: no clash
        except Throttled as exc:
            return exc
        return None

    def _evict(self, now: float) -> None:
        """Drop buckets that have refilled completely: forgetting them changes nothing."""
        full_after = self._burst / self._rate
        for k in [k for k, (_, last, _) in self._buckets.items() if now - last >= full_after]:
            del self._buckets[k]
