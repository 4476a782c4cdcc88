"""A SQLite store deleted under a running server takes no more writes through SQLAlchemy either: once
an IAM or STS write has opened a pooled connection, that connection would go on writing the unlinked
file (a role, a session's sealed secret), answered 200 and lost at the restart, which is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.server import start_server


def test_writes_through_sqlalchemy_fail_once_the_store_is_deleted(tmp_path: Path) -> None:
    from botocore.exceptions import ClientError

    server = start_server(tmp_path / "d")
    try:
        iam, sts = server.client("iam"), server.client("sts")
        trust = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": server.account_id}, "Action": "sts:AssumeRole"}]})
        allow = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}]})
        role = iam.create_role(RoleName="before", AssumeRolePolicyDocument=trust)["Role"]    # opens the pool
        assert sts.get_session_token()["Credentials"]["AccessKeyId"].startswith("ASIA")
        for name in ("regauth.db", "regauth.db-wal", "regauth.db-shm"):
            (tmp_path / "d" / name).unlink(missing_ok=True)
        for call in (lambda: iam.create_role(RoleName="after", AssumeRolePolicyDocument=trust),
                     lambda: iam.put_role_policy(RoleName="before", PolicyName="p", PolicyDocument=allow),
                     lambda: sts.get_session_token(),
                     lambda: sts.assume_role(RoleArn=role["Arn"], RoleSessionName="after")):
            with pytest.raises(ClientError) as err:
                call()
            assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert any("was deleted or replaced while the server ran" in line for line in server.output)
        assert not (tmp_path / "d" / "regauth.db").exists()
        # each failed request is one line saying the store is unavailable, not a traceback
        assert any("the store is unavailable: the database file" in line for line in server.output)
        assert not any("Traceback" in line for line in server.output), "\n".join(server.output)
    finally:
        server.stop()
