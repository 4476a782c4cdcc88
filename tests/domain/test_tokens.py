"""Issued tokens: round trip, shape rules, and any single change is rejected."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings, strategies as st

from regauth.domain import tokens
from regauth.domain.keyring import Keyring, new_signing_key
from regauth.domain.tokens import InvalidToken, TokenClaims

NOW = 1_795_000_000.0
KINDS = sorted(tokens.PREFIXES)


def keyring() -> Keyring:
    return Keyring([new_signing_key(NOW)])


def claims(kind: str = "codeartifact", ttl: int = 43200) -> TokenClaims:
    return TokenClaims(kind=kind, token_id=tokens.new_token_id(), principal_arn="arn:aws:iam::111122223333:user/a",
                       account_id="111122223333", scope="arn:aws:codeartifact:us-east-1:111122223333:domain/d",
                       issued_at=int(NOW), expires_at=int(NOW) + ttl)


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_and_shape_when_minted(kind: str) -> None:
    ring = keyring()
    c = claims(kind)
    token = tokens.mint(ring, c)
    assert token.startswith(tokens.PREFIXES[kind])
    assert ":" not in token
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.")
    assert ring.active_kid in token.split(".", 1)[0]
    assert tokens.verify(ring, token, now=NOW + 10, kind=kind) == c


def test_token_id_has_192_random_bits_after_an_increasing_time_prefix() -> None:
    ids = [tokens.new_token_id() for _ in range(200)]
    assert all(len(base64.urlsafe_b64decode(i[14:])) * 8 == 192 for i in ids)
    assert all(int(i[:14], 16) > 0 for i in ids)
    assert [i[:14] for i in ids] == sorted(i[:14] for i in ids)       # new ids land at the end of the index
    assert len(set(ids)) == len(ids)


def test_expired_token_rejected_after_leeway() -> None:
    ring = keyring()
    token = tokens.mint(ring, claims(ttl=900))
    tokens.verify(ring, token, now=NOW + 900 + tokens.LEEWAY_SECONDS - 1)
    with pytest.raises(InvalidToken, match="expired"):
        tokens.verify(ring, token, now=NOW + 900 + tokens.LEEWAY_SECONDS)


def test_wrong_kind_rejected() -> None:
    ring = keyring()
    token = tokens.mint(ring, claims("ecr"))
    with pytest.raises(InvalidToken):
        tokens.verify(ring, token, now=NOW, kind="codeartifact")


def test_other_keyring_rejects_and_rotation_keeps_old_tokens_valid() -> None:
    old = new_signing_key(NOW)
    ring = Keyring([old])
    token = tokens.mint(ring, claims())
    with pytest.raises(InvalidToken):
        tokens.verify(keyring(), token, now=NOW)
    newer = new_signing_key(NOW + 60)
    ring.replace([old, newer])
    assert ring.active_kid == newer.kid
    assert tokens.verify(ring, token, now=NOW).token_id          # signed by the retired-from-signing key
    assert tokens.mint(ring, claims()).split(".")[0].endswith(newer.kid)


def test_repr_of_keyring_shows_no_key_material() -> None:
    key = new_signing_key(NOW)
    text = repr(Keyring([key])) + repr(key)
    assert key.secret.reveal() not in text


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_single_character_change_is_rejected(data: st.DataObject) -> None:
    ring = keyring()
    token = tokens.mint(ring, claims(data.draw(st.sampled_from(KINDS))))
    i = data.draw(st.integers(0, len(token) - 1))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.:=/+ "
    ch = data.draw(st.sampled_from(alphabet).filter(lambda c: c != token[i]))
    forged = token[:i] + ch + token[i + 1:]
    with pytest.raises(InvalidToken):
        tokens.verify(ring, forged, now=NOW)


@given(st.text(max_size=300))
def test_garbage_never_raises_anything_but_invalid_token(text: str) -> None:
    with pytest.raises(InvalidToken):
        tokens.verify(keyring(), text, now=NOW)


@given(st.text(), st.text(), st.text(), st.text(), st.integers(0, 2**40), st.integers(0, 2**40),
       st.sampled_from(KINDS), st.text(), st.text())
def test_claims_json_is_byte_for_byte_what_json_dumps_writes(jti: str, sub: str, acct: str, scope: str,
                                                           iat: int, exp: int, kind: str, akid: str,
                                                           uid: str) -> None:
    import json

    c = TokenClaims(kind=kind, token_id=jti, principal_arn=sub, account_id=acct, scope=scope, issued_at=iat,
                    expires_at=exp, access_key_id=akid, principal_id=uid)
    data = {"v": 1, "k": kind, "jti": jti, "sub": sub, "acct": acct, "scope": scope, "iat": iat, "exp": exp}
    if akid:                     # only temporary credentials' tokens carry it
        data["akid"] = akid
    if uid:                      # only long-term users' tokens carry it
        data["uid"] = uid
    expected = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    assert tokens.claims_json(c) == expected


def test_the_access_key_id_of_temporary_credentials_round_trips() -> None:
    ring = keyring()
    c = TokenClaims(kind="ecr", token_id=tokens.new_token_id(), principal_arn="arn:aws:sts::111122223333:"
                    "assumed-role/r/s", account_id="111122223333", scope="s", issued_at=int(NOW),
                    expires_at=int(NOW) + 60, access_key_id="ASIAEXAMPLEEXAMPLE12")
    assert tokens.verify(ring, tokens.mint(ring, c), now=NOW) == c
    plain = TokenClaims(**{**c.__dict__, "access_key_id": ""})
    token = tokens.mint(ring, plain)
    assert tokens.verify(ring, token, now=NOW) == plain and "akid" not in tokens._unb64(token.split(".")[1]).decode()


def test_a_users_unique_id_round_trips_and_is_left_out_when_empty() -> None:
    ring = keyring()
    c = TokenClaims(kind="codeartifact", token_id=tokens.new_token_id(), principal_arn="arn:aws:iam::111122223333:"
                    "user/a", account_id="111122223333", scope="s", issued_at=int(NOW), expires_at=int(NOW) + 60,
                    principal_id="AIDAEXAMPLEEXAMPLE123")
    assert tokens.verify(ring, tokens.mint(ring, c), now=NOW) == c
    plain = TokenClaims(**{**c.__dict__, "principal_id": ""})
    token = tokens.mint(ring, plain)
    assert tokens.verify(ring, token, now=NOW) == plain and "uid" not in tokens._unb64(token.split(".")[1]).decode()
