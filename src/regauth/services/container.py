"""Wires store, clock, keyring and services together. Owns no state of its own beyond the wiring."""

from __future__ import annotations

from dataclasses import dataclass

from regauth import __version__
from regauth.clock import Clock
from regauth.config import Settings
from regauth.domain.keyring import Keyring, new_signing_key
from regauth.metrics import Metrics
from regauth.services.acr import AcrService
from regauth.services.audit import Auditor
from regauth.services.authn import Authenticator
from regauth.services.authz import Authorizer, PolicyCache
from regauth.services.cache import CachingStore
from regauth.services.codeartifact import CodeArtifactService
from regauth.services.ecr import EcrService
from regauth.services.iam import IamService
from regauth.services.ratelimit import RateLimiter
from regauth.services.registry_access import RegistryAccess
from regauth.services.revocations import Revocations
from regauth.services.sts import StsService
from regauth.services.tokens import TokenIssuer
from regauth.store.interfaces import Store


@dataclass
class Services:
    """Everything a request needs. Call `begin_request()` first on the serving thread."""

    settings: Settings
    store: Store
    clock: Clock
    keyring: Keyring
    authn: Authenticator
    authz: Authorizer
    auditor: Auditor
    limiter: RateLimiter
    issuer: TokenIssuer
    sts: StsService
    iam: IamService
    codeartifact: CodeArtifactService
    ecr: EcrService
    acr: AcrService
    revocations: Revocations
    registry: RegistryAccess
    metrics: Metrics | None = None      # None when REGAUTH_METRICS is off

    def begin_request(self) -> None:
        begin = getattr(self.store, "begin_request", None)
        if begin is not None:
            begin()


def load_keyring(store: Store, clock: Clock) -> Keyring:
    """The keyring, with a first key made if the store has no active one. Nodes starting together on
    an empty store make one key between them (`add_first_signing_key`), so a token minted on one
    verifies on every other."""
    keys = store.list_signing_keys()
    if not any(k.retired_at is None for k in keys):
        store.add_first_signing_key(new_signing_key(clock.now()))
        keys = store.list_signing_keys()
    return Keyring(keys)


def build_services(settings: Settings, store: Store, clock: Clock) -> Services:
    inner = store
    cache = CachingStore(store)
    store = cache  # type: ignore[assignment]
    policies = PolicyCache()
    keyring = load_keyring(store, clock)
    # a key rotated on any node (`regauth admin rotate-signing-key`) is used and known here from the
    # next request on, as every other change the generation announces
    cache.on_change(lambda: keyring.replace(inner.list_signing_keys()))
    authz = Authorizer(store, policies)
    metrics = Metrics(version=__version__) if settings.metrics else None
    auditor = Auditor(store, metrics)
    issuer = TokenIssuer(store, keyring, auditor)
    authn = Authenticator(store, clock, settings.signature_window)
    codeartifact = CodeArtifactService(store, authz, policies, issuer, settings.repository_endpoint)
    ecr = EcrService(store, authz, issuer, settings.registry_endpoint)
    revocations = Revocations(store, clock, auditor)
    limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
    return Services(
        settings=settings, store=store, clock=clock, keyring=keyring,
        authn=authn,
        authz=authz, auditor=auditor,
        limiter=limiter,
        issuer=issuer,
        sts=StsService(store, authz, policies),
        iam=IamService(store, authz, policies),
        codeartifact=codeartifact,
        ecr=ecr,
        acr=AcrService(store, authz, issuer, clock, settings.registry_endpoint),
        revocations=revocations,
        registry=RegistryAccess(store, authn, authz, keyring, revocations, codeartifact, ecr, clock.now,
                                issuer=settings.registry_issuer, token_seconds=settings.registry_token_seconds,
                                limiter=limiter),
        metrics=metrics,
    )
