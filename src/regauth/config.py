"""Settings: loaded once from the command line and REGAUTH_* variables, then passed down.

Nothing else in regauth reads the environment.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from regauth.domain.endpoints import registry_template_problem, repository_template_problem
from regauth.domain.secret import Secret

DEFAULT_REGISTRY_ENDPOINT = "https://{account}.dkr.ecr.{region}.amazonaws.com"
DEFAULT_REPOSITORY_ENDPOINT = "https://{domain}-{owner}.d.codeartifact.{region}.amazonaws.com/{format}/{repository}/"


class SettingsError(ValueError):
    """A setting is missing or malformed. The message names the variable, never its value."""


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path(".regauth")
    database_url: str = ""                      # "" -> SQLite file in data_dir
    account_id: str | None = None               # bootstrap account; random when unset
    bootstrap_access_key_id: str | None = None
    bootstrap_secret: Secret | None = None
    master_key: Secret | None = None            # else <data_dir>/master.key
    signature_window: int = 900                 # seconds of allowed clock skew for signed requests
    rate_limit_per_second: float = 100.0        # per principal; 0 disables
    rate_limit_burst: int = 200
    repository_endpoint: str = DEFAULT_REPOSITORY_ENDPOINT
    registry_endpoint: str = DEFAULT_REGISTRY_ENDPOINT  # ECR proxyEndpoint when none is set per account
    max_body_bytes: int = 1 << 20
    log_level: str = "info"
    trusted_proxies: str = ""                   # addresses/networks whose X-Forwarded-For is believed
    keep_alive_seconds: int = 5                 # an idle client connection is closed after this
    request_timeout_seconds: int = 30           # a request must arrive whole within this
    database_timeout_seconds: int = 30          # PostgreSQL answers each statement within this, or it fails
    database_connections: int = 0               # PostgreSQL connections per node; 0: 20 kept, 30 at a peak
    max_connections: int = 0                    # client connections open at once; 0: what descriptors allow
    registry_issuer: str = "regauth"            # `iss` of registry JWTs: the registry's auth.token.issuer
    registry_token_seconds: int = 300           # lifetime of registry JWTs (clients re-fetch after it)
    metrics: bool = True                        # GET /metrics (Prometheus text format) served
    warnings: tuple[str, ...] = ()              # REGAUTH_* variables that are no setting, one line each

    def __repr__(self) -> str:  # keys never shown
        return (f"Settings(host={self.host!r}, port={self.port}, data_dir={str(self.data_dir)!r}, "
                f"database={'postgresql' if self.database_url.startswith('postgres') else 'sqlite'})")


# REGAUTH_DATABASE_CONNECTIONS: a node's two held connections (store.held_connection), one for each
# request thread (each takes one at a time) and one to spare
MIN_DATABASE_CONNECTIONS = 4
DEFAULT_REQUEST_THREADS = 16       # PostgreSQL: 20 connections kept, 10 more at a peak


def request_threads(database_connections: int) -> int:
    """How many threads serve requests on PostgreSQL, for REGAUTH_DATABASE_CONNECTIONS (0: unset)."""
    return database_connections - 3 if database_connections else DEFAULT_REQUEST_THREADS


# Every variable load_settings reads: any other REGAUTH_* name is a misspelling or another tool's.
SETTING_NAMES = (
    "REGAUTH_DATABASE_URL", "REGAUTH_DATA_DIR", "REGAUTH_ACCOUNT_ID", "REGAUTH_BOOTSTRAP_ACCESS_KEY_ID",
    "REGAUTH_BOOTSTRAP_SECRET_ACCESS_KEY", "REGAUTH_MASTER_KEY", "REGAUTH_SIGNATURE_WINDOW_SECONDS",
    "REGAUTH_RATE_LIMIT_PER_SECOND", "REGAUTH_RATE_LIMIT_BURST", "REGAUTH_REGISTRY_ENDPOINT",
    "REGAUTH_REPOSITORY_ENDPOINT", "REGAUTH_TRUSTED_PROXIES", "REGAUTH_KEEP_ALIVE_SECONDS",
    "REGAUTH_REQUEST_TIMEOUT_SECONDS", "REGAUTH_MAX_CONNECTIONS", "REGAUTH_REGISTRY_ISSUER",
    "REGAUTH_REGISTRY_TOKEN_SECONDS", "REGAUTH_METRICS", "REGAUTH_LOG_LEVEL", "REGAUTH_DATABASE_TIMEOUT_SECONDS",
    "REGAUTH_DATABASE_CONNECTIONS",
)
_PREFIX = "REGAUTH_"


# names people give the settings that difflib does not find close enough (an abbreviation, a synonym)
_ALIASES = {
    **dict.fromkeys(("DB", "DB_URL", "DB_URI", "DB_DSN", "DSN", "DATABASE", "DATABASE_URI", "DATABASE_DSN",
                     "POSTGRES_URL", "POSTGRES_URI", "POSTGRES_DSN", "POSTGRESQL_URL", "PG_URL", "PG_URI", "PG_DSN",
                     "SQLITE_URL", "STORE", "STORE_URL"), "DATABASE_URL"),
    **dict.fromkeys(("DATA_DIRECTORY", "DATADIR", "DIR", "HOME", "STATE_DIR"), "DATA_DIR"),
    **dict.fromkeys(("KEY", "MASTERKEY", "ENCRYPTION_KEY"), "MASTER_KEY"),
    **dict.fromkeys(("ACCOUNT", "ACCOUNTID", "AWS_ACCOUNT_ID"), "ACCOUNT_ID"),
}


def _unknown_variables(env: Mapping[str, str]) -> tuple[str, ...]:
    """A warning line for each REGAUTH_* variable (any case) that is no setting, naming the setting it
    resembles. A near miss of a setting that is not set stops here: regauth would start without what
    the operator meant (a misspelled REGAUTH_DATABASE_URL: a new, empty store and a new account)."""
    suffixes = [name[len(_PREFIX):] for name in SETTING_NAMES]
    lines = []
    for name in sorted(env):
        if not name.upper().startswith(_PREFIX) or name in SETTING_NAMES:
            continue
        import difflib      # only when there is a name to look up

        suffix = name[len(_PREFIX):].upper()
        setting = _ALIASES.get(suffix) or next(iter(difflib.get_close_matches(suffix, suffixes, n=1, cutoff=0.75)),
                                               None)
        meant = _PREFIX + setting if setting else None
        if meant is not None and not env.get(meant):
            raise SettingsError(f"{name} is not a regauth setting: did you mean {meant}? (rename or unset it; "
                                f"regauth would start without {meant})")
        lines.append(f"{name} is not a regauth setting{f' (did you mean {meant}?)' if meant else ''}; ignored")
    return tuple(lines)


def _database_url(env: Mapping[str, str]) -> str:
    url = env.get("REGAUTH_DATABASE_URL") or ""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.split("+", 1)[0].strip().lower() == "sqlite":
        path, _, query = rest.partition("?")
        path = path[1:] if path.startswith("/") else path
        if path in ("", ":memory:") or path.startswith("file::memory:") or "mode=memory" in query:
            raise SettingsError("REGAUTH_DATABASE_URL names an in-memory SQLite database, lost when regauth stops "
                                "with every key and token record: use sqlite:///path or postgresql://...")
    return url


# these and _ISSUER are used with fullmatch: `$` also matches before a final "\n", and a value read from
# a file (a Kubernetes secret made with --from-file keeps the file's last newline) must be refused, not kept
_ACCOUNT = re.compile(r"[0-9]{12}")
_AKID = re.compile(r"AKIA[A-Z0-9]{16}")


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}")
    return value


def _networks(env: Mapping[str, str], name: str) -> str:
    """A comma-separated list of IP addresses or networks, checked; "" when unset."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return ""
    items = [item.strip() for item in raw.split(",") if item.strip()]
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise SettingsError(f"{name} must be a comma-separated list of IP addresses or networks (CIDR)") from None
    return ",".join(items)


