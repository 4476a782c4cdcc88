"""ARNs: parse, format and wildcard-match.

Two layouts are known, chosen by the first field:

    arn:<partition>:<service>:<region>:<account>:<resource>    AWS (6 fields; any partition)
    acs:<service>:<region>:<account>:<resource>                Alibaba Cloud (5 fields)

The resource part keeps every further ':' and '/'.

Wildcards (IAM semantics): '*' matches any run of characters (also none), '?' exactly one.
Matching is case-sensitive and per field: a wildcard in partition, service, region or account
stays inside that field; in the resource part it may span '/' and ':'. A pattern with fewer
fields than its layout whose last character is '*' lets that '*' run over the remaining fields
("arn:aws:s3:*" matches every S3 ARN), which IAM documents for a trailing '*'.

Wildcard matching is linear-ish (fixed-length runs placed leftmost between stars), never
regex backtracking over '*', so a hostile pattern cannot stall the request path.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

# A piece of a pattern: (text, wild). In a wild piece '*', '?' (and ':' for ARN field
# splitting) are structural; in a non-wild piece every character is literal (used for
# policy-variable values and the ${*} ${?} ${$} escapes).
Segment = tuple[str, bool]

LAYOUTS: dict[str, int] = {"arn": 6, "acs": 5}

# An AWS region's name as requests may carry it (a SigV4 credential scope, an index's URL): it goes
# into ARNs and endpoints as it is, so nothing that would shift their fields (':', '/', spaces).
REGION_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")      # us-east-1, cn-north-1, aws-global...


class InvalidArn(ValueError):
    """The text is not an ARN (or not an ARN pattern)."""


@dataclass(frozen=True)
class Arn:
    scheme: str         # "arn" | "acs"
    partition: str      # "aws", "aws-cn", ...; "" for acs
    service: str
    region: str
    account: str
    resource: str

    def __str__(self) -> str:
        head = [self.scheme] if self.scheme == "acs" else [self.scheme, self.partition]
        return ":".join([*head, self.service, self.region, self.account, self.resource])


def parse_arn(text: str) -> Arn:
    """Split an ARN into its fields; raise InvalidArn when it is not one."""
    if not isinstance(text, str):
        raise InvalidArn("not a string")
    scheme = text.split(":", 1)[0]
    size = LAYOUTS.get(scheme)
    if size is None or text.count(":") < size - 1:
        raise InvalidArn(f"not an ARN: {text!r}")
    fields = text.split(":", size - 1)
    if scheme == "acs":
        fields.insert(1, "")
    arn = Arn(*fields)
    if not arn.service or not arn.resource or (scheme == "arn" and not arn.partition):
        raise InvalidArn(f"not an ARN: {text!r}")
    return arn


def format_arn(service: str, region: str, account: str, resource: str, *,
               partition: str = "aws", scheme: str = "arn") -> str:
    if scheme not in LAYOUTS:
        raise InvalidArn(f"unknown ARN scheme {scheme!r}")
    return str(Arn(scheme, "" if scheme == "acs" else partition, service, region, account, resource))


def is_arn(text: object) -> bool:
    try:
        parse_arn(text)  # type: ignore[arg-type]
    except InvalidArn:
        return False
    return True


# --- wildcard matching ------------------------------------------------------------------------

@dataclass(frozen=True)
class _Run:
    """A fixed-length piece between stars; '?' positions match any one character."""

    text: str
    regex: re.Pattern[str] | None    # None when the run has no '?'

    def at(self, s: str, pos: int) -> bool:
        if self.regex is None:
            return s.startswith(self.text, pos)
        return self.regex.match(s, pos) is not None

    def find(self, s: str, start: int, end: int) -> int:
        if self.regex is None:
            return s.find(self.text, start, end)
        m = self.regex.search(s, start, end)
        return -1 if m is None else m.start()


def _make_run(chars: list[tuple[str, bool]]) -> _Run:
    text = "".join(c for c, _ in chars)
    if not any(q for _, q in chars):
        return _Run(text, None)
    regex = "".join("." if q else re.escape(c) for c, q in chars)
    return _Run(text, re.compile(regex, re.DOTALL))


class Glob:
    """A compiled '*'/'?' pattern over whole strings."""

    __slots__ = ("_runs", "_star", "_min")

    def __init__(self, runs: tuple[_Run, ...], star: bool) -> None:
        self._runs = runs
        self._star = star
        self._min = sum(len(r.text) for r in runs)

    @classmethod
    def compile(cls, pattern: str) -> Glob:
        return cls.from_segments(((pattern, True),))

    @classmethod
    def from_segments(cls, segments: Sequence[Segment]) -> Glob:
        runs: list[_Run] = []
        current: list[tuple[str, bool]] = []
        star = False
        for text, wild in segments:
            for c in text:
                if wild and c == "*":
                    star = True
                    runs.append(_make_run(current))
                    current = []
                else:
                    current.append((c, wild and c == "?"))
        runs.append(_make_run(current))
        if star:   # empty runs between stars match anywhere: drop them (keep first and last)
            runs = [runs[0], *(r for r in runs[1:-1] if r.text), runs[-1]]
        return cls(tuple(runs), star)

    def matches(self, s: str) -> bool:
        runs = self._runs
        if not self._star:
            return len(s) == self._min and runs[0].at(s, 0)
        if len(s) < self._min:
            return False
        first, last = runs[0], runs[-1]
        end = len(s) - len(last.text)
        if not first.at(s, 0) or not last.at(s, end):
            return False
        pos = len(first.text)
        for run in runs[1:-1]:
            found = run.find(s, pos, end)
            if found < 0:
                return False
            pos = found + len(run.text)
        return True


class ArnPattern:
    """A compiled Resource / ArnLike pattern: "*" or an ARN with per-field wildcards."""

    __slots__ = ("_any", "_scheme", "_size", "_globs", "_short")

    def __init__(self, scheme: str, size: int, globs: tuple[Glob, ...], *, any_: bool = False) -> None:
        self._any = any_
        self._scheme = scheme
        self._size = size
        self._globs = globs
        self._short = len(globs) + 1 < size

    @classmethod
    def compile(cls, pattern: str) -> ArnPattern:
        return compile_arn_pattern(((pattern, True),))

    @classmethod
    def from_segments(cls, segments: Sequence[Segment]) -> ArnPattern:
        if [s for s in segments if s[0]] == [("*", True)]:
            return cls("", 0, (), any_=True)
        fields, size = _split_fields(segments)
        if len(fields) < size:   # short form: must end with a wildcard that spans the rest
            text, wild = next((s for s in reversed(fields[-1]) if s[0]), ("", False))
            if not (wild and text.endswith("*")):
                raise InvalidArn("ARN pattern has too few fields")
        scheme = "".join(t for t, _ in fields[0])
        return cls(scheme, size, tuple(Glob.from_segments(f) for f in fields[1:]))

    def matches(self, arn: str) -> bool:
        if self._any:
            return True
        count = len(self._globs) + 1
        parts = arn.split(":", count - 1)
        if len(parts) != count or parts[0] != self._scheme:
            return False
        if self._short and arn.count(":") < self._size - 1:
            return False
        return all(g.matches(p) for g, p in zip(self._globs, parts[1:]))


def _split_fields(segments: Sequence[Segment]) -> tuple[list[list[Segment]], int]:
    """Cut a pattern into ARN fields on the ':' of wild text (the resource keeps the rest)."""
    fields: list[list[Segment]] = [[]]
    size = 0
    for text, wild in segments:
        if not wild:
            fields[-1].append((text, False))
            continue
        pieces = text.split(":")
        fields[-1].append((pieces[0], True))
        for piece in pieces[1:]:
            if not size:
                size = _layout_of(fields[0])
            if len(fields) < size:
                fields.append([(piece, True)])
            else:
                fields[-1].extend(((":", False), (piece, True)))
    if not size:
        raise InvalidArn("not an ARN pattern")
    return fields, size


def _layout_of(first: list[Segment]) -> int:
    text = "".join(t for t, _ in first)
    if any(not wild for t, wild in first if t) or text not in LAYOUTS:
        raise InvalidArn(f"unknown ARN scheme {text!r}")
    return LAYOUTS[text]


@functools.lru_cache(maxsize=4096)
def compile_arn_pattern(segments: tuple[Segment, ...]) -> ArnPattern:
    """Cached ArnPattern.from_segments (policy-variable substitutions repeat across requests)."""
    return ArnPattern.from_segments(segments)


def arn_matches(pattern: str, arn: str) -> bool:
    """Convenience: does the ARN pattern (IAM wildcards) match the ARN?"""
    try:
        return compile_arn_pattern(((pattern, True),)).matches(arn)
    except InvalidArn:
        return False
