"""The aws-style output formats: json, text, table, yaml, yaml-stream, with --query applied first.

Responses arrive with their timestamps formatted (aws_client.aws_timestamp_parser: `cli_timestamp_format`);
a datetime given here directly is printed as ISO 8601 in UTC. The text and table layouts follow awscli's `text.py`
and `table.py`; YAML is ruamel.yaml's safe dumper, as AWS CLI v2 uses it (keys sorted, YAML 1.2 quoting, 80 columns).
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import sys
import unicodedata
from datetime import datetime, timezone
from typing import Any, Iterable

import jmespath
import jmespath.exceptions
from ruamel.yaml import YAML
from ruamel.yaml.representer import SafeRepresenter

OUTPUT_FORMATS = ("json", "text", "table", "yaml", "yaml-stream")
COLOR_CHOICES = ("on", "off", "auto")


class SampleTime(datetime):
    """A sample time in `--generate-cli-skeleton output`: printed as the AWS CLI prints its samples,
    unconverted (`1970-01-01T00:00:00` in JSON, `1970-01-01 00:00:00` in text, tables and YAML)."""


class _Representer(SafeRepresenter):
    """ruamel's safe representer (the AWS CLI's), also for SampleTime; a subclass so that ruamel's own stays as is."""


_Representer.add_representer(SampleTime, SafeRepresenter.represent_datetime)


def _yaml() -> YAML:
    """As awscli's YAMLDumper: ruamel's C emitter (ruamel.yaml.clib, libyaml), which keeps a long token on its key's
    line where ruamel's pure-Python emitter would move it to the next one."""
    dumper = YAML(typ="safe")
    dumper.Representer = _Representer
    dumper.default_flow_style = False
    return dumper


def _json_default(value: Any) -> Any:
    if isinstance(value, SampleTime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def to_plain(value: Any) -> Any:
    """JSON-able data: datetimes → ISO 8601 (UTC, naive ones taken as UTC), bytes → base64.
    SampleTime stays as it is (see there)."""
    if isinstance(value, SampleTime):
        return value
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return aware.astimezone(timezone.utc).isoformat()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def compile_query(expression: str) -> jmespath.parser.ParsedResult:
    """Compiles --query; a bad expression raises ValueError with the AWS CLI's wording."""
    try:
        return jmespath.compile(expression)
    except jmespath.exceptions.JMESPathError as exc:
        raise ValueError(f"Bad value for --query {expression}: {exc}") from None


def use_color(color: str, stream: Any = None) -> bool:
    """--color on|off|auto: auto colours only when the output stream is a terminal."""
    if color == "on":
        return True
    if color == "off":
        return False
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


def render(data: Any, output: str = "json", *, title: str = "", query: jmespath.parser.ParsedResult | None = None,
           color: bool = False, width: int | None = None) -> str:
    """The full text to print for one response."""
    plain = transform(data, query)
    if output == "json":
        return format_json(plain)
    if output == "text":
        return format_text(plain)
    if output == "table":
        return format_table(plain, title, color=color, width=width)
    if output == "yaml":
        return format_yaml(plain)
    if output == "yaml-stream":
        return format_yaml_stream(plain)
    raise ValueError(f"Unknown output type: {output}")


def transform(data: Any, query: jmespath.parser.ParsedResult | None = None) -> Any:
    """What the formatters print: plain data, without ResponseMetadata, through --query."""
    plain = to_plain(data)
    if isinstance(plain, dict):
        plain.pop("ResponseMetadata", None)
    return query.search(plain) if query is not None else plain


# --------------------------------------------------------------------------- json / yaml

def format_json(data: Any) -> str:
    if data == {}:
        return ""
    return json.dumps(data, indent=4, ensure_ascii=False, default=_json_default) + "\n"


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, (dict, list))


def format_yaml(data: Any) -> str:
    if data == {}:
        return ""
    if _is_scalar(data):       # as awscli does: a bare scalar is printed as JSON, not as a YAML document
        return json.dumps(data, ensure_ascii=False, default=_json_default) + "\n"
    out = io.StringIO()
    _yaml().dump(data, out)
    return out.getvalue()


def format_yaml_stream(data: Any) -> str:
    if data == {}:
        return ""
    return format_yaml([data])


# --------------------------------------------------------------------------- text (awscli text.py)

def format_text(data: Any) -> str:
    out: list[str] = []
    _text(data, out)
    return "".join(out)


