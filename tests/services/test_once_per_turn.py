"""OncePerTurn: one read for the requests handled in the same event-loop turn, a fresh one after."""

from __future__ import annotations

import asyncio

from regauth.http import OncePerTurn


def test_one_read_per_loop_turn() -> None:
    reads: list[int] = []

    def read() -> int:
        reads.append(len(reads))
        return len(reads)

    shared = OncePerTurn(read)

    async def scenario() -> list[int]:
        seen = [shared(), shared(), shared()]          # same turn: one read
        await asyncio.sleep(0)                          # the next turn drops it
        await asyncio.sleep(0)
        seen.append(shared())
        return seen

    assert asyncio.run(scenario()) == [1, 1, 1, 2]
    assert len(reads) == 2


def test_a_value_never_outlives_the_turn_after_it_was_read() -> None:
    shared = OncePerTurn(iter(range(100)).__next__)

    async def scenario() -> list[int]:
        values = []
        for _ in range(5):
            values.append(shared())
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        return values

    assert asyncio.run(scenario()) == [0, 1, 2, 3, 4]


def test_outside_an_event_loop_every_call_reads() -> None:
    shared = OncePerTurn(iter(range(100)).__next__)
    assert [shared(), shared(), shared()] == [0, 1, 2]
