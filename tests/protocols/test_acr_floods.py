"""The ACR dialect under floods, in process (real store and services, a fixed clock): what a key's
refused requests may take from everyone else's.

- A throttled request keeps no nonce: a zero-permission key's throttled flood once filled the
  process's nonce cache, after which every key's requests were refused (Throttling.User).
- One key holds at most its share of the nonce cache, whatever the rate limit lets through.
- An Alibaba request carrying more parameters (or characters of them) than any SDK sends is refused
  before anything is decoded or any key looked up, and a SignatureDoesNotMatch shows at most
  MAX_ECHOED characters of the server's string to sign.

The real server and SDKs: tests/wire/test_acr_floods.py.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from regauth.auth import acs
from regauth.auth.canonical import HttpRequest
from regauth.auth.nonces import NonceCache
from regauth.config import Settings
from regauth.protocols.acr import NONCE_KEY_SHARE
from tests.protocols.test_acr_protocol import HOST, Served, acs3, assert_error, body, rpc
from tests.services.test_acr_service import World, allow


def world_with(tmp_path: Path, *, rate: float, burst: int = 1) -> World:
    return World.build(tmp_path, Settings(data_dir=tmp_path, rate_limit_per_second=rate, rate_limit_burst=burst))


def small_cache(dialect: Served, entries: int, per_key: int | None = None) -> NonceCache:
    """The dialect's nonce cache, as it makes it, but for its size (a million takes too long to fill)."""
    dialect._nonces = NonceCache(window=dialect._nonces.window, since=dialect._nonces.since, max_entries=entries,
                                 max_per_key=per_key)
    return dialect._nonces


def test_a_throttled_flood_keeps_no_nonces_and_refuses_no_one_else(tmp_path: Path) -> None:
    w = world_with(tmp_path, rate=0.5, burst=1)
    try:
        dialect = Served(w.services)
        cache = small_cache(dialect, entries=50)
        idle = w.user(None)                       # no permission at all
        admin = w.user(allow())
        iid = w.instance.instance_id
        assert_error(dialect.handle(rpc({"InstanceId": iid}, idle[0], idle[1].reveal())), 403, "Forbidden.RAM")
        for i in range(200):                      # validly signed, each its own nonce, all throttled
            req = rpc({"InstanceId": iid}, idle[0], idle[1].reveal()) if i % 2 else \
                acs3({"InstanceId": iid}, idle[0], idle[1].reveal())
            assert_error(dialect.handle(req), 400, "Throttling.User")
        assert len(cache) == 1                    # the one request served
        resp = dialect.handle(rpc({"InstanceId": iid}, admin[0], admin[1].reveal()))
        assert resp.status == 200, resp.body
    finally:
        w.services.store.close()


def test_a_throttled_request_is_served_when_it_comes_again_and_only_once(tmp_path: Path) -> None:
    w = world_with(tmp_path, rate=0.5, burst=1)
    try:
        dialect = Served(w.services)
        akid, secret = w.user(allow())
        iid = w.instance.instance_id
        assert dialect.handle(rpc({"InstanceId": iid}, akid, secret.reveal())).status == 200
        again = rpc({"InstanceId": iid}, akid, secret.reveal())
        assert_error(dialect.handle(again), 400, "Throttling.User")
        assert_error(dialect.handle(again), 400, "Throttling.User")       # not SignatureNonceUsed: never served
        w.clock.advance(2)                                                  # the bucket refills
        assert dialect.handle(again).status == 200
        w.clock.advance(2)
        assert_error(dialect.handle(again), 400, "SignatureNonceUsed")     # served once, never twice
    finally:
        w.services.store.close()


def test_a_served_request_replayed_is_refused_as_used_even_when_throttled(tmp_path: Path) -> None:
    w = world_with(tmp_path, rate=0.5, burst=1)
    try:
        dialect = Served(w.services)
        akid, secret = w.user(allow())
        served = rpc({"InstanceId": w.instance.instance_id}, akid, secret.reveal())
        assert dialect.handle(served).status == 200
        assert_error(dialect.handle(served), 400, "SignatureNonceUsed")    # the bucket is empty: the nonce first
    finally:
        w.services.store.close()


