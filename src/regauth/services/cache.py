"""A read-through cache for what every request reads: keys, identities, policies, domains, endpoints,
revocations and the registry CA.

Correctness rests on the store's generation counter, which every write that changes these records
advances in its own transaction. `begin_request()` reads the counter (one single-row query, shared
by the requests of one event-loop turn when the app serves on the loop); when it moved, the cache
is emptied. An entry is kept only if it was loaded under the generation the cache
currently holds, so a value read before a concurrent write can never outlive that write — on this
node or any other node sharing the database. Revoking a key or a permission therefore takes effect
on the next request everywhere, as without the cache.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from regauth.store.interfaces import Store

MAX_ENTRIES = 50_000
# The keys are texts a client chose (a key id, a domain name...), misses kept too: bounded in characters as
# well as in entries. No stored name comes near MAX_KEY_TEXT; a longer one is read from the store each time.
MAX_KEY_TEXT = 512              # the texts of one key together
MAX_KEY_TEXTS = 4_000_000       # of all keys together (up to 4 bytes a character)
_CACHED = frozenset({
    "get_credential", "get_user", "get_role", "list_user_policies", "list_role_policies", "get_domain",
    "get_domain_policy", "get_repository", "get_repository_endpoint", "get_registry_endpoint", "get_acr_instance",
    # the registry side: every use of a token checks the revocation list (`services.revocations` indexes
    # the one list object a generation hands out), every registry JWT is signed under the CA, and an ACR
    # token's login server is found among its account's instances
    "list_revocations", "get_registry_ca", "list_acr_instances",
})


class CachingStore:
    """Wraps a Store; the read methods in `_CACHED` are served from memory while valid."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._read_generation: Callable[[], int] = store.generation
        self._lock = threading.Lock()
        self._generation = -1
        self._entries: dict[tuple[Any, ...], Any] = {}
        self._texts = 0                      # characters in the keys of `_entries`
        self._local = threading.local()      # the generation the current request started under
        self._listeners: list[Callable[[], None]] = []

    @property
    def inner(self) -> Store:
        return self._store

    def read_generation_with(self, read: Callable[[], int]) -> None:
        """Where `begin_request` gets the counter (the app may share one read among requests that
        are causally after it: see `regauth.http.OncePerTurn`)."""
        self._read_generation = read

    def on_change(self, listener: Callable[[], None]) -> None:
        """Run `listener` whenever a request finds the generation moved, before that request reads
        anything (e.g. the keyring reloads its keys). If it raises, the request fails and the next
        one runs it again: the new generation is taken only once every listener has run."""
        self._listeners.append(listener)

    def begin_request(self) -> None:
        """Call once at the start of each request, on the thread that serves it."""
        current = self._read_generation()
        self._local.generation = current
        if current != self._generation:
            with self._lock:
                if current > self._generation:
                    self._entries, self._texts = {}, 0
                    for listener in self._listeners:
                        listener()
                    self._generation = current

    def _cached(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def read(*args: Any) -> Any:
            seen = getattr(self._local, "generation", None)
            if seen is None or seen != self._generation:   # no request context, or stale: go to the store
                return method(*args)
            key = (name, *args)
            try:
                return self._entries[key]
            except KeyError:
                pass
            value = method(*args)
            texts = _texts(args)
            if texts > MAX_KEY_TEXT:
                return value
            with self._lock:
                if seen == self._generation:
                    if len(self._entries) >= MAX_ENTRIES or self._texts + texts > MAX_KEY_TEXTS:
                        self._entries, self._texts = {}, 0
                    self._entries[key] = value
                    self._texts += texts
            return value
        return read

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if name in _CACHED:
            attr = self._cached(name, attr)
        setattr(self, name, attr)   # bind once; later lookups skip __getattr__
        return attr

    def __repr__(self) -> str:
        return f"CachingStore({self._store!r})"


def _texts(args: tuple[Any, ...]) -> int:
    """The characters of a read's text arguments (what its cache key holds beyond a few pointers)."""
    return sum(len(a) for a in args if isinstance(a, str))
