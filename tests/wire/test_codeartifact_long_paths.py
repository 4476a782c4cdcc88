"""A signed CodeArtifact request with a long path is routed as a short one is, over the real server.

Any principal that signs can send one (routing comes before authorization): the router once tried
every suffix of the path, CPU quadratic in its length (seconds for 60 KB, every other client
waiting). tests/protocols/test_route_depth.py counts the router's work; here the server answers a
60 KB path inside the request-head bound as it answers a short one: the same error for a path
that names no operation, and the operation (refused to a principal without permission) for one
whose last segments name it.
"""

from __future__ import annotations

import json

import pytest

from tests.fixtures.server import Keys, RegauthServer, new_user
from tests.wire.test_signed_query_readings import signed_send

PREFIX = "/x" * 30000            # the audit's request: 60 KB, within the 64 KiB request head


@pytest.fixture(scope="module")
def powerless(regauth_server: RegauthServer) -> Keys:
    """A principal allowed nothing at all: it can still have its requests routed."""
    return new_user(regauth_server, None)


def _answer(server: RegauthServer, keys: Keys, method: str, path: str) -> tuple[int, str, str]:
    status, kind, body = signed_send(server, keys, "codeartifact", method, path, "domain=dd")
    return status, kind, json.loads(body)["message"]


@pytest.mark.parametrize(("method", "tail"), [
    ("GET", "/v1/domainx"), ("POST", "/v1/authorization-tokens"), ("PUT", "/v1/nothing/here/at/all"),
])
def test_a_long_path_naming_no_operation_gets_the_unknown_path_error(regauth_server: RegauthServer,
                                                                    powerless: Keys, method: str, tail: str) -> None:
    status, kind, message = _answer(regauth_server, powerless, method, "/x" + tail)
    assert (status, kind) == (404, "UnknownOperationException")
    assert message.startswith(f"No operation matches {method} /x")
    long_status, long_kind, long_message = _answer(regauth_server, powerless, method, PREFIX + tail)
    assert (long_status, long_kind) == (status, kind)
    assert long_message.startswith(f"No operation matches {method} /x/x/x")


@pytest.mark.parametrize(("method", "tail"), [("GET", "/v1/domain"), ("POST", "/v1/authorization-token")])
def test_a_long_prefix_before_an_operation_still_reaches_it(regauth_server: RegauthServer, powerless: Keys,
                                                           method: str, tail: str) -> None:
    short = _answer(regauth_server, powerless, method, tail)
    assert short[:2] == (403, "AccessDeniedException")
    assert _answer(regauth_server, powerless, method, PREFIX + tail) == short
