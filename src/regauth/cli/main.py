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
        from regauth.cli import admin, commands, cr

        admin.register(sub)
        commands.register(sub)
        cr.register(sub)
    return parser


def hoist_global_options(argv: list[str]) -> list[str]:
    """`regauth --endpoint-url URL --region R ecr get-login-password`, as the AWS CLI takes it: global
    options written before the command move after the operation, where each operation's parser reads
    them. Anything else (an unknown option, `--version`, `--help`, no service command after the
    options) is left for argparse to answer as before."""
    if not argv or not argv[0].startswith("--"):
        return argv
    from regauth.cli.commands import _GROUP_HELP
    from regauth.cli.commands_args import global_parent

    actions = {opt: a for a in global_parent()._actions for opt in a.option_strings}
    i = 0
    while i < len(argv) and argv[i].startswith("--"):
        name, eq, _ = argv[i].partition("=")
        action = actions.get(name)
        if action is None or name == "--version":
            return argv
        i += 1
        if eq or action.nargs == 0:
            continue
        if action.nargs == "?":                   # --generate-cli-skeleton [input|yaml-input|output]
            if i < len(argv) and argv[i] in (action.choices or ()):
                i += 1
            continue
        i += 1                                    # an option with a value
    if i >= len(argv) or (argv[i] not in _GROUP_HELP and argv[i] != "cr"):
        return argv
    end = i + 2 if i + 1 < len(argv) and not argv[i + 1].startswith("-") else i + 1
    return [*argv[i:end], *argv[:i], *argv[end:]]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    argv = hoist_global_options(argv)
    # everything after `serve` is parsed by its own subparser, so the others need not exist
    args = build_parser(serve_only=argv[:1] == ["serve"]).parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except SettingsError as exc:
        print(f"regauth: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:              # `regauth admin audit | head -1`: the reader left; not an error
        _quiet_stdout()
        return 0
    except OSError as exc:               # a data dir that cannot be made or read, and the like: one line
        where = f": {exc.filename}" if exc.filename else ""
        print(f"regauth: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1


def _quiet_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null, so the interpreter's last flush raises nothing."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
