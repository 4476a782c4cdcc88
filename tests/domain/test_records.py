"""`@record` behaves as `@dataclass(frozen=True)`, only built faster."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from regauth.records import record


@record
class Fast:
    a: float
    b: str
    c: str = ""
    d: int = 0


@dataclasses.dataclass(frozen=True)
class Slow:
    a: float
    b: str
    c: str = ""
    d: int = 0


def test_same_signature_values_equality_hash_and_repr_as_a_frozen_dataclass() -> None:
    assert str(inspect.signature(Fast)) == str(inspect.signature(Slow))
    for args, kwargs in [((1.0, "x"), {}), ((1.0, "x", "y", 3), {}), ((), {"b": "x", "a": 2.0, "d": 4})]:
        fast, slow = Fast(*args, **kwargs), Slow(*args, **kwargs)
        assert dataclasses.asdict(fast) == dataclasses.asdict(slow)
        assert repr(fast).replace("Fast", "Slow") == repr(slow)
        assert fast == Fast(*args, **kwargs) and hash(fast) == hash(Fast(*args, **kwargs))
        assert fast != Fast(9.0, "other")


def test_still_frozen_and_still_strict_about_arguments() -> None:
    value = Fast(1.0, "x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        value.a = 2.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        Fast(1.0)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Fast(1.0, "x", e=1)  # type: ignore[call-arg]
    assert dataclasses.replace(value, c="z") == Fast(1.0, "x", "z")


def test_fields_outside_init_start_at_their_default() -> None:
    @record
    class Lazy:
        a: int
        cache: dict | None = dataclasses.field(default=None, init=False, repr=False, compare=False)

    value = Lazy(1)
    assert value.cache is None and value == Lazy(1) and repr(value).endswith("(a=1)")
    with pytest.raises(TypeError):
        Lazy(1, {})  # type: ignore[call-arg]


def test_classes_it_cannot_speed_up_keep_the_dataclass_init() -> None:
    @record
    class WithFactory:
        a: list = dataclasses.field(default_factory=list)

    @record
    class WithPostInit:
        a: int

        def __post_init__(self) -> None:
            if self.a < 0:
                raise ValueError("negative")

    assert WithFactory().a == [] and WithFactory().a is not WithFactory().a
    with pytest.raises(ValueError):
        WithPostInit(-1)
