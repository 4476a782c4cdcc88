"""`regauth admin list-accounts`, run as the real command against the store of a real server: every
account, each with the users and roles made in it through the IAM API."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fixtures.server import create_account, new_user, regauth_cli, server_env, start_server

TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"},
                                                 "Action": "sts:AssumeRole"}]}


def test_list_accounts_names_every_account_with_its_users_and_roles(tmp_path: Path) -> None:
    server = start_server(tmp_path / "d", server_env("555566667777"))
    try:
        other, other_admin = create_account(server)
        new_user(server, None, name="ci-bot", admin=other_admin)
        server.client("iam", other_admin).create_role(RoleName="deployer", AssumeRolePolicyDocument=json.dumps(TRUST))
        new_user(server, None, name="alice")                        # in the server's own account
        proc = regauth_cli("admin", "list-accounts", data_dir=server.data_dir)
        assert proc.returncode == 0, proc.stderr
        accounts = {a["AccountId"]: a for a in json.loads(proc.stdout)["Accounts"]}
        assert sorted(accounts) == sorted(["555566667777", other])
        assert "alice" in accounts["555566667777"]["Users"] and "ci-bot" not in accounts["555566667777"]["Users"]
        assert "ci-bot" in accounts[other]["Users"] and "alice" not in accounts[other]["Users"]
        assert accounts[other]["Roles"] == ["deployer"] and accounts["555566667777"]["Roles"] == []
        assert "Secret" not in proc.stdout and other_admin.secret_access_key not in proc.stdout
    finally:
        server.stop()
