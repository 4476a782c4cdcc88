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


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise TooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _send(send: Send, response: Response) -> None:
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


class App:
    def __init__(self, services: Services, workers: int = 16, *, on_loop: bool | None = None) -> None:
        self._services = services
        self._aws = AwsDialect(services)
        self._acr = AcrDialect(services)   # holds the process's nonce cache: one per app
        self._limit = services.settings.max_body_bytes
        self._on_loop = services.store.embedded if on_loop is None else on_loop
        self._pool = None if self._on_loop else ThreadPoolExecutor(max_workers=workers, thread_name_prefix="regauth")
        self._commits = GroupCommit(services.auditor.commit, on_loop=self._on_loop)
        self.ready = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        method = scope["method"]
        path = scope.get("raw_path", scope["path"].encode()).decode("latin-1").split("?", 1)[0]
        if path == "/healthz" and method in ("GET", "HEAD"):
            status = 200 if self.ready else 503
            body = json.dumps({"status": "ok" if self.ready else "starting"}).encode()
            await _send(send, Response(status, [("content-type", "application/json")], body))
            return
        headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"])
        client = scope.get("client") or ("", 0)
        too_large = False
        try:
            body = await _read_body(receive, self._limit)
        except TooLarge:
            body, too_large = b"", True
        req = HttpRequest(method=method, path=path, query=scope.get("query_string", b"").decode("latin-1"),
                          headers=headers, body=body, source_ip=client[0] or "")
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
