"""Call.in_region is dataclasses.replace(call, region=...), field for field."""

from __future__ import annotations

import dataclasses

from regauth.domain.principals import Caller
from regauth.services.context import Call
from regauth.services.pending import Pending


def test_in_region_keeps_every_other_field() -> None:
    # in_region lists the fields by position: a field added to Call must be added there too
    assert [f.name for f in dataclasses.fields(Call)] == [
        "caller", "region", "now", "source_ip", "request_id", "secure_transport", "pending"]
    caller = Caller(account_id="123456789012", arn="arn:aws:iam::123456789012:user/u", user_id="AIDAX",
                    kind="user", name="u", access_key_id="AKIAX")
    call = Call(caller=caller, region="us-east-1", now=12.5, source_ip="10.0.0.1", request_id="r-1",
                secure_transport=True, pending=Pending())
    moved = call.in_region("cn-hangzhou")
    assert moved == dataclasses.replace(call, region="cn-hangzhou")
    assert moved.region == "cn-hangzhou" and moved.pending is call.pending and call.region == "us-east-1"
    assert moved.secure_transport is True and moved.source_ip == "10.0.0.1" and moved.request_id == "r-1"
