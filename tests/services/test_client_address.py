"""The client address behind trusted proxies (REGAUTH_TRUSTED_PROXIES): it feeds aws:SourceIp and the audit."""

from __future__ import annotations

import ipaddress

import pytest

from regauth.http import client_address

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))


@pytest.mark.parametrize("peer, forwarded, expected", [
    ("198.51.100.1", ["203.0.113.7"], "198.51.100.1"),          # peer not a trusted proxy: header ignored
    ("10.0.0.1", [], "10.0.0.1"),                               # trusted proxy, no header: the proxy
    ("10.0.0.1", ["203.0.113.7"], "203.0.113.7"),
    ("10.0.0.1", ["6.6.6.6, 203.0.113.7"], "203.0.113.7"),      # a client-supplied entry on the left is not believed
    ("10.0.0.1", ["6.6.6.6, 203.0.113.7, 10.1.1.1"], "203.0.113.7"),   # through two trusted proxies
    ("10.0.0.1", ["6.6.6.6", "203.0.113.7"], "203.0.113.7"),    # several headers read as one list
    ("10.0.0.1", ["10.2.2.2, 10.1.1.1"], "10.2.2.2"),           # every hop trusted: the farthest
    ("10.0.0.1", ["6.6.6.6, not-an-ip"], "10.0.0.1"),           # garbage stops the walk at the last trusted hop
    ("10.0.0.1", ["6.6.6.6, junk, 10.1.1.1"], "10.1.1.1"),
    ("10.0.0.1", ["2001:db8::1"], "2001:db8::1"),
    ("10.0.0.1", ["fe80::1%eth0 x=1"], "10.0.0.1"),             # a zone id is free text: not an address
    ("::ffff:10.0.0.1", ["203.0.113.7"], "203.0.113.7"),        # an IPv4 proxy seen on a dual-stack socket
    ("fd00::5", ["203.0.113.7"], "203.0.113.7"),
])
def test_client_address(peer: str, forwarded: list[str], expected: str) -> None:
    assert client_address(peer, forwarded, PROXIES) == expected


def test_no_trusted_proxies_means_the_peer() -> None:
    assert client_address("10.0.0.1", ["203.0.113.7"], ()) == "10.0.0.1"
