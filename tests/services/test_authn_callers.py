"""Authenticator.caller_of: one Caller per credential object the request-path cache hands out."""

from __future__ import annotations

from regauth.clock import SystemClock
from regauth.domain.principals import Credential, User
from regauth.domain.secret import Secret
from regauth.services.authn import Authenticator

ACCT = "111122223333"


class Users:
    """Just enough of a store for caller_of: users by name, counting reads."""

    def __init__(self) -> None:
        self.reads = 0
        self.users = {"alice": User(ACCT, "alice", "AIDAALICE000000000001", f"arn:aws:iam::{ACCT}:user/alice", "/", 0.0)}

    def get_user(self, account_id: str, name: str) -> User | None:
        self.reads += 1
        return self.users.get(name)


def _cred() -> Credential:
    return Credential("AKIAALICE00000000001", ACCT, Secret("s" * 40), "Active", user_name="alice")


def test_the_same_credential_object_gives_the_same_caller_without_a_store_read() -> None:
    users = Users()
    authn = Authenticator(users, SystemClock(), 900)  # type: ignore[arg-type]
    cred = _cred()
    first = authn.caller_of(cred)
    assert authn.caller_of(cred) is first and users.reads == 1
    assert first.arn == f"arn:aws:iam::{ACCT}:user/alice"


def test_a_new_credential_object_is_looked_up_again() -> None:
    users = Users()
    authn = Authenticator(users, SystemClock(), 900)  # type: ignore[arg-type]
    authn.caller_of(_cred())
    users.users["alice"] = User(ACCT, "alice", "AIDAALICE000000000002", f"arn:aws:iam::{ACCT}:user/team/alice", "/team/",
                                1.0)
    again = authn.caller_of(_cred())        # what the cache hands out after a write: a fresh object
    assert users.reads == 2 and again.arn.endswith("user/team/alice")
