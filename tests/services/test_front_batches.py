"""Front on PostgreSQL (its requests handled on worker threads): the requests taken in one loop turn
are handed to one worker together and share one generation read; each still gets its own answer,
in order, and a write between turns is seen by the next turn's requests."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

from regauth.auth.canonical import HttpRequest
from regauth.clock import SystemClock
from regauth.config import Settings
from regauth.http import Front
from regauth.protocols.aws.dispatch import Response
from regauth.services.bootstrap import create_account
from regauth.services.container import build_services
from regauth.store.open import open_store
from tests.wire.sign import sign

ACCT = "123456789012"
KEY = bytes(range(32))
TARGET = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"


def _ecr_request(akid: str, secret: str) -> HttpRequest:
    headers = {"Host": "127.0.0.1", "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET}
    signed = sign("POST", "/", "", headers, b"{}", akid, secret, "ecr", "us-east-1")
    return HttpRequest("POST", "/", "", tuple(signed.items()), b"{}", "127.0.0.1")


def _turn(front: Front, requests: list[HttpRequest]) -> list[Response]:
    """Hand `requests` to the front in one loop turn, as the HTTP server does; wait for every answer."""
    async def scenario() -> list[Response]:
        loop = asyncio.get_running_loop()
        answers = [loop.create_future() for _ in requests]
        for req, answer in zip(requests, answers):
            front.serve(req, False, answer.set_result)
        front.served()
        return list(await asyncio.wait_for(asyncio.gather(*answers), 60))
    return asyncio.run(scenario())


def test_one_turn_is_one_batch_under_one_generation_read(tmp_path: Path, fresh_postgres_url: str) -> None:
    store = open_store(fresh_postgres_url, KEY)
    reads: list[str] = []
    generation = store.generation

    def counted() -> int:                      # the request path's generation reads, and where they run
        reads.append(threading.current_thread().name)
        return generation()
    store.generation = counted                 # type: ignore[method-assign]
    clock = SystemClock()
    services = build_services(Settings(data_dir=tmp_path), store, clock)
    admin = create_account(store, clock, ACCT)
    assert admin.secret is not None
    akid, secret = admin.access_key_id, admin.secret.reveal()
    front = Front(services)
    try:
        good = [_ecr_request(akid, secret) for _ in range(6)]
        forged = _ecr_request(akid, "x" * 40)
        answers = _turn(front, [*good[:3], forged, *good[3:]])
        assert [a.status for a in answers] == [200, 200, 200, 400, 200, 200, 200]    # ECR: sender errors are 400
        assert json.loads(answers[3].body)["__type"] == "InvalidSignatureException"
        tokens = {json.loads(a.body)["authorizationData"][0]["authorizationToken"]
                  for a in answers if a.status == 200}
        assert len(tokens) == 6                # each request minted its own
        assert len(reads) == 1 and reads[0].startswith("regauth")     # one read, on a worker thread

        # a write between turns: the next turn reads the generation again and sees it
        assert store.delete_access_key(ACCT, "admin", akid) is not None
        later = _turn(front, [_ecr_request(akid, secret), _ecr_request(akid, secret)])
        assert [a.status for a in later] == [400, 400]
        assert {json.loads(a.body)["__type"] for a in later} == {"UnrecognizedClientException"}
        assert len(reads) == 2
    finally:
        front.close()


def test_a_busy_healthy_store_fails_no_request_however_long_it_waits(tmp_path: Path, fresh_postgres_url: str) -> None:
    """One worker thread, REGAUTH_DATABASE_TIMEOUT_SECONDS of 1, four turns handed over at once, each
    turn's generation read taking 0.6 s: the last turn waits 1.8 s for the thread, longer than the
    deadline, but the store is slow, not failing (no outage seen). It was failed unstarted (a 500) by
    the bound meant for a database that gives no answer; fewer threads must cost throughput only."""
    import time

    store = open_store(fresh_postgres_url, KEY)
    generation = store.generation

    def slow() -> int:
        time.sleep(0.6)
        return generation()
    store.generation = slow                    # type: ignore[method-assign]
    clock = SystemClock()
    services = build_services(Settings(data_dir=tmp_path, database_timeout_seconds=1), store, clock)
    admin = create_account(store, clock, ACCT)
    assert admin.secret is not None
    akid, secret = admin.access_key_id, admin.secret.reveal()
    front = Front(services, workers=1)

    async def turns() -> list[Response]:
        loop = asyncio.get_running_loop()
        answers = []
        for _ in range(4):                     # a turn each: four batches, one after another on one thread
            answer = loop.create_future()
            answers.append(answer)
            front.serve(_ecr_request(akid, secret), False, answer.set_result)
            front.served()
            await asyncio.sleep(0)
        return list(await asyncio.wait_for(asyncio.gather(*answers), 60))

    try:
        assert [a.status for a in asyncio.run(turns())] == [200, 200, 200, 200]
    finally:
        front.close()
