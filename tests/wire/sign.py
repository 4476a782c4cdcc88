"""A small SigV4 signer written from the spec (aws-wire.md §2.2), independent of regauth's verifier
and of botocore: it signs every header it is given, as paws does."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timezone
from urllib.parse import quote, unquote


def _enc(text: str) -> str:
    return quote(text, safe="-_.~")


def sign(method: str, path: str, query: str, headers: dict[str, str], body: bytes, access_key: str, secret: str,
         service: str, region: str, session_token: str | None = None, when: datetime | None = None) -> dict[str, str]:
    when = when or datetime.now(timezone.utc)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    out = dict(headers)
    out["X-Amz-Date"] = amz_date
    if session_token:
        out["X-Amz-Security-Token"] = session_token
    names = sorted(k.lower() for k in out)
    values = {k.lower(): " ".join(v.strip().split()) for k, v in out.items()}
    pairs = sorted((_enc(unquote(k)), _enc(unquote(v))) for k, _, v in
                   (p.partition("=") for p in query.split("&") if p))
    canonical = "\n".join([
        method, quote(quote(path, safe="/~"), safe="/~") if "%" in path else quote(path, safe="/~"),
        "&".join(f"{k}={v}" for k, v in pairs),
        "".join(f"{n}:{values[n]}\n" for n in names), ";".join(names), hashlib.sha256(body).hexdigest()])
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (amz_date[:8], region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={';'.join(names)}, "
                            f"Signature={signature}")
    return out
