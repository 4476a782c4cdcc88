"""Arguments shared by the aws-style commands: the global options and the per-command parameters (from the botocore
model or declared by hand), merged with the --cli-input-json/--cli-input-yaml document (commands_input.py)."""

from __future__ import annotations

import argparse
import functools
import platform
import re
import sys
from dataclasses import dataclass
from typing import Any, NoReturn

import botocore
from botocore import xform_name
from botocore.loaders import create_loader
from botocore.model import OperationModel, ServiceModel, Shape, StructureShape

from regauth import __version__
from regauth.cli.aws_client import EXIT_PARAMETER, CliError, GlobalOptions
from regauth.cli.commands_input import json_param, read_paramfile
from regauth.cli.help_word import HelpWordParser
from regauth.cli.output import COLOR_CHOICES, OUTPUT_FORMATS

SKELETON_CHOICES = ("input", "output", "yaml-input")


class AwsArgumentParser(HelpWordParser):
    """An argparse parser that exits 252 on bad parameters (AWS CLI v2) and rejects unknown options itself; a
    word `help` among the options prints the help, as `aws <service> <operation> help` does."""

    def error(self, message: str) -> NoReturn:
        if self._probing:
            super().error(message)
        self.print_usage(sys.stderr)
        self.exit(EXIT_PARAMETER, f"{self.prog}: error: {message}\n")

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error("unrecognized arguments: " + " ".join(extras))
        return parsed, extras


def exit_252_on_error(parser: argparse.ArgumentParser) -> None:
    """Makes a parser this module did not create (a `regauth <service>` level) exit 252 on errors too."""
    def error(message: str) -> NoReturn:
        parser.print_usage(sys.stderr)
        parser.exit(EXIT_PARAMETER, f"{parser.prog}: error: {message}\n")
    setattr(parser, "error", error)


def version_string() -> str:
    return (f"regauth/{__version__} Python/{platform.python_version()} {platform.system()}/{platform.release()} "
            f"botocore/{botocore.__version__}")


def non_negative(text: str) -> int:
    """`regauth cr`'s timeouts (the aws-style commands take theirs as the AWS CLI does: aws_client.timeout_seconds)."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text}")
    return value


def global_parent() -> argparse.ArgumentParser:
    """Every option the AWS CLI documents as global, plus the per-operation input/skeleton options."""
    parent = argparse.ArgumentParser(add_help=False)
    inp = parent.add_argument_group("input options")
    inp.add_argument("--cli-input-json", metavar="JSON", help="read parameters from this JSON document (or "
                     "file://path, fileb://path); options given on the command line override it")
    inp.add_argument("--cli-input-yaml", metavar="YAML", help="the same, as YAML; not together with --cli-input-json")
    inp.add_argument("--generate-cli-skeleton", nargs="?", const="input", choices=SKELETON_CHOICES,
                     help="print an input skeleton (input, the default, or yaml-input) or, after validating the "
                          "parameters, a sample output (output); never sends a request")
    g = parent.add_argument_group("global options")
    g.add_argument("--debug", action="store_true", help="log requests and botocore's debug output to stderr "
                   "(signatures, secret keys, session tokens and issued tokens are redacted)")
    g.add_argument("--endpoint-url", help="the regauth server URL (default: AWS_ENDPOINT_URL*, endpoint_url in "
                                          "~/.aws/config, else the AWS endpoint)")
    g.add_argument("--no-verify-ssl", dest="verify_ssl", action="store_false", help="do not verify TLS certificates")
    g.add_argument("--no-paginate", action="store_true", help="make one request to a paginated operation instead of "
                   "following every page (not with --starting-token, --page-size or --max-items)")
    g.add_argument("--output", choices=OUTPUT_FORMATS, help="output format (default: AWS_DEFAULT_OUTPUT, the "
                                                            "profile's output, else json)")
    g.add_argument("--query", help="a JMESPath expression applied to the response")
    g.add_argument("--profile", help="a profile from ~/.aws/config and ~/.aws/credentials")
    g.add_argument("--region", help="the region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's region)")
    g.add_argument("--version", action="version", version=version_string(), help="print the version and exit")
    g.add_argument("--color", choices=COLOR_CHOICES, default="auto", help="colour table output (auto: on a terminal)")
    g.add_argument("--no-sign-request", action="store_true", help="send the request unsigned; no credentials loaded")
    g.add_argument("--ca-bundle", help="CA certificates to verify TLS with (overrides AWS_CA_BUNDLE)")
    g.add_argument("--cli-read-timeout", metavar="SECONDS",
                   help="socket read timeout; 0 blocks forever (default 60)")
    g.add_argument("--cli-connect-timeout", metavar="SECONDS",
                   help="socket connect timeout; 0 blocks forever (default 60)")
    g.add_argument("--cli-binary-format", choices=("base64", "raw-in-base64-out"),
                   help="accepted; these operations have no binary parameters")
    g.add_argument("--no-cli-pager", action="store_true", help="accepted; regauth never pages its output")
    g.add_argument("--cli-auto-prompt", action="store_true", help="prompt on stderr for each parameter not given, "
                   "required ones first, reading one line of stdin each (also AWS_CLI_AUTO_PROMPT=on|on-partial or "
                   "cli_auto_prompt in the profile; on-partial prompts only when a required parameter is missing)")
    g.add_argument("--no-cli-auto-prompt", action="store_true", help="never prompt, whatever AWS_CLI_AUTO_PROMPT or "
                   "the profile says")
    return parent


def global_options(args: argparse.Namespace) -> GlobalOptions:
    return GlobalOptions(profile=args.profile, region=args.region, endpoint_url=args.endpoint_url,
                         verify_ssl=args.verify_ssl, ca_bundle=args.ca_bundle, read_timeout=args.cli_read_timeout,
                         connect_timeout=args.cli_connect_timeout, no_sign_request=args.no_sign_request)


# --------------------------------------------------------------------------- parameters

@functools.cache
def service_model(service: str) -> ServiceModel:
    """Read straight from botocore's data files: no session, so no ~/.aws or AWS_PROFILE involved here."""
    return ServiceModel(create_loader().load_service_model(service, "service-2"), service_name=service)