_ISSUER = re.compile(r"[\x21-\x7e]{1,128}")


def _issuer(env: Mapping[str, str], name: str) -> str:
    raw = env.get(name) or "regauth"
    if not _ISSUER.fullmatch(raw):
        raise SettingsError(f"{name} must be 1 to 128 printable characters without spaces")
    return raw


LOG_LEVELS = ("debug", "info", "warning", "error")


def _registry_template(env: Mapping[str, str]) -> str:
    template = (env.get("REGAUTH_REGISTRY_ENDPOINT") or DEFAULT_REGISTRY_ENDPOINT).strip().rstrip("/")
    problem = registry_template_problem(template)
    if problem is not None:
        raise SettingsError(f"REGAUTH_REGISTRY_ENDPOINT {problem} (e.g. https://{{account}}.registry.example:5000)")
    return template


def _on_off(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw not in ("on", "off"):
        raise SettingsError(f"{name} must be on or off")
    return raw == "on"


def load_settings(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build Settings from REGAUTH_* variables; keyword overrides (from the CLI) win."""
    env = os.environ if env is None else env
    warnings = _unknown_variables(env)
    if overrides.get("data_dir") == "":
        # Path("") is the current directory, which `serve` would take over (and make 0700)
        raise SettingsError("--data-dir is empty: name a directory, or leave the option out "
                            "(REGAUTH_DATA_DIR, else .regauth)")
    account = env.get("REGAUTH_ACCOUNT_ID") or None
    if account is not None and not _ACCOUNT.fullmatch(account):
        raise SettingsError("REGAUTH_ACCOUNT_ID must be 12 digits")
    akid = env.get("REGAUTH_BOOTSTRAP_ACCESS_KEY_ID") or None
    secret = env.get("REGAUTH_BOOTSTRAP_SECRET_ACCESS_KEY") or None
    if (akid is None) != (secret is None):
        raise SettingsError("set both REGAUTH_BOOTSTRAP_ACCESS_KEY_ID and REGAUTH_BOOTSTRAP_SECRET_ACCESS_KEY, "
                            "or neither")
    if akid is not None and not _AKID.fullmatch(akid):
        raise SettingsError("REGAUTH_BOOTSTRAP_ACCESS_KEY_ID must look like AKIA followed by 16 upper-case "
                            "letters or digits")
    if secret is not None and not (16 <= len(secret) <= 128):
        raise SettingsError("REGAUTH_BOOTSTRAP_SECRET_ACCESS_KEY must be 16 to 128 characters")
    endpoint = (env.get("REGAUTH_REPOSITORY_ENDPOINT") or DEFAULT_REPOSITORY_ENDPOINT).strip()
    problem = repository_template_problem(endpoint)
    if problem is not None:
        raise SettingsError(f"REGAUTH_REPOSITORY_ENDPOINT {problem}")
    if not endpoint.endswith("/"):
        endpoint += "/"
    try:
        rps = float(env.get("REGAUTH_RATE_LIMIT_PER_SECOND", "100") or "100")
    except ValueError:
        raise SettingsError("REGAUTH_RATE_LIMIT_PER_SECOND must be a number") from None
    if not 0 <= rps < float("inf"):      # also refuses nan, which would switch throttling off unseen
        raise SettingsError("REGAUTH_RATE_LIMIT_PER_SECOND must be a finite number, 0 or more (0 disables)")
    log_level = (env.get("REGAUTH_LOG_LEVEL") or "info").strip().lower()
    if log_level not in LOG_LEVELS:
        raise SettingsError(f"REGAUTH_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
    values: dict[str, object] = dict(
        data_dir=Path(env.get("REGAUTH_DATA_DIR") or ".regauth"),
        database_url=_database_url(env),
        account_id=account,
        bootstrap_access_key_id=akid,
        bootstrap_secret=Secret(secret) if secret else None,
        master_key=Secret(env["REGAUTH_MASTER_KEY"]) if env.get("REGAUTH_MASTER_KEY") else None,
        signature_window=_int(env, "REGAUTH_SIGNATURE_WINDOW_SECONDS", 900, 1, 3600),
        rate_limit_per_second=rps,
        rate_limit_burst=_int(env, "REGAUTH_RATE_LIMIT_BURST", 200, 1, 1_000_000),
        repository_endpoint=endpoint,
        registry_endpoint=_registry_template(env),
        log_level=log_level,
        trusted_proxies=_networks(env, "REGAUTH_TRUSTED_PROXIES"),
        keep_alive_seconds=_int(env, "REGAUTH_KEEP_ALIVE_SECONDS", 5, 1, 3600),
        request_timeout_seconds=_int(env, "REGAUTH_REQUEST_TIMEOUT_SECONDS", 30, 1, 3600),
        database_timeout_seconds=_int(env, "REGAUTH_DATABASE_TIMEOUT_SECONDS", 30, 1, 3600),
        database_connections=_int(env, "REGAUTH_DATABASE_CONNECTIONS", 0, MIN_DATABASE_CONNECTIONS, 1000),
        max_connections=_int(env, "REGAUTH_MAX_CONNECTIONS", 0, 0, 10_000_000),
        registry_issuer=_issuer(env, "REGAUTH_REGISTRY_ISSUER"),
        registry_token_seconds=_int(env, "REGAUTH_REGISTRY_TOKEN_SECONDS", 300, 60, 3600),
        metrics=_on_off(env, "REGAUTH_METRICS", True),
        warnings=warnings,
    )
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "data_dir" in overrides and overrides["data_dir"] is not None:
        values["data_dir"] = Path(str(overrides["data_dir"]))
    return Settings(**values)  # type: ignore[arg-type]
