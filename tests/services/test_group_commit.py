"""GroupCommit: requests waiting together share a transaction; a failing record fails only its own request."""

from __future__ import annotations

import asyncio
import threading
from typing import Sequence

import pytest

from regauth.domain.principals import AuditEvent
from regauth.group_commit import GroupCommit
from regauth.services.pending import Pending


class Recorder:
    """A write function that keeps what it stored, refusing any batch holding a poisoned record."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.stored: list[str] = []
        self.threads: set[str] = set()

    def __call__(self, units: Sequence[Pending]) -> None:
        ids = [e.request_id for u in units for e in u.events]
        self.batches.append(ids)
        self.threads.add(threading.current_thread().name)
        if any(i.startswith("bad") for i in ids):
            raise RuntimeError("constraint failed")
        self.stored += ids


def pending(request_id: str) -> Pending:
    p = Pending()
    p.audited(AuditEvent(at=0.0, request_id=request_id, principal_arn="", action="x:Y", resource="",
                         outcome="denied", source_ip=""))
    return p


async def _commit_all(group: GroupCommit, ids: list[str]) -> list[BaseException | None]:
    async def one(i: str) -> BaseException | None:
        try:
            await group.commit(pending(i))
            return None
        except Exception as exc:  # noqa: BLE001
            return exc
    return list(await asyncio.gather(*(one(i) for i in ids)))


@pytest.mark.parametrize("on_loop", [True, False])
def test_requests_waiting_together_share_one_transaction(on_loop: bool) -> None:
    rec = Recorder()
    group = GroupCommit(rec, on_loop=on_loop)
    ids = [f"r{i}" for i in range(20)]
    outcomes = asyncio.run(_commit_all(group, ids))
    group.close()
    assert outcomes == [None] * 20
    assert sorted(rec.stored) == sorted(ids)
    assert len(rec.batches) < len(ids)            # batched, not one transaction per request
    main = threading.main_thread().name
    assert (rec.threads == {main}) if on_loop else (main not in rec.threads)


@pytest.mark.parametrize("on_loop", [True, False])
def test_a_failing_record_fails_only_its_own_request(on_loop: bool) -> None:
    rec = Recorder()
    group = GroupCommit(rec, on_loop=on_loop)
    ids = ["r1", "bad", "r2", "r3"]
    outcomes = asyncio.run(_commit_all(group, ids))
    group.close()
    assert [o is None for o in outcomes] == [True, False, True, True]
    assert isinstance(outcomes[1], RuntimeError)
    assert sorted(rec.stored) == ["r1", "r2", "r3"]
    assert "bad" not in rec.stored


def test_flush_on_the_loop_stores_what_is_queued_at_once_and_only_once() -> None:
    rec = Recorder()
    group = GroupCommit(rec, on_loop=True)
    told: list[BaseException | None] = []

    async def scenario() -> None:
        group.submit(pending("a"), told.append)
        group.submit(pending("b"), told.append)
        group.flush()                                    # the server is done with this turn's requests
        assert rec.batches == [["a", "b"]] and told == [None, None]
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert rec.batches == [["a", "b"]]               # the flush that was scheduled does not run
        group.flush()                                    # nothing queued: nothing written
        group.submit(pending("c"), told.append)
        await asyncio.sleep(0)                           # without a flush, the next turn stores it
        assert rec.batches == [["a", "b"], ["c"]] and told == [None, None, None]

    asyncio.run(scenario())
    group.close()


def test_commits_after_a_quiet_spell_still_go_through() -> None:
    rec = Recorder()
    group = GroupCommit(rec, on_loop=False)

    async def scenario() -> None:
        await group.commit(pending("a"))
        await asyncio.sleep(0.01)
        await group.commit(pending("b"))

    asyncio.run(scenario())
    group.close()
    assert rec.stored == ["a", "b"]


@pytest.mark.parametrize("on_loop", [True, False])
def test_records_that_cannot_be_stored_leave_their_audit_lines_in_the_log(on_loop: bool, caplog) -> None:
    """A denial is answered anyway and a token request gets a 500: the trail the store refused goes to
    the log at ERROR, with the request ids, instead of being lost."""
    group = GroupCommit(Recorder(), on_loop=on_loop)
    with caplog.at_level("ERROR", logger="regauth.commit"):
        outcomes = asyncio.run(_commit_all(group, ["bad-denied-1", "good-1"]))
    group.close()
    assert outcomes[0] is not None and outcomes[1] is None
    text = caplog.text
    assert "not stored: audit denied x:Y bad-denied-1 " in text
    assert "good-1" not in text                      # stored on its own retry: not reported
