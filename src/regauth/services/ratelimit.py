"""Token buckets (per node): one per principal, and one per source address for requests refused
before any principal was known, under one process-wide ceiling for those."""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time
from typing import TYPE_CHECKING

from regauth.errors import Throttled

if TYPE_CHECKING:
    from regauth.notices import Notices

log = logging.getLogger("regauth.ratelimit")

_MAX_BUCKETS = 100_000
# The refusals of all addresses together get the bucket of this many addresses: past it, wherever they come
# from, they are answered as throttled and counted in the log, not audited one by one.
UNAUTHENTICATED_ADDRESSES = 10
NOTICE_SECONDS = 60.0
CEILING_LINE = ("unauthenticated requests from many addresses: refusals past the process-wide ceiling are "
                "answered as throttled and not audited")


class RateLimiter:
    def __init__(self, per_second: float, burst: int) -> None:
        self._rate = per_second
        self._burst = float(max(burst, 1))
        # key -> (tokens, last time, when a throttled request of it was last audited)
        self._buckets: dict[str, tuple[float, float, float]] = {}
        self._lock = threading.Lock()
        # the process-wide bucket of unauthenticated refusals: (tokens, last time)
        self._everyone = (self._burst * UNAUTHENTICATED_ADDRESSES, -math.inf)
        self._notices: Notices | None = None     # made by the first flood: serving imports nothing more

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
        audit trail and the log: this one does (per principal and per address, as issuance is).

        An address is what one client holds: an IPv6 host is given a whole /64 (and chooses its address
        in it), so IPv6 addresses share their /64's bucket, and an IPv4-mapped one is its IPv4 address's.
        A client with many addresses still meets the process-wide ceiling (`_take_everyone`)."""
        try:
            self.take(f"ip {address_key(source_ip)}", now)       # principals' keys are ARNs: no clash
        except Throttled as exc:
            return exc
        return self._take_everyone(now)

    def _take_everyone(self, now: float) -> Throttled | None:
        """Spend a token of the process-wide bucket of unauthenticated refusals (the rate and burst of
        UNAUTHENTICATED_ADDRESSES addresses); past it, a Throttled to answer instead, not audited, and
        counted by an ERROR line at most once a minute."""
        if not self.enabled:
            return None
        rate, burst = self._rate * UNAUTHENTICATED_ADDRESSES, self._burst * UNAUTHENTICATED_ADDRESSES
        with self._lock:
            tokens, last = self._everyone
            tokens = min(burst, tokens + max(0.0, now - last) * rate)
            self._everyone = (tokens - 1.0 if tokens >= 1.0 else tokens, now)
        if tokens >= 1.0:
            return None
        if self._notices is None:
            from regauth.notices import Notices
            self._notices = Notices(log, NOTICE_SECONDS, time.monotonic)
        self._notices.error(CEILING_LINE)
        return Throttled("Rate exceeded", retry_after=max(1, math.ceil((1.0 - tokens) / rate)), audited=False)

    def _evict(self, now: float) -> None:
        """Drop buckets that have refilled completely: forgetting them changes nothing. If that frees
        too little, drop the addresses' buckets too (what a client holding many addresses fills the
        table with; the process-wide ceiling still holds their refusals): the table stays bounded, and
        this scan is not made again for every new address."""
        full_after = self._burst / self._rate
        for k in [k for k, (_, last, _) in self._buckets.items() if now - last >= full_after]:
            del self._buckets[k]
        if len(self._buckets) >= _MAX_BUCKETS // 2:
            for k in [k for k in self._buckets if k.startswith("ip ")]:
                del self._buckets[k]


def address_key(source_ip: str) -> str:
    """The text an unauthenticated bucket is kept under: an IPv4 address as it is; an IPv6 address's
    /64 ('2001:db8:1:2::/64'); an IPv4-mapped IPv6 address as its IPv4 address. Anything else (no
    address known) as it is."""
    if ":" not in source_ip:
        return source_ip
    try:
        ip = ipaddress.IPv6Address(source_ip)
    except ValueError:
        return source_ip
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return f"{ipaddress.IPv6Address(int(ip) >> 64 << 64)}/64"
