"""A rule that spans rows is checked against what is stored when the write happens, not against the
reads a request shares with the others served in its turn of the loop (`services.cache`): two writes
under one generation, the second sees the first. In process, on a real SQLite store and the real services."""

from __future__ import annotations

import json

import pytest

from regauth.domain.principals import Caller
from regauth.errors import Conflict, LimitExceeded
from regauth.services.bootstrap import ADMIN_USER
from regauth.services.container import Services
from regauth.services.context import Call
from tests.services.test_registry_principal import ACCT, T0, services  # noqa: F401 - the fixture


def admin_call(services: Services) -> Call:
    admin = services.store.get_user(ACCT, ADMIN_USER)
    caller = Caller(account_id=ACCT, arn=admin.arn, user_id=admin.user_id, kind="user", name=ADMIN_USER,
                    access_key_id="AKIAEXAMPLEADMIN0001")
    return Call(caller=caller, region="us-east-1", now=T0)


def policy(size: int) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/" + "x" * size}]})


def test_a_second_inline_policy_in_the_same_generation_counts_the_first(services: Services) -> None:
    call = admin_call(services)
    services.iam.create_user(call, "dev", None)
    services.iam.create_role(call, "ci", json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ACCT}, "Action": "sts:AssumeRole"}]}), None, None, None)
    services.store.begin_request()                 # one generation read for the writes below
    services.iam.put_user_policy(call, "dev", "one", policy(1400))
    with pytest.raises(LimitExceeded):
        services.iam.put_user_policy(call, "dev", "two", policy(1400))
    services.iam.put_role_policy(call, "ci", "one", policy(6000))
    with pytest.raises(LimitExceeded):
        services.iam.put_role_policy(call, "ci", "two", policy(6000))


def test_a_domain_policy_revision_is_checked_against_the_stored_one(services: Services) -> None:
    call = admin_call(services)
    services.codeartifact.create_domain(call, "acme", None)
    doc = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ACCT}, "Action": "codeartifact:*", "Resource": "*"}]})
    first = services.codeartifact.put_domain_policy(call, "acme", None, None, doc)
    services.store.begin_request()
    services.codeartifact.get_domain_policy(call, "acme", None)       # cached under this generation
    services.codeartifact.put_domain_policy(call, "acme", None, first.revision, doc)
    with pytest.raises(Conflict):                  # the revision it was read at is gone: a lost update
        services.codeartifact.put_domain_policy(call, "acme", None, first.revision, doc)
