"""Unauthenticated refusals: one bucket per client address (an IPv6 /64, an IPv4 address however
written), and one ceiling for the whole process, so that holding many addresses does not multiply
what a flood may write to the audit trail; the table of buckets stays bounded whatever the addresses."""

from __future__ import annotations

import pytest

from regauth.errors import Throttled
from regauth.services import ratelimit
from regauth.services.ratelimit import RateLimiter

NOW = 1_000.0


def _refusals(rl: RateLimiter, addresses: list[str]) -> list[Throttled | None]:
    return [rl.take_unauthenticated(a, NOW) for a in addresses]


def test_the_addresses_of_one_ipv6_slash_64_share_a_bucket() -> None:
    rl = RateLimiter(per_second=1, burst=2)
    same_64 = ["2001:db8:0:1::1", "2001:db8:0:1:ffff:ffff:ffff:ffff", "2001:0DB8:0000:0001::7"]
    assert _refusals(rl, same_64)[:2] == [None, None]
    throttled = rl.take_unauthenticated(same_64[2], NOW)
    assert isinstance(throttled, Throttled)
    assert rl.take_unauthenticated("2001:db8:0:2::1", NOW) is None       # the next /64 is another client


def test_an_ipv4_mapped_address_is_its_ipv4_address() -> None:
    rl = RateLimiter(per_second=1, burst=2)
    assert _refusals(rl, ["203.0.113.9", "::ffff:203.0.113.9"]) == [None, None]
    assert isinstance(rl.take_unauthenticated("::ffff:cb00:7109", NOW), Throttled)     # the same, in hex
    assert rl.take_unauthenticated("203.0.113.10", NOW) is None


@pytest.mark.parametrize("text,key", [
    ("192.0.2.1", "192.0.2.1"), ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"), ("::1", "::/64"),
    ("fe80::1%eth0", "fe80::/64"), ("::ffff:192.0.2.1", "192.0.2.1"), ("", ""), ("not:an address", "not:an address"),
])
def test_address_keys(text: str, key: str) -> None:
    assert ratelimit.address_key(text) == key


def test_many_addresses_meet_one_process_wide_ceiling_answered_as_throttled_and_not_audited() -> None:
    """Each address is within its own bucket; past the process's (UNAUTHENTICATED_ADDRESSES buckets'
    worth), every refusal, from any address, is answered as throttled and is not to be audited."""
    rl = RateLimiter(per_second=1, burst=2)
    ceiling = 2 * getattr(ratelimit, "UNAUTHENTICATED_ADDRESSES", 10)
    answers = _refusals(rl, [f"198.51.100.{n}" for n in range(ceiling)])
    assert answers == [None] * ceiling
    past = rl.take_unauthenticated("198.51.100.200", NOW)
    assert isinstance(past, Throttled) and not past.audited and past.retry_after == 1
    later = NOW + 0.1                       # the ceiling's rate is the addresses' together: 10 a second here
    assert [rl.take_unauthenticated(a, later) is None for a in ("198.51.100.201", "198.51.100.202")] == [True, False]
    rl.take("arn:aws:iam::111122223333:user/alice", NOW)                          # principals are not held


def test_the_ceiling_is_off_with_the_rate_limit() -> None:
    rl = RateLimiter(per_second=0, burst=1)
    assert _refusals(rl, [f"198.51.100.{n}" for n in range(100)]) == [None] * 100


def test_the_table_of_buckets_stays_bounded_whatever_the_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    """No bucket has refilled (all are used within the same second): the addresses' ones are dropped
    rather than the table growing with every new address (and being scanned again for each)."""
    monkeypatch.setattr(ratelimit, "_MAX_BUCKETS", 100)
    rl = RateLimiter(per_second=1, burst=1000)
    rl.take("arn:aws:iam::111122223333:user/alice", NOW)
    for n in range(1_000):
        rl.take_unauthenticated(f"2001:db8:{n:x}::1", NOW)
        assert len(rl._buckets) <= 100
    assert "arn:aws:iam::111122223333:user/alice" in rl._buckets
