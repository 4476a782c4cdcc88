"""Calling an Alibaba Cloud RPC API from the CLI: credentials found as Alibaba's tools find them,
ACS3-HMAC-SHA256 signing (the new SDKs' default), one POST, and errors as the CLI's exit codes.

Credentials, the first found wins (alibabacloud_credentials' default chain, less the providers that
need a cloud to answer):
  1. ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET (and ALIBABA_CLOUD_SECURITY_TOKEN
     for STS credentials);
  2. the aliyun CLI's ~/.aliyun/config.json: the profile named by --profile or ALIBABA_CLOUD_PROFILE,
     else its `current` one; modes AK and StsToken.
Region: --region, ALIBABA_CLOUD_REGION_ID, the profile's region_id. It may be left out: the server
takes the instance's region, as the real service takes the endpoint's.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import urllib3

from regauth import __version__
from regauth.auth.acs import percent_encode as _encode     # RFC 3986 over UTF-8, as the server canonicalises
from regauth.cli.aws_client import (EXIT_CONFIGURATION, EXIT_OTHER, EXIT_PARAMETER, EXIT_SERVICE, REDACTOR, CliError,
                                    log)

ALGORITHM = "ACS3-HMAC-SHA256"
DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class AlibabaCredentials:
    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)
    source: str = ""


@dataclass(frozen=True)
class AlibabaOptions:
    """The global options a `regauth cr` command uses."""
    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    verify_ssl: bool = True
    ca_bundle: str | None = None
    read_timeout: int | None = None      # None: 60 s; 0: blocking
    connect_timeout: int | None = None


# --------------------------------------------------------------------------- configuration

def _cli_config(env: dict[str, str]) -> tuple[Path, dict[str, Any] | None]:
    home = env.get("HOME") or os.path.expanduser("~")
    path = Path(home) / ".aliyun" / "config.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return path, None
    except OSError as exc:
        raise CliError(f"Cannot read {path}: {exc.strerror}", EXIT_CONFIGURATION) from None
    try:
        config = json.loads(text)
    except ValueError:
        raise CliError(f"{path} is not valid JSON.", EXIT_CONFIGURATION) from None
    if not isinstance(config, dict):
        raise CliError(f"{path} is not an aliyun CLI configuration (no JSON object).", EXIT_CONFIGURATION)
    return path, config


def _profile(config: dict[str, Any], path: Path, name: str | None) -> dict[str, Any]:
    name = name or config.get("current") or "default"
    for profile in config.get("profiles") or []:
        if isinstance(profile, dict) and profile.get("name") == name:
            return profile
    raise CliError(f"The profile ({name}) could not be found in {path}.", EXIT_CONFIGURATION)


def resolve(opts: AlibabaOptions, env: dict[str, str] | None = None) -> tuple[AlibabaCredentials, str | None]:
    """The credentials and the region (None when nothing names one)."""
    env = dict(os.environ) if env is None else env
    region = opts.region or env.get("ALIBABA_CLOUD_REGION_ID") or None
    profile_name = opts.profile or env.get("ALIBABA_CLOUD_PROFILE") or None
    key_id, secret = env.get("ALIBABA_CLOUD_ACCESS_KEY_ID"), env.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
    if key_id and secret and not opts.profile:
        creds = AlibabaCredentials(key_id, secret, env.get("ALIBABA_CLOUD_SECURITY_TOKEN") or None, "environment")
    else:
        path, config = _cli_config(env)
        if config is None:
            if opts.profile:
                raise CliError(f"The profile ({opts.profile}) could not be found: {path} does not exist.",
                               EXIT_CONFIGURATION)
            raise CliError("Unable to locate credentials. Set ALIBABA_CLOUD_ACCESS_KEY_ID and "
                           "ALIBABA_CLOUD_ACCESS_KEY_SECRET (and ALIBABA_CLOUD_SECURITY_TOKEN for STS credentials), "
                           "or configure a profile in ~/.aliyun/config.json.", EXIT_CONFIGURATION)
        profile = _profile(config, path, profile_name)
        mode = profile.get("mode") or "AK"
        if mode not in ("AK", "StsToken"):
            raise CliError(f"The profile ({profile.get('name')}) uses mode {mode}; regauth reads the modes AK and "
                           "StsToken only.", EXIT_CONFIGURATION)
        key_id, secret = profile.get("access_key_id"), profile.get("access_key_secret")
        token = profile.get("sts_token") if mode == "StsToken" else None
        if not (isinstance(key_id, str) and key_id and isinstance(secret, str) and secret) or (
                mode == "StsToken" and not (isinstance(token, str) and token)):
            raise CliError(f"The profile ({profile.get('name')}) in {path} lacks access_key_id, access_key_secret"
                           + (" or sts_token." if mode == "StsToken" else "."), EXIT_CONFIGURATION)
        creds = AlibabaCredentials(key_id, secret, token or None, f"profile {profile.get('name')}")
        region = region or profile.get("region_id") or None
    REDACTOR.add_secret(creds.access_key_secret)
    REDACTOR.add_secret(creds.security_token)
    return creds, (str(region) if region else None)


def endpoint(opts: AlibabaOptions, product: str, region: str | None) -> str:
    """--endpoint-url, else the product's public endpoint in the region."""
    if opts.endpoint_url is not None:     # given, even empty: an unset $E must not mean the public cloud
        parts = urlsplit(opts.endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise CliError(f'Bad value for --endpoint-url "{opts.endpoint_url}": give http(s)://host[:port][/path]',
                           EXIT_PARAMETER)
        return opts.endpoint_url.rstrip("/")
    if not region:
        raise CliError("You must specify a region, or an endpoint: pass --region, set ALIBABA_CLOUD_REGION_ID, add "
                       "region_id to the profile, or pass --endpoint-url.", EXIT_CONFIGURATION)
    return f"https://{product}.{region}.aliyuncs.com"


# --------------------------------------------------------------------------- ACS3 signing

def sign(method: str, host: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes,
         creds: AlibabaCredentials) -> dict[str, str]:
    """`headers` plus host, x-acs-content-sha256, the STS headers and Authorization, every header signed.

    CanonicalRequest = METHOD \\n path \\n sorted k=v query \\n lower(name):trim(value) lines \\n SignedHeaders
                       \\n hex(sha256(body)); Signature = hex(HMAC-SHA256(secret, ALGORITHM \\n hex(sha256(CR))))
    """
    out = {k.lower(): v for k, v in headers.items()}
    out["host"] = host
    out["x-acs-content-sha256"] = hashlib.sha256(body).hexdigest()
    if creds.security_token:
        out["x-acs-accesskey-id"] = creds.access_key_id
        out["x-acs-security-token"] = creds.security_token
    names = sorted(out)
    canonical = "\n".join((
        method, path or "/",
        "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(query.items())),
        "".join(f"{name}:{out[name].strip()}\n" for name in names),
        ";".join(names),
        out["x-acs-content-sha256"]))
    to_sign = f"{ALGORITHM}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"
    signature = hmac.new(creds.access_key_secret.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    out["authorization"] = f"{ALGORITHM} Credential={creds.access_key_id},SignedHeaders={';'.join(names)},Signature={signature}"
    return out


# --------------------------------------------------------------------------- one call

def _timeout(opts: AlibabaOptions) -> urllib3.Timeout:
    def seconds(value: int | None) -> float | None:
        return DEFAULT_TIMEOUT if value is None else (None if value == 0 else float(value))
    return urllib3.Timeout(connect=seconds(opts.connect_timeout), read=seconds(opts.read_timeout))


def _pool(opts: AlibabaOptions) -> urllib3.PoolManager:
    if not opts.verify_ssl:
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        return urllib3.PoolManager(cert_reqs="CERT_NONE")
    ca = opts.ca_bundle or os.environ.get("ALIBABA_CLOUD_CA_BUNDLE") or None
    if ca:
        return urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=ca)
    from botocore.httpsession import get_cert_path   # the public CA list the AWS commands use

    return urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=get_cert_path(True))


