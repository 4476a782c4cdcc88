"""Audit log lines: one line per event, whatever the request carried (no forged lines, no extra fields)."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from regauth.domain.principals import AuditEvent
from regauth.services.audit import Auditor

F = r'("(?:[^"\\]|\\.)*"|[^\s"]+)'          # a plain token, or a JSON string
LINE = re.compile(rf'^audit {F} {F} {F} by={F} resource={F} token_id={F} detail={F} ip={F}$')


@pytest.fixture
def lines():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("regauth.audit")
    old_level, old_propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield lambda: stream.getvalue().splitlines()
    logger.removeHandler(handler)
    logger.setLevel(old_level)
    logger.propagate = old_propagate


def _value(field: str) -> str:
    return "" if field == "-" else json.loads(field) if field.startswith('"') else field


def test_values_from_the_request_cannot_forge_a_line_or_a_field(lines) -> None:
    hostile = "UnknownAccessKey key=AKIA\n2026-11-23 03:00:00,000 INFO regauth.audit audit allowed x ip=9.9.9.9"
    event = AuditEvent(at=0.0, request_id="r-1", principal_arn="", action="sts:?", resource="arn:aws:ecr:us\r\n:1:r",
                       outcome="denied", source_ip="127.0.0.1", detail=hostile)
    Auditor(store=None).logged(event)  # type: ignore[arg-type]
    out = lines()
    assert len(out) == 1
    m = LINE.match(out[0])
    assert m is not None, out[0]
    outcome, action, request_id, by, resource, token_id, detail, ip = m.groups()
    assert (outcome, action, request_id, by, token_id, ip) == ("denied", "sts:?", "r-1", "-", "-", "127.0.0.1")
    assert _value(detail) == hostile and _value(resource) == "arn:aws:ecr:us\r\n:1:r"


def test_plain_values_are_written_as_they_are(lines) -> None:
    event = AuditEvent(at=0.0, request_id="r-2", principal_arn="arn:aws:iam::111122223333:user/admin",
                       action="ecr:GetAuthorizationToken", resource="arn:aws:ecr:us-east-1:111122223333:registry",
                       outcome="allowed", source_ip="10.0.0.1", token_id="0192abc", detail="expires=1700000000")
    Auditor(store=None).logged(event)  # type: ignore[arg-type]
    assert lines() == ["audit allowed ecr:GetAuthorizationToken r-2 by=arn:aws:iam::111122223333:user/admin "
                       "resource=arn:aws:ecr:us-east-1:111122223333:registry token_id=0192abc "
                       "detail=expires=1700000000 ip=10.0.0.1"]


def test_a_commit_logs_one_record_shown_as_one_prefixed_line_per_event() -> None:
    from regauth.cli.serve import configure_logging
    from regauth.services.pending import Pending

    class Store:
        def record_batch(self, tokens, events) -> None:
            self.stored = list(events)

    stream = io.StringIO()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    try:
        configure_logging("info", stream)
        units = []
        for i in range(3):
            unit = Pending()
            unit.audited(AuditEvent(at=0.0, request_id=f"r-{i}", principal_arn="", action="sts:?", resource="",
                                    outcome="denied", source_ip="127.0.0.1", detail="MissingAuthentication"))
            units.append(unit)
        records: list[logging.LogRecord] = []
        counter = logging.Handler()
        counter.emit = records.append  # type: ignore[method-assign]
        logging.getLogger("regauth.audit").addHandler(counter)
        try:
            Auditor(Store()).commit(units)  # type: ignore[arg-type]
        finally:
            logging.getLogger("regauth.audit").removeHandler(counter)
        logging.getLogger("regauth.other").info("plain")
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    assert len(records) == 1                                      # one record for the commit
    out = stream.getvalue().splitlines()
    assert len(out) == 4
    prefix = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO ")
    assert all(prefix.match(line) for line in out)
    assert [line.split(" INFO ", 1)[1] for line in out[:3]] == [
        f"regauth.audit audit denied sts:? r-{i} by=- resource=- token_id=- detail=MissingAuthentication "
        "ip=127.0.0.1" for i in range(3)]
    assert out[3].endswith(" INFO regauth.other plain")


def test_a_field_is_plain_exactly_when_every_character_is_printable_ascii_but_space_quote_backslash() -> None:
    from regauth.services.audit import _field

    plain = set(map(chr, range(0x21, 0x7F))) - {'"', "\\"}
    samples = [chr(c) for c in range(0x300)] + ["\u2028", "\u00a0", "\ufeff", "\U0001F600", "\udcff"]
    for c in samples:
        for value in (c, f"arn:{c}", f"{c}x{c}"):
            expected = value if set(value) <= plain else json.dumps(value)
            assert _field(value) == expected, repr(value)
