"""The `regauth` command."""

from __future__ import annotations

import argparse
import sys

from regauth import __version__
from regauth.cli import admin, commands, serve
from regauth.config import SettingsError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="regauth",
        description="Short-lived tokens for package repositories and container registries, "
                    "behind the AWS and Alibaba Cloud GetAuthorizationToken APIs.",
        epilog="Examples:\n  regauth serve --port 8080\n  regauth admin create-account\n",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"regauth {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve.register(sub)
    admin.register(sub)
    commands.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except SettingsError as exc:
        print(f"regauth: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
