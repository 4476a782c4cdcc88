"""Compact JSON response bodies, encoded by one prebuilt encoder.

`json.dumps(value, separators=(",", ":"), allow_nan=False)` builds an encoder, and its one-shot C
encoder, on every call; here both are built once. Without the circular-reference check: the values
are trees built per response (a cycle would still fail, as RecursionError instead of ValueError).
The output is json.dumps's byte for byte (ASCII, non-ASCII escaped).
"""

from __future__ import annotations

import json
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
_C_ENCODER = c_make_encoder(None, _ENCODER.default, encode_basestring_ascii, None, ":", ",", False, False, False) \
    if c_make_encoder is not None else None


def dumps(value: Any) -> bytes:
    if _C_ENCODER is None:      # pragma: no cover - CPython has the C accelerator
        return _ENCODER.encode(value).encode("ascii")
    return "".join(_C_ENCODER(value, 0)).encode("ascii")
