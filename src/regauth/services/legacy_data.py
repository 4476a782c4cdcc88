"""What an older regauth let into the store that today's admin commands refuse, found at start.

An upgrade keeps the store as it is: rows written before a check existed stay. The request path is
safe with them (a registry host claimed by more than one account opens nothing at the token realm,
`services.registry_access`; a stored endpoint that holds a user and password or a path is never handed
out, `services.ecr` and `services.codeartifact`), but the operator must learn of them: `regauth serve`
logs one ERROR line per problem after the migrations, naming the admin command that fixes it, and
starts all the same (the rest of the store serves as before).

Looked for: accounts whose id is not 12 digits; registry endpoints and repository endpoint templates
today's checks refuse (named with their credentials redacted); registry hosts more than one account
claims (by the rule the admin writes keep, `ecr.host_owners`, the registry URL template's hosts
included). A few whole-table reads of operator-set rows, once per start.
"""

from __future__ import annotations

import logging
import re

from regauth.domain.endpoints import registry_url_problem, repository_template_problem
from regauth.services.codeartifact import legacy_template_line
from regauth.services.ecr import EcrService, legacy_endpoint_line
from regauth.services.registry_access import shared_host_line
from regauth.store.interfaces import Store

log = logging.getLogger("regauth.store")

ACCOUNT_ID = re.compile(r"[0-9]{12}")       # as `regauth admin create-account` checks it


def problems(store: Store, ecr: EcrService) -> list[str]:
    """One line per problem, each naming its fix; [] for a store today's regauth could have written."""
    lines = [account_line(a) for a in store.list_account_ids() if not ACCOUNT_ID.fullmatch(a)]
    endpoints = store.list_registry_endpoints()
    for account, region, url in endpoints:
        problem = registry_url_problem(url)
        if problem is not None:
            lines.append(legacy_endpoint_line(account, region, url, problem))
    for account, region, domain, fmt, template in store.list_repository_endpoints():
        problem = repository_template_problem(template)
        if problem is not None:
            lines.append(legacy_template_line(account, region, domain, fmt, template, problem))
    lines += _shared_hosts(store, ecr, endpoints)
    return lines


def log_problems(store: Store, ecr: EcrService) -> int:
    """Log `problems` at ERROR, one line each; how many."""
    found = problems(store, ecr)
    for line in found:
        log.error("%s", line)
    return len(found)


def account_line(account_id: str) -> str:
    return (f"account {account_id!r} has an id that is not 12 digits, which an older `regauth admin create-account` "
            f"allowed: its ARNs are not AWS's, and no admin command takes it. Make a replacement with `regauth admin "
            f"create-account`, move its users, roles, policies, domains and registries there, and stop using its "
            f"keys")


def _shared_hosts(store: Store, ecr: EcrService, endpoints: list[tuple[str, str, str]]) -> list[str]:
    """A line per registry host that is more than one account's, saying what holds it in each."""
    hosts = store.list_registry_hosts()
    lines = []
    for host in sorted({h.lower() for _, h in hosts}):
        if registry_url_problem(f"https://{host}") is not None:   # no service a registry can name (and a
            continue                                               # refused endpoint's, reported above)
        owners = sorted(ecr.host_owners(hosts, host))
        if len(owners) < 2:
            continue
        held = []
        for account in owners:
            where = [f"its registry endpoint in {region}" for a, region, url in endpoints
                     if a == account and url.split("://", 1)[-1].rstrip("/").lower() == host]
            where += [f"ACR instance {i.instance_id}" for i in store.list_acr_instances(account)
                      if i.login_server.lower() == host]
            held.append(f"account {account} ({', '.join(where) or 'its host under the registry URL template'})")
        lines.append(shared_host_line(host, held))
    return lines
