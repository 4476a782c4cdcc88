"""Global options before the command, as people type them for the AWS CLI (`aws --endpoint-url E ecr ...`)."""

from __future__ import annotations

import pytest

from regauth.cli.main import hoist_global_options

E = "http://127.0.0.1:8080"


@pytest.mark.parametrize("argv, expected", [
    (["--endpoint-url", E, "ecr", "get-login-password"], ["ecr", "get-login-password", "--endpoint-url", E]),
    (["--endpoint-url=" + E, "--debug", "--region", "us-east-1", "codeartifact", "login", "--tool", "pip"],
     ["codeartifact", "login", "--endpoint-url=" + E, "--debug", "--region", "us-east-1", "--tool", "pip"]),
    (["--generate-cli-skeleton", "sts", "get-caller-identity"],        # its value is optional: "sts" is not one
     ["sts", "get-caller-identity", "--generate-cli-skeleton"]),
    (["--generate-cli-skeleton", "output", "sts", "get-caller-identity"],
     ["sts", "get-caller-identity", "--generate-cli-skeleton", "output"]),
    (["--output", "text", "ecr", "--help"], ["ecr", "--output", "text", "--help"]),
    # between the service and the operation too, as the AWS CLI takes them
    (["--endpoint-url", E, "sts", "--query", "Account", "get-caller-identity"],
     ["sts", "get-caller-identity", "--endpoint-url", E, "--query", "Account"]),
    (["sts", "--output", "text", "--debug", "get-caller-identity", "--region", "r"],
     ["sts", "get-caller-identity", "--output", "text", "--debug", "--region", "r"]),
    (["--endpoint-url", E, "--version"], ["--version"]),                 # aws prints its version, exit 0
    (["sts", "--version"], ["--version"]),
    (["--endpoint-url", E, "sts", "--version"], ["--version"]),
    (["sts", "help"], ["sts", "--help"]),
    (["--region", "r", "iam", "help"], ["iam", "--help"]),
    (["help"], ["--help"]),
    (["admin", "help"], ["admin", "--help"]),
    (["admin", "audit", "help"], ["admin", "audit", "--help"]),
])
def test_options_move_after_the_operation(argv: list[str], expected: list[str]) -> None:
    assert hoist_global_options(argv) == expected


@pytest.mark.parametrize("argv", [
    ["ecr", "get-login-password", "--endpoint-url", E],         # already where the parser reads them
    ["--version"], ["--help"], ["--endpoint-url", E],           # no command: argparse answers
    ["--endpoint-url", E, "serve"], ["--endpoint-url", E, "admin", "audit"],   # not AWS-style commands
    ["--no-such-option", "ecr", "get-login-password"],           # argparse says what is wrong
    ["serve", "--data-dir", "help"], ["admin", "audit", "--limit", "help"],    # a value, not the word
])
def test_everything_else_is_left_alone(argv: list[str]) -> None:
    assert hoist_global_options(argv) == argv
