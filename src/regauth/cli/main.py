"""The `regauth` command."""

from __future__ import annotations

import argparse
import sys

from regauth import __version__
from regauth.cli import serve
from regauth.config import SettingsError


def build_parser(serve_only: bool = False) -> argparse.ArgumentParser:
    """The whole command line; `serve_only` leaves out the other commands, whose parsers come from
    botocore models and the services (~0.5 s of imports and memory a server has no use for)."""
    parser = argparse.ArgumentParser(
        prog="regauth",
        description="Short-lived tokens for package repositories and container registries, "
                    "behind the AWS and Alibaba Cloud GetAuthorizationToken APIs.",
        epilog="Examples:\n  regauth serve --port 8080\n  regauth admin create-account\n",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"regauth {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve.register(sub)
    if not serve_only:
        from regauth.cli import admin, commands

        admin.register(sub)
        commands.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # everything after `serve` is parsed by its own subparser, so the others need not exist
    args = build_parser(serve_only=argv[:1] == ["serve"]).parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except SettingsError as exc:
        print(f"regauth: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
