"""What a service call knows about the request it serves: who, where, when."""

from __future__ import annotations

from dataclasses import field

from regauth.domain.principals import Caller
from regauth.records import record
from regauth.services.pending import Pending


@record
class Call:
    caller: Caller
    region: str
    now: float
    source_ip: str = ""
    request_id: str = ""
    secure_transport: bool = False
    # Where the records this call must store go (the HTTP layer commits them before answering);
    # None: write them straight to the store (admin commands, tests).
    pending: Pending | None = field(default=None, compare=False, repr=False)

    def in_region(self, region: str) -> "Call":
        """The same call, in `region` (what dataclasses.replace gives, at a quarter of its cost)."""
        return Call(self.caller, region, self.now, self.source_ip, self.request_id, self.secure_transport,
                    self.pending)
