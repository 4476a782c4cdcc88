"""One typed facade over botocore's service models for the five AWS dialects regauth speaks.

botocore's data files say everything about the wire (protocol, signing name, target prefix,
shapes, constraints, routes, error shapes); `shapes` reads them and models them as botocore.model
does, without importing botocore (whose imports cost ~100 ms at every start). This module loads
each ONCE per `AwsModels` instance, when a request first needs it, and provides what the
request path needs:

* a rest-json router (method + requestUri template, `{x}` / `{x+}` labels and literal query
  parts such as `?tagging`), tolerant of an endpoint path prefix (`/prefix/v1/...`), built at load;
* every `pattern` of the five models, translated from Java regex syntax to Python `re` and
  compiled the first time a value is checked against it (botocore never checks patterns; the
  server must, see DESIGN habit 3);
* `ServiceSpec.violations`: every constraint of a shape (required, min AND max, pattern, enum)
  checked against converted params, worded as AWS words them (`parse` raises them).

Nothing here touches HTTP objects or domain errors.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Iterable
from urllib.parse import unquote

from .shapes import ModelLoader, OperationModel, ServiceModel, Shape

# regauth service key -> (botocore service name, xmlns for query-protocol responses)
SERVICES: dict[str, tuple[str, str | None]] = {
    "codeartifact": ("codeartifact", None),
    "ecr": ("ecr", None),
    "ecr-public": ("ecr-public", None),
    "sts": ("sts", "https://sts.amazonaws.com/doc/2011-06-15/"),
    "iam": ("iam", "https://iam.amazonaws.com/doc/2010-05-08/"),
}


# --- Java regex -> Python re ---------------------------------------------------------------------
# The five models use Java syntax that `re` lacks: \p{L} \p{Z} \p{N} \p{C} \P{C} \p{IsWhitespace},
# and `\u10000-\u10FFFF` (meant as the supplementary planes; Java itself would read `\u1000` `0`,
# we follow the evident intent). Java's \w \d \s are ASCII-only, hence re.ASCII.

_JAVA_WHITESPACE = [(0x09, 0x0D), (0x20, 0x20), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680),
                    (0x2000, 0x200A), (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F),
                    (0x3000, 0x3000)]


# Major general category of every code point as runs "<length in hex><letter>" from U+0000 on, as
# `_compute_category_ranges` gives them for this Unicode version (tests/protocols/test_models_ranges.py
# checks it and prints a replacement); the computation takes ~0.3 s, this table ~1 ms to decode.
_CATEGORY_RUNS_UNICODE = "14.0.0"
_CATEGORY_RUNS = (
    "20C1Z3P1S6P1S4PaN2P3S2P1aL3P1S1P1S1aL1P1S1P1S21C1Z1P5S1P2S1L1P1S1C4S2N1S1L2P1S1N1L1P3N1P17L1S1fL1S1caL4S"
    "cLeS5L7S1L1S1L11S70M5L1S2L2C4L1P1L4C2S1L1P3L1C1L1C14L1C53L1S8bL1S7Ma6L1C26L2C1L6P29L2P2C3S1C2dM1P1M1P2M1"
    "P2M1P1M8C1bL4C4L2P11C3S2P1S2P2SbM1P1C3P2bL15MaN4P2L1M63L1P1L7M1C1S6M2L2M1S4M2LaN3L2S1LeP2C1L1M1eL1bM2C59"
    "LbM1LeCaN21L9M2L1S3P1L2C1M2S16L4M1L9M1L3M1L5M2CfP1C19L3M2C1P1CbL5C18L1S6L9C8M2aL18M1C21M36L3M1L12M1L7MaL"
    "2M2PaN1P10L3M1C8L2C2L2C16L1C7L1C1L3C4L2C1M1L7M2C2M2C3M1L8C1M4C2L1C3L2M2CaN2L2S6N2S1L1P1M2C3M1C6L4C2L2C16"
    "L1C7L1C2L1C2L1C2L2C1M1C5M4C2M2C3M3C1M7C4L1C1L7CaN2M3L1M1PaC3M1C9L1C3L1C16L1C7L1C2L1C5L2C1M1L8M1C3M1C3M2C"
    "1LfC2L2M2CaN1P1S7C1L6M1C3M1C8L2C2L2C16L1C7L1C2L1C5L2C1M1L7M2C2M2C3M7C3M4C2L1C3L2M2CaN1S1L6NaC1M1L1C6L3C3"
    "L1C4L3C2L1C1L1C2L3C2L3C3L3CcL4C5M3C3M1C4M2C1L6C1MeCdN8S5C5M8L1C3L1C17L1C10L2C1M1L7M1C3M1C4M7C2M1C3L2C1L2"
    "C2L2M2CaN7C1P7N1S1L3M1P8L1C3L1C17L1CaL1C5L2C1M1L7M1C3M1C4M7C2M6C2L1C2L2M2CaN1C2LdC4M9L1C3L1C29L2M1L7M1C3"
    "M1C4M1L1S4C3L1M7N3L2M2C13N1S6L1C3M1C12L3C18L1C9L1C1L2C7L3C1M4C6M1C1M1C8M6CaN2C2M1PcC30L1M2L7M4C1S7L8M1Pa"
    "N2P25C2L1C1L1C5L1C18L1C1L1CaL1M2L9M1L2C5L1C1L1C6M2CaN2C4L20C1L3SfP1S1P3S2M6S14N1S1M1S1M1S1M4P2M8L1C24L4C"
    "14M1P2M5LbM1C24M1C8S1M6S1C2S5P4S2P25C2bL14M1LaN6P6L4M4L3M1L3M2L7M3L4MdLcM1L1MaN4M2S26L1C1L5C1L2C2bL1P14d"
    "L1C4L2C7L1C1L1C4L2C29L1C4L2C21L1C4L2C7L1C1L1C4L2CfL1C39L1C4L2C43L2C3M9P14N3C10LaS6C56L2C6L2C1P26cL1S1P11"
    "L1Z1aL2P3C4bL3P3N8L7C12L4M9C13L3M2P9C12L2McCdL1C3L1C2McC34L20M3P1L3P1S1L1M2CaN6CaN6CbP3M1C1MaN6C59L7C5L2"
    "M22L1M1L5C46LaC1fL1CcM4CcM4C1S3C2PaN1eL2C5LbC2cL4C1aL6CbN3C22S17L5M2C2P35LaM1C1dM2C1MaN6CaN6C7P1L6P2C1fM"
    "31C5M2fL11M8L3CaN7PaS9M9S2P1C3M1eLdM2LaN2cLeM8C4P24L14M3C5PaN3C3LaN24L2P9L7C2bL2C3L8P8C3M1P15M4L1M6L1M2L"
    "3M1L5Cc0L40M116L2C6L2C26L2C6L2C8L1C1L1C1L1C1L1C1fL2C35L1C7L1S1L3S3L1C7L3S4L2C6L1C3SdL3S2C3L1C7L2S1CbZ5C1"
    "8P2Z5C1Z14P1SdP1ScP1Z10C1N1L2C6N3S2P1LaN3S2P1CdL3C21SfC21MfC2S1L4S1L2SaL1S1L3S5L6S1L1S1L1S1L1S4L1SbL2S4L"
    "5S5L4S1L1S33N2L5N2S4C178S4P1dS2PfcS19CbS15C3cN4eS16N268SeP1eN31S2P1fSaP193S16P3fS4P20S2P176S2C20S1C69Se5"
    "L6S4L3M2L5C4P1N2P26L1C1L5C1L2C38L7C1L1PeC1M17L9C7L1C7L1C7L1C7L1C7L1C7L1C7L1C7L1C20M2fP1L20P2ScP22C1aS1C5"
    "9ScCd6S1aCcS4C1Z3P1S2L1NaP2ScP1S9N6M1P5L2S3N2L1P2S1C56L2C2M2S3L1P5aL1P4L5C2bL1C5eL1C2S4NaS20L24ScC10L1fS"
    "1CaN1eS8N1SfN20SaN27SfN140S19c0L40S568dL3C37S9C2eL2P10dL3P10LaN2L14C2fL4M1PaM1P1fL2M46LaN2M6P8C17S9L2S67"
    "L2S40L5C2L1C1L1C5L18C10L1M3L1M4L1M17L5M4S1M3C6N4S6C34L4P8C2M32L12M8C2PaN6C12M6L3P1L1P2L1MaN1cL8M2P17LdMb"
    "C1P1dL3C4M2fLeMdP1C1LaN4C2P5L1MaLaN5L1C29LeM9C3L1M8L2M2CaN2C4P17L3S1L3M32L1M1L3M2L2M5L2M1L1M1L18C3L2PbL5"
    "M2P3L2MaC6L2C6L2C6L9C7L1C7L1C2bL1SeL2S4C73L8M1P2M2CaN6C2ba4LcC17L4C31L2104C16eL2C6aL26C7LcC5L5C1L1MaL1Sd"
    "L1C5L1C1L1C2L1C2L1C6cL11S10C16bL2P10S40L2C36L7C1S20CcL4S10MaP6C10M23P1CeP1S1P3S1C1P1S2P4C5L1C87L4C3P1S6P"
    "1S4PaN2P3S2P1aL3P1S1P1S1aL1P1S1P1S7P59L3C6L2C6L2C6L2C3L3C7S1C7SdC2S2CcL1C1aL1C13L1C2L1CfL2CeL22C7bL5C3P4"
    "C2dN3C9S39N11S2N3S1CdS3C1S2fC2dS1M82C1dL3C31LfC1M1bN4C20L4N9C14L1N8L1N5C26L5M5C1eL1C1P24L4C8L1P5N2aC9eL2"
    "CaN6C24L4C24L4C28L8C34LbC1PbL1CfL1C7L1C2L1CbL1CfL1C7L1C2L43C137L9C16LaC8L18C6L1C2aL1C9L45C6L2C1L1C2cL1C2"
    "L3C1L2C17L1C1P8N17L2S7N1fL8C9N30C13L1C2L5C5N16L6N3C1P1aL5C1P40C38L4C2N2L10N2C2eN1L3M1C2M5C4M4L1C3L1C1dL2"
    "C3M4C1M9N7C9P7C1dL2N1P1dL3N20C8L1S1cL2M4C5N7P9C36L3C7P16L2C8N13L5C8N12L7C4PcC7N50C49L37C33LdC33L7C6N24L4"
    "M8CaN126C1fN1C2aL1C2M1P2C2L4eC1dLaN1L8C16LbM4N5P16C12L4M4P26C15L7N14C17L9C3M35LfM7P4C1eN1M2L2M1L9C4M2dLb"
    "M2P1C4P1MdC19L7CaN6C3M24LeM1CaN4P1L2M1L8C23L1M2P1L9C3M30LeM4L4P4M1P2MaN1L1P1L3P1C14NbC12L1C19LcM6P1M41C7"
    "L1C1L1C4L1CfL1CaL1P6C2fLcM5CaN6C4M1C8L2C2L2C16L1C7L1C2L1C5L1C2M1L7M2C2M2C3M2C1L6C1M5C5L2M2C7M3C5M8bC35L1"
    "2M4L5PaN2P1C1P1M3L1eC30L14M2L1P1L8CaNa6C2fL7M2C9M17P4L2M22C30L11M3P1LbCaN6CdP13C2bLdM1L1P6CaN36C1bL2CfM4"
    "CcN3P1S7Lb9C2cLfM1P64C40L13NcC8L2C1L2C8L1C2L1C18L6M1C2M2C4M1L1M1L2M3P9CaN46C8L2C27L7M2C7M1L1P1L1M1bC1LaM"
    "28L7M1L4M8P1M8C1LbM2eL10M3P1L5PdC49L107C9L1C25L8M1C8M1L5PaC1dN3C2P1eL2C16M1CeM49C7L1C2L1C26L6M3C1M1C2M1C"
    "7M1L1M8CaN6C6L1C2L1C20L5M1C2M1C5M1L7CaN136C13L4M2Pb7C1LfC15N1dSdC1P39aL66C6fN1C5PbCc4La4cC61L2PdC42fLfd1"
    "C247L21b9C239L7C1fL1CaN4C2P4fL1CaN6C1eL2C5M1PaC30L7M5P4S4L1P1SaCaN1C7N1C15L5C13L2b0C40L17N4P65C4bL4C1M1L"
    "37M7C4MdL40C2L1P1L1MbC2MeC17f8L8C4d6L2aC9L22e7C4L1C7L1C2L1C123L2dC3L11C4L8C18cL904C6bL5CdL3C9L7CaL2C1S2M"
    "1P1260C2eM2C17M9C74S3cCf6SaC27S2C3cS5M3S6M8C8M2S7M1eS4M3dS15C42S3M1S9aC14NcC57S9C19N87C55L1C47L1C2L2C1L2"
    "C2L2C4L1CcL1C1L1C7L1C41L1C4L2C8L1C7L1C1cL1C4L1C5L1C1L3C7L1C154L2C19L1S19L1S1fL1S19L1S1fL1S19L1S1fL1S19L1"
    "S1fL1S19L1S8L2C32N200S37M4S32M8S1MeS1M2S5PfC5M1CfM450C1fLe1C7M1C11M2C7M1C2M1C5Md5C2dL3C7M7L2CaN4C1L1S140"
    "C1eL1M11C2cL4MaN5C1S4e0C7L1C4L1C2L1CfL1Cc5L2C9N7M29C44L7M1L4CaN4C2P311C3bN1S3N1S4N4cC2dN1SfNc2C4L1C1bL1C"
    "2L1C1L2C1L1CaL1C4L1C1L1C1L6C1L4C1L1C1L1C1L1C3L1C2L1C1L2C1L1C1L1C1L1C1L1C1L1C2L1C1L2C4L1C7L1C4L1C4L1C1L1C"
    "aL1C11L5C3L1C5L1C11L34C2S10eC2cS4C64ScCfS2CfS1CfS1C25SaCdNa1S38C1dSdC2cS4C9S7C2SeC6S9aC3d8S5C10S3CdS3C74"
    "ScC59S7CcS4C1SfCcS4C38S8CaS6C28S8C1eS2C2S4eC154ScCeS2C5S3C5S3C7S9C1dS3CbS5C6SaCaS6C8S8C7S9C93S1C37S25CaN"
    "406Ca6e0L20C1039L7CdeL2C1682LeC1d31Lc1fC21eL5e2C134bLaedb5Cf0M2fe10C"
)


@lru_cache(maxsize=1)
def _compute_category_ranges() -> dict[str, list[tuple[int, int]]]:
    """Code point ranges per major Unicode category letter (L, N, Z, C, ...), from unicodedata."""
    out: dict[str, list[tuple[int, int]]] = {}
    start, current = 0, unicodedata.category("\x00")[0]
    for cp in range(1, 0x110000):
        cat = unicodedata.category(chr(cp))[0]
        if cat != current:
            out.setdefault(current, []).append((start, cp - 1))
            start, current = cp, cat
    out.setdefault(current, []).append((start, 0x10FFFF))
    return out


def _decode_category_runs(runs: str) -> dict[str, list[tuple[int, int]]]:
    out: dict[str, list[tuple[int, int]]] = {}
    start = 0
    for length, cat in re.findall(r"([0-9a-f]+)([A-Z])", runs):
        end = start + int(length, 16)
        out.setdefault(cat, []).append((start, end - 1))
        start = end
    return out


def _category_ranges() -> dict[str, list[tuple[int, int]]]:
    """The table above when Python's Unicode database is the one it was made from, else computed.
    Decoded afresh (~1 ms) rather than kept (~0.3 MB): `_class_text` keeps what is rendered."""
    if unicodedata.unidata_version == _CATEGORY_RUNS_UNICODE:
        return _decode_category_runs(_CATEGORY_RUNS)
    return _compute_category_ranges()


def _complement(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out, nxt = [], 0
    for lo, hi in sorted(ranges):
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = max(nxt, hi + 1)
    if nxt <= 0x10FFFF:
        out.append((nxt, 0x10FFFF))
    return out


def _class_ranges(name: str, negated: bool) -> list[tuple[int, int]]:
    if name == "IsWhitespace":
        ranges = list(_JAVA_WHITESPACE)
    elif name in ("L", "N", "Z", "C", "M", "P", "S"):
        ranges = list(_category_ranges()[name])
    else:
        raise ValueError(f"unsupported Java character class \\p{{{name}}}")
    return _complement(ranges) if negated else ranges


def _class_char(cp: int) -> str:
    """ASCII (it may be special inside a class) and surrogates (unprintable) escaped; the rest as
    itself, which `re` parses ~3x faster than an escape (a class of \\p{C} has ~700 ranges)."""
    return f"\\U{cp:08X}" if cp < 0x80 or 0xD800 <= cp <= 0xDFFF else chr(cp)


def _render_ranges(ranges: Iterable[tuple[int, int]]) -> str:
    return "".join(_class_char(lo) if lo == hi else f"{_class_char(lo)}-{_class_char(hi)}" for lo, hi in ranges)


@lru_cache(maxsize=None)
def _class_text(name: str, negated: bool) -> str:
    return _render_ranges(_class_ranges(name, negated))


_PROP = re.compile(r"\\([pP])\{(\w+)\}")


def java_regex_to_python(pattern: str) -> str:
    """Translate the Java-regex constructs found in the AWS models into Python `re` syntax."""
    pattern = pattern.replace("\\u10000-\\u10FFFF", "\\U00010000-\\U0010FFFF")
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        m = _PROP.match(pattern, i) if ch == "\\" else None
        if m:
            ranges = _class_text(m.group(2), m.group(1) == "P")
            out.append(ranges if in_class else f"[{ranges}]")
            i = m.end()
            continue
        if ch == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if ch == "[" and not in_class:
            in_class = True
            out.append(ch)
            if pattern.startswith("^", i + 1):
                out.append("^")
                i += 1
            if pattern.startswith("]", i + 1):  # a literal ']' first in a class
                out.append("\\]")
                i += 1
        elif ch == "]" and in_class:
            in_class = False
            out.append(ch)
        else:
            out.append(ch)
        i += 1
    return "".join(out)


# Model patterns whose literal form backtracks exponentially in a backtracking engine, each with an
# equivalent linear form (equivalence is checked by brute force in tests/protocols).
# ECR ScanningRepositoryFilterValue: `(?:X?A+)*` with X ⊇ A is `(A|SA)*`.
LINEAR_EQUIVALENTS: dict[str, str] = {
    r"^[a-z0-9*](?:[._\-/a-z0-9*]?[a-z0-9*]+)*$": r"^[a-z0-9*](?:[._\-/]?[a-z0-9*])*$",
}


def compile_java_pattern(pattern: str) -> re.Pattern[str]:
    """Compiled so that `.fullmatch` is the check AWS makes (the whole value must match)."""
    source = LINEAR_EQUIVALENTS.get(pattern, pattern)
    return re.compile(f"(?:{java_regex_to_python(source)})", re.ASCII)


# --- rest-json routing -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Route:
    method: str
    operation: str
    regex: re.Pattern[str]                      # fullmatched over the raw (still %-encoded) path
    labels: tuple[str, ...]                     # label names in template order
    query_literals: tuple[tuple[str, str | None], ...]   # "?foo" / "?foo=bar" parts of requestUri
    specificity: tuple[int, int, int]
    slashes: int | None = None                  # '/'s of every path it matches; None: a {x+} label


def _compile_route(method: str, operation: str, request_uri: str) -> Route:
    path, _, query = request_uri.partition("?")
    literals = []
    for part in filter(None, query.split("&")):
        k, eq, v = part.partition("=")
        literals.append((k, v if eq else None))
    regex, labels, literal_chars, greedy = [], [], 0, 0
    for token in re.split(r"(\{[^}]+\})", path):
        if token.startswith("{") and token.endswith("}"):
            name = token[1:-1]
            if name.endswith("+"):
                greedy += 1
                labels.append(name[:-1])
                regex.append(r"(.+)")
            else:
                labels.append(name)
                regex.append(r"([^/]+)")
        else:
            literal_chars += len(token)
            regex.append(re.escape(token))
    return Route(method, operation, re.compile("".join(regex)), tuple(labels), tuple(literals),
                 (literal_chars, len(literals), -greedy), None if greedy else path.count("/"))


def _deepest(routes: list[Route]) -> int | None:
    """The most '/'s a path any of `routes` matches can have, or None when a `{x+}` label (which
    matches '/'s) leaves it unbounded: `ServiceSpec.route` tries no longer suffix than that."""
    counts = [r.slashes for r in routes]
    return None if None in counts else max(counts)


def _query_has(query: dict[str, list[str]], literals: tuple[tuple[str, str | None], ...]) -> bool:
    for key, value in literals:
        if key not in query or (value is not None and value not in query[key]):
            return False
    return True


# --- constraints ------------------------------------------------------------------------------

def lower_camel(name: str) -> str:
    return name[:1].lower() + name[1:]


# An error message lists at most this many violations, each value shown up to SHOWN_CHARS (about
# 100 KiB in all): a request of a megabyte with a violation per element would otherwise be
# answered with tens of megabytes, built on the event loop
MAX_LISTED = 100
SHOWN_CHARS = 1024


class _Checker:
    def __init__(self, spec: "ServiceSpec", lc: bool) -> None:
        self.spec, self.lc = spec, lc
        self.errors: list[tuple[str, str, bool]] = []
        self.total = 0

    def _add(self, field: str, value: Any, sensitive: bool, constraint: str) -> None:
        self.total += 1
        if len(self.errors) >= MAX_LISTED:
            return
        text = _plain(value) if value is not None and not sensitive else ""
        if len(text) > SHOWN_CHARS:
            text = text[:SHOWN_CHARS] + "..."
        shown = "null" if value is None else "'***'" if sensitive else f"'{text}'"
        self.errors.append((field, f"Value {shown} at '{field}' failed to satisfy constraint: {constraint}",
                            value is None))

    def value(self, shape: Shape, value: Any, path: str, sensitive: bool) -> None:
        sensitive = sensitive or bool(shape.metadata.get("sensitive"))
        if shape.type_name == "structure":
            for name, member in shape.members.items():
                label = lower_camel(name) if self.lc else name
                fld = f"{path}.{label}" if path else label
                if name in value:
                    self.value(member, value[name], fld, sensitive)
                elif name in shape.required_members:
                    self._add(fld, None, False, "Member must not be null")
            return
        for constraint in scalar_violations(self.spec, shape, value):
            self._add(path, value, sensitive or _has_sensitive(shape), constraint)
        if shape.type_name == "list":
            self._items(shape.member, list(enumerate(value, 1)), path, sensitive, "Member", value)
        elif shape.type_name == "map":
            self._items(shape.key, [(k, k) for k in value], path, sensitive, "Map keys", value, fold=True)
            self._items(shape.value, list(value.items()), path, sensitive, "Map value", value)

    def _items(self, shape: Shape, items: list, path: str, sensitive: bool, label: str, whole: Any,
               fold: bool = False) -> None:
        if shape.type_name in ("structure", "list", "map") and not fold:
            for key, item in items:
                fld = f"{path}.{key}.member" if label == "Member" else f"{path}.{key}"
                if item is None:
                    self._add(fld, None, False, "Member must not be null")
                else:
                    self.value(shape, item, fld, sensitive)
            return
        folded: list[str] = []
        for _, item in items:
            found = ["Member must not be null"] if item is None else scalar_violations(self.spec, shape, item)
            folded += [c for c in found if c not in folded]
        if folded:
            self._add(path, whole, sensitive or _has_sensitive(shape),
                      f"{label} must satisfy constraint: [{', '.join(folded)}]")


def scalar_violations(spec: "ServiceSpec", shape: Shape, value: Any) -> list[str]:
    """Constraint texts for one value; AWS order: pattern, min, max, enum. Lengths count UTF-16
    code units, as Java's String.length() does."""
    meta, t, out = shape.metadata, shape.type_name, []
    if t == "string":
        if "pattern" in meta and not spec.pattern(meta["pattern"]).fullmatch(value):
            out.append(f"Member must satisfy regular expression pattern: {meta['pattern']}")
        size, kind = len(value.encode("utf-16-le", "surrogatepass")) // 2, "length"
    elif t in ("list", "map", "blob"):
        size, kind = len(value), "length"
    elif t in ("integer", "long", "float", "double"):
        size, kind = value, "value"
    else:
        return out
    if "min" in meta and size < meta["min"]:
        out.append(f"Member must have {kind} greater than or equal to {_num(meta['min'])}")
    if "max" in meta and size > meta["max"]:
        out.append(f"Member must have {kind} less than or equal to {_num(meta['max'])}")
    if t == "string" and shape.enum and value not in shape.enum:
        out.append(f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
    return out


def _num(n: Any) -> str:
    return str(int(n)) if isinstance(n, float) and n.is_integer() else str(n)


def _has_sensitive(shape: Shape, seen: set[str] | None = None) -> bool:
    seen = set() if seen is None else seen
    if shape.metadata.get("sensitive"):
        return True
    if shape.name in seen:
        return False
    seen.add(shape.name)
    return any(_has_sensitive(c, seen) for c in _children(shape))


def _children(shape: Shape) -> list[Shape]:
    if shape.type_name == "structure":
        return list(shape.members.values())
    if shape.type_name == "list":
        return [shape.member]
    return [shape.key, shape.value] if shape.type_name == "map" else []


def _plain(value: Any) -> str:
    """Java-ish toString for error messages: [a, b], {k=v}, true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_plain(v)}" for k, v in value.items()) + "}"
    return "null" if value is None else str(value)


# --- the per-service spec ------------------------------------------------------------------------

@dataclass
class ServiceSpec:
    key: str
    model: ServiceModel
    protocol: str
    signing_name: str
    target_prefix: str | None
    xmlns: str | None
    api_version: str
    _patterns: dict[str, re.Pattern[str]] = field(default_factory=dict, repr=False)
    _routes: dict[str, list[Route]] = field(default_factory=dict, repr=False)
    _depths: dict[str, int | None] = field(default_factory=dict, repr=False)   # `_deepest` per method
    _errors: dict[str, Shape] = field(default_factory=dict, repr=False)

    @property
    def operation_names(self) -> list[str]:
        return list(self.model.operation_names)

    def operation(self, name: str) -> OperationModel | None:
        """Operation by exact name, or None (never raises)."""
        if name in self._op_names:
            return self.model.operation_model(name)
        return None

    def pattern(self, java_pattern: str) -> re.Pattern[str]:
        compiled = self._patterns.get(java_pattern)
        if compiled is None:   # first use: compiled once, kept for every service
            compiled = self._patterns[java_pattern] = compile_java_pattern(java_pattern)
        return compiled

    def violations(self, shape: Shape | None, params: dict[str, Any],
                   lower_camel: bool = False) -> list[tuple[str, str, bool]]:
        """(field, AWS-worded error, is-a-missing-required) for every constraint `params` break.

        Field paths use member names (lowerCamel for the query protocol, as STS/IAM print them),
        list elements `tags.1.member.key`; violations by scalar list elements are folded into one
        error at the list (`Member must satisfy constraint: [...]`). Sensitive values show `'***'`.
        """
        return self.counted_violations(shape, params, lower_camel)[0]

    def counted_violations(self, shape: Shape | None, params: dict[str, Any],
                           lower_camel: bool = False) -> tuple[list[tuple[str, str, bool]], int]:
        """`violations`, the first MAX_LISTED of them, and how many there are in all."""
        checker = _Checker(self, lower_camel)
        if shape is not None:
            checker.value(shape, params, "", False)
        return checker.errors, checker.total

    def error_shape(self, code: str) -> Shape | None:
        """The modeled error shape whose wire code (or shape name) is `code`."""
        return self._errors.get(code)

    def route(self, method: str, raw_path: str,
              query: dict[str, list[str]]) -> tuple[OperationModel, dict[str, str]] | None:
        """rest-json: (operation, decoded uri labels) for method + raw path, or None.

        An endpoint path prefix is tolerated: leading segments are dropped one at a time and the
        first suffix that matches a route wins (so an exact match always beats a prefixed one).
        A route without a `{x+}` label matches paths of one number of '/'s only, so suffixes with
        more '/'s than any route's are skipped unbuilt: trying them all cost time quadratic in the
        path's length (seconds for a 60 KB path, before any authorization) and matched nothing.
        """
        method = method.upper()
        routes = self._routes.get(method)
        if not routes:
            return None
        path = raw_path or "/"
        segments = path.split("/")
        deepest = self._depths[method]
        first = 1 if deepest is None else max(1, len(segments) - deepest)
        for k in range(first, max(len(segments), 2)):
            candidate = "/" + "/".join(segments[k:])
            for route in routes:
                m = route.regex.fullmatch(candidate)   # not `^...$`: `$` passes a final "\n"
                if m and _query_has(query, route.query_literals):
                    try:
                        labels = {n: unquote(v, errors="strict") for n, v in zip(route.labels, m.groups())}
                    except UnicodeDecodeError:
                        continue
                    return self.model.operation_model(route.operation), labels
        return None

    # built by AwsModels
    _op_names: frozenset[str] = field(default_factory=frozenset, repr=False)


def input_patterns(spec: ServiceSpec) -> set[str]:
    """Every `pattern` the inputs of `spec`'s operations can be checked against."""
    seen: set[str] = set()
    out: set[str] = set()
    for name in spec.model.operation_names:
        shape = spec.model.operation_model(name).input_shape
        if shape is not None:
            _walk_patterns(shape, seen, out)
    return out


def _walk_patterns(shape: Shape, seen: set[str], out: set[str]) -> None:
    if shape.name not in seen:
        seen.add(shape.name)
        if "pattern" in shape.metadata:
            out.add(shape.metadata["pattern"])
        for child in _children(shape):
            _walk_patterns(child, seen, out)


def _without_docs(model: dict[str, Any]) -> dict[str, Any]:
    """The model minus its prose (~half its memory; IAM's ~0.7 MB), which the server never shows."""
    model.pop("documentation", None)
    for op in model.get("operations", {}).values():
        op.pop("documentation", None)
        op.pop("documentationUrl", None)
    for shape in model.get("shapes", {}).values():
        shape.pop("documentation", None)
        for member in shape.get("members", {}).values():
            member.pop("documentation", None)
    return model


class AwsModels:
    """The service models, each loaded and precompiled on its first `spec(key)`, once (thread-safe):
    start-up pays for none of them and a process holds only those it serves (IAM's is big)."""

    def __init__(self, loader: Any = None, services: Iterable[str] = SERVICES) -> None:
        """`loader`: anything with botocore's `load_service_model(name, "service-2")`; by default
        `shapes.ModelLoader`, which reads botocore's data files without importing botocore."""
        self._loader = loader or ModelLoader()
        self._keys = tuple(services)
        for key in self._keys:
            if key not in SERVICES:
                raise KeyError(key)
        self._specs: dict[str, ServiceSpec] = {}
        self._compiled: dict[str, re.Pattern[str]] = {}     # shared by the specs
        self._lock = threading.Lock()

    def spec(self, key: str) -> ServiceSpec:
        spec = self._specs.get(key)
        if spec is None:
            if key not in self._keys:
                raise KeyError(key)
            with self._lock:
                spec = self._specs.get(key)
                if spec is None:
                    spec = self._specs[key] = self._load(key)
        return spec

    def __getitem__(self, key: str) -> ServiceSpec:
        return self.spec(key)

    def keys(self) -> list[str]:
        return list(self._keys)

    def _load(self, key: str) -> ServiceSpec:
        botocore_name, xmlns = SERVICES[key]
        model = ServiceModel(_without_docs(self._loader.load_service_model(botocore_name, "service-2")),
                             botocore_name)
        meta = model.metadata
        compiled = self._compiled
        spec = ServiceSpec(
            key=key, model=model, protocol=meta["protocol"],
            signing_name=meta.get("signingName") or meta.get("endpointPrefix") or botocore_name,
            target_prefix=meta.get("targetPrefix"), xmlns=xmlns, api_version=meta["apiVersion"],
            _patterns=compiled, _op_names=frozenset(model.operation_names))
        if spec.protocol == "rest-json":
            for name in model.operation_names:
                http = model.operation_model(name).http
                spec._routes.setdefault(http["method"].upper(), []).append(
                    _compile_route(http["method"].upper(), name, http["requestUri"]))
        for method, routes in spec._routes.items():
            routes.sort(key=lambda r: r.specificity, reverse=True)
            spec._depths[method] = _deepest(routes)
        # Patterns are compiled when a value is first checked against them (`ServiceSpec.pattern`):
        # compiling all of a model's took most of its load, which the first request waits for.
        for shape in model.error_shapes:
            spec._errors[shape.name] = shape
            spec._errors[shape.error_code or shape.name] = shape
        return spec