def operation_model(service: str, operation: str) -> OperationModel:
    return service_model(service).operation_model(operation)


@dataclass(frozen=True)
class Param:
    name: str                  # the member name, also the key in --cli-input-json documents
    kind: str                  # "string" | "integer" | "boolean" | "list" | "json" (a structure, map or list of them)
    required: bool = False
    help: str = ""
    choices: tuple[str, ...] | None = None
    hidden: bool = False       # accepted but left out of --help and the synopsis (a paginator's own tokens)

    @property
    def flag(self) -> str:
        return "--" + str(xform_name(self.name, "-"))

    @property
    def dest(self) -> str:
        return "param_" + self.name

    def sample(self) -> Any:
        return {"string": "", "integer": 0, "boolean": False, "list": [""], "json": {}}[self.kind]


def doc_overview(shape: Shape) -> str:
    """The first sentence of a model member's documentation, without markup."""
    text = re.sub(r"<[^>]+>", "", getattr(shape, "documentation", "") or "")
    text = " ".join(text.split())
    match = re.match(r"(.+?\.)(\s|$)", text)
    return match.group(1) if match else text


def _kind(shape: Shape) -> str:
    if shape.type_name in ("structure", "map"):
        return "json"
    if shape.type_name == "list":
        return "json" if getattr(shape, "member").type_name in ("structure", "map", "list") else "list"
    return {"long": "integer", "integer": "integer", "boolean": "boolean"}.get(shape.type_name, "string")


def params_from_shape(shape: StructureShape | None, hidden: tuple[str, ...] = (), refused: tuple[str, ...] = (),
                      refused_note: str = "") -> tuple[Param, ...]:
    """The operation's input members as parameters; those named in `hidden` are accepted but undocumented, those
    named in `refused` (the server refuses them) have `refused_note` before their documentation."""
    if shape is None:
        return ()
    return tuple(Param(name, _kind(member), name in shape.required_members,
                       f"{refused_note} {doc_overview(member)}" if name in refused else doc_overview(member),
                       hidden=name in hidden) for name, member in shape.members.items())


def synopsis(prog: str, params: tuple[Param, ...], extra: tuple[str, ...] = ()) -> str:
    """A short usage line in the AWS CLI's synopsis style (the global options are listed under --help)."""
    parts = [prog]
    for p in params:
        if p.hidden:
            continue
        flag = p.flag if p.kind == "boolean" else f"{p.flag} <value>"
        parts.append(flag if p.required else f"[{flag}]")
    parts += [*extra, "[--cli-input-json <value> | --cli-input-yaml <value>]", "[--generate-cli-skeleton <value>]",
              "[global options]"]
    return " ".join(parts)


def add_params(parser: argparse.ArgumentParser, params: tuple[Param, ...]) -> None:
    group = parser.add_argument_group("parameters")
    groups = parser._action_groups            # list the parameters before the shared option groups in --help
    groups.insert(1, groups.pop())
    for p in params:
        text = argparse.SUPPRESS if p.hidden else ("[required] " if p.required else "") + p.help
        if p.kind == "integer":
            group.add_argument(p.flag, dest=p.dest, type=int, metavar="<value>", help=text)
        elif p.kind == "boolean":
            group.add_argument(p.flag, dest=p.dest, action="store_true", default=None, help=text)
        elif p.kind == "list":
            group.add_argument(p.flag, dest=p.dest, nargs="+", metavar="<value>", help=text)
        elif p.kind == "json":        # parsed with the other values (merge_params), errors named as the AWS CLI's
            group.add_argument(p.flag, dest=p.dest, metavar="<JSON>", help=text)
        elif p.choices:
            group.add_argument(p.flag, dest=p.dest, choices=p.choices, help=text)
        else:
            group.add_argument(p.flag, dest=p.dest, metavar="<value>", help=text)


def merge_params(params: tuple[Param, ...], doc: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Values from the input document, overridden by those given as options (file://path: the file's text)."""
    names = [p.name for p in params]
    for key in doc:
        if key not in names:
            raise CliError(f'Parameter validation failed:\nUnknown parameter in input: "{key}", must be one of: '
                           f'{", ".join(names)}', EXIT_PARAMETER)
    values = dict(doc)       # a null stays, and fails validation as in the AWS CLI (not silently dropped)
    for p in params:
        given = getattr(args, p.dest, None)
        if isinstance(given, str) and p.kind == "string":
            given = read_paramfile(p.flag, given)      # file://policy.json, as the AWS CLI reads any parameter
        elif isinstance(given, str) and p.kind == "json":
            given = json_param(p.flag, given)
        if given is not None:
            values[p.name] = given
    return values


def missing_required(params: tuple[Param, ...], values: dict[str, Any]) -> list[str]:
    return [p.flag for p in params if p.required and p.name not in values]
