"""The aws-style client commands: `regauth codeartifact|ecr|ecr-public|sts|iam ...`.

Every operation the server implements is a command (the hand-written rows below, the plain ones in
commands_table.py), plus `codeartifact login` and `ecr|ecr-public get-login-password`. Each command accepts every
global option of the AWS CLI (one shared parent parser), plus --cli-input-json, --cli-input-yaml and
--generate-cli-skeleton. API commands take their parameters from the botocore model, so client-side validation is
exactly botocore's (required, type, min; off with `parameter_validation = false` in the profile, as in the AWS
CLI); the server enforces the rest. Operations with a botocore paginator follow every page unless --no-paginate,
as the AWS CLI does (commands_paging.py). --cli-auto-prompt is a line-based prompt (commands_prompt.py).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable

import botocore.session
from botocore.model import StructureShape
from botocore.validate import ParamValidationError, validate_parameters

from regauth.cli import commands_login
from regauth.cli.commands_paging import Pages, Paging, paginate, paging_for
from regauth.cli.commands_table import API_COMMANDS, REFUSED_NOTE, REFUSED_PARAMS
from regauth.cli.aws_client import (
    EXIT_OTHER, EXIT_PARAMETER, REDACTOR, CliError, aws_timestamp_parser, build_client, call, check_timeouts,
    disable_debug_logging, enable_debug_logging, log, make_session, parameter_validation, scoped_config,
    timeout_seconds,
)
from regauth.cli.commands_args import (
    AwsArgumentParser, Param, add_params, exit_252_on_error, global_options, global_parent, merge_params,
    missing_required, operation_model, params_from_shape, synopsis,
)
from regauth.cli.commands_input import load_cli_input
from regauth.cli.commands_prompt import prompt, prompt_mode, unanswered
from regauth.cli.commands_skeleton import input_skeleton, output_skeleton, yaml_input_skeleton
from regauth.cli.output import OUTPUT_FORMATS, compile_query, render, use_color


@dataclass
class Context:
    """What an action needs: the parsed options, the merged parameters and a way to make clients."""
    spec: CommandSpec
    args: argparse.Namespace
    values: dict[str, Any]
    session: botocore.session.Session

    def client(self, service: str | None = None) -> Any:
        return build_client(service or self.spec.service, global_options(self.args), self.session)

    def print_response(self, response: dict[str, Any] | Pages) -> None:
        output = resolve_output(self.args, self.session)
        query = compile_query(self.args.query) if self.args.query else None
        color = use_color(self.args.color)
        if isinstance(response, Pages):
            sys.stdout.write(response.render(output, title=self.spec.operation, query=query, color=color))
        else:
            sys.stdout.write(render(response, output, title=self.spec.operation, query=query, color=color))


Action = Callable[[Context], int]


@dataclass(frozen=True)
class CommandSpec:
    group: str                # the `regauth <group>` level: codeartifact, ecr, ecr-public, sts, iam
    name: str                 # get-authorization-token, login, ...
    service: str              # botocore service name
    operation: str            # botocore operation name; also the table title
    summary: str
    examples: tuple[str, ...]
    params: tuple[Param, ...] | None = None       # None: the operation's input shape
    action: Action | None = None                  # None: call the operation and print its response
    validate: Callable[[dict[str, Any]], None] | None = None
    sample_output: Callable[[], Any] | None = None
    notes: str = ""

    def input_shape(self) -> StructureShape | None:
        if self.params is not None:
            return None
        return operation_model(self.service, self.operation).input_shape

    def all_params(self) -> tuple[Param, ...]:
        if self.params is not None:
            return self.params
        paging = self.paging()
        return params_from_shape(self.input_shape(), paging.manual if paging else (),
                                 REFUSED_PARAMS.get((self.service, self.operation), ()), REFUSED_NOTE)

    def paging(self) -> Paging | None:
        """The operation's paginator when this command just calls the operation (as the AWS CLI's do)."""
        shape = self.input_shape()
        if self.action is not None or shape is None:
            return None
        return paging_for(self.service, self.operation, {k: v.type_name for k, v in shape.members.items()})


def resolve_output(args: argparse.Namespace, session: botocore.session.Session | None) -> str:
    output = args.output or os.environ.get("AWS_DEFAULT_OUTPUT")
    if not output and session is not None:
        output = scoped_config(session).get("output")
    output = output or "json"
    if output not in OUTPUT_FORMATS:                 # from the environment or the profile: 255, as in AWS CLI v2
        raise CliError(f"Unknown output type: {output}", EXIT_OTHER)
    return str(output)


# --------------------------------------------------------------------------- actions

def _api_call(ctx: Context) -> int:
    paging = ctx.spec.paging()
    config = paging.config(ctx.args, ctx.values) if paging else None
    if config is None:
        ctx.print_response(call(ctx.client(), _python_name(ctx.spec.operation), ctx.values))
    else:
        ctx.print_response(paginate(ctx.client(), _python_name(ctx.spec.operation), ctx.values, config))
    return 0


def _python_name(operation: str) -> str:
    return str(botocore.xform_name(operation))


def _login_password(ctx: Context) -> int:
    response = call(ctx.client(), "get_authorization_token", {})
    data = response.get("authorizationData")
    if isinstance(data, list):
        data = data[0] if data else None
    token = (data or {}).get("authorizationToken")
    if not token:
        raise CliError("The server returned no authorizationData.", EXIT_OTHER)
    try:
        _user, sep, password = base64.b64decode(token, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise CliError("The authorization token is not base64(user:password).", EXIT_OTHER) from None
    if not sep or ":" in password:
        raise CliError("The authorization token is not base64(user:password).", EXIT_OTHER)
    sys.stdout.write(password + "\n")
    return 0


def _validate_against(service: str, operation: str) -> Callable[[dict[str, Any]], None]:
    def check(values: dict[str, Any]) -> None:
        shape = operation_model(service, operation).input_shape
        if shape is not None:
            validate_parameters(values, shape)
    return check


# --------------------------------------------------------------------------- the command table

_GAT_CA = "regauth codeartifact get-authorization-token"
COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("codeartifact", "get-authorization-token", "codeartifact", "GetAuthorizationToken",
                "Generate a temporary authorization token for the repositories of a domain (default 12 hours; "
                "--duration-seconds 0 or 900-43200).",
                (f"{_GAT_CA} --domain test-domain --query authorizationToken --output text",
                 f"{_GAT_CA} --domain test-domain --domain-owner 111122223333 --duration-seconds 900",
                 f"{_GAT_CA} --cli-input-json '{{\"domain\": \"test-domain\", \"durationSeconds\": 3600}}'")),
    CommandSpec("codeartifact", "get-repository-endpoint", "codeartifact", "GetRepositoryEndpoint",
                "Print the URL of a repository's endpoint for one package format.",
                (("regauth codeartifact get-repository-endpoint --domain test-domain --repository my-repo "
                  "--format pypi --query repositoryEndpoint --output text"),)),
    CommandSpec("codeartifact", "login", "codeartifact", "GetAuthorizationToken",
                "Configure pip, twine or npm to use a CodeArtifact repository with a fresh token.",
                ("regauth codeartifact login --tool pip --domain test-domain --repository my-repo",
                 "regauth codeartifact login --tool npm --domain test-domain --repository my-repo --namespace myorg",
                 "regauth codeartifact login --tool twine --domain test-domain --repository my-repo --dry-run"),
                params=commands_login.PARAMS, action=commands_login.run, validate=commands_login.validate,
                sample_output=commands_login.sample_output, notes=commands_login.NOTES),
    CommandSpec("ecr", "get-authorization-token", "ecr", "GetAuthorizationToken",
                "Get a docker login token (base64 of AWS:<password>) for the ECR registry, valid 12 hours.",
                ("regauth ecr get-authorization-token",
                 "regauth ecr get-authorization-token --registry-ids 111122223333 --output text",
                 "regauth ecr get-authorization-token --query 'authorizationData[0].proxyEndpoint' --output text")),
    CommandSpec("ecr", "get-login-password", "ecr", "GetAuthorizationToken",
                "Print the docker password from an ECR authorization token.",
                (("regauth ecr get-login-password --region us-east-1 | docker login --username AWS "
                  "--password-stdin 111122223333.dkr.ecr.us-east-1.amazonaws.com"),),
                params=(), action=_login_password, sample_output=lambda: "password"),
    CommandSpec("ecr-public", "get-authorization-token", "ecr-public", "GetAuthorizationToken",
                "Get an authorization token for ECR Public (us-east-1 only), valid 12 hours.",
                ("regauth ecr-public get-authorization-token --region us-east-1",)),
    CommandSpec("ecr-public", "get-login-password", "ecr-public", "GetAuthorizationToken",
                "Print the docker password for public.ecr.aws (us-east-1 only).",
                (("regauth ecr-public get-login-password --region us-east-1 | docker login --username AWS "
                  "--password-stdin public.ecr.aws"),),
                params=(), action=_login_password, sample_output=lambda: "password"),
    CommandSpec("sts", "get-caller-identity", "sts", "GetCallerIdentity",
                "Show the account, user id and ARN of the credentials in use.",
                ("regauth sts get-caller-identity", "regauth sts get-caller-identity --query Account --output text")),
    *(CommandSpec(group, name, group, operation, summary, examples)
      for group, name, operation, summary, examples in API_COMMANDS),
)

_GROUP_HELP = {
    "codeartifact": "CodeArtifact: authorization tokens, repository endpoints, login for pip/twine/npm, "
                    "domains, repositories and domain policies",
    "ecr": "ECR: registry authorization tokens, docker login passwords and repositories",
    "ecr-public": "ECR Public: authorization tokens and docker login passwords (us-east-1)",
    "sts": "STS: who am I, session tokens and assumed roles",
    "iam": "IAM: users, access keys, roles and their inline policies",
}


# --------------------------------------------------------------------------- registration and running

def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parent = global_parent()
    groups: dict[str, argparse._SubParsersAction] = {}  # type: ignore[type-arg]
    for group, text in _GROUP_HELP.items():
        gp = sub.add_parser(group, help=text, description=text)
        exit_252_on_error(gp)
        groups[group] = gp.add_subparsers(dest=f"{group}_command", required=True, metavar="COMMAND",
                                          parser_class=AwsArgumentParser)
    for spec in sorted(COMMANDS, key=lambda c: c.name):      # each group's commands alphabetically, as aws does
        epilog = "examples:\n" + "\n".join(f"  {e}" for e in spec.examples) + "\n"
        if spec.notes:
            epilog += "\n" + spec.notes
        if spec.paging() is not None:
            epilog += (f"\n{spec.name} is paginated: it follows every page unless --no-paginate; --max-items "
                       "stops early and prints a NextToken for --starting-token.\n")
        epilog += ("\nGlobal options behave as in the AWS CLI. --cli-auto-prompt asks on stderr for each parameter "
                   "not given,\nreading one line of stdin each (an empty line skips an optional one). "
                   f"`... {spec.name} help` prints this.\n"
                   "Exit codes: 252 bad parameters, 253 no region or credentials, 254 service error, 255 other.\n")
        params, paging = spec.all_params(), spec.paging()
        usage = synopsis(f"regauth {spec.group} {spec.name}", params, paging.synopsis() if paging else ())
        p = groups[spec.group].add_parser(spec.name, parents=[parent], help=spec.summary, description=spec.summary,
                                          epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter,
                                          allow_abbrev=True, usage=usage)   # as the AWS CLI: --duration, --endpoint
        if paging is None:
            add_params(p, params)
        else:                   # IAM's MaxItems shares --max-items with the paging option, which reads it
            flags = {flag for flag, *_ in paging.options()}
            add_params(p, tuple(x for x in params if x.flag not in flags))
            paging.add_to(p)
        p.set_defaults(run=_runner(spec, p))


def _runner(spec: CommandSpec, parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        return guarded(f"{spec.group} {spec.name}", args.debug, lambda: run_command(spec, parser, args))
    return run


def guarded(command: str, debug: bool, body: Callable[[], int]) -> int:
    """Run a client command's `body` as the AWS CLI would: --debug logging (redacted), a CliError as its
    message and exit code, a reader that left the pipe as success, anything else as one redacted line
    and exit 255."""
    handler = enable_debug_logging() if debug else None
    try:
        if handler is not None:
            log.debug("regauth %s, arguments: %s", command, REDACTOR(" ".join(sys.argv[1:])))
        return body()
    except CliError as exc:
        _flush_stdout()
        sys.stderr.write(f"\n{REDACTOR(exc.message)}\n")     # it may quote a config file or a tool's output
        return exc.exit_code
    except BrokenPipeError:            # `regauth ... | head -1`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:           # a bug or an unexpected library error: one redacted line, exit 255
        log.debug("unexpected error", exc_info=True)
        _flush_stdout()
        sys.stderr.write(f"\n{REDACTOR(str(exc) or type(exc).__name__)}\n")
        return EXIT_OTHER
    finally:
        if handler is not None:
            disable_debug_logging(handler)


def _flush_stdout() -> None:
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        pass


def run_command(spec: CommandSpec, parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """In the AWS CLI's order: the global settings (timeouts, timestamp format: before anything), the input
    document and the prompt, the skeletons that need no valid input, the required check, then validation."""
    timeout_seconds(args.cli_read_timeout)
    timeout_seconds(args.cli_connect_timeout)
    session = make_session(args.profile)
    timestamps = aws_timestamp_parser(session)
    mode = prompt_mode(args, session)
    if args.query:
        try:
            compile_query(args.query)
        except ValueError as exc:
            raise CliError(str(exc), EXIT_PARAMETER) from None
    params = spec.all_params()
    doc = load_cli_input(args)
    skeleton = args.generate_cli_skeleton
    if skeleton not in ("input", "yaml-input"):
        todo = unanswered(params, doc, args)
        if mode == "on" or (mode == "on-partial" and any(p.required for p in todo)):
            prompt(parser, todo, args)
    values = merge_params(params, doc, args)
    if skeleton == "input":
        sys.stdout.write(json.dumps(input_skeleton(spec.input_shape(), params), indent=4) + "\n")
        return 0
    if skeleton == "yaml-input":
        sys.stdout.write(yaml_input_skeleton(spec.input_shape(), params))
        return 0
    missing = missing_required(params, values)
    if missing:
        parser.error("the following arguments are required: " + ", ".join(missing))
    check_timeouts(global_options(args))
    if parameter_validation(session):
        try:
            (spec.validate or _validate_against(spec.service, spec.operation))(values)
        except ParamValidationError as exc:
            raise CliError(str(exc), EXIT_PARAMETER) from None
    if spec.action is None:               # the commands that print the response: as cli_timestamp_format says
        session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=timestamps)
    ctx = Context(spec, args, values, session)
    if skeleton == "output":
        if spec.sample_output is not None:
            sys.stdout.write(f"{spec.sample_output()}\n")
        else:
            ctx.print_response(output_skeleton(operation_model(spec.service, spec.operation).output_shape))
        return 0
    return (spec.action or _api_call)(ctx)
