"""Building a botocore client from the aws-style global options, the CLI's exit codes, and `--debug` logging.

Profiles, credentials, region and `AWS_ENDPOINT_URL*` are resolved by botocore's own session, so the
usual ~/.aws/config, ~/.aws/credentials and AWS_* variables behave as they do for the AWS CLI.
Exit codes follow AWS CLI v2, which maps only a missing region, missing credentials and a bad setting of its own
to 253: 252 bad parameters, 253 no region, no credentials or a bad `cli_timestamp_format`, 254 the service answered
with an error, 255 anything else (an unknown profile, partial credentials, a bad output format or timeout,
connection, TLS).
"""

from __future__ import annotations

import logging
import os
import re
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, TextIO
from urllib.parse import urlsplit

import botocore.session
from botocore import UNSIGNED
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError, ClientError, EndpointConnectionError, InvalidRegionError, NoCredentialsError, NoRegionError,
    ParamValidationError, PartialCredentialsError, ProfileNotFound,
)
from botocore.utils import ensure_boolean, parse_timestamp

from regauth import __version__

EXIT_PARAMETER = 252
EXIT_CONFIGURATION = 253
EXIT_SERVICE = 254
EXIT_OTHER = 255

log = logging.getLogger("regauth.cli")


class CliError(Exception):
    """A failure the command reports as one message on stderr and an exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_OTHER) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


@dataclass(frozen=True)
class GlobalOptions:
    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    verify_ssl: bool = True
    ca_bundle: str | None = None
    read_timeout: str | int | None = None      # as typed; None: botocore's default (60 s); 0: blocking
    connect_timeout: str | int | None = None
    no_sign_request: bool = False


# --------------------------------------------------------------------------- redaction

_REDACTED = "****"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # SigV4: the Authorization header / presigned query, and botocore's "Signature:\n<hex>" line
    (re.compile(r"(Signature=)[0-9A-Fa-f]+"), r"\1" + _REDACTED),
    (re.compile(r"(Signature:\s*)[0-9A-Fa-f]{16,}"), r"\1" + _REDACTED),
    # session tokens as a header (canonical request, headers repr) or a query parameter
    (re.compile(r"""(x-amz-security-token['"]?\s*[:=]\s*b?['"]?)[^\s'",&]+""", re.I), r"\1" + _REDACTED),
    # issued tokens, secrets and session tokens in JSON bodies, XML bodies and env-style text
    (re.compile(r"""(['"]?(?<![A-Za-z])(?:authorizationToken|SecretAccessKey|SessionToken|password)['"]?\s*[:=]\s*b?['"]?)"""
                r"""[^\s'",}<]+""", re.I), r"\1" + _REDACTED),
    (re.compile(r"(<(SecretAccessKey|SessionToken)>)[^<]*(</\2>)"), r"\1" + _REDACTED + r"\3"),
    (re.compile(r"((?:AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN|aws_secret_access_key|aws_session_token)"
                r"""['"]?\s*[=:]\s*['"]?)[^\s'",]+"""), r"\1" + _REDACTED),
    # regauth's token kinds, also when embedded in a URL or a .pypirc / .npmrc line
    (re.compile(r"\b(rgca|rgecr|rgecp|rgacr)_[A-Za-z0-9._~+/=-]+"), r"\1_" + _REDACTED),
    # docker-style tokens: base64("AWS:<password>") always starts with "QVdTO"
    (re.compile(r"QVdTO[A-Za-z0-9+/]{8,}={0,2}"), _REDACTED),
    # credentials in a URL's userinfo (pip's index-url)
    (re.compile(r"(://[^:/@\s]+:)[^@\s/]+@"), r"\1" + _REDACTED + "@"),
)


class Redactor:
    """Removes signatures, secret keys, session tokens and issued tokens from text."""

    def __init__(self) -> None:
        self._literals: set[str] = set()

    def add_secret(self, value: str | None) -> None:
        if value and len(value) >= 8:
            self._literals.add(value)

    def __call__(self, text: str) -> str:
        for literal in sorted(self._literals, key=len, reverse=True):
            text = text.replace(literal, _REDACTED)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text


REDACTOR = Redactor()


class RedactingFilter(logging.Filter):
    """Rewrites each record (message, arguments, exception text) through a Redactor before it is emitted."""

    def __init__(self, redactor: Redactor = REDACTOR) -> None:
        super().__init__()
        self._redact = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record: keep its template only
            text = str(record.msg)
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        if record.stack_info:
            text += "\n" + record.stack_info
        record.msg, record.args = self._redact(text), None
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


_DEBUG_LOGGERS = ("botocore", "urllib3", "regauth")


def enable_debug_logging(stream: TextIO | None = None, redactor: Redactor = REDACTOR) -> logging.Handler:
    """`--debug`: botocore's, urllib3's and our own debug logs on stderr, with secrets filtered out."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s - %(threadName)s - %(name)s - %(levelname)s - %(message)s"))
    handler.addFilter(RedactingFilter(redactor))
    for name in _DEBUG_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
    return handler


def disable_debug_logging(handler: logging.Handler) -> None:
    for name in _DEBUG_LOGGERS:
        logging.getLogger(name).removeHandler(handler)


# --------------------------------------------------------------------------- session and client

def _utc_timestamp(value: Any) -> datetime:
    parsed: datetime = parse_timestamp(value)
    return parsed.astimezone(timezone.utc)


def make_session(profile: str | None) -> botocore.session.Session:
    """A botocore session over the usual config files and AWS_* variables; responses' timestamps in UTC."""
    session = botocore.session.Session(profile=profile)
    session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=_utc_timestamp)
    session.user_agent_extra = f"regauth/{__version__}"
    return session


