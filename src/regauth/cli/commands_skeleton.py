"""--generate-cli-skeleton: input (JSON), yaml-input and output, as AWS CLI v2 prints them.

The samples come from botocore's ArgumentGenerator as AWS CLI v2's copy of botocore has it: an enum's first value
(pip's botocore picks one at random, so two runs would differ). yaml-input is awscli's YAMLArgumentGenerator:
ruamel.yaml's round-trip dumper, each member with its first documentation sentence as a comment, nested
structures and lists of structures written out member by member, so the skeleton can be filled in and fed back.
"""

from __future__ import annotations

import datetime
import io
import re
import xml.dom.minidom
import xml.parsers.expat
from typing import Any

from botocore.model import Shape, StructureShape
from botocore.utils import ArgumentGenerator
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.representer import RoundTripRepresenter

from regauth.cli.commands_args import Param
from regauth.cli.output import SampleTime


class _Generator(ArgumentGenerator):
    """ArgumentGenerator with AWS CLI v2's choice of an enum's first value."""

    def _generate_skeleton(self, shape: Shape, stack: list[str], name: str = "") -> Any:
        if shape.type_name == "string" and getattr(shape, "enum", None) and not self._use_member_names:
            return shape.enum[0]
        return super()._generate_skeleton(shape, stack, name)


class _Bytes:
    """A blob member: an empty !!binary scalar, as awscli writes it."""


class _Representer(RoundTripRepresenter):
    """ruamel's round-trip representer (awscli's) with blobs; a subclass so that ruamel's own stays as is."""


_Representer.add_representer(_Bytes, lambda dumper, _: dumper.represent_scalar("tag:yaml.org,2002:binary", ""))


def _round_trip() -> YAML:
    dumper = YAML()
    dumper.Representer = _Representer
    return dumper


def doc_overview(shape: Shape) -> str:
    """awscli's get_shape_doc_overview: the text of the documentation up to the first `.` or `:`, line breaks
    made spaces (leading spaces kept, hence aws's `# [REQUIRED]  The name ...`)."""
    documentation = getattr(shape, "documentation", "") or ""
    try:
        dom = xml.dom.minidom.parseString(f"<doc>{documentation}</doc>")
        text = "".join(_texts(dom))
    except xml.parsers.expat.ExpatError:
        text = documentation
    text = re.split(r"[.:]+", text, maxsplit=1)[0]
    text = text + "." if text else text
    return text.replace("\n", " ").replace("\u2028", " ")


def _texts(node: Any) -> list[str]:
    out: list[str] = []
    for child in node.childNodes:
        out += [child.data] if child.nodeType == node.TEXT_NODE else _texts(child)
    return out


class _YamlGenerator(_Generator):
    """awscli's YAMLArgumentGenerator."""

    def _generate_skeleton(self, shape: Shape, stack: list[str], name: str = "") -> Any:
        if shape.type_name == "blob":
            return _Bytes()
        return super()._generate_skeleton(shape, stack, name)

    def _generate_type_structure(self, shape: StructureShape, stack: list[str]) -> CommentedMap:
        skeleton = CommentedMap()
        if stack.count(shape.name) > 1:
            return skeleton
        for member, member_shape in shape.members.items():
            skeleton[member] = self._generate_skeleton(member_shape, stack, name=member)
            parts = ["[REQUIRED]"] if member in shape.required_members else []
            parts.append(doc_overview(member_shape))
            if getattr(member_shape, "enum", None):
                parts.append(f"Valid values are: {', '.join(member_shape.enum)}.")
            comment = " ".join(parts)
            if comment and not comment.isspace():
                skeleton.yaml_add_eol_comment("# " + comment, member)
        return skeleton

    def _generate_type_map(self, shape: Shape, stack: list[str]) -> dict[str, Any]:
        return dict(super()._generate_type_map(shape, stack))


def input_skeleton(shape: StructureShape | None, params: tuple[Param, ...]) -> dict[str, Any]:
    if shape is not None:
        return dict(_Generator().generate_skeleton(shape))
    return {p.name: p.sample() for p in params}


def yaml_input_skeleton(shape: StructureShape | None, params: tuple[Param, ...]) -> str:
    """`--generate-cli-skeleton yaml-input`: from the operation's input shape, or the parameters a hand-written
    command declares (commented the same way)."""
    if shape is not None:
        skeleton = _YamlGenerator().generate_skeleton(shape)
    else:
        skeleton = CommentedMap()
        for p in params:
            skeleton[p.name] = p.sample()
            comment = " ".join(x for x in ("[REQUIRED]" if p.required else "", p.help) if x)
            comment += f" Valid values are: {', '.join(p.choices)}." if p.choices else ""
            if comment:
                skeleton.yaml_add_eol_comment("# " + comment, p.name)
    out = io.StringIO()
    _round_trip().dump(skeleton, out)
    return out.getvalue()


def output_skeleton(shape: StructureShape | None) -> dict[str, Any]:
    """A sample response with the member names as values, as `--generate-cli-skeleton output` prints."""
    if shape is None:
        return {}
    return _naive_times(dict(_Generator(use_member_names=True).generate_skeleton(shape)))


def _naive_times(value: Any) -> Any:
    """The skeleton's sample times, printed as the AWS CLI prints them (`output.SampleTime`)."""
    if isinstance(value, datetime.datetime):
        return SampleTime(*value.timetuple()[:6])
    if isinstance(value, dict):
        return {k: _naive_times(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_naive_times(v) for v in value]
    return value
