"""`Revocations`: what the operator revokes, what `revoked()` refuses on use, what it costs, and the
audit trail. On a real SQLite store behind the request-path cache, with a fixed clock."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from regauth.clock import FixedClock
from regauth.domain.principals import IssuedToken, Revocation
from regauth.errors import InvalidInput, NotFound
from regauth.services.audit import Auditor
from regauth.services.cache import CachingStore
from regauth.services.revocations import CLOCK_MARGIN, Revocations
from regauth.store.open import open_store
from tests.fixtures.counting import Counting

ACCT = "123456789012"
ALICE = f"arn:aws:iam::{ACCT}:user/alice"
BOB = f"arn:aws:iam::{ACCT}:user/bob"
T0 = 1_795_000_000.5          # half a second into a whole second
TOKEN_ID = "0660f69db0226fpPwSshjjWFCBp9v0ylkTQOUzveNC7d4T"


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'regauth.db'}"


@pytest.fixture
def key() -> bytes:
    return secrets.token_bytes(32)


@pytest.fixture
def inner(url, key):
    s = open_store(url, key)
    s.record_issued_token(IssuedToken(TOKEN_ID, "ecr", ALICE, ACCT, f"arn:aws:ecr:us-east-1:{ACCT}:registry",
                                      T0 - 100, T0 + 43100))
    yield s
    s.close()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


def service(store, clock) -> tuple[Revocations, CachingStore]:
    cache = CachingStore(store)
    return Revocations(cache, clock, Auditor(cache)), cache  # type: ignore[arg-type]


def test_a_revoked_token_id_is_refused_and_others_are_not(inner, clock):
    svc, cache = service(inner, clock)
    cache.begin_request()
    assert svc.revoked(TOKEN_ID, ALICE, int(T0 - 100)) is False
    rev = svc.revoke_token(TOKEN_ID, "pasted in a CI log")
    assert rev == Revocation("token", TOKEN_ID, T0, T0, "pasted in a CI log")
    cache.begin_request()
    assert svc.revoked(TOKEN_ID, ALICE, int(T0 - 100)) is True
    assert svc.revoked(TOKEN_ID, BOB, 0) is True                     # by id, whoever presents it
    assert svc.revoked("0660f69db0226fOTHERTOKENIDxxxxxxxxxxxxxxxxxxx", ALICE, int(T0 - 100)) is False
    assert svc.list() == [rev]


def test_revoking_a_token_twice_keeps_the_first_revocation(inner, clock):
    svc, _ = service(inner, clock)
    first = svc.revoke_token(TOKEN_ID, "first")
    clock.advance(60)
    assert svc.revoke_token(TOKEN_ID, "second") == first
    assert svc.list() == [first]


def test_an_unknown_token_id_is_not_found(inner, clock):
    svc, _ = service(inner, clock)
    with pytest.raises(NotFound) as missing:
        svc.revoke_token("0660f69db0226fNOSUCHTOKENxxxxxxxxxxxxxxxxxxxxx")
    assert "No issued token has the id 0660f69db0226fNOSUCHTOKEN" in missing.value.message
    assert svc.list() == []


def test_a_whole_token_given_as_the_id_is_refused_without_repeating_it(inner, clock):
    svc, _ = service(inner, clock)
    token = "rgecr_k1." + "eyJhY2N0IjoiMTIzNDU2Nzg5MDEyIn0" + ".c2VjcmV0LW1hYy12YWx1ZS1ub3QtZm9yLWxvZ3MtMDEyMzQ1Njc"
    for value in (token, "x" * 200, ""):
        with pytest.raises(InvalidInput) as bad:
            svc.revoke_token(value)
        assert "not a token id" in bad.value.message
        assert value == "" or value not in bad.value.message
    assert svc.list() == []


def test_a_principal_revocation_refuses_tokens_issued_up_to_a_minute_after_it(inner, clock):
    """The minute covers nodes whose clocks run ahead of the one that revoked (see `revoked`)."""
    svc, cache = service(inner, clock)
    rev = svc.revoke_principal(ALICE, "laptop lost")
    assert rev == Revocation("principal", ALICE, T0, T0, "laptop lost")
    cache.begin_request()
    second = int(T0)                                                  # iat is whole seconds, rounded down
    assert svc.revoked("any-id", ALICE, second - 3600) is True         # long before
    assert svc.revoked("any-id", ALICE, second) is True                # same second, before the revocation
    assert svc.revoked("any-id", ALICE, second + 60) is True           # by a clock up to a minute ahead
    assert svc.revoked("any-id", ALICE, second + 61) is False          # issued after it
    assert svc.revoked("any-id", BOB, second - 3600) is False          # another principal
    assert svc.revoked("any-id", f"{ALICE}2", second) is False         # exact ARN, not a prefix


@pytest.mark.parametrize("revoked_as, used_as", [
    (f"arn:aws:iam::{ACCT}:role/team/deployer", f"arn:aws:iam::{ACCT}:role/deployer"),   # a role's sessions
    (f"arn:aws:iam::{ACCT}:role/deployer", f"arn:aws:iam::{ACCT}:role/a/b/deployer"),
    (f"arn:aws:iam::{ACCT}:user/ci", f"arn:aws:iam::{ACCT}:user/team/ci"),               # a user with a path
    (f"arn:aws:iam::{ACCT}:user/team/ci", f"arn:aws:iam::{ACCT}:user/ci"),
])
def test_a_principal_is_one_whatever_the_path_its_arn_is_written_with(inner, clock, revoked_as, used_as):
    """IAM names are unique in their account whatever their path: a revocation names the principal,
    not one spelling of its ARN (a role's sessions lead back to the path-less role ARN)."""
    svc, cache = service(inner, clock)
    svc.revoke_principal(revoked_as)
    cache.begin_request()
    assert svc.revoked("t", used_as, int(T0)) is True
    other = used_as.rsplit("/", 1)[0] + "/someone-else"
    assert svc.revoked("t", other, int(T0)) is False
    assert svc.revoked("t", used_as.replace(ACCT, "210987654321"), int(T0)) is False     # another account
    assert svc.list()[0].subject == revoked_as                                            # kept as written


def test_the_boundary_on_a_whole_second_refuses_that_second(inner):
    """issued_at <= not_before + the margin: a revocation at exactly 100.0 refuses a token with iat 160,
    whose minting could have been on either side of that (see `Revocations.revoked`)."""
    whole = 1_795_000_100.0
    svc, cache = service(inner, FixedClock(whole))
    svc.revoke_principal(ALICE)
    cache.begin_request()
    assert svc.revoked("t", ALICE, int(whole) + CLOCK_MARGIN) is True
    assert svc.revoked("t", ALICE, int(whole) + CLOCK_MARGIN + 1) is False
    assert svc.revoked("t", ALICE, whole + CLOCK_MARGIN - 0.25) is True   # a float issued_at compares the same way


def test_a_principal_revoked_again_moves_not_before_forward(inner, clock):
    svc, cache = service(inner, clock)
    svc.revoke_principal(ALICE, "first")
    clock.advance(3600)
    again = svc.revoke_principal(ALICE, "again")
    assert again == Revocation("principal", ALICE, T0 + 3600, T0 + 3600, "again")
    cache.begin_request()
    assert svc.revoked("t", ALICE, int(T0) + 1800) is True            # between the two: refused now
    assert svc.list() == [again]


def test_a_principal_must_be_an_arn_and_the_value_is_not_repeated(inner, clock):
    svc, _ = service(inner, clock)
    for bad in ("alice", "", "arn:aws:iam::999999999999", "arn:aws:iam::999999999999:user/a b", "AKIAIOSFODNN7EXAMPLE"):
        with pytest.raises(InvalidInput) as err:
            svc.revoke_principal(bad)
        assert bad == "" or bad not in err.value.message
    with pytest.raises(InvalidInput):
        svc.revoke_principal(ALICE, "r" * 513)
    assert svc.list() == []


def test_revoked_reads_the_list_once_per_generation_and_indexes_it_once(inner, clock):
    counting = Counting(inner)
    svc, cache = service(counting, clock)
    svc.revoke_principal(BOB)
    svc.revoke_token(TOKEN_ID)
    counting.calls.clear()
    for _ in range(3):
        cache.begin_request()
        for i in range(1000):
            assert svc.revoked(f"id-{i}", ALICE, int(T0)) is False
        assert svc.revoked(TOKEN_ID, ALICE, 0) is True
    assert counting.calls.get("list_revocations") == 1                 # one query for 3003 checks
    indexed = svc._index
    cache.begin_request()
    svc.revoked("x", ALICE, 0)
    assert svc._index is indexed                                       # same list object: same index, not rebuilt
    svc.revoke_principal(ALICE)                                        # a write moves the generation
    cache.begin_request()
    assert svc.revoked("x", ALICE, int(T0)) is True
    assert svc._index is not indexed
    assert counting.calls["list_revocations"] == 3                     # the write's own read-back, and the new list


def test_a_revocation_made_inside_a_request_returns_what_is_stored(inner, clock):
    """The read-back after the write does not come from the request's cache (which still holds the
    list from before the write)."""
    svc, cache = service(inner, clock)
    first = svc.revoke_token(TOKEN_ID, "first")
    cache.begin_request()
    assert svc.list() == [first]                                       # cached for this request
    clock.advance(5)
    assert svc.revoke_token(TOKEN_ID, "second") == first
    assert svc.revoke_principal(ALICE, "now") == Revocation("principal", ALICE, T0 + 5, T0 + 5, "now")


def test_a_revocation_written_by_another_node_takes_effect_on_the_next_request(inner, url, key, clock):
    svc, cache = service(inner, clock)
    cache.begin_request()
    assert svc.revoked("t", ALICE, int(T0)) is False
    other_node = open_store(url, key)
    try:
        Revocations(other_node, clock, Auditor(other_node)).revoke_principal(ALICE)  # type: ignore[arg-type]
    finally:
        other_node.close()
    cache.begin_request()
    assert svc.revoked("t", ALICE, int(T0)) is True


def test_each_revocation_is_in_the_audit_trail(inner, clock, caplog):
    svc, _ = service(inner, clock)
    with caplog.at_level("INFO", logger="regauth.audit"):
        svc.revoke_token(TOKEN_ID, "pasted in a CI log")
        clock.advance(1)
        svc.revoke_principal(BOB, "left the team")
    token_event, principal_event = sorted((e for e in inner.list_audit_events() if e.action.startswith("regauth:")),
                                          key=lambda e: e.at)
    assert (token_event.action, token_event.resource, token_event.token_id, token_event.detail, token_event.outcome) \
        == ("regauth:RevokeToken", ALICE, TOKEN_ID, "pasted in a CI log", "allowed")
    assert (principal_event.action, principal_event.resource, principal_event.token_id, principal_event.detail) \
        == ("regauth:RevokePrincipal", BOB, "", "left the team")
    assert token_event.at == T0 and principal_event.at == T0 + 1
    lines = [r.getMessage() for r in caplog.records if r.name == "regauth.audit"]
    assert any("regauth:RevokeToken" in line and TOKEN_ID in line for line in lines)
    assert any("regauth:RevokePrincipal" in line for line in lines)