def scoped_config(session: botocore.session.Session) -> dict[str, Any]:
    try:
        return dict(session.get_scoped_config())
    except ProfileNotFound as exc:            # AWS CLI v2: 255, not 253
        raise CliError(str(exc), EXIT_OTHER) from None


def _profile_setting(session: botocore.session.Session, name: str) -> Any:
    """A setting of the profile, None when unset or when the profile does not exist (that error comes later,
    where the AWS CLI reports it)."""
    try:
        return session.get_scoped_config().get(name)
    except ProfileNotFound:
        return None


def aws_timestamp_parser(session: botocore.session.Session) -> Callable[[Any], Any]:
    """The profile's `cli_timestamp_format`, as AWS CLI v2 applies it: `wire` prints the value as the server sent
    it (a JSON number, an XML string), `iso8601` (the default) botocore's parse in ISO 8601 (an epoch number in
    local time, as the AWS CLI does)."""
    setting = _profile_setting(session, "cli_timestamp_format") or "iso8601"
    if setting == "wire":
        return lambda value: value
    if setting == "iso8601":
        return lambda value: parse_timestamp(value).isoformat()
    raise CliError(f'Unknown cli_timestamp_format value: {setting}, valid values are "wire" or "iso8601"',
                   EXIT_CONFIGURATION)


def parameter_validation(session: botocore.session.Session) -> bool:
    """The profile's `parameter_validation` (botocore's reading: only "true" is true); on unless set. botocore
    honours it in the client too, so with it off the server is what answers a bad value."""
    setting = _profile_setting(session, "parameter_validation")
    return True if setting is None else bool(ensure_boolean(setting))


def timeout_seconds(text: str | int | None) -> int | None:
    """--cli-read-timeout / --cli-connect-timeout as the AWS CLI reads them: int() or exit 255 with its message."""
    if text is None:
        return None
    try:
        return int(text)
    except ValueError as exc:
        raise CliError(str(exc), EXIT_OTHER) from None


def check_timeouts(opts: GlobalOptions) -> None:
    """A negative timeout fails where the AWS CLI's HTTP layer (urllib3) refuses it, with its message."""
    for name in ("read", "connect"):
        value = timeout_seconds(getattr(opts, f"{name}_timeout"))
        if value is not None and value < 0:
            raise CliError(f"Attempted to set {name} timeout to {value}, but the timeout cannot be set to a value "
                           "less than or equal to 0.", EXIT_OTHER)


def resolve_region(session: botocore.session.Session, region: str | None) -> str:
    """--region, then AWS_REGION, then AWS_DEFAULT_REGION / the profile's `region` (as CLI v2 does)."""
    scoped_config(session)
    if region is not None:        # given, even empty (signed as given, as the AWS CLI does)
        return region
    value = os.environ.get("AWS_REGION") or session.get_config_variable("region")
    if not value:
        raise CliError('You must specify a region: pass --region, set AWS_REGION or AWS_DEFAULT_REGION, or add '
                       '"region = ..." to the profile in ~/.aws/config.', EXIT_CONFIGURATION)
    return str(value)


