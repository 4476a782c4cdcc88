"""One calling convention over the real AWS clients: boto3, AWS CLI v1 (pip) and AWS CLI v2 (Debian).

`call(service, operation, params, keys)` returns the parsed output or raises ApiError with the
error code exactly as that client reports it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import botocore
from botocore.exceptions import ClientError

from tests.fixtures.server import Keys, RegauthServer

VENV_AWS = Path(sys.executable).with_name("aws")
_CLI_ERROR = re.compile(r"An error occurred \(([^)]+)\)")


class ApiError(Exception):
    def __init__(self, code: str, message: str, response: dict | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.response = response or {}


def epoch(value: Any) -> float:
    """Timestamps as each client shows them: datetime (boto3), number (CLI v1), ISO text (CLI v2)."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def _clean_env(keys: Keys, region: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "REGAUTH_"))}
    env.update(keys.env())
    env.update({"AWS_DEFAULT_REGION": region, "AWS_CONFIG_FILE": "/nonexistent", "AWS_PAGER": "",
                "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard"})
    return env


@dataclass
class Boto3Client:
    server: RegauthServer
    name: str = "boto3"

    def call(self, service: str, operation: str, params: dict[str, Any] | None = None, keys: Keys | None = None,
             region: str = "us-east-1", time_prefix: list[str] | None = None) -> dict[str, Any]:
        params = params or {}
        keys = keys or self.server.admin
        method = botocore.xform_name(operation)
        if time_prefix:
            return self._in_subprocess(service, method, params, keys, region, time_prefix)
        client = self.server.client(service, keys, region)
        try:
            out = getattr(client, method)(**params)
        except ClientError as e:
            err = e.response.get("Error", {})
            raise ApiError(err.get("Code", ""), err.get("Message", ""), e.response) from None
        out.pop("ResponseMetadata", None)
        return out

    def _in_subprocess(self, service: str, method: str, params: dict, keys: Keys, region: str,
                       prefix: list[str]) -> dict[str, Any]:
        script = (
            "import boto3, json, sys\n"
            "from botocore.config import Config\n"
            "from botocore.exceptions import ClientError\n"
            f"c = boto3.client({service!r}, endpoint_url={self.server.url!r}, region_name={region!r}, "
            "config=Config(retries={'max_attempts': 1}))\n"
            "try:\n"
            f"    out = getattr(c, {method!r})(**json.loads(sys.argv[1]))\n"
            "    out.pop('ResponseMetadata', None)\n"
            "    print(json.dumps({'ok': out}, default=str))\n"
            "except ClientError as e:\n"
            "    print(json.dumps({'error': e.response['Error']}))\n"
        )
        proc = subprocess.run([*prefix, sys.executable, "-c", script, json.dumps(params)], capture_output=True,
                              text=True, env=_clean_env(keys, region), timeout=120)
        if proc.returncode != 0:
            raise AssertionError(f"boto3 subprocess failed: {proc.stderr[-2000:]}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        if "error" in result:
            raise ApiError(result["error"].get("Code", ""), result["error"].get("Message", ""))
        return result["ok"]


@dataclass
class CliClient:
    server: RegauthServer
    exe: str
    name: str

    def args(self, params: dict[str, Any]) -> list[str]:
        out: list[str] = []
        for key, value in params.items():
            flag = "--" + botocore.xform_name(key, "-")
            if isinstance(value, bool):
                out.append(flag if value else "--no-" + flag[2:])
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                out += [flag, *value]
            elif isinstance(value, (list, dict)):
                out.append(f"{flag}={json.dumps(value)}")
            else:
                out.append(f"{flag}={value}")  # '=' form: values may start with '-'

        return out

    def run(self, argv: list[str], keys: Keys | None = None, region: str = "us-east-1",
            time_prefix: list[str] | None = None) -> subprocess.CompletedProcess:
        cmd = [*(time_prefix or []), self.exe, "--endpoint-url", self.server.url, *argv]
        return subprocess.run(cmd, capture_output=True, text=True, env=_clean_env(keys or self.server.admin, region),
                               timeout=120)

    def call(self, service: str, operation: str, params: dict[str, Any] | None = None, keys: Keys | None = None,
             region: str = "us-east-1", time_prefix: list[str] | None = None) -> dict[str, Any]:
        command = botocore.xform_name(operation, "-")
        proc = self.run(["--output", "json", service, command, *self.args(params or {})], keys, region, time_prefix)
        if proc.returncode == 0:
            return json.loads(proc.stdout) if proc.stdout.strip() else {}
        m = _CLI_ERROR.search(proc.stderr)
        if m is None:
            raise AssertionError(f"{self.name} failed without an AWS error: rc={proc.returncode} {proc.stderr[-2000:]}")
        raise ApiError(m.group(1), proc.stderr.strip())
