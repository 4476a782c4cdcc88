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


def page_whole(rows: Sequence[T], key_of: Callable[[T], str], limit: int | None, marker: str | None, scope: str,
               default: int = 100) -> tuple[list[T], str | None]:
    """One page of a short listing read whole (IAM's Marker/MaxItems), ordered by `key_of`.

    The marker is opaque: the key of the page's last row, tied to `scope` (the operation and its
    owner), so a marker of another listing, or anything else not made here, is refused as IAM
    refuses it ("Invalid Marker.", a validation error) instead of restarting the listing.
    """
    after = None
    if marker is not None:
        try:
            text = base64.urlsafe_b64decode(marker.encode("ascii")).decode()
        except (binascii.Error, UnicodeError, ValueError):
            text = ""
        head, sep, after = text.partition("\n")
        if not sep or head != scope:
            raise InvalidInput("Invalid Marker.", "Marker")
    ordered = sorted(rows, key=key_of)
    rest = ordered if after is None else [r for r in ordered if key_of(r) > after]
    size = limit or default
    more = len(rest) > size
    rest = rest[:size]
    return rest, (encode(f"{scope}\n{key_of(rest[-1])}") if more and rest else None)
