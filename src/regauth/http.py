"""What answers each request the HTTP server (regauth.server) takes: the one place that lists routes.

    GET /healthz                 -> 200 once the server is ready
    Alibaba RPC requests         -> the ACR dialect (Action/x-acs-action, RPC-v1 or ACS3 signatures)
    everything else              -> the AWS dialect (service chosen by the SigV4 credential scope)

Request handling is synchronous. On an embedded SQLite store it runs on the event loop itself (a
store read costs microseconds, and worker threads would only pass the GIL around); on PostgreSQL,
where a read waits on the network, on a bounded thread pool. The generation read every request
starts with is shared: by the requests of one loop turn (`OncePerTurn`), or by the worker threads
that ask while another read is under way (`OneReadAtATime`). Either way the records a request must
store (issued tokens, audit events) go through one group commit, and its answer is sent only once
they are stored.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Sequence

from regauth.auth.canonical import HttpRequest
from regauth.errors import InternalFailure, InvalidInput
from regauth.group_commit import GroupCommit, call_soon_threadsafe
from regauth.protocols.acr import AcrDialect
from regauth.protocols.aws.dispatch import AwsDialect, Response
from regauth.services.container import Services

access_log = logging.getLogger("regauth.access")
log = logging.getLogger("regauth.http")

Answer = Callable[[Response], None]


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


class OneReadAtATime:
    """A read shared by the worker threads that ask for it while another is under way.

    Used for the store's generation counter on PostgreSQL, where each request is handled on a worker
    thread and a read is a network round trip. It is as strong as a read per request: a caller
    never takes a value read before it asked. A caller that finds no read under way makes one; a
    caller that finds one under way (it started earlier, so its value could predate the caller's
    request) waits for the next, which one of the waiters makes as soon as that one ends, and which
    serves every caller that came in meanwhile. A failed read fails the callers it serves, and
    only those.
    """

    def __init__(self, read: Callable[[], int]) -> None:
        self._read = read
        self._cond = threading.Condition(threading.Lock())
        self._reading = False
        self._started = 0                  # reads started so far (numbered 1, 2, ...)
        self._finished = 0                 # the number of the last read that ended ...
        self._outcome: tuple[bool, object] = (True, None)     # ... and its (ok, value or exception)

    def __call__(self) -> int:
        with self._cond:
            need = self._started + 1       # any read numbered from here on starts after this call
            while self._finished < need:
                if not self._reading:
                    self._reading = True
                    self._started += 1
                    mine = self._started
                    break
                self._cond.wait()
            else:
                return self._settled(self._outcome)
        try:
            outcome: tuple[bool, object] = (True, self._read())
        except BaseException as exc:       # noqa: BLE001 - handed to every caller this read serves
            outcome = (False, exc)
        with self._cond:
            self._reading = False
            self._finished = mine
            self._outcome = outcome
            self._cond.notify_all()
        return self._settled(outcome)

    @staticmethod
    def _settled(outcome: tuple[bool, object]) -> int:
        ok, value = outcome
        if not ok:
            raise value  # type: ignore[misc]
        return value  # type: ignore[return-value]


class Front:
    """Takes each request from the HTTP server (regauth.server) and answers it, through `answer`,
    once it may leave: after its records are stored."""

    def __init__(self, services: Services, workers: int = 16, *, on_loop: bool | None = None) -> None:
        self._services = services
        self._aws = AwsDialect(services)
        self._acr = AcrDialect(services)   # holds the process's nonce cache: one per app
        self.max_body_bytes = services.settings.max_body_bytes
        self._proxies = _networks(services.settings.trusted_proxies)
        self._on_loop = services.store.embedded if on_loop is None else on_loop
        self._pool = None if self._on_loop else ThreadPoolExecutor(max_workers=workers, thread_name_prefix="regauth")
        self._commits = GroupCommit(services.auditor.commit, on_loop=self._on_loop)
        share = getattr(services.store, "read_generation_with", None)
        if share is not None:
            read = services.store.inner.generation
            share(OncePerTurn(read) if self._on_loop else OneReadAtATime(read))
        self.ready = False

    def serve(self, req: HttpRequest, too_large: bool, answer: Answer) -> None:
        """Answer `req` (now, or later from the event loop). `too_large`: its body was over the limit
        and dropped."""
        if req.path == "/healthz" and req.method in ("GET", "HEAD"):
            ready = self.ready
            answer(Response(200 if ready else 503, [("content-type", "application/json")],
                            b'{"status": "ok"}' if ready else b'{"status": "starting"}'))
            return
        dialect = self._acr if self._acr.claims(req) else self._aws
        if too_large:
            answer(dialect.reject(req, InvalidInput(f"The request body is larger than {self.max_body_bytes} bytes")))
        elif self._pool is None:
            self._stored(dialect.handle(req), answer, req)
        else:
            loop = asyncio.get_running_loop()
            work = self._pool.submit(dialect.handle, req)

            def handled(f: Future[Response]) -> None:
                try:
                    response = f.result()
                except Exception as exc:  # noqa: BLE001 - the pool is shut down (handle never raises)
                    log.error("could not handle a request", exc_info=exc)
                    response = dialect.reject(req, InternalFailure("internal error"))
                self._stored(response, answer, req)
            work.add_done_callback(lambda f: call_soon_threadsafe(loop, handled, f))

    def served(self) -> None:
        """The HTTP server has handed over every request it took in a turn: store their records now
        (on the event loop), so that their answers leave in this turn rather than the next."""
        self._commits.flush()

    def _stored(self, response: Response, answer: Answer, req: HttpRequest) -> None:
        """Answer once the response's records are stored; a token whose records failed is never sent."""
        pending = response.pending
        if pending is None:
            self._answered(req, response, answer)
            return

        def then(failure: BaseException | None) -> None:
            final = response
            if failure is not None:
                if pending.required:
                    assert response.failed is not None, "a dialect answering with a token says what to send instead"
                    final = response.failed()
                else:
                    log.error("could not record the audit trail of a denied request (answered anyway)")
            self._answered(req, final, answer)
        self._commits.submit(pending, then)

    def _answered(self, req: HttpRequest, response: Response, answer: Answer) -> None:
        answer(response)
        if access_log.isEnabledFor(logging.DEBUG):  # per-request lines cost a lock each: opt-in
            access_log.debug("%s %s %s %s", req.source_ip, req.method, req.path, response.status)

    def client_ip(self, peer: str, headers: Sequence[tuple[str, str]]) -> str:
        """The address regauth audits and matches aws:SourceIp against (see `client_address`)."""
        if not self._proxies:
            return peer
        return client_address(peer, [v for n, v in headers if n.lower() == "x-forwarded-for"], self._proxies)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._commits.close()
        self._services.store.close()


Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


def client_address(peer: str, forwarded_for: list[str], proxies: Networks) -> str:
    """The TCP peer, unless it is a proxy the operator trusts (REGAUTH_TRUSTED_PROXIES); then the
    nearest address in X-Forwarded-For (all its headers, read from the right) that is not itself a
    trusted proxy. An entry that is not an address stops the walk at the last trusted hop: what lies
    beyond it cannot be believed."""
    if not proxies or not _within(peer, proxies):
        return peer
    nearest = peer
    for hop in reversed([h.strip() for v in forwarded_for for h in v.split(",")]):
        try:
            if "%" in hop:            # an IPv6 zone id means nothing off its host (and is free text)
                raise ValueError(hop)
            ipaddress.ip_address(hop)
        except ValueError:
            return nearest
        if not _within(hop, proxies):
            return hop
        nearest = hop
    return nearest


def _networks(spec: str) -> Networks:
    return tuple(ipaddress.ip_network(item, strict=False) for item in spec.split(",") if item)


def _within(address: str, networks: Networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in networks)
