"""Alibaba replay protection across clock steps: a nonce is forgotten once the clock passes its
expiry, so a clock set back afterwards must not make its request current again; and a process
refuses what was stamped before it started (its cache cannot vouch for it)."""

from __future__ import annotations

import pytest

from regauth.auth.acs import RESTARTED_MESSAGE, parse, verify
from regauth.auth.nonces import NonceCache
from regauth.domain.secret import Secret
from regauth.errors import NonceReused, RequestExpired
from tests.protocols.test_acr_protocol import T0, rpc

AKID, SECRET = "LTAI5tExampleKeyId000", "example-secret-0000000000000000"


def accept(req, nonces: NonceCache, now: float) -> None:
    verify(req, parse(req), Secret(SECRET), now=now, skew=900, nonces=nonces)


def test_a_forgotten_nonce_is_not_accepted_again_when_the_clock_is_set_back() -> None:
    nonces = NonceCache(window=900)
    req = rpc({"InstanceId": "cri-example"}, AKID, SECRET, at=T0 + 5000)
    accept(req, nonces, T0 + 5000)
    with pytest.raises(NonceReused):
        accept(req, nonces, T0 + 5001)
    accept(rpc({"InstanceId": "cri-example"}, AKID, SECRET, at=T0 + 7000), nonces, T0 + 7000)    # forgets it
    with pytest.raises(RequestExpired):            # the clock back at T0 + 5010: the replay stays refused
        accept(req, nonces, T0 + 5010)
    # what is stamped within the window of the latest time seen still passes (the clock at T0 + 5300)
    accept(rpc({"InstanceId": "cri-example"}, AKID, SECRET, at=T0 + 6150), nonces, T0 + 5300)


def test_a_request_stamped_before_the_cache_was_made_is_refused_saying_why() -> None:
    nonces = NonceCache(window=900, since=T0)
    with pytest.raises(RequestExpired) as err:
        accept(rpc({"InstanceId": "cri-example"}, AKID, SECRET, at=T0 - 1), nonces, T0 + 10)
    assert str(err.value) == RESTARTED_MESSAGE
    accept(rpc({"InstanceId": "cri-example"}, AKID, SECRET, at=T0), nonces, T0 + 10)