def _text(item: Any, out: list[str], identifier: str | None = None, scalar_keys: list[str] | None = None) -> None:
    if isinstance(item, dict):
        _text_dict(item, out, identifier, scalar_keys)
    elif isinstance(item, list):
        _text_list(item, out, identifier)
    else:
        out.append(f"{item}\n")


def _text_list(items: list[Any], out: list[str], identifier: str | None) -> None:
    if not items:
        return
    if any(isinstance(el, dict) for el in items):
        keys = sorted({k for el in items if isinstance(el, dict) for k, v in el.items() if _is_scalar(v)})
        for element in items:
            _text(element, out, identifier, keys)
        return
    scalars = [el for el in items if _is_scalar(el)]
    if scalars:
        if identifier is not None:
            out.extend(f"{identifier.upper()}\t{el}\n" for el in scalars)
        else:
            out.append("\t".join(str(el) for el in scalars) + "\n")
    for nested in (el for el in items if not _is_scalar(el)):
        _text(nested, out, identifier)


def _text_dict(item: dict[str, Any], out: list[str], identifier: str | None, scalar_keys: list[str] | None) -> None:
    if scalar_keys is None:
        scalars = [str(v) for _, v in sorted(item.items()) if _is_scalar(v)]
        nested = [(k, v) for k, v in sorted(item.items()) if not _is_scalar(v)]
    else:
        scalars = [str(item.get(k, "")) for k in scalar_keys]
        nested = [(k, item[k]) for k in sorted(set(item) - set(scalar_keys))]
    if scalars:
        if identifier is not None:
            scalars.insert(0, identifier.upper())
        out.append("\t".join(scalars) + "\n")
    for key, value in nested:
        _text(value, out, key)


# --------------------------------------------------------------------------- table (awscli table.py, trimmed)

_ROW = "\x1b[1m\x1b[34m"      # bright blue, like awscli's ColorizedStyler
_EDGE = "\x1b[2m\x1b[33m"     # dim yellow for the nesting bars
_RESET = "\x1b[0m"


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WFA" else 1 for ch in text)


class _Section:
    def __init__(self, title: str = "", indent: int = 0) -> None:
        self.title, self.indent = title, indent
        self.headers: list[str] = []
        self.rows: list[list[str]] = []
        self.widths: list[int] = []
        self.columns: int | None = None

    def _count(self, cells: list[str]) -> None:
        """As awscli's table: every row of a section has as many cells as its first row or header."""
        if self.columns is None:
            self.columns = len(cells)
        elif len(cells) != self.columns:
            raise ValueError(f"Row should have {self.columns} elements, instead it has {len(cells)}")

    def _grow(self, cells: list[str]) -> None:
        if not self.widths:
            self.widths = [_width(c) for c in cells]
        else:
            self.widths = [max(w, _width(c)) for w, c in zip(self.widths, cells)]

    def add_header(self, headers: list[str]) -> None:
        self.headers = [str(h) for h in headers]
        if self.columns is None:
            self.columns = len(self.headers)
        self._grow(self.headers)

    def add_row(self, row: Iterable[Any]) -> None:
        cells = ["" if c is None else str(c) for c in row]
        self._count(cells)
        self.rows.append(cells)
        self._grow(cells)

    def total_width(self) -> int:
        cells = sum(w + 4 for w in self.widths) + 2 if self.widths else 2
        return max(_width(self.title) + 2, cells) + 2 * self.indent

    def column_widths(self, max_width: int) -> list[int]:
        raw = [w + 4 for w in self.widths]
        if not raw:
            return raw
        scale = max_width / float(sum(raw))
        scaled = [int(round(scale * w)) for w in raw]
        off = sum(scaled) - max_width
        i = 0
        while off:
            idx = i % len(scaled) if off > 0 else len(scaled) - 1 - i % len(scaled)
            scaled[idx] += -1 if off > 0 else 1
            off += -1 if off > 0 else 1
            i += 1
        return scaled


