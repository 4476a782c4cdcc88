"""At debug, each request's access line carries the request id the client was given, which joins it
to the audit trail."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.fixtures.server import start_server


def test_the_access_line_names_the_request_id(tmp_path: Path) -> None:
    server = start_server(tmp_path / "d", {"REGAUTH_LOG_LEVEL": "debug"})
    try:
        rid = server.client("ecr").get_authorization_token()["ResponseMetadata"]["RequestId"]
        try:
            urllib.request.urlopen(server.url + "/token?service=x", timeout=5)
        except urllib.error.HTTPError as err:
            realm_rid = err.headers["x-request-id"]
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            lines = [line for line in server.output if "regauth.access" in line]
            if any(line.endswith(f" POST / 200 {rid}") for line in lines) and any(
                    line.endswith(f" GET /token 401 {realm_rid}") for line in lines):
                break
            time.sleep(0.05)
        else:
            raise AssertionError("\n".join(server.output[-20:]))
    finally:
        server.stop()
