"""--cli-auto-prompt as a plain line-based prompt (AWS CLI v2's is a full-screen one).

For each parameter of the operation that was given neither as an option nor in the --cli-input document, required
ones first, one prompt on stderr (`--domain (string) [REQUIRED]: `) and one line read from stdin. The line is taken
as the option's value on the command line would be (a number, a choice, JSON, file://path; a list as shell words;
a boolean as true/false); a value that does not parse is said and asked again. An empty line leaves an optional
parameter out and asks again for a required one; at the end of the input, prompting stops and the usual check
reports what is still required (exit 252). The mode is resolved as the AWS CLI resolves it:
--no-cli-auto-prompt, then --cli-auto-prompt, then AWS_CLI_AUTO_PROMPT, then `cli_auto_prompt` in the profile;
`on-partial` prompts only when a required parameter is missing.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from typing import Any, TextIO

import botocore.session
from botocore.exceptions import ProfileNotFound

from regauth.cli.aws_client import EXIT_PARAMETER, CliError
from regauth.cli.commands_args import Param
from regauth.cli.commands_input import json_param, read_paramfile

_TRUE, _FALSE = ("true", "yes", "y", "1", "on"), ("false", "no", "n", "0", "off")


def prompt_mode(args: argparse.Namespace, session: botocore.session.Session) -> str:
    """on, on-partial or off (any other value of the variable or setting: off, as in the AWS CLI)."""
    if args.cli_auto_prompt and args.no_cli_auto_prompt:
        raise CliError("Both --cli-auto-prompt and --no-cli-auto-prompt cannot be specified at the same time.",
                       EXIT_PARAMETER)
    if args.no_cli_auto_prompt:
        return "off"
    if args.cli_auto_prompt:
        return "on"
    mode = os.environ.get("AWS_CLI_AUTO_PROMPT")
    if mode is None:
        try:
            mode = session.get_scoped_config().get("cli_auto_prompt")
        except ProfileNotFound:
            mode = None
    return str(mode or "off").lower()


def unanswered(params: tuple[Param, ...], doc: dict[str, Any], args: argparse.Namespace) -> list[Param]:
    """The documented parameters given neither as options nor in the input document, required ones first."""
    left = [p for p in params if not p.hidden and p.name not in doc and getattr(args, p.dest, None) is None]
    return [p for p in left if p.required] + [p for p in left if not p.required]


def prompt(parser: argparse.ArgumentParser, todo: list[Param], args: argparse.Namespace,
           stdin: TextIO | None = None, stderr: TextIO | None = None) -> None:
    """Asks for each parameter of `todo` in turn and sets the answers on `args`, as if typed as options."""
    stdin, stderr = stdin or sys.stdin, stderr or sys.stderr
    actions = {a.dest: a for a in parser._actions}
    for p in (x for x in todo if x.dest in actions):     # IAM's MaxItems is read by the paging option instead
        while True:
            if p.help:
                stderr.write(f"{p.help}\n")
            choices = f": {' | '.join(p.choices)}" if p.choices else ""
            stderr.write(f"{p.flag} ({p.kind}{choices}){' [REQUIRED]' if p.required else ''}: ")
            stderr.flush()
            line = stdin.readline()
            if not line:                   # end of input: what is still required is reported by the caller
                stderr.write("\n")
                return
            text = line.strip()
            if not text:
                if p.required:
                    continue
                break
            try:
                setattr(args, p.dest, _value(parser, actions[p.dest], p, text))
                break
            except (argparse.ArgumentError, CliError, ValueError) as exc:
                stderr.write(f"{exc.message if isinstance(exc, CliError) else exc}\n")


def _value(parser: argparse.ArgumentParser, action: argparse.Action, p: Param, text: str) -> Any:
    """`text` as the option's value on the command line; a bad one raises with the message argparse (or the
    parameter parsing the AWS CLI does) would give."""
    if p.kind == "boolean":
        if text.lower() not in _TRUE + _FALSE:
            raise ValueError(f"{p.flag}: expected true or false, got {text!r}")
        return text.lower() in _TRUE
    if p.kind == "list":
        return parser._get_values(action, shlex.split(text))      # type: ignore[attr-defined]
    if p.kind == "json":
        json_param(p.flag, text)           # checked now, so a typo is asked again; parsed with the others later
        return text
    value = parser._get_values(action, [text])                    # type: ignore[attr-defined]
    if isinstance(value, str):
        read_paramfile(p.flag, value)      # a file:// that cannot be read is asked again too
    return value
