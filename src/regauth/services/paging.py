"""Opaque page tokens over a name-ordered listing."""

from __future__ import annotations

import base64
import binascii
from typing import Callable, Sequence, TypeVar

from regauth.errors import InvalidInput

T = TypeVar("T")


def encode(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def decode(token: str | None, field: str = "nextToken") -> str | None:
    if token is None:
        return None
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput(f"The {field} is not valid.", field, "CANNOT_PARSE") from None


def page(fetch: Callable[[int, str | None], Sequence[T]], name_of: Callable[[T], str], limit: int | None,
         token: str | None, default: int = 100) -> tuple[list[T], str | None]:
    """Fetch one more row than asked to learn whether another page exists."""
    size = limit or default
    rows = list(fetch(size + 1, decode(token)))
    more = len(rows) > size
    rows = rows[:size]
    return rows, (encode(name_of(rows[-1])) if more and rows else None)
