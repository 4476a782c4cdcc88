"""What the URLs operators set may look like: a registry URL handed out as ECR's `proxyEndpoint`
(and its template), and a repository endpoint template (GetRepositoryEndpoint).

The realm knows a registry by its `service`, which is the URL's host[:port], and clients put the URL
into `docker login`: a path, a user, a query or a fragment would name a registry no one reaches,
or hand a password out to every caller."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

TEMPLATE_SAMPLE = {"account": "123456789012", "region": "us-east-1"}


def registry_url_problem(url: str) -> str | None:
    """Why `url` cannot be a registry's URL, or None when it is http(s)://host[:port]."""
    parts = urlsplit(url)
    if (parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/") or parts.query
            or parts.fragment or "@" in parts.netloc or any(c.isspace() for c in url)):
        return "must be http(s)://host[:port], with no path, user, query or fragment"
    try:
        port = parts.port
    except ValueError:            # not a number, or past 65535
        port = -1
    if (port is not None and not 1 <= port <= 65535) or parts.netloc.endswith(":"):
        return "has a port that is not a number from 1 to 65535"
    return None


def registry_template_problem(template: str) -> str | None:
    """Why `template` cannot be the ECR registry URL template, or None. Each account must get a host
    of its own (`{account}` in the host): a host shared by accounts would let each one's tokens into
    the others' repositories."""
    try:
        url = template.format(**TEMPLATE_SAMPLE)
        other = template.format(**{**TEMPLATE_SAMPLE, "account": "210987654321"})
    except (KeyError, IndexError, ValueError):
        return "may hold only the placeholders {account} and {region}"
    if TEMPLATE_SAMPLE["account"] not in _host(url) or _host(url) == _host(other):
        return "must contain {account} in its host: every account needs a registry host of its own"
    return registry_url_problem(url.rstrip("/"))


def registry_host(url: str) -> str:
    """The host[:port] of a registry URL: the realm's `service` for it."""
    return url.split("://", 1)[-1].rstrip("/")


def _host(url: str) -> str:
    return registry_host(url).split("/", 1)[0].lower()


def template_account(template: str, host: str) -> str | None:
    """The account whose registry host under `template` is `host`, or None: the `{account}` the host
    holds where the template's host has it (and `{region}` anything a region can be)."""
    pattern, seen = [], False
    for part in re.split(r"(\{account\}|\{region\})", _host(template)):
        if part == "{account}":
            pattern.append("(?P=account)" if seen else "(?P<account>[0-9]{12})")
            seen = True
        elif part == "{region}":
            pattern.append("[a-z0-9-]+")
        else:
            pattern.append(re.escape(part.replace("{{", "{").replace("}}", "}")))
    m = re.fullmatch("".join(pattern), host.lower())
    return m.group("account") if m and seen else None


REPOSITORY_SAMPLE = {"domain": "my-domain", "owner": "123456789012", "region": "us-east-1", "format": "pypi",
                     "repository": "my-repo"}


def repository_template_problem(template: str) -> str | None:
    """Why `template` cannot be a repository endpoint template (what GetRepositoryEndpoint hands out
    and `codeartifact login` writes into pip's, twine's and npm's configuration), or None."""
    try:
        url = template.format(**REPOSITORY_SAMPLE)
    except (KeyError, IndexError, ValueError):
        return "may only use the placeholders {domain} {owner} {region} {format} {repository}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        return "must be an http:// or https:// URL"
    if "@" in parts.netloc:       # every caller would be handed the password, and login writes it out
        return "must not hold a user or password (the index's own credentials would go to every caller)"
    if parts.query or parts.fragment:
        return "must not hold a query or fragment (clients append paths to it)"
    return None
