"""Constraint violations as the domain's errors, for SQLite (sqlite3) and PostgreSQL (psycopg).

Shared by `SqlStore` (whose errors come wrapped by SQLAlchemy) and the plain-SQL writes of a SQLite
file (`store.sqlite_writes`, plain `sqlite3.IntegrityError`): both name the same violation alike.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from regauth.errors import Conflict, NotFound


def integrity_kind(orig: BaseException) -> str:
    """"unique", "foreign_key" or "other", from the DB-API's own exception."""
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate is not None:
        return {"23505": "unique", "23503": "foreign_key"}.get(sqlstate, "other")
    name = getattr(orig, "sqlite_errorname", "") or ""
    if name in ("SQLITE_CONSTRAINT_PRIMARYKEY", "SQLITE_CONSTRAINT_UNIQUE"):
        return "unique"
    if name == "SQLITE_CONSTRAINT_FOREIGNKEY":
        return "foreign_key"
    text = str(orig)
    if "UNIQUE constraint failed" in text:
        return "unique"
    if "FOREIGN KEY constraint failed" in text:
        return "foreign_key"
    return "other"


@contextmanager
def map_integrity(
    resource_type: str,
    resource_id: str,
    *,
    parent: tuple[str, str] | None = None,
    conflict_message: str = "",
    catch: type[BaseException] = sqlite3.IntegrityError,
    orig: Callable[[BaseException], BaseException] = lambda exc: exc,
) -> Iterator[None]:
    """Unique violation -> Conflict(resource); foreign-key violation -> NotFound(parent) when a
    parent is named, else Conflict(resource, conflict_message) (a delete that still has children).
    `catch`: the integrity error class raised inside; `orig`: the DB-API error it wraps, if any."""
    try:
        yield
    except catch as exc:
        kind = integrity_kind(orig(exc))
        if kind == "unique":
            raise Conflict(resource_type, resource_id) from None
        if kind == "foreign_key":
            if parent is not None:
                raise NotFound(*parent) from None
            raise Conflict(resource_type, resource_id, conflict_message, kind="delete") from None
        raise