def _client_config(session: botocore.session.Session, opts: GlobalOptions) -> Config:
    kwargs: dict[str, Any] = {}
    if opts.no_sign_request:
        kwargs["signature_version"] = UNSIGNED
    for name in ("read_timeout", "connect_timeout"):
        value = timeout_seconds(getattr(opts, name))
        if value is not None:
            kwargs[name] = None if value == 0 else value     # 0 = blocking, like the AWS CLI
    configured = os.environ.get("AWS_RETRY_MODE") or scoped_config(session).get("retry_mode")
    if not configured:       # botocore's default is "legacy" (5 attempts); CLI v2 uses "standard" (3)
        kwargs["retries"] = {"mode": "standard"}
    return Config(**kwargs)


def build_client(service: str, opts: GlobalOptions, session: botocore.session.Session | None = None,
                 redactor: Redactor = REDACTOR) -> BaseClient:
    """A botocore client for `service` configured from the global options (and ~/.aws, AWS_*)."""
    session = session or make_session(opts.profile)
    check_timeouts(opts)
    region = resolve_region(session, opts.region)
    verify: bool | str | None = None
    if not opts.verify_ssl:
        verify = False
    elif opts.ca_bundle:
        verify = opts.ca_bundle
    if not opts.no_sign_request:
        try:
            credentials = session.get_credentials()
        except BotoCoreError as exc:
            raise translate(exc) from None
        if credentials is None:
            raise CliError("Unable to locate credentials. Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, add them "
                           "to ~/.aws/credentials, or pick a profile (--profile, or AWS_PROFILE).", EXIT_CONFIGURATION)
        frozen = credentials.get_frozen_credentials()
        redactor.add_secret(frozen.secret_key)
        redactor.add_secret(frozen.token)
    if opts.endpoint_url is not None:
        _check_endpoint_url(opts.endpoint_url)
    try:
        client = session.create_client(service, region_name=region, endpoint_url=opts.endpoint_url,
                                       verify=verify, config=_client_config(session, opts))
    except InvalidRegionError as exc:         # before ValueError, which it also is
        raise CliError(str(exc), EXIT_OTHER) from None
    except ValueError as exc:
        where = "--endpoint-url" if opts.endpoint_url is not None else "the endpoint (AWS_ENDPOINT_URL*, endpoint_url)"
        raise CliError(f"Bad value for {where}: {exc}", EXIT_PARAMETER) from None
    except BotoCoreError as exc:
        raise translate(exc) from None
    client.meta.events.register("before-send", _log_request)
    client.meta.events.register("response-received", _log_response)
    return client


def _check_endpoint_url(url: str) -> None:
    """As the AWS CLI checks --endpoint-url: an empty or scheme-less value is an error, never a reason
    to fall back to the public endpoint (an unset `$E` would send signed requests to AWS)."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        raise CliError(f'Bad value for --endpoint-url "{url}": scheme is missing.  Must be of the form '
                       "http://<hostname>/ or https://<hostname>/", EXIT_PARAMETER)


def _log_request(request: Any, **_: Any) -> None:
    log.debug("%s %s", request.method, request.url)


def _log_response(response_dict: dict[str, Any] | None = None, exception: Exception | None = None,
                  context: dict[str, Any] | None = None, **_: Any) -> None:
    if response_dict is not None:
        log.debug("HTTP %s", response_dict.get("status_code"))
    elif exception is not None:
        log.debug("no HTTP response: %s", exception)


# --------------------------------------------------------------------------- calls and errors

def translate(exc: Exception) -> CliError:
    """Maps a botocore exception to the AWS CLI v2 message and exit code."""
    if isinstance(exc, ClientError):
        return CliError(str(exc), EXIT_SERVICE)
    if isinstance(exc, ParamValidationError):
        return CliError(str(exc), EXIT_PARAMETER)
    if isinstance(exc, (NoRegionError, NoCredentialsError)) and not isinstance(exc, PartialCredentialsError):
        return CliError(str(exc), EXIT_CONFIGURATION)
    if isinstance(exc, (PartialCredentialsError, ProfileNotFound)):      # AWS CLI v2: 255
        return CliError(str(exc), EXIT_OTHER)
    if isinstance(exc, EndpointConnectionError):
        return CliError(str(exc), EXIT_OTHER)
    return CliError(str(exc) or type(exc).__name__, EXIT_OTHER)


def call(client: BaseClient, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """Calls `operation` (botocore's python name), translating errors; the response without ResponseMetadata."""
    method: Callable[..., dict[str, Any]] = getattr(client, operation)
    try:
        response = dict(method(**params))
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc) from None
    response.pop("ResponseMetadata", None)
    return response
