"""The `regauth` command."""

from __future__ import annotations

import argparse
import sys

from regauth import __version__
from regauth.cli import serve
from regauth.cli.help_word import HelpWordParser
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
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=HelpWordParser)
    serve.register(sub)
    if not serve_only:
        from regauth.cli import admin, commands, cr

        admin.register(sub)
        commands.register(sub)
        cr.register(sub)
    return parser


def hoist_global_options(argv: list[str]) -> list[str]:
    """The AWS CLI takes its global options anywhere before the operation too: `regauth --endpoint-url URL ecr
    get-login-password`, `regauth sts --query Account get-caller-identity`. Those written before the operation
    move after it, where each operation's parser reads them; `--version` among them prints the version, as
    `aws --endpoint-url URL --version` does, and `regauth <service> help` is `--help`. Anything else (an unknown
    option first, no service command, serve and admin) is left for argparse to answer as before. `help` as
    the last word of `regauth help`, `regauth serve help`, `regauth admin help` and `regauth admin <command>
    help` is `--help` too."""
    if argv and argv[-1] == "help" and (len(argv) == 1 or len(argv) == 2 and argv[0] in ("serve", "admin")
                                        or len(argv) == 3 and argv[0] == "admin" and not argv[1].startswith("-")):
        return [*argv[:-1], "--help"]
    if not argv or argv[0] in ("serve", "admin"):      # theirs are not AWS options; serve loads nothing more
        return argv
    from regauth.cli.commands import _GROUP_HELP

    services = {*_GROUP_HELP, "cr"}
    start, version = _skip_global_options(argv, 0)
    if start is None or start >= len(argv) or argv[start] not in services:
        return ["--version"] if version and start == len(argv) else argv
    before, service = argv[:start], argv[start]
    end, version_after = _skip_global_options(argv, start + 1)
    if end is None:                   # an option the service level does not know (--help): argparse answers
        return [service, *before, *argv[start + 1:]]
    if version or version_after:
        return ["--version"]
    between = argv[start + 1:end]
    if end < len(argv) and argv[end] == "help":
        return [service, "--help"]
    if end < len(argv) and not argv[end].startswith("-"):
        return [service, argv[end], *before, *between, *argv[end + 1:]]
    return [service, *before, *between, *argv[end:]]


def _skip_global_options(argv: list[str], i: int) -> tuple[int | None, bool]:
    """The index of the first word from `i` on that is not a global option or its value (None: an option that is
    not a global one), and whether `--version` was among them."""
    from regauth.cli.commands_args import global_parent

    actions = {opt: a for a in global_parent()._actions for opt in a.option_strings}
    version = False
    while i < len(argv) and argv[i].startswith("--"):
        name, eq, _ = argv[i].partition("=")
        action = actions.get(name)
        if action is None:
            return None, version
        version = version or name == "--version"
        i += 1
        if eq or action.nargs == 0:
            continue
        if action.nargs == "?":                   # --generate-cli-skeleton [input|yaml-input|output]
            if i < len(argv) and argv[i] in (action.choices or ()):
                i += 1
            continue
        i += 1                                    # an option with a value
    return i, version


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
