"""AWS CLI pagination for the commands whose operation has a botocore paginator.

As in the AWS CLI: such a command follows every page by default and prints the merged result; --max-items cuts
it short and adds a `NextToken`, which --starting-token resumes from; --page-size sets the size of each request.
The operation's own token and limit parameters (nextToken, maxResults, Marker, ...) are still accepted but left
out of --help; giving one of them, or --no-paginate, makes a single request. IAM's MaxItems shares its flag with
--max-items: it is the page limit when paginating and the operation's own parameter under --no-paginate.
"""

from __future__ import annotations

import argparse
import functools
from dataclasses import dataclass
from typing import Any

from botocore import xform_name
from botocore.client import BaseClient
from botocore.exceptions import BotoCoreError, ClientError, DataNotFoundError
from botocore.loaders import create_loader

from regauth.cli.aws_client import EXIT_PARAMETER, CliError, translate


@functools.cache
def _paginators(service: str) -> dict[str, Any]:
    try:
        return dict(create_loader().load_service_model(service, "paginators-1").get("pagination", {}))
    except DataNotFoundError:
        return {}


@dataclass(frozen=True)
class Paging:
    """An operation's paginator: its input tokens and limit key, and the options the command adds."""
    input_tokens: tuple[str, ...]
    limit_key: str | None
    limit_type: type

    @property
    def manual(self) -> tuple[str, ...]:
        """The operation's own paging members, hidden from --help (they switch auto-pagination off)."""
        return self.input_tokens + ((self.limit_key,) if self.limit_key else ())

    def options(self) -> tuple[tuple[str, str, type, str], ...]:
        """(flag, PaginationConfig key, type, help) for each option, in the AWS CLI's order."""
        out = [("--starting-token", "StartingToken", str, "a NextToken from a truncated output: resume from there")]
        if self.limit_key:
            out.append(("--page-size", "PageSize", self.limit_type,
                        "the number of items to ask for in each request (not the number printed)"))
        out.append(("--max-items", "MaxItems", int,
                    "the number of items to print; when more remain, the output has a NextToken for "
                    "--starting-token"))
        return tuple(out)

    def synopsis(self) -> tuple[str, ...]:
        return tuple(f"[{flag} <value>]" for flag, *_ in self.options())

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group("pagination")
        groups = parser._action_groups                 # right after "parameters" in --help
        groups.insert(2, groups.pop())
        for flag, key, kind, text in self.options():
            group.add_argument(flag, dest=_dest(key), type=kind, metavar="<value>", help=text)

    def config(self, args: argparse.Namespace, values: dict[str, Any]) -> dict[str, Any] | None:
        """The PaginationConfig to follow the pages with, or None for one request (which may move a shadowed
        --max-items into `values`, as the AWS CLI does for IAM's MaxItems)."""
        given = {key: getattr(args, _dest(key)) for _, key, _, _ in self.options()
                 if getattr(args, _dest(key), None) is not None}
        if not args.no_paginate and not any(name in values for name in self.manual):
            return given
        shadowed = {key for key in given if key in self.manual}
        used = [f"--{xform_name(key, '-')}" for key in given if key not in shadowed]
        if used:
            raise CliError("Cannot specify --no-paginate along with pagination arguments: " + ", ".join(used),
                           EXIT_PARAMETER)
        for key in shadowed:
            values[key] = given[key]
        return None


def _dest(key: str) -> str:
    return "paging_" + key


def paging_for(service: str, operation: str, input_types: dict[str, str]) -> Paging | None:
    """The operation's paginator, or None; `input_types` maps input members to their botocore type names."""
    config = _paginators(service).get(operation)
    if not config:
        return None
    tokens = config["input_token"]
    limit = config.get("limit_key")
    kind = str if limit and input_types.get(limit) == "string" else int
    return Paging(tuple(tokens) if isinstance(tokens, list) else (tokens,), limit, kind)


def paginate(client: BaseClient, operation: str, values: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """Every page (up to MaxItems) merged into one response, with NextToken when cut short; errors as call()'s."""
    try:
        pages = client.get_paginator(operation).paginate(**values, PaginationConfig=config)
        result = dict(pages.build_full_result())
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc) from None
    except ValueError as exc:                      # botocore: "Bad starting token: ..."
        raise CliError(str(exc), EXIT_PARAMETER) from None
    result.pop("ResponseMetadata", None)
    return result
