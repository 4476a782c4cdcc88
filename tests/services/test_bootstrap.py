"""`bootstrap`: the first start's account and admin key, also when several nodes start at the same
moment on one empty store (SQLite file or PostgreSQL), and later starts that only report it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from regauth.clock import FixedClock
from regauth.config import Settings, SettingsError
from regauth.domain.principals import AccessKey
from regauth.domain.secret import Secret
from regauth.services.bootstrap import ADMIN_USER, BootstrapResult, _given_key, bootstrap
from tests.fixtures.race import on_stores_at_once
from tests.store.test_conformance import KEY, T0, pg_template, store  # noqa: F401 - fixtures

GIVEN = Settings(account_id="777788889999", bootstrap_access_key_id="AKIAEXAMPLEBOOT00001",
                 bootstrap_secret=Secret("boot-secret-boot-secret-boot-secret-0001"))


def together(store, n: int, start: Callable[[object], BootstrapResult]) -> list[BootstrapResult]:
    """`start` run by n stores of their own on `store`'s database, all released at once."""
    return on_stores_at_once(store, KEY, n, lambda i, s: start(s))


def test_nodes_starting_together_with_configured_keys_all_start(store) -> None:
    results = together(store, 4, lambda s: bootstrap(GIVEN, s, FixedClock(T0)))
    assert {(r.account_id, r.access_key_id, r.secret) for r in results} == {("777788889999", "AKIAEXAMPLEBOOT00001",
                                                                             None)}
    assert [k.access_key_id for k in store.list_access_keys("777788889999", ADMIN_USER)] == ["AKIAEXAMPLEBOOT00001"]
    assert len(store.list_user_policies("777788889999", ADMIN_USER)) == 1
    assert store.get_credential("AKIAEXAMPLEBOOT00001").secret.reveal() == GIVEN.bootstrap_secret.reveal()


def test_nodes_starting_together_with_generated_keys_agree_on_one_account_and_one_key(store) -> None:
    results = together(store, 4, lambda s: bootstrap(Settings(), s, FixedClock(T0)))
    accounts = {r.account_id for r in results}
    assert len(accounts) == 1
    (acct,) = accounts
    keys = store.list_access_keys(acct, ADMIN_USER)
    assert len(keys) == 1                                       # the losers' keys are deleted
    shown = [r for r in results if r.secret is not None]
    assert len(shown) == 1 and shown[0].access_key_id == keys[0].access_key_id      # one secret, printed once
    assert store.get_credential(keys[0].access_key_id).secret.reveal() == shown[0].secret.reveal()
    assert {r.access_key_id for r in results} == {keys[0].access_key_id}


def test_later_starts_report_and_a_contradicting_configured_secret_stops_the_start(store) -> None:
    first = bootstrap(GIVEN, store, FixedClock(T0))
    assert first.created and first.account_id == "777788889999"
    again = bootstrap(GIVEN, store, FixedClock(T0 + 60))
    assert (again.created, again.account_id, again.access_key_id, again.secret) == (
        False, "777788889999", "AKIAEXAMPLEBOOT00001", None)
    moved = Settings(account_id="777788889999", bootstrap_access_key_id="AKIAEXAMPLEBOOT00002",
                     bootstrap_secret=Secret("another-secret-another-secret-000000002"))
    assert bootstrap(moved, store, FixedClock(T0 + 120)).access_key_id == "AKIAEXAMPLEBOOT00002"   # key added later
    store.create_access_key(AccessKey("AKIAEXAMPLEBOOT00003", "777788889999", ADMIN_USER, "Active", T0),
                            Secret("not-the-configured-one"))
    with pytest.raises(SettingsError) as ei:        # the configured id is stored with another secret
        _given_key(store, "777788889999", "AKIAEXAMPLEBOOT00003", Secret("third-secret-third-0003"), T0)
    assert "REGAUTH_BOOTSTRAP_SECRET_ACCESS_KEY" in str(ei.value) and "secret-third" not in str(ei.value)


def test_a_changed_configured_secret_stops_a_later_start(store) -> None:
    """The configured key exists with the first secret: a restart with another secret for the same key
    id must not start as if that secret worked (it is not applied; every call would fail)."""
    bootstrap(GIVEN, store, FixedClock(T0))
    changed = Settings(account_id="777788889999", bootstrap_access_key_id=GIVEN.bootstrap_access_key_id,
                       bootstrap_secret=Secret("a-changed-secret-a-changed-secret-00001"))
    with pytest.raises(SettingsError) as ei:
        bootstrap(changed, store, FixedClock(T0 + 60))
    assert "stored with another secret" in str(ei.value) and "a-changed-secret" not in str(ei.value)
    # the banner names the configured key once one is configured after another
    other = Settings(account_id="777788889999", bootstrap_access_key_id="AKIAEXAMPLEBOOT00002",
                     bootstrap_secret=Secret("another-secret-another-secret-000000002"))
    assert bootstrap(other, store, FixedClock(T0 + 120)).access_key_id == "AKIAEXAMPLEBOOT00002"
    assert bootstrap(GIVEN, store, FixedClock(T0 + 180)).access_key_id == GIVEN.bootstrap_access_key_id


