"""bench/instructions.py: the table of instructions per request, and the change against a revision."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import instructions  # noqa: E402  (bench/ is a directory of scripts, not a package)


def test_one_tree_is_one_column() -> None:
    text = instructions.render({"this tree": {"ecr": 500_000, "sts": 250_000}}, ["this tree"], 400, "now")
    assert "| ECR GetAuthorizationToken | 500,000 |" in text
    assert "| STS GetCallerIdentity | 250,000 |" in text
    assert "change" not in text


def test_against_a_revision_the_change_is_this_tree_relative_to_it() -> None:
    counts = {"this tree": {"ecr": 522_000, "acr": 660_000}, "HEAD": {"ecr": 580_000, "acr": 600_000}}
    text = instructions.render(counts, ["this tree", "HEAD"], 400, "now")
    assert "| workload | this tree instr/req | HEAD instr/req | change |" in text
    assert "| ECR GetAuthorizationToken | 522,000 | 580,000 | -10.0% |" in text
    assert "| ACR GetAuthorizationToken (RPC v1) | 660,000 | 600,000 | +10.0% |" in text