def test_one_key_holds_at_most_its_share_of_the_nonce_cache(tmp_path: Path) -> None:
    w = world_with(tmp_path, rate=0)             # the rate limit switched off: the share is what holds
    try:
        dialect = Served(w.services)
        assert dialect._nonces.max_per_key == NONCE_KEY_SHARE == dialect._nonces.max_entries // 4
        cache = small_cache(dialect, entries=8, per_key=2)
        greedy, other = w.user(allow()), w.user(allow())
        iid = w.instance.instance_id
        for _ in range(2):
            assert dialect.handle(rpc({"InstanceId": iid}, greedy[0], greedy[1].reveal())).status == 200
        assert_error(dialect.handle(acs3({"InstanceId": iid}, greedy[0], greedy[1].reveal())), 400, "Throttling.User")
        assert len(cache) == 2
        assert dialect.handle(rpc({"InstanceId": iid}, other[0], other[1].reveal())).status == 200
        refused = [e for e in w.services.store.list_audit_events(limit=10) if e.outcome == "denied"]
        assert [e.detail.split()[0] for e in refused] == ["NonceShareFull"]
        assert refused[0].principal_arn == w.caller(greedy[0]).arn
        w.clock.advance(w.services.settings.signature_window + 2)           # its nonces expire: room again
        assert dialect.handle(rpc({"InstanceId": iid}, greedy[0], greedy[1].reveal(), at=w.clock.now())).status == 200
    finally:
        w.services.store.close()


# --- what one request may carry ------------------------------------------------------------------------

def padded(n: int, width: int = 1) -> dict[str, str]:
    return {f"Pad{i:03d}": "x" * width for i in range(n)}


@pytest.fixture
def world(tmp_path: Path):
    w = World.build(tmp_path)
    yield w
    w.services.store.close()


def form(text: str) -> HttpRequest:
    return HttpRequest("POST", "/", "", (("Host", HOST), ("Content-Type", "application/x-www-form-urlencoded")),
                       text.encode(), "10.0.0.1")


UNKNOWN = "LTAI" + "Z" * 20
HEAD = (f"Format=JSON&Version=2018-12-01&AccessKeyId={UNKNOWN}&SignatureMethod=HMAC-SHA1&Timestamp=2027-01-15T08%3A00"
        "%3A00Z&SignatureVersion=1.0&SignatureNonce=n1&Action=GetAuthorizationToken&InstanceId=cri-x&Signature=abc")


@pytest.mark.parametrize("extra", [
    "&".join(f"p%3{i % 10}{i:x}=%41" for i in range(70_000)),        # 910 KB, 70,000 parameters
    "&".join(f"p{i}=1" for i in range(55)),                            # 65 parameters, 0.6 KB
    "Pad=" + "%41" * 6000,                                             # 2 parameters, 18 KB
], ids=["70000-params", "65-params", "18KB"])
def test_too_much_is_refused_before_the_key_is_looked_up(world: World, extra: str) -> None:
    dialect = Served(world.services)
    for req in (form(f"{HEAD}&{extra}"), HttpRequest("POST", "/", f"{HEAD}&{extra}", (("Host", HOST),), b"",
                                                     "10.0.0.1")):
        if len(req.query) > 64 * 1024:
            continue                                       # over the server's head limit: never reaches here
        b = assert_error(dialect.handle(req), 400, "IncompleteSignature")     # not InvalidAccessKeyId.NotFound
        assert f"more than {acs.MAX_PARAMS} parameters" in b["Message"]


def test_acs3_query_is_bounded_too(world: World) -> None:
    dialect = Served(world.services)
    akid, secret = world.user(allow())
    req = acs3({"InstanceId": world.instance.instance_id, **padded(70)}, akid, secret.reveal())
    assert_error(dialect.handle(req), 400, "IncompleteSignature")


