from __future__ import annotations

import pytest

from regauth.errors import Throttled
from regauth.services.ratelimit import RateLimiter


def test_burst_then_throttled_with_retry_hint_then_refills() -> None:
    rl = RateLimiter(per_second=2, burst=3)
    for _ in range(3):
        rl.take("p", 100.0)
    with pytest.raises(Throttled) as err:
        rl.take("p", 100.0)
    assert err.value.retry_after >= 1
    rl.take("other", 100.0)          # buckets are per principal
    rl.take("p", 100.6)              # 1.2 tokens refilled


def test_disabled_when_rate_is_zero() -> None:
    rl = RateLimiter(per_second=0, burst=1)
    for _ in range(1000):
        rl.take("p", 1.0)
