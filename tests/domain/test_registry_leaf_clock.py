"""The signer's leaf certificate when the clock steps back: a leaf that began in what is now the
future (made while the clock ran ahead) is replaced, or registries refuse it as not yet valid."""

from __future__ import annotations

from regauth.domain.registry_jwt import BACKDATE_SECONDS, RegistrySigner, new_ca
from tests.fixtures.registry_jwt import open_registry_jwt

NOW = 1_800_000_000.0


def _leaf_of(signer: RegistrySigner, ca_pem: str, now: float):
    return open_registry_jwt(signer.sign({"aud": "r", "exp": int(now) + 300}, now), ca_pem)[2]


def test_a_leaf_made_ahead_is_replaced_when_the_clock_steps_back() -> None:
    ca = new_ca(NOW - 86400)
    signer = RegistrySigner(ca)
    ahead = _leaf_of(signer, ca.cert_pem, NOW + 7200)
    assert ahead.not_valid_before_utc.timestamp() > NOW
    back = _leaf_of(signer, ca.cert_pem, NOW)
    assert back.serial_number != ahead.serial_number
    assert back.not_valid_before_utc.timestamp() <= NOW - BACKDATE_SECONDS
    # kept from then on, and as the clock moves on
    assert _leaf_of(signer, ca.cert_pem, NOW + 1).serial_number == back.serial_number
    assert _leaf_of(signer, ca.cert_pem, NOW + 7200).serial_number == back.serial_number