def test_what_an_sdk_sends_and_more_passes(world: World) -> None:
    """The SDKs send at most 14 parameters in under 1 KiB: four times as many, and ten times as long, pass."""
    dialect = Served(world.services)
    akid, secret = world.user(allow())
    iid = world.instance.instance_id
    for req in (rpc({"InstanceId": iid, **padded(acs.MAX_PARAMS - 12, 150)}, akid, secret.reveal(), form=True),
                rpc({"InstanceId": iid, **padded(50, 200)}, akid, secret.reveal()),
                acs3({"InstanceId": iid, **padded(acs.MAX_PARAMS - 3, 150)}, akid, secret.reveal())):
        assert len(req.query) + len(req.body) > 8 * 1024
        resp = dialect.handle(req)
        assert resp.status == 200, resp.body


def test_the_echoed_string_to_sign_is_cut(world: World) -> None:
    dialect = Served(world.services)
    akid, secret = world.user(allow())
    iid = world.instance.instance_id
    # within the bounds, but its string to sign is ~5 times its size ('*', sent as it is, is signed as %252A)
    signed = rpc({"InstanceId": iid, "Pad": "*" * 12_000}, akid, "wrong", form=True)
    req = form(signed.body.decode().replace("%2A", "*"))
    assert len(req.body) < acs.MAX_PARAMS_CHARS
    b = assert_error(dialect.handle(req), 400, "SignatureDoesNotMatch")
    shown = b["Message"].split(":", 1)[1]
    assert len(shown) < acs.MAX_ECHOED + 100 and shown.startswith("POST&%2F&AccessKeyId%3D")
    assert shown.endswith(" more characters not shown)")
    # a request of an SDK's size still gets all of it, as the old SDK compares it with its own
    b = assert_error(dialect.handle(rpc({"InstanceId": iid}, akid, "wrong")), 400, "SignatureDoesNotMatch")
    assert b["Message"].split(":", 1)[1].endswith("%26Version%3D2018-12-01")


def test_a_cut_echo_never_shows_the_session_token(world: World) -> None:
    dialect = Served(world.services)
    akid, _ = world.user(allow())
    sts_key, sts_secret, token = world.session(akid, 900)
    field = "SecurityToken%3D" + quote(quote(token.reveal(), safe="~"), safe="~")
    for width in range(3000, 4200, 8):            # a RegionId long enough for the cut to fall in the token
        req = rpc({"InstanceId": world.instance.instance_id, "RegionId": "r" * width}, sts_key, "wrong",
                  token=token.reveal())
        at = acs.string_to_sign(req, acs.parse(req)).find(field)
        if at < acs.MAX_ECHOED < at + len(field) - 10:
            break
    else:
        pytest.fail("no width puts the cut inside the token")
    b = assert_error(dialect.handle(req), 400, "SignatureDoesNotMatch")
    assert b["Message"].endswith(" more characters not shown)")
    assert field[:len("SecurityToken%3D") + 12] not in b["Message"]
    assert token.reveal()[:12] not in b["Message"]


def test_format_is_found_in_a_large_body(world: World) -> None:
    dialect = Served(world.services)
    extra = "&".join(f"p{i}=1" for i in range(70_000))
    b = body(dialect.handle(form(f"{extra}&Format=XML&{HEAD}")))
    assert b["_root"] == "Error" and b["Code"] == "IncompleteSignature"


@pytest.mark.parametrize("text, expected", [
    ("a=1&Format=xml&Format=JSON", "XML"), ("Format", ""), ("Format&x=1", ""), ("xFormat=XML", None),
    ("Formats=XML&Format=json", "JSON"), ("Format=%4AS%4FN", "JSON"), ("", None),
])
def test_format_sniffing(text: str, expected: str | None) -> None:
    from regauth.auth.acs_rpc import sniff_format
    assert sniff_format(HttpRequest("GET", "/", text, ())) == expected
    assert sniff_format(form(text)) == expected