def test_an_account_id_that_is_not_the_store_s_stops_a_later_start(store) -> None:
    bootstrap(GIVEN, store, FixedClock(T0))
    other = Settings(account_id="111122223333", bootstrap_access_key_id=GIVEN.bootstrap_access_key_id,
                     bootstrap_secret=GIVEN.bootstrap_secret)
    with pytest.raises(SettingsError, match="REGAUTH_ACCOUNT_ID 111122223333 is not this store's bootstrap account"):
        bootstrap(other, store, FixedClock(T0 + 60))
    assert bootstrap(Settings(), store, FixedClock(T0 + 120)).account_id == "777788889999"   # unset: fine


def test_configured_keys_past_the_quota_stop_the_start(store) -> None:
    """Each node or restart configured with another bootstrap key adds it, and earlier ones stay
    active: past IAM's two keys a user, the start stops and says which to delete (a fourth node's key
    made four active admin keys, and CreateAccessKey for admin then failed on the quota)."""
    def configured(n: int) -> Settings:
        return Settings(account_id="777788889999", bootstrap_access_key_id=f"AKIAEXAMPLEBOOT0000{n}",
                        bootstrap_secret=Secret(f"configured-secret-configured-secret-000{n}"))

    bootstrap(configured(1), store, FixedClock(T0))
    bootstrap(configured(2), store, FixedClock(T0 + 60))
    with pytest.raises(SettingsError) as ei:
        bootstrap(configured(3), store, FixedClock(T0 + 120))
    assert "AKIAEXAMPLEBOOT00003" in str(ei.value) and "aws iam delete-access-key" in str(ei.value)
    assert "configured-secret" not in str(ei.value)
    assert [k.access_key_id for k in store.list_access_keys("777788889999", ADMIN_USER)] == [
        "AKIAEXAMPLEBOOT00001", "AKIAEXAMPLEBOOT00002"]
    assert bootstrap(configured(1), store, FixedClock(T0 + 180)).access_key_id == "AKIAEXAMPLEBOOT00001"  # stored


def test_nodes_starting_together_with_three_configured_keys_keep_to_the_quota(store) -> None:
    def start(s, n: int) -> str:
        settings = Settings(account_id="777788889999", bootstrap_access_key_id=f"AKIAEXAMPLEBOOT0001{n}",
                            bootstrap_secret=Secret(f"configured-secret-configured-secret-001{n}"))
        try:
            return bootstrap(settings, s, FixedClock(T0)).access_key_id
        except SettingsError:
            return "stopped"

    results = on_stores_at_once(store, KEY, 3, lambda i, s: start(s, i))
    assert sorted(results).count("stopped") == 1
    assert len(store.list_access_keys("777788889999", ADMIN_USER)) == 2


def test_a_configured_key_of_another_user_stops_the_start(store) -> None:
    """The configured key is in the store, with the configured secret, but it is user ci's: it was taken
    as the admin's, and a later start's banner named ci's key as the admin's."""
    from regauth.domain.principals import User

    bootstrap(GIVEN, store, FixedClock(T0))
    store.create_user(User(account_id="777788889999", name="ci", user_id="AIDAEXAMPLECI0000001",
                           arn="arn:aws:iam::777788889999:user/ci", path="/", created_at=T0))
    store.create_access_key(AccessKey("AKIAEXAMPLECIKEY0001", "777788889999", "ci", "Active", T0),
                            Secret("ci-secret-ci-secret-ci-secret-ci-000001"))
    ci = Settings(account_id="777788889999", bootstrap_access_key_id="AKIAEXAMPLECIKEY0001",
                  bootstrap_secret=Secret("ci-secret-ci-secret-ci-secret-ci-000001"))
    with pytest.raises(SettingsError) as ei:
        bootstrap(ci, store, FixedClock(T0 + 60))
    assert "another principal's" in str(ei.value) and "ci-secret" not in str(ei.value)
    assert bootstrap(GIVEN, store, FixedClock(T0 + 120)).access_key_id == GIVEN.bootstrap_access_key_id


def test_a_deleted_configured_key_comes_back_with_a_warning(store, caplog: pytest.LogCaptureFixture) -> None:
    """Deleting the configured key and restarting with it still configured adds it again (the way to
    change its secret), and says so: an operator deleting a leaked key was not told it came back."""
    bootstrap(GIVEN, store, FixedClock(T0))
    store.delete_access_key("777788889999", ADMIN_USER, GIVEN.bootstrap_access_key_id)
    with caplog.at_level("WARNING", logger="regauth.bootstrap"):
        assert bootstrap(GIVEN, store, FixedClock(T0 + 60)).access_key_id == GIVEN.bootstrap_access_key_id
    assert any("added the access key AKIAEXAMPLEBOOT00001" in m for m in caplog.messages), caplog.messages
    with caplog.at_level("WARNING", logger="regauth.bootstrap"):
        caplog.clear()
        bootstrap(GIVEN, store, FixedClock(T0 + 120))     # stored now: nothing said
    assert not caplog.messages
