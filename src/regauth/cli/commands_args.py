"""Arguments shared by the aws-style commands: the global options, per-command parameters (from the botocore
model or declared by hand), --cli-input-json/--cli-input-yaml and --generate-cli-skeleton."""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import platform
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import botocore
import yaml
from botocore import xform_name
from botocore.loaders import create_loader
from botocore.model import OperationModel, ServiceModel, Shape, StructureShape
from botocore.utils import ArgumentGenerator

from regauth import __version__
from regauth.cli.aws_client import EXIT_PARAMETER, CliError, GlobalOptions
from regauth.cli.output import COLOR_CHOICES, OUTPUT_FORMATS, SampleTime

SKELETON_CHOICES = ("input", "output", "yaml-input")
AUTO_PROMPT_MESSAGE = ("regauth does not support --cli-auto-prompt: pass the parameters as options, or in a "
                       "document with --cli-input-json / --cli-input-yaml (see --generate-cli-skeleton).")


class AwsArgumentParser(argparse.ArgumentParser):
    """An argparse parser that exits 252 on bad parameters (AWS CLI v2) and rejects unknown options itself."""

    def error(self, message: str) -> NoReturn:
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
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text}")
    return value


def global_parent() -> argparse.ArgumentParser:
    """Every option the AWS CLI documents as global, plus the per-operation input/skeleton options."""
    parent = argparse.ArgumentParser(add_help=False)
    inp = parent.add_argument_group("input options")
    inp.add_argument("--cli-input-json", metavar="JSON", help="read parameters from this JSON document (or "
                     "file://path); options given on the command line override it")
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
    g.add_argument("--cli-read-timeout", type=non_negative, metavar="SECONDS",
                   help="socket read timeout; 0 blocks forever (default 60)")
    g.add_argument("--cli-connect-timeout", type=non_negative, metavar="SECONDS",
                   help="socket connect timeout; 0 blocks forever (default 60)")
    g.add_argument("--cli-binary-format", choices=("base64", "raw-in-base64-out"),
                   help="accepted; these operations have no binary parameters")
    g.add_argument("--no-cli-pager", action="store_true", help="accepted; regauth never pages its output")
    g.add_argument("--cli-auto-prompt", action="store_true", help="not supported: exits 252 with a message")
    g.add_argument("--no-cli-auto-prompt", action="store_true", help="accepted (regauth never prompts)")
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


def params_from_shape(shape: StructureShape | None, hidden: tuple[str, ...] = ()) -> tuple[Param, ...]:
    """The operation's input members as parameters; those named in `hidden` are accepted but undocumented."""
    if shape is None:
        return ()
    return tuple(Param(name, _kind(member), name in shape.required_members, doc_overview(member),
                       hidden=name in hidden) for name, member in shape.members.items())


def json_value(text: str) -> Any:
    """A structure, map or list of structures given as JSON (or file://path to it), as the AWS CLI accepts them."""
    try:
        return json.loads(_read_document(text))
    except CliError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"Invalid JSON: {exc}\nJSON received: {text}") from None


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
        elif p.kind == "json":
            group.add_argument(p.flag, dest=p.dest, type=json_value, metavar="<JSON>", help=text)
        elif p.choices:
            group.add_argument(p.flag, dest=p.dest, choices=p.choices, help=text)
        else:
            group.add_argument(p.flag, dest=p.dest, metavar="<value>", help=text)


def _read_document(value: str) -> str:
    if value.startswith("file://"):
        path = Path(os.path.expanduser(value[len("file://"):]))
        try:
            return path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CliError(f"Error parsing parameter: Unable to load paramfile {value}: {exc}", EXIT_PARAMETER)
    return value


def load_cli_input(args: argparse.Namespace) -> dict[str, Any]:
    """The --cli-input-json / --cli-input-yaml document as a dict ({} when neither is given)."""
    if args.cli_input_json is not None and args.cli_input_yaml is not None:
        raise CliError("Only one --cli-input- parameter may be specified.", EXIT_PARAMETER)
    if args.cli_input_json is not None:
        try:
            doc = json.loads(_read_document(args.cli_input_json))
        except ValueError as exc:
            raise CliError(f"Error parsing parameter 'cli-input-json': Invalid JSON: {exc}", EXIT_PARAMETER)
    elif args.cli_input_yaml is not None:
        try:
            doc = yaml.safe_load(_read_document(args.cli_input_yaml))
        except yaml.YAMLError as exc:
            raise CliError(f"Error parsing parameter 'cli-input-yaml': Invalid YAML: {exc}", EXIT_PARAMETER)
    else:
        return {}
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise CliError("Invalid type for --cli-input document: it must be an object (a mapping of parameter names "
                       "to values).", EXIT_PARAMETER)
    return doc


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
            given = _read_document(given)          # file://policy.json, as the AWS CLI reads any parameter
        if given is not None:
            values[p.name] = given
    return values


def missing_required(params: tuple[Param, ...], values: dict[str, Any]) -> list[str]:
    return [p.flag for p in params if p.required and p.name not in values]


# --------------------------------------------------------------------------- skeletons

def input_skeleton(shape: StructureShape | None, params: tuple[Param, ...]) -> dict[str, Any]:
    if shape is not None:
        return dict(ArgumentGenerator().generate_skeleton(shape))
    return {p.name: p.sample() for p in params}


def yaml_input_skeleton(params: tuple[Param, ...]) -> str:
    """Like `aws ... --generate-cli-skeleton yaml-input`: one line per parameter, documented in a comment."""
    if not params:
        return "{}\n"
    lines: list[str] = []
    for p in params:
        comment = " ".join(x for x in ("[REQUIRED]" if p.required else "", p.help) if x)
        comment += f" Valid values are: {', '.join(p.choices)}." if p.choices else ""
        value = yaml.safe_dump(p.sample(), default_flow_style=True).strip().removesuffix("...").strip()
        if p.kind == "list":
            lines += [f"{p.name}:  # {comment}".rstrip(), "- ''"]
        else:
            lines.append(f"{p.name}: {value}  # {comment}".rstrip(" #"))
    return "\n".join(lines) + "\n"


def output_skeleton(shape: StructureShape | None) -> dict[str, Any]:
    """A sample response with the member names as values, as `--generate-cli-skeleton output` prints."""
    if shape is None:
        return {}
    return _naive_times(dict(ArgumentGenerator(use_member_names=True).generate_skeleton(shape)))


def _naive_times(value: Any) -> Any:
    """The skeleton's sample times, printed as the AWS CLI prints them (`output.SampleTime`)."""
    if isinstance(value, datetime.datetime):
        return SampleTime(*value.timetuple()[:6])
    if isinstance(value, dict):
        return {k: _naive_times(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_naive_times(v) for v in value]
    return value
