"""`regauth admin rotate-registry-ca`'s arguments, run as the real command against the store of a running
server: --force belongs to --finish, and with another step it is a usage error (exit 2) that changes nothing,
not an option silently dropped."""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.cli.test_admin_prune import admin
from tests.fixtures.server import RegauthServer, server_env, start_server

pytestmark = pytest.mark.wire


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegauthServer]:
    s = start_server(tmp_path_factory.mktemp("regauth-ca-args"), server_env("777788889999"))
    yield s
    s.stop()


def bundle(server: RegauthServer) -> str:
    proc = admin(server, "registry-ca")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_force_with_prepare_or_activate_is_a_usage_error_that_changes_nothing(server: RegauthServer) -> None:
    before = bundle(server)
    assert before.count("BEGIN CERTIFICATE") == 1
    for step in ("--prepare", "--activate"):
        proc = admin(server, "rotate-registry-ca", step, "--force")
        assert proc.returncode == 2 and proc.stdout == "", proc.stdout
        lines = proc.stderr.splitlines()
        assert lines[0].startswith("usage: regauth admin rotate-registry-ca"), proc.stderr
        assert lines[-1] == (f"regauth admin rotate-registry-ca: error: argument --force: only with --finish, "
                             f"not with {step}"), proc.stderr
    assert bundle(server) == before                          # no next CA was made
    prepared = admin(server, "rotate-registry-ca", "--prepare")   # the store is as it was: the step itself works
    assert prepared.returncode == 0, prepared.stderr
    assert bundle(server).count("BEGIN CERTIFICATE") == 2
