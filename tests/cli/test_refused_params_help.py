"""The parameters botocore's models offer but regauth's server refuses (ValidationError, never ignored): each such
option's help says so, in `--help` and in `... help`, and the CLI's list is the server's."""

from __future__ import annotations

import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore import xform_name
from botocore.exceptions import ClientError

from regauth.cli.commands_args import operation_model
from regauth.cli.commands_table import REFUSED_PARAMS
from tests.fixtures.server import REPO, RegauthServer, unique
from tests.cli.test_commands import REGAUTH

pytestmark = pytest.mark.wire

# (service, operation) -> (group, command): the commands whose help must carry the note
COMMANDS = {("sts", "AssumeRole"): ("sts", "assume-role"), ("sts", "GetSessionToken"): ("sts", "get-session-token"),
            ("iam", "CreateUser"): ("iam", "create-user"), ("iam", "CreateRole"): ("iam", "create-role")}

SAYS = "regauth: not supported; the server refuses requests that set it"
_TRUST = '{"Version": "2012-10-17", "Statement": []}'
REQUIRED: dict[tuple[str, str], dict[str, Any]] = {
    ("sts", "AssumeRole"): {"RoleArn": "arn:aws:iam::123456789012:role/nobody", "RoleSessionName": "build-42"},
    ("sts", "GetSessionToken"): {},
    ("iam", "CreateUser"): {"UserName": "refused-user"},
    ("iam", "CreateRole"): {"RoleName": "refused-role", "AssumeRolePolicyDocument": _TRUST},
}
VALUES: dict[str, Any] = {
    "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}], "Tags": [{"Key": "team", "Value": "a"}],
    "TransitiveTagKeys": ["team"], "SourceIdentity": "alice", "SerialNumber": "arn:aws:iam::123456789012:mfa/alice",
    "TokenCode": "123456", "PermissionsBoundary": "arn:aws:iam::aws:policy/ReadOnlyAccess",
    "ProvidedContexts": [{"ProviderArn": "arn:aws:iam::aws:contextProvider/IdentityCenter",
                          "ContextAssertion": "assertion"}],
}


def test_the_cli_lists_what_the_server_refuses() -> None:
    from regauth.protocols.aws.handlers import _ASSUME_ROLE_UNSUPPORTED, _CREATE_UNSUPPORTED

    assert set(REFUSED_PARAMS) == set(COMMANDS)
    assert REFUSED_PARAMS[("sts", "AssumeRole")] == _ASSUME_ROLE_UNSUPPORTED
    assert REFUSED_PARAMS[("sts", "GetSessionToken")] == ("SerialNumber", "TokenCode")   # handlers._mfa_given
    assert REFUSED_PARAMS[("iam", "CreateUser")] == REFUSED_PARAMS[("iam", "CreateRole")] == _CREATE_UNSUPPORTED
    for (service, operation), names in REFUSED_PARAMS.items():
        assert set(names) <= set(operation_model(service, operation).input_shape.members), operation


@pytest.mark.parametrize("op", sorted(REFUSED_PARAMS), ids=lambda op: op[1])
def test_the_server_refuses_each_one(regauth_server: RegauthServer, op: tuple[str, str]) -> None:
    service, operation = op
    client = regauth_server.client(service)
    for name in REFUSED_PARAMS[op]:
        params = {**REQUIRED[op], name: VALUES[name]}
        for key in ("UserName", "RoleName"):
            if key in params:
                params[key] = unique(params[key])
        with pytest.raises(ClientError) as caught:
            getattr(client, xform_name(operation))(**params)
        error = caught.value.response["Error"]
        assert error["Code"] == "ValidationError" and name in error["Message"], (name, error)


def parameter_help(text: str) -> dict[str, str]:
    """The `parameters:` section of a command's help: each option's flag and its help, on one line."""
    section = text.split("\nparameters:\n", 1)[1].split("\n\n", 1)[0]
    entries = re.split(r"\n  (?=--)", "\n" + section)[1:]
    return {entry.split()[0]: " ".join(entry.split()) for entry in entries}


def help_text(argv: tuple[str, ...]) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "REGAUTH_"))}
    proc = subprocess.run([*REGAUTH, *argv], capture_output=True, text=True, cwd=REPO, timeout=60,
                          env={**env, "COLUMNS": "100"})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_each_refused_option_says_so_in_its_help() -> None:
    runs = [(op, (*COMMANDS[op], how)) for op in sorted(REFUSED_PARAMS) for how in ("--help", "help")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        texts = list(pool.map(lambda run: help_text(run[1]), runs))
    for (op, argv), text in zip(runs, texts):
        options = parameter_help(text)
        refused = {"--" + xform_name(name, "-") for name in REFUSED_PARAMS[op]}
        assert refused <= set(options), (argv, options)
        for flag, line in options.items():
            assert (SAYS in line) == (flag in refused), (argv, line)
