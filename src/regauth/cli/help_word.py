"""`help` as a word: `regauth <command> [options] help` prints the command's help, as
`aws <service> <operation> help` does, whatever else is given, missing or wrong."""

from __future__ import annotations

import argparse
from typing import Any, NoReturn


class HelpWordParser(argparse.ArgumentParser):
    """An argparse parser for which a word `help` that is no option's value asks for the help."""

    _probing = False

    def error(self, message: str) -> NoReturn:
        if self._probing:
            raise _Probe(message)
        super().error(message)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        if args is not None and "help" in args and self._asks_for_help(list(args)):
            self.print_help()           # before the check of required options: `cr get-login-password help`
            self.exit(0)
        parsed, extras = super().parse_known_args(args, namespace)
        if "help" in extras:
            self.print_help()
            self.exit(0)
        return parsed, extras

    def _asks_for_help(self, args: list[str]) -> bool:
        """Whether `help` is among the words that are no option's value, whatever else is wrong or missing."""
        required = [a for a in self._actions if a.required]
        groups = [g for g in self._mutually_exclusive_groups if g.required]
        for item in (*required, *groups):
            item.required = False
        self._probing = True
        try:
            _, extras = super().parse_known_args(args, argparse.Namespace())
        except _Probe:
            return False
        finally:
            self._probing = False
            for item in (*required, *groups):
                item.required = True
        return "help" in extras


class _Probe(Exception):
    """An error met while `HelpWordParser._asks_for_help` looks: it is answered by the real parse."""
