"""Running `regauth serve` and `regauth admin` that are expected to stop by themselves, and reading
their one-line refusals (tests of what they check before they act)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.fixtures.server import REPO


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith(("REGAUTH_", "AWS_"))}, **(extra or {})}


def serve_once(data: Path | str, env: dict[str, str] | None = None, prefix: list[str] | None = None,
               **kwargs: object) -> subprocess.CompletedProcess:
    """`regauth serve` expected to stop by itself (a server that starts instead fails on the timeout)."""
    return subprocess.run([*(prefix or []), sys.executable, "-m", "regauth", "serve", "--port", "0",
                           "--data-dir", str(data)], capture_output=True, text=True, env=clean_env(env),
                          cwd=kwargs.pop("cwd", REPO), timeout=30, **kwargs)  # type: ignore[call-overload]


def admin(*args: str, data: Path | str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "regauth", "admin", *args, "--data-dir", str(data)],
                          capture_output=True, text=True, env=clean_env(env), cwd=REPO, timeout=60)


def one_line(proc: subprocess.CompletedProcess, code: int = 2) -> str:
    """The refusal on standard error: exit `code`, one line, no traceback."""
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    return proc.stderr.strip()
