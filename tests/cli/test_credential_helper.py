"""docker-credential-regauth's protocol surface (the round trip with skopeo is in
tests/wire/test_registry_realm.py)."""

from __future__ import annotations

import io

import pytest

from regauth.cli.credential_helper import main, registry_host


@pytest.mark.parametrize("server, host", [
    ("127.0.0.1:5000", "127.0.0.1:5000"), ("https://Registry.Example:5000/v2/", "registry.example:5000"),
    ("http://registry.example\n", "registry.example"), ("registry.example/team/app", "registry.example"),
])
def test_the_registry_is_its_host(server: str, host: str) -> None:
    assert registry_host(server) == host


def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), io.StringIO(stdin), out, err)
    return code, out.getvalue(), err.getvalue()


def test_nothing_is_stored_or_listed() -> None:
    assert run("store", stdin='{"ServerURL":"x","Username":"AWS","Secret":"s"}') == (0, "", "")
    assert run("erase", stdin="x") == (0, "", "")
    assert run("list") == (0, "{}\n", "")


def test_get_without_a_registry_and_unknown_actions() -> None:
    assert run("get", stdin="\n") == (1, "no registry on stdin\n", "")
    code, out, err = run("fetch")
    assert code == 2 and out == "" and "usage" in err
    assert run()[0] == 2


def test_help_is_an_answer_not_an_error() -> None:
    code, out, err = run("--help")
    assert code == 0 and err == "" and out.startswith("usage: docker-credential-regauth") and "credHelpers" in out
