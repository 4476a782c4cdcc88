"""`@record`: a frozen dataclass that is quick to build.

A frozen dataclass sets each field in `__init__` through `object.__setattr__`, three times slower
than an ordinary assignment; a token request builds a dozen such values. `record` makes the same
frozen dataclass (same fields, defaults, equality, hash, repr; assignment after construction still
raises FrozenInstanceError) and swaps in an `__init__` that fills the instance's `__dict__`
directly. Classes with `__slots__`, `__post_init__`, default factories, init=False fields without
a default, or keyword-only fields keep the dataclass's own `__init__`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def record(cls: type[T]) -> type[T]:
    cls = dataclasses.dataclass(frozen=True)(cls)
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    simple = (
        not hasattr(cls, "__slots__") and not hasattr(cls, "__post_init__")
        and all(not f.kw_only and f.default_factory is dataclasses.MISSING
                and (f.init or f.default is not dataclasses.MISSING) for f in fields)
    )
    if simple:
        cls.__init__ = _direct_init(cls, fields)  # type: ignore[misc]
    return cls


def _direct_init(cls: type, fields: tuple[dataclasses.Field, ...]) -> Any:
    defaults = {f"_d_{f.name}": f.default for f in fields if f.default is not dataclasses.MISSING}
    params = ", ".join(f.name if f.default is dataclasses.MISSING else f"{f.name}=_d_{f.name}"
                       for f in fields if f.init)
    body = "".join(f"    _fields_[{f.name!r}] = {f.name if f.init else '_d_' + f.name}\n" for f in fields)
    source = f"def __init__(self, {params}):\n    _fields_ = self.__dict__\n{body}"
    namespace: dict[str, Any] = dict(defaults)
    exec(source, namespace)  # noqa: S102 - generated from field names only, as dataclasses itself does
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__annotations__ = {**{f.name: f.type for f in fields if f.init}, "return": None}
    return init