def call(opts: AlibabaOptions, product: str, version: str, action: str, params: dict[str, str]) -> dict[str, Any]:
    """Signs and sends one RPC action (POST, parameters in the query); the parsed JSON answer."""
    creds, region = resolve(opts)
    base = endpoint(opts, product, region)
    if region and "RegionId" not in params:     # a common RPC parameter; ACR checks it against the instance
        params = {**params, "RegionId": region}
    parts = urlsplit(base)
    path = (parts.path.rstrip("/") or "") + "/"
    headers = sign("POST", parts.netloc, path, params, {
        "accept": "application/json", "user-agent": f"regauth/{__version__}",
        "x-acs-action": action, "x-acs-version": version,
        "x-acs-date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "x-acs-signature-nonce": secrets.token_hex(16)}, b"", creds)
    query = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(params.items()))
    url = f"{parts.scheme}://{parts.netloc}{path}" + (f"?{query}" if query else "")
    log.debug("POST %s (%s, credentials from the %s)", url, action, creds.source)
    try:
        response = _pool(opts).request("POST", url, body=b"", headers=headers, timeout=_timeout(opts),
                                       retries=False, redirect=False)
    except urllib3.exceptions.HTTPError as exc:
        log.debug("no HTTP response: %s", exc)
        raise CliError(f'Could not connect to the endpoint URL: "{url}"', EXIT_OTHER) from None
    log.debug("HTTP %s", response.status)
    try:
        answer = json.loads(response.data)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise CliError(f"The endpoint {base} answered HTTP {response.status} without a JSON object; is it an "
                       f"Alibaba Cloud {product} API?", EXIT_OTHER)
    if response.status >= 300 or answer.get("IsSuccess") is False:
        code = answer.get("Code") or f"HTTP{response.status}"
        message = REDACTOR(str(answer.get("Message") or ""))
        request_id = answer.get("RequestId")
        raise CliError(f"An error occurred ({code}) when calling the {action} operation: {message}"
                       + (f" (RequestId: {request_id})" if request_id else ""), EXIT_SERVICE)
    return answer
