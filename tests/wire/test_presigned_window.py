"""A presigned URL (boto3's generate_presigned_url) is honoured within the signature window only,
whatever X-Amz-Expires it carries (up to a week): STS gives a presigned GetCallerIdentity 15 minutes
whatever it says, and here every operation mints or changes credentials, so a URL leaked from a
proxy's log must not work for a week."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures.server import server_env, start_server

pytestmark = pytest.mark.wire
WINDOW = 2                  # REGAUTH_SIGNATURE_WINDOW_SECONDS, the least it may be


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_a_week_long_presigned_url_expires_with_the_window(tmp_path: Path) -> None:
    server = start_server(tmp_path / "d", {**server_env(), "REGAUTH_SIGNATURE_WINDOW_SECONDS": str(WINDOW)})
    try:
        url = server.client("sts").generate_presigned_url(      # signed for a GET, as it is used
            "get_caller_identity", ExpiresIn=604800, HttpMethod="GET")
        assert "X-Amz-Expires=604800" in url
        status, body = _get(url)
        assert status == 200 and b"<GetCallerIdentityResult>" in body, body[:300]
        time.sleep(WINDOW + 1.5)
        status, body = _get(url)
        assert status == 403 and b"<ErrorResponse" in body and b"Request has expired" in body, body[:300]
    finally:
        server.stop()
