"""Rotating the keys that MAC issued tokens (`regauth admin rotate-signing-key`).

A rotation makes a new key the one every node signs with from its next request on (the keyring
reloads whenever the store's generation moves, `services.container`). The keys it replaces are
either retired — they still verify the tokens they signed, until `admin prune` deletes them once
those have all expired — or, with `revoke_previous` (a key that may have leaked), deleted at once,
so every token they signed is refused wherever it is checked and clients fetch new ones.

Each rotation is audited ("regauth:RotateSigningKey"); no key material leaves the store.
"""

from __future__ import annotations

from dataclasses import dataclass

from regauth.clock import Clock
from regauth.domain import ids
from regauth.domain.keyring import new_signing_key
from regauth.domain.principals import AuditEvent, SigningKey
from regauth.services.audit import Auditor
from regauth.store.interfaces import Store

ROTATE = "regauth:RotateSigningKey"


@dataclass(frozen=True)
class Rotation:
    at: float
    new_kid: str
    retired: tuple[str, ...]        # still verify what they signed
    deleted: tuple[str, ...]        # verify nothing any more


class SigningKeys:
    def __init__(self, store: Store, clock: Clock, auditor: Auditor) -> None:
        self._store = store
        self._clock = clock
        self._auditor = auditor

    def rotate(self, revoke_previous: bool = False, reason: str = "") -> Rotation:
        now = self._clock.now()
        key = new_signing_key(now)
        others = tuple(self._store.rotate_signing_keys(key, now, revoke_previous))
        done = Rotation(now, key.kid, () if revoke_previous else others, others if revoke_previous else ())
        detail = (f"new={key.kid} " + (f"deleted={','.join(done.deleted)}" if revoke_previous
                                       else f"retired={','.join(done.retired)}")
                  + (f" reason={reason}" if reason else ""))
        event = AuditEvent(at=now, request_id=ids.request_id(), principal_arn="", action=ROTATE, resource="",
                           outcome="allowed", source_ip="", detail=detail[:1024])
        self._store.record_audit(event)
        self._auditor.logged(event)
        return done

    def list(self) -> list[SigningKey]:
        """Every key, oldest first (callers show kids and times, never the secrets)."""
        return getattr(self._store, "inner", self._store).list_signing_keys()
