"""What answers each request the HTTP server (regauth.server) takes: the one place that lists routes.

    GET /healthz                 -> 200 once the server is ready
    GET /metrics                 -> counters and gauges for Prometheus (regauth.metrics), unless
                                    REGAUTH_METRICS=off: then it is an unknown path like any other
    GET /token                   -> a container registry's token realm (protocols/registry_token)
    /auth/verify                 -> a package index's nginx auth_request verifier (protocols/verify)
    Alibaba RPC requests         -> the ACR dialect (Action/x-acs-action, RPC-v1 or ACS3 signatures)
    everything else              -> the AWS dialect (service chosen by the SigV4 credential scope)

Request handling is synchronous. On an embedded SQLite store it runs on the event loop itself (a
store read costs microseconds, and worker threads would only pass the GIL around); on PostgreSQL,
where a read waits on the network, on a bounded thread pool, the requests taken in one loop turn
handed to one worker together. The generation read every request starts with is shared: by the
requests of one loop turn (`OncePerTurn`), or by those of one batch (`OncePerBatch`) and the
batches that ask while another read is under way (`OneReadAtATime`). Either way the records a
request must store (issued tokens, audit events) go through one group commit, and its answer is
sent only once they are stored.

Every answer handed out here is counted by route (the names in `regauth.metrics.ROUTES`, never the
path) and status; what the HTTP server refuses itself (malformed requests, timeouts) it counts
under the route `server`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import threading
import time
from contextlib import contextmanager, nullcontext
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterator, Sequence

from regauth import metrics
from regauth.auth.canonical import HttpRequest
from regauth.errors import InternalFailure, InvalidInput, RegauthError
from regauth.group_commit import GroupCommit, call_soon_threadsafe
from regauth.notices import Notices
from regauth.protocols.acr import AcrDialect
from regauth.protocols.aws.dispatch import AwsDialect, Response
from regauth.protocols import registry_token, verify
from regauth.protocols.registry_token import RegistryRealm
from regauth.protocols.verify import PackageVerifier
from regauth.services.container import Services

access_log = logging.getLogger("regauth.access")
_REQUEST_ID_HEADERS = frozenset({"x-amzn-requestid", "x-acs-request-id", "x-request-id"})
log = logging.getLogger("regauth.http")

Answer = Callable[[Response], None]
UNSTARTED_LINE_SECONDS = 10.0      # the least time between two lines about requests failed unstarted
Dialect = AwsDialect | AcrDialect | RegistryRealm | PackageVerifier


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


class OncePerBatch:
    """A read shared by the requests one worker thread handles together, as a batch (see `Front`).

    Used for the store's generation counter on PostgreSQL. It is as strong as a read per request,
    for the reason `OncePerTurn` is: a batch is handed to its worker once all its requests have
    arrived, and the read is made there, at the first ask inside `batch()`, so after any write a
    client saw completed before it sent one of them. A failed read fails the requests of the batch
    that ask afterwards too, without another wait on the database that just failed. Outside
    `batch()`, every call reads.
    """

    def __init__(self, read: Callable[[], int]) -> None:
        self._read = read
        self._local = threading.local()

    def __call__(self) -> int:
        local = self._local
        outcome = getattr(local, "outcome", None)
        if outcome is None:
            try:
                outcome = (True, self._read())
            except Exception as exc:  # noqa: BLE001 - handed to the rest of the batch, then raised
                outcome = (False, exc)
            if getattr(local, "open", False):
                local.outcome = outcome
        ok, value = outcome
        if not ok:
            raise value  # type: ignore[misc]
        return value  # type: ignore[return-value]

    @contextmanager
    def batch(self) -> Iterator[None]:
        local = self._local
        local.open, local.outcome = True, None
        try:
            yield
        finally:
            local.open, local.outcome = False, None


class Front:
    """Takes each request from the HTTP server (regauth.server) and answers it, through `answer`,
    once it may leave: after its records are stored."""

    def __init__(self, services: Services, workers: int = 16, *, on_loop: bool | None = None) -> None:
        self._services = services
        self._aws = AwsDialect(services)
        self._acr = AcrDialect(services)   # holds the process's nonce cache: one per app
        realm, verifier = RegistryRealm(services), PackageVerifier(services)
        self._by_path: dict[str, Dialect] = {registry_token.PATH: realm, verify.PATH: verifier}
        self._routes: dict[Dialect, str] = {self._aws: "aws", self._acr: "acr", realm: "token", verifier: "verify"}
        self.metrics = services.metrics
        self.max_body_bytes = services.settings.max_body_bytes
        self._proxies = _networks(services.settings.trusted_proxies)
        self._on_loop = services.store.embedded if on_loop is None else on_loop
        self._pool = None if self._on_loop else ThreadPoolExecutor(max_workers=workers, thread_name_prefix="regauth")
        # a request that has waited this long for a thread is answered unstarted (see _handle_all)
        self._longest_wait = float(services.settings.database_timeout_seconds)
        self._unstarted = Notices(log, UNSTARTED_LINE_SECONDS, time.monotonic)
        self._failed_at = float("-inf")         # when a request handled on a worker last failed (5xx)
        self._commits = GroupCommit(services.auditor.commit, on_loop=self._on_loop, metrics=services.metrics)
        self._batch: list[tuple[Dialect, HttpRequest, Answer]] = []   # taken this turn, for the pool
        self._batch_handle: asyncio.Handle | None = None
        self._per_batch: OncePerBatch | None = None
        share = getattr(services.store, "read_generation_with", None)
        if share is not None:
            read = services.store.inner.generation
            if self._on_loop:
                share(OncePerTurn(read))
            else:
                self._per_batch = OncePerBatch(OneReadAtATime(read))
                share(self._per_batch)
        self.ready = False

    def serve(self, req: HttpRequest, too_large: bool, answer: Answer) -> None:
        """Answer `req` (now, or later from the event loop). `too_large`: its body was over the limit
        and dropped."""
        path = req.path
        if path == "/healthz" and req.method in ("GET", "HEAD"):
            ready = self.ready
            self._answered("healthz", req, Response(200 if ready else 503, [("content-type", "application/json")],
                                                    b'{"status": "ok"}' if ready else b'{"status": "starting"}'),
                           answer)
            return
        if path == metrics.PATH and self.metrics is not None and req.method in ("GET", "HEAD"):
            self._answered("metrics", req, Response(200, [("content-type", metrics.CONTENT_TYPE)],
                                                    self.metrics.render()), answer)
            return
        dialect = self._dialect_for(req)
        if too_large:
            self._answered(self._routes[dialect], req, dialect.reject(
                req, InvalidInput(f"The request body is larger than {self.max_body_bytes} bytes")), answer)
        elif self._pool is None:
            self._stored(dialect, dialect.handle(req), answer, req)
        else:
            self._batch.append((dialect, req, answer))
            if self._batch_handle is None:
                self._batch_handle = asyncio.get_running_loop().call_soon(self._hand_over)

    def refuse(self, req: HttpRequest, exc: RegauthError, answer: Answer) -> bool:
        """Answer `req`, which will not be handled (its body cut short: `exc`), by its dialect's error;
        False, nothing answered, for /healthz and /metrics (the HTTP server's own text answer does)."""
        if req.path in ("/healthz", metrics.PATH):
            return False
        dialect = self._dialect_for(req)
        self._answered(self._routes[dialect], req, dialect.reject(req, exc), answer)
        return True

    def _dialect_for(self, req: HttpRequest) -> Dialect:
        """The registry endpoints by path; otherwise Alibaba's RPC if the request is one, else AWS."""
        dialect = self._by_path.get(req.path)
        if dialect is None:
            dialect = self._acr if self._acr.claims(req) else self._aws
        return dialect

    def served(self) -> None:
        """The HTTP server has handed over every request it took in a turn: store their records now
        (on the event loop), so that their answers leave in this turn rather than the next."""
        self._commits.flush()
        if self._batch:
            self._hand_over()

    def _hand_over(self) -> None:
        """Send the requests taken in this turn to one worker thread, to be handled there in order
        under one generation read; answer each once it is back on the loop and its records are stored.

        One hand-over per turn, not per request: per request, a future, a thread wake-up, a wake-up
        of the loop and the threads' fight for the GIL cost about as much as handling it (in
        alternating runs ECR GetAuthorizationToken on PostgreSQL went from 1,085 to 1,519 req/s at
        16 connections, 1,344 to 1,589 at 64). Turns that follow each other go to different threads
        and overlap, while a batch's own requests wait for each other: after a cache-emptying write,
        the reads each makes (a round trip each) come one after another."""
        if self._batch_handle is not None:
            self._batch_handle.cancel()
            self._batch_handle = None
        batch, self._batch = self._batch, []
        if not batch:
            return
        loop = asyncio.get_running_loop()

        def handled(f: Future[list[Response]]) -> None:
            try:
                responses = f.result()
            except Exception as exc:  # noqa: BLE001 - the pool is shut down (handle never raises)
                if f.cancelled():     # at shutdown, still waiting for a thread (held by a store giving no answer)
                    self._unstarted.error("requests were not handled: the server stopped before a request thread "
                                          "was free")
                else:
                    log.error("could not handle a request", exc_info=exc)
                responses = [dialect.reject(req, InternalFailure("internal error")) for dialect, req, _ in batch]
            for (dialect, req, answer), response in zip(batch, responses):
                try:
                    self._stored(dialect, response, answer, req)
                except Exception:  # noqa: BLE001 - one request's fault must not keep the others waiting
                    log.exception("could not answer a request")
        try:
            work = self._pool.submit(self._handle_all, [(d, r) for d, r, _ in batch],  # type: ignore[union-attr]
                                     time.monotonic())
        except RuntimeError as exc:       # shut down
            fut: Future[list[Response]] = Future()
            fut.set_exception(exc)
            handled(fut)
            return
        work.add_done_callback(lambda f: call_soon_threadsafe(loop, handled, f))

    def _handle_all(self, batch: list[tuple[Dialect, HttpRequest]], taken: float) -> list[Response]:
        """Handle a batch in order, on a worker thread. A request that has waited longer than
        REGAUTH_DATABASE_TIMEOUT_SECONDS since it was `taken` while the store is failing (a request
        handled here failed, a 5xx, since it was taken or within that long before) is not started: it
        is answered as a failure at once, in its dialect's envelope, rather than after a wait of its own behind
        requests held by a database that gives no answer (each may wait up to that long, or a new
        connection's connect_timeout), by which time its client has likely given up (with four
        connections, one thread: the 8th of 8 requests waited 70 s). Its records were never made, so
        nothing is lost. A healthy store that is merely busy fails nothing: fewer threads cost
        throughput, never a request (under a burst of IAM writes, requests waited over a second for
        their turn behind their batch's). Logged as `regauth.notices` does: one line at once, then
        one every UNSTARTED_LINE_SECONDS at most, with the count left out."""
        responses: list[Response] = []
        with self._per_batch.batch() if self._per_batch is not None else nullcontext():
            for dialect, req in batch:
                if time.monotonic() - taken > self._longest_wait and self._failed_at >= taken - self._longest_wait:
                    self._unstarted.error(f"a request waited more than {self._longest_wait:g} s for a request thread"
                                          " (REGAUTH_DATABASE_TIMEOUT_SECONDS) while requests were failing (the"
                                          " database unreachable or giving no answer) and was failed without being"
                                          " started")
                    responses.append(dialect.reject(req, InternalFailure("internal error")))
                else:
                    response = dialect.handle(req)
                    if response.status >= 500:          # the store's outage (or a fault of ours)
                        self._failed_at = time.monotonic()
                    responses.append(response)
        return responses

    def _stored(self, dialect: Dialect, response: Response, answer: Answer, req: HttpRequest) -> None:
        """Answer once the response's records are stored; a token whose records failed is never sent."""
        route = self._routes[dialect]
        pending = response.pending
        if pending is None:
            self._answered(route, req, response, answer)
            return

        def then(failure: BaseException | None) -> None:
            final = response
            if failure is not None:
                if pending.required:
                    assert response.failed is not None, "a dialect answering with a token says what to send instead"
                    final = response.failed()
                else:
                    # a denial, or a change already made: answered; its lines are logged as not stored
                    log.error("could not record the audit trail of request %s (answered anyway)",
                              pending.events[0].request_id if pending.events else "-")
            self._answered(route, req, final, answer)
        self._commits.submit(pending, then)

    def _answered(self, route: str, req: HttpRequest, response: Response, answer: Answer) -> None:
        """The one place an answer is handed out: counted (`route`: one of metrics.ROUTES), logged at debug."""
        answer(response)
        if self.metrics is not None:
            self.metrics.http_requests[(route, response.status)] += 1
        if access_log.isEnabledFor(logging.DEBUG):  # per-request lines cost a lock each: opt-in
            # the request id joins the line to the audit trail and to what the client reports
            rid = next((v for n, v in response.headers if n.lower() in _REQUEST_ID_HEADERS), "-")
            access_log.debug("%s %s %s %s %s", req.source_ip, req.method, req.path, response.status, rid)

    def client_ip(self, peer: str, headers: Sequence[tuple[str, str]]) -> str:
        """The address regauth audits and matches aws:SourceIp against (see `client_address`)."""
        if not self._proxies:
            return peer
        return client_address(peer, [v for n, v in headers if n.lower() == "x-forwarded-for"], self._proxies)

    def forwarded_https(self, peer: str, headers: Sequence[tuple[str, str]]) -> bool:
        """Whether the client reached a trusted proxy over HTTPS (`aws:SecureTransport`): the last
        `X-Forwarded-Proto` entry, the one the nearest proxy set, when the TCP peer is trusted.
        regauth itself speaks plain HTTP: without a trusted proxy the answer is no."""
        if not self._proxies or not _within(peer, self._proxies):
            return False
        protos = [v for n, v in headers if n.lower() == "x-forwarded-proto"]
        return bool(protos) and protos[-1].rsplit(",", 1)[-1].strip().lower() == "https"

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
