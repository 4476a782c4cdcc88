"""What a service call knows about the request it serves: who, where, when."""

from __future__ import annotations

from dataclasses import dataclass

from regauth.domain.principals import Caller


@dataclass(frozen=True)
class Call:
    caller: Caller
    region: str
    now: float
    source_ip: str = ""
    request_id: str = ""
    secure_transport: bool = False
