"""The ASGI app: the one place that lists routes. Framework-free on purpose (it is small and hot).

    GET /healthz                 -> 200 once the server is ready
    Alibaba RPC requests         -> the ACR dialect (Action/x-acs-action, RPC-v1 or ACS3 signatures)
    everything else              -> the AWS dialect (service chosen by the SigV4 credential scope)

Request handling is synchronous. On an embedded SQLite store it runs on the event loop itself (a
store read costs microseconds, and worker threads would only pass the GIL around); on PostgreSQL,
where a read waits on the network, on a bounded thread pool. Either way the records a request must
store (issued tokens, audit events) go through one group commit, and its answer is sent only once
they are stored.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Awaitable, Callable

from regauth.auth.canonical import HttpRequest
from regauth.errors import InvalidInput
from regauth.group_commit import GroupCommit
from regauth.protocols.acr import AcrDialect
from regauth.protocols.aws.dispatch import AwsDialect, Response
from regauth.services.container import Services

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

access_log = logging.getLogger("regauth.access")
log = logging.getLogger("regauth.http")


class TooLarge(Exception):
    pass


async def _read_body(receive: Receive, limit: int, message: dict[str, Any]) -> bytes:
    """The whole body, starting from the first message already received."""
    chunks: list[bytes] = []
    size = 0
    while True:
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise TooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
        message = await receive()
    return b"".join(chunks)


async def _send(send: Send, response: Response) -> None:
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


class OncePerTurn:
    """A read shared by the requests handled in one turn of the event loop, and re-done in the next.

    Used for the store's generation counter. It is as strong as a read per request: a handler runs
    in a later turn than the one that saw its request's last bytes arrive, so a read made anywhere
    in turn T (or reused in T+1 before the value is dropped, which is the first thing T+1 does after
    what T scheduled) comes after every byte of every request it serves arrived — and so after any
    write a client saw completed before it sent one of them.
    """

    _UNSET = object()

    def __init__(self, read: Callable[[], int]) -> None:
        self._read = read
        self._value: object = self._UNSET

    def __call__(self) -> int:
        value = self._value
        if value is self._UNSET:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:           # called outside the event loop: nothing to share with
                return self._read()
            value = self._value = self._read()
            loop.call_soon(self._forget)
        return value  # type: ignore[return-value]

    def _forget(self) -> None:
        self._value = self._UNSET


class App:
    def __init__(self, services: Services, workers: int = 16, *, on_loop: bool | None = None) -> None:
        self._services = services
        self._aws = AwsDialect(services)
        self._acr = AcrDialect(services)   # holds the process's nonce cache: one per app
        self._limit = services.settings.max_body_bytes
        self._on_loop = services.store.embedded if on_loop is None else on_loop
        self._pool = None if self._on_loop else ThreadPoolExecutor(max_workers=workers, thread_name_prefix="regauth")
        self._commits = GroupCommit(services.auditor.commit, on_loop=self._on_loop)
        share = getattr(services.store, "read_generation_with", None)
        if self._on_loop and share is not None:
            share(OncePerTurn(services.store.inner.generation))
        self.ready = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        method = scope["method"]
        raw_path = scope.get("raw_path")
        path = scope["path"] if raw_path is None else raw_path.decode("latin-1").partition("?")[0]
        if path == "/healthz" and method in ("GET", "HEAD"):
            status = 200 if self.ready else 503
            body = json.dumps({"status": "ok" if self.ready else "starting"}).encode()
            await _send(send, Response(status, [("content-type", "application/json")], body))
            return
        headers = tuple([(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]])
        client = scope.get("client")
        message = await receive()
        too_large = False
        if message.get("more_body") or message["type"] != "http.request":   # rare: a body in several parts
            try:
                body = await _read_body(receive, self._limit, message)
            except TooLarge:
                body, too_large = b"", True
        else:
            body = message.get("body", b"")
            if len(body) > self._limit:
                body, too_large = b"", True
        req = HttpRequest(method, path, scope.get("query_string", b"").decode("latin-1"), headers, body,
                          client[0] if client else "")
        dialect = self._acr if self._acr.claims(req) else self._aws
        if too_large:
            response = dialect.reject(req, InvalidInput(f"The request body is larger than {self._limit} bytes"))
        elif self._pool is None:
            response = dialect.handle(req)
        else:
            response = await asyncio.get_running_loop().run_in_executor(self._pool, dialect.handle, req)
        if response.pending is not None:
            response = await self._stored(response)
        await _send(send, response)
        if access_log.isEnabledFor(logging.DEBUG):  # per-request lines cost a lock each: opt-in
            access_log.debug("%s %s %s %.1fms", method, path, response.status,
                             (time.perf_counter() - started) * 1000)

    async def _stored(self, response: Response) -> Response:
        """The answer once its records are stored; a token whose records failed is never sent."""
        pending = response.pending
        assert pending is not None
        try:
            await self._commits.commit(pending)
        except Exception:  # noqa: BLE001 - logged by the group commit; decide what may still be said
            if pending.required:
                assert response.failed is not None, "a dialect answering with a token says what to send instead"
                return response.failed()
            log.error("could not record the audit trail of a denied request (answered anyway)")
        return response

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.ready = True
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.ready = False
                if self._pool is not None:
                    self._pool.shutdown(wait=True, cancel_futures=True)
                self._commits.close()
                self._services.store.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
