"""Rotating the registry CA (`regauth admin rotate-registry-ca`) without a moment when a registry
refuses regauth's JWTs.

A registry trusts the certificates in its `auth.token.rootcertbundle`, read when it starts, and a
realm JWT carries a leaf certified by regauth's active CA. So a rotation has three steps, and
`regauth admin registry-ca` prints, at each step, every certificate registries must trust:

1. prepare  — a new CA is made and kept as the next one; it signs nothing yet. The bundle is now
              active + next: put it in every registry and restart them.
2. activate — the next CA becomes the active one; every node makes a new leaf under it at its next
              request (`RegistryAccess.signer`). The replaced certificate stays in the bundle, so a
              registry that has not been updated keeps accepting what the old CA signed (JWTs live
              minutes).
3. finish   — the replaced certificates leave the bundle: update the registries once more. Not
              before the JWTs the replaced CA's leaves signed have expired (the realm's JWT
              lifetime and the 60 s leeway after the activation): a registry given the new bundle
              would refuse them while clients still hold them (`--force` overrides).

Each step is audited ("regauth:RotateRegistryCa", with the step and certificate fingerprints).
The CA keys never leave the store unsealed.
"""

from __future__ import annotations

import hashlib
import ssl
import time
from dataclasses import dataclass

from regauth.clock import Clock
from regauth.domain import ids
from regauth.domain.principals import AuditEvent
from regauth.errors import Conflict
from regauth.services.audit import Auditor
from regauth.store.interfaces import Store

ROTATE = "regauth:RotateRegistryCa"
ACTIVATED_META = "registry.ca.activated_at"      # when the last activation happened (epoch seconds)
LEEWAY_SECONDS = 60


def fingerprint(cert_pem: str) -> str:
    """SHA-256 of the certificate's DER, as `openssl x509 -fingerprint -sha256` prints it."""
    digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(cert_pem)).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


@dataclass(frozen=True)
class CaState:
    active: str | None           # PEM
    next: str | None
    previous: tuple[str, ...]

    def bundle(self) -> str:
        """Every certificate a registry must trust now: active, next, previous."""
        return "".join(p if p.endswith("\n") else p + "\n"
                       for p in (self.active, self.next, *self.previous) if p)


class RegistryCaRotation:
    def __init__(self, store: Store, clock: Clock, auditor: Auditor) -> None:
        self._store = store
        self._clock = clock
        self._auditor = auditor

    def state(self) -> CaState:
        active, nxt, previous = getattr(self._store, "inner", self._store).registry_ca_certificates()
        return CaState(active, nxt, tuple(previous))

    def prepare(self) -> CaState:
        """Make the next CA (kept if one is prepared already)."""
        from regauth.domain import registry_jwt

        if self.state().active is None:
            raise Conflict("registry_ca", "active", "There is no registry CA yet: `regauth admin registry-ca` "
                                                    "makes the first one; rotate it later.")
        now = self._clock.now()
        name = f"regauth registry token CA {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(now))}"
        self._store.prepare_registry_ca(registry_jwt.new_ca(now, common_name=name))
        return self._audited("prepare")

    def activate(self) -> CaState:
        if not self._store.activate_registry_ca():
            raise Conflict("registry_ca", "next", "No registry CA is prepared: run `regauth admin "
                                                  "rotate-registry-ca --prepare` first, and put the bundle it "
                                                  "prints in every registry.")
        self._store.set_meta(ACTIVATED_META, repr(self._clock.now()))
        return self._audited("activate")

    def finish(self, jwt_seconds: int, *, force: bool = False) -> CaState:
        """Forget the replaced certificates, once the JWTs their leaves signed (up to `jwt_seconds`
        long, issued until the activation) have expired; Conflict before that, unless `force`."""
        activated = self._store.get_meta(ACTIVATED_META)
        wait = float(activated) + jwt_seconds + LEEWAY_SECONDS - self._clock.now() if activated else 0.0
        if wait > 0 and self.state().previous and not force:
            raise Conflict("registry_ca", "previous", f"JWTs signed under the replaced CA may live {int(wait) + 1} s "
                                                      f"more (REGAUTH_REGISTRY_TOKEN_SECONDS={jwt_seconds} here: give "
                                                      f"this command the servers' setting): registries must trust "
                                                      f"it until then. Run --finish after that (or with --force).")
        self._store.forget_previous_registry_cas()
        return self._audited("finish")

    def _audited(self, step: str) -> CaState:
        state = self.state()
        detail = (f"step={step} active={fingerprint(state.active) if state.active else '-'} "
                  f"next={fingerprint(state.next) if state.next else '-'} previous={len(state.previous)}")
        now = self._clock.now()
        event = AuditEvent(at=now, request_id=ids.request_id(), principal_arn="", action=ROTATE, resource="",
                           outcome="allowed", source_ip="", detail=detail)
        self._store.record_audit(event)
        self._auditor.logged(event)
        return state
