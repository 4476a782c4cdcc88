"""AWS CLI pagination for the commands whose operation has a botocore paginator.

As in the AWS CLI: such a command follows every page by default and prints the merged result; --max-items cuts
it short and adds a `NextToken`, which --starting-token resumes from; --page-size sets the size of each request.
Two formats print page by page instead, as awscli's formatters do: text (one block per page, then a
`NEXTTOKEN<tab>token` line when cut short) and yaml-stream (one document per page, as the server sent it).
The operation's own token and limit parameters (nextToken, maxResults, Marker, ...) are still accepted but left
out of --help; giving one of them, or --no-paginate, makes a single request. IAM's MaxItems shares its flag with
--max-items: it is the page limit when paginating and the operation's own parameter under --no-paginate.
"""

from __future__ import annotations

import argparse
import copy
import functools
from dataclasses import dataclass
from typing import Any

import jmespath
from botocore import xform_name
from botocore.client import BaseClient
from botocore.exceptions import BotoCoreError, ClientError, DataNotFoundError
from botocore.loaders import create_loader
from botocore.paginate import PageIterator
from botocore.utils import set_value_from_jmespath

from regauth.cli.aws_client import EXIT_PARAMETER, CliError, translate
from regauth.cli.output import format_text, format_yaml, render, transform


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


class _Replay(PageIterator):
    """botocore's own merge (build_full_result) over pages already fetched, so that no page is asked for twice."""

    def __init__(self, source: PageIterator, pages: list[dict[str, Any]]) -> None:
        self.__dict__.update(source.__dict__)      # the spent iterator's state (result keys, NextToken), no request
        self._pages = pages

    def __iter__(self) -> Any:
        return iter(self._pages)


@dataclass(frozen=True)
class Pages:
    """What a paginated command got: each page as the server sent it (cut to --max-items), the paginator's result
    keys, the first page's non-aggregate part, the NextToken when cut short, and everything merged."""
    pages: tuple[dict[str, Any], ...]
    result_keys: tuple[Any, ...]
    non_aggregate: dict[str, Any]
    resume_token: str | None
    full: dict[str, Any]

    def render(self, output: str, *, title: str, query: jmespath.parser.ParsedResult | None, color: bool) -> str:
        """awscli's formatters: text and yaml-stream page by page, the others on the merged result."""
        if output == "text":
            return self._text(query)
        if output == "yaml-stream":      # every page, even an empty one, as its own document
            return "".join(format_yaml([transform(page, query)]) for page in self.pages)
        return render(self.full, output, title=title, query=query, color=color)

    def _text(self, query: jmespath.parser.ParsedResult | None) -> str:
        out = []
        for n, page in enumerate(self.pages):
            current = copy.deepcopy(self.non_aggregate) if n == 0 else {}
            for key in self.result_keys:
                set_value_from_jmespath(current, key.expression, key.search(page))
            out.append(format_text(transform(current, query)))
        if self.resume_token:            # through --query too, as awscli does (`None` for most queries)
            out.append(format_text(transform({"NextToken": {"NextToken": self.resume_token}}, query)))
        return "".join(out)


def paginate(client: BaseClient, operation: str, values: dict[str, Any], config: dict[str, Any]) -> Pages:
    """Every page (up to MaxItems); errors as call()'s."""
    try:
        iterator = client.get_paginator(operation).paginate(**values, PaginationConfig=config)
        pages = [dict(page) for page in iterator]
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc) from None
    except ValueError as exc:                      # botocore: "Bad starting token: ..."
        raise CliError(str(exc), EXIT_PARAMETER) from None
    for page in pages:
        page.pop("ResponseMetadata", None)
    kept = copy.deepcopy(pages)                    # build_full_result extends the first page's lists in place
    full = dict(_Replay(iterator, pages).build_full_result())
    return Pages(tuple(kept), tuple(iterator.result_keys), dict(iterator.non_aggregate_part or {}),
                 iterator.resume_token, full)
