"""`aws codeartifact login --tool pip --dry-run` (AWS CLI v2) and the CLI's own examples."""

from __future__ import annotations

import re

from tests.fixtures.server import Keys, RegauthServer, require_program, unique, which_aws_v2
from tests.wire.clients import CliClient, VENV_AWS


def test_login_pip_dry_run_prints_endpoint_and_token(regauth_server: RegauthServer, domain: str,
                                                     token_user: Keys) -> None:
    repo = unique("repo")
    regauth_server.client("codeartifact").create_repository(domain=domain, repository=repo)
    user_policy_ok = regauth_server.client("codeartifact").get_repository_endpoint(
        domain=domain, repository=repo, format="pypi")["repositoryEndpoint"]
    assert user_policy_ok.endswith("/")
    cli = CliClient(regauth_server, require_program(which_aws_v2(), "AWS CLI v2 (Debian awscli)"), "cli-v2")
    proc = cli.run(["codeartifact", "login", "--tool", "pip", "--dry-run", "--domain", domain,
                    "--repository", repo])
    assert proc.returncode == 0, proc.stderr
    m = re.search(r"pip config set global\.index-url (https?)://aws:(\S+)@(\S+)", proc.stdout)
    assert m, proc.stdout
    scheme, tok, rest = m.groups()
    assert tok.startswith("rgca_")
    assert f"{scheme}://{rest}" == user_policy_ok + "simple/"


def test_documented_example_prints_only_the_token(regauth_server: RegauthServer, domain: str) -> None:
    for exe in (which_aws_v2(), str(VENV_AWS) if VENV_AWS.exists() else None):
        cli = CliClient(regauth_server, require_program(exe, "the AWS CLI"), "cli")
        proc = cli.run(["codeartifact", "get-authorization-token", "--domain", domain,
                        "--query", "authorizationToken", "--output", "text"])
        assert proc.returncode == 0, proc.stderr
        assert re.fullmatch(r"rgca_[A-Za-z0-9_.-]+\n", proc.stdout)