class _Table:
    def __init__(self, color: bool) -> None:
        self.sections: list[_Section] = []
        self.color = color

    def new_section(self, title: str, indent: int = 0) -> _Section:
        self.sections.append(_Section(title, indent))
        return self.sections[-1]

    def render(self, terminal_width: int) -> str:
        max_width = max(s.total_width() for s in self.sections)
        if max_width > terminal_width:      # too wide: one-row sections become key/value rows
            for s in self.sections:
                if len(s.rows) == 1 and s.headers:
                    headers, row = s.headers, s.rows[0]
                    s.headers, s.rows, s.widths, s.columns = [], [], [], None
                    for h, v in zip(headers, row):
                        s.add_row([h, v])
            max_width = max(s.total_width() for s in self.sections)
        lines = ["-" * max_width]
        for s in self.sections:
            bar = f"{_EDGE}|{_RESET}" if self.color else "|"
            inner = max_width - 2 * s.indent
            for line in self._section_lines(s, inner):
                lines.append(bar * s.indent + line + bar * s.indent)
        return "\n".join(lines) + "\n"

    def _section_lines(self, s: _Section, width: int) -> list[str]:
        lines: list[str] = []
        if s.title:
            lines.append(_center(s.title, width, "|"))
            if not s.headers and not s.rows:
                lines.append("+" + "-" * (width - 2) + "+")
        widths = s.column_widths(width)
        if s.headers:
            lines.append(_rule(widths))
            lines.append("".join(_center(h, w, "|" if i == 0 else "") for i, (h, w) in enumerate(zip(s.headers, widths))))
        if s.rows and widths:
            lines.append(_rule(widths))
            for row in s.rows:
                cells = [self._cell(c, w, first=(i == 0)) for i, (c, w) in enumerate(zip(row, widths))]
                lines.append("".join(cells))
            lines.append(_rule(widths))
        return lines

    def _cell(self, text: str, width: int, first: bool) -> str:
        left = "|" if first else ""
        shown = f"{_ROW}{text}{_RESET}" if self.color else text
        pad = 2 if width - (_width(text) + 2 + len(left) + 1) >= 0 else 0
        rest = width - len(left) - pad - _width(text) - 1
        return left + " " * pad + shown + " " * max(rest, 0) + "|"


def _center(text: str, length: int, left_edge: str) -> str:
    start = length // 2 - _width(text) // 2 - 1
    head = left_edge + " " * start + text
    return head + " " * (length - 1 - (_width(left_edge) + start + _width(text))) + "|"


def _rule(widths: list[int]) -> str:
    return "+" + "-" * (widths[0] - 2) + "+" + "".join("-" * (w - 1) + "+" for w in widths[1:])


def format_table(data: Any, title: str, *, color: bool = False, width: int | None = None) -> str:
    if data is None or data == {} or data == [] or data == "":
        return ""
    table = _Table(color)
    _build(table, title, data, 0)
    if not table.sections:
        return ""
    return table.render(width or shutil.get_terminal_size((80, 24)).columns)


def _build(table: _Table, title: str | None, current: Any, indent: int) -> None:
    if current is None or current == {} or current == []:
        return
    section = table.new_section(title, indent) if title is not None else table.sections[-1]
    if isinstance(current, list):
        if isinstance(current[0], dict):
            _build_list_of_dicts(table, section, title or "", current, indent)
        else:
            for item in current:
                if _is_scalar(item):
                    section.add_row([item])
                elif isinstance(item, list) and all(_is_scalar(el) for el in item):
                    section.add_row(item)
                else:
                    _build(table, None, item, indent)
    elif isinstance(current, dict):
        headers = sorted(k for k, v in current.items() if _is_scalar(v))
        more = sorted(k for k, v in current.items() if not _is_scalar(v))
        if len(headers) == 1:
            section.add_row([headers[0], current[headers[0]]])
        elif headers:
            section.add_header(headers)
            section.add_row([current[k] for k in headers])
        for key in more:
            _build(table, key, current[key], indent + 1)
    else:
        section.add_row([current])


def _build_list_of_dicts(table: _Table, section: _Section, title: str, items: list[Any], indent: int) -> None:
    dicts = [el for el in items if isinstance(el, dict)]
    headers = sorted({k for el in dicts for k, v in el.items() if _is_scalar(v)})
    more = sorted({k for el in dicts for k, v in el.items() if not _is_scalar(v)})
    if headers:
        section.add_header(headers)
    for n, element in enumerate(dicts):
        if n and more:
            section = table.new_section(title, indent)
            if headers:
                section.add_header(headers)
        if headers:
            section.add_row([element.get(h, "") for h in headers])
        for key in more:
            if key in element:
                _build(table, key, element[key], indent + 1)
