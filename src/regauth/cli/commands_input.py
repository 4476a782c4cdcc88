"""Parameter values as AWS CLI v2 reads them: file:// and fileb:// documents, JSON parameters, and the
--cli-input-json / --cli-input-yaml document.

The YAML document is parsed by ruamel.yaml as YAML 1.2, as the AWS CLI parses it (PyYAML's YAML 1.1 would read
`domain: no` as false, `01604` as octal and `15:00` as a sexagesimal number). Every error names the parameter the
way the AWS CLI does (`Error parsing parameter '--domain-owner': ...`) and exits 252.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from regauth.cli.aws_client import EXIT_PARAMETER, CliError

_PREFIXES = {"file://": "r", "fileb://": "rb"}


def _error(name: str, message: str) -> CliError:
    return CliError(f"Error parsing parameter '{name}': {message}", EXIT_PARAMETER)


def read_paramfile(name: str, value: str, binary: bool = False) -> str | bytes:
    """`file://path` as the file's text (`fileb://path` as its bytes, where `binary` allows it); any other value
    as it is. `name` is the option as typed in errors (`--policy-document`)."""
    for prefix, mode in _PREFIXES.items():
        if value.startswith(prefix) and (binary or mode == "r"):
            path = os.path.expandvars(os.path.expanduser(value[len(prefix):]))
            try:
                return Path(path).read_bytes() if mode == "rb" else Path(path).read_text(encoding="utf-8")
            except OSError as exc:
                raise _error(name, f"Unable to load paramfile {value}: {exc}") from None
            except UnicodeDecodeError:
                raise _error(name, f"Unable to load paramfile ({path}), text contents could not be decoded.  If this "
                                   "is a binary file, please use the fileb:// prefix instead of the file:// "
                                   "prefix.") from None
    return value


def json_param(name: str, text: str) -> Any:
    """A structure, map or list of structures given as JSON (or file://path to it)."""
    document = read_paramfile(name, text)
    try:
        return json.loads(document)
    except ValueError as exc:
        raise _error(name, f"Invalid JSON: {exc}\nJSON received: {document}") from None


def load_cli_input(args: argparse.Namespace) -> dict[str, Any]:
    """The --cli-input-json / --cli-input-yaml document as a dict ({} when neither is given); it must be a map, as
    the AWS CLI requires (`null` or an empty document is not one)."""
    if args.cli_input_json is not None and args.cli_input_yaml is not None:
        raise CliError("Only one --cli-input- parameter may be specified.", EXIT_PARAMETER)
    if args.cli_input_json is not None:
        name, document = "--cli-input-json", read_paramfile("--cli-input-json", args.cli_input_json, binary=True)
        try:
            doc = json.loads(document)
        except ValueError:
            raise _error("cli-input-json", "Invalid JSON received.") from None
    elif args.cli_input_yaml is not None:
        name, document = "--cli-input-yaml", read_paramfile("--cli-input-yaml", args.cli_input_yaml, binary=True)
        try:
            doc = YAML(typ="safe", pure=True).load(document)
        except (YAMLError, UnicodeDecodeError):
            raise _error("cli-input-yaml", "Invalid YAML received.") from None
    else:
        return {}
    if not isinstance(doc, dict):
        raise _error(name, f"Invalid type: expecting map, received {type(doc)}")
    return doc
