"""`regauth admin ...`: operations that act on the store directly (same settings as serve).

The store (SQLAlchemy, Alembic) is imported when a command runs, not when the parser is built.
"""

from __future__ import annotations

import argparse
import json
import sys
import re
from typing import TYPE_CHECKING, Any, Callable

from regauth.cli.help_word import HelpWordParser
from regauth.config import Settings, load_settings
from regauth.domain.principals import AcrInstance, Revocation
from regauth.errors import RegauthError
from regauth.services.codeartifact import REPOSITORY_FORMATS

if TYPE_CHECKING:
    from regauth.cli.runtime import Runtime


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("admin", help="operate on the store directly (accounts, audit, instances, endpoints, "
                                     "revocations, signing keys, pruning)")
    actions = p.add_subparsers(dest="admin_command", required=True, metavar="COMMAND", parser_class=HelpWordParser)
    ca = actions.add_parser("create-account", help="create an account with an admin user and print its keys once")
    ca.add_argument("--account-id", default=None, help="12 digits; random when omitted")
    ca.set_defaults(run=_failing_cleanly(_create_account))
    la = actions.add_parser("list-accounts", help="print every account's id with its users and roles as JSON",
                            epilog="example: regauth admin list-accounts")
    la.set_defaults(run=_failing_cleanly(_list_accounts))
    au = actions.add_parser("audit", help="print recent audit events as JSON lines (newest first)")
    au.add_argument("--limit", type=_bounded(1, 1_000_000), default=50,
                    help="at most this many events (1-1000000; default 50)")
    au.add_argument("--principal", default=None, help="only events of this principal ARN")
    au.set_defaults(run=_failing_cleanly(_audit))
    ci = actions.add_parser("create-acr-instance", help="create an Alibaba ACR instance and print it as JSON")
    ci.add_argument("--account-id", required=True, help="the owning account (12 digits)")
    ci.add_argument("--region", required=True, help="e.g. cn-hangzhou")
    ci.add_argument("--name", required=True, help="instance name: 3-64 lowercase letters, digits, hyphens")
    ci.add_argument("--login-server", required=True, help="registry host[:port] that docker logs in to")
    ci.add_argument("--instance-id", default=None, help="cri-...; random when omitted")
    ci.set_defaults(run=_failing_cleanly(_create_acr_instance))
    li = actions.add_parser("list-acr-instances", help="print an account's ACR instances as JSON")
    li.add_argument("--account-id", required=True)
    li.set_defaults(run=_failing_cleanly(_list_acr_instances))
    di = actions.add_parser("delete-acr-instance", help="delete an ACR instance; its login server opens nothing "
                                                       "from the next request on",
                            epilog="example: regauth admin delete-acr-instance --instance-id cri-kmsiwlxxdcvaduwb")
    di.add_argument("--instance-id", required=True)
    di.set_defaults(run=_failing_cleanly(_delete_acr_instance))
    re_ = actions.add_parser("set-registry-endpoint",
                             help="the registry URL ECR returns as proxyEndpoint for an account and region")
    re_.add_argument("--account-id", required=True)
    re_.add_argument("--region", required=True)
    re_.add_argument("--url", required=True, help="e.g. https://registry.example.internal:5000")
    re_.set_defaults(run=_failing_cleanly(_set_registry_endpoint))
    rp = actions.add_parser("set-repository-endpoint",
                            help="the URL CodeArtifact GetRepositoryEndpoint returns for one domain and format",
                            description="Placeholders: {domain} {owner} {region} {format} {repository}. "
                                        "The result always ends with '/'.",
                            epilog="example: regauth admin set-repository-endpoint --account-id 123456789012 "
                                   "--region us-east-1 --domain my-domain --format pypi "
                                   "--template 'https://pypi.example.internal/{repository}/'")
    rp.add_argument("--account-id", required=True)
    rp.add_argument("--region", required=True)
    rp.add_argument("--domain", required=True)
    rp.add_argument("--format", required=True, choices=sorted(REPOSITORY_FORMATS))
    rp.add_argument("--template", required=True)
    rp.set_defaults(run=_failing_cleanly(_set_repository_endpoint))
    rv = actions.add_parser("revoke", help="refuse one issued token, or every token a principal was issued so far "
                                           "(and for a minute)",
                            description="Takes effect on the next use of the token wherever regauth checks it\n"
                                        "(registry token realm, auth_request verifier), on every node. Revoking\n"
                                        "a principal refuses the tokens issued to it up to now, and in the\n"
                                        "minute after (nodes' clocks may differ by that much), not later ones.",
                            epilog="examples:\n"
                                   "  regauth admin revoke --token-id 0660f69db0226fpPwSshjjWFCBp9v0ylkTQOUzveNC7d4T "
                                   "--reason 'pasted in a CI log'\n"
                                   "  regauth admin revoke --principal-arn arn:aws:iam::123456789012:user/ci "
                                   "--reason 'laptop lost'",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    which = rv.add_mutually_exclusive_group(required=True)
    which.add_argument("--token-id", help="the token's id (its jti; the token_id of `regauth admin audit`)")
    which.add_argument("--principal-arn", help="e.g. arn:aws:iam::123456789012:user/ci")
    rv.add_argument("--reason", default="", help="kept with the revocation and in the audit trail")
    rv.add_argument("--unindexed", action="store_true",
                    help="revoke what the store has no record of: a --token-id issued after the backup a restored "
                         "store came from (it still verifies), a --principal-arn of no user or role here")
    rv.set_defaults(run=_failing_cleanly(_revoke))
    lr = actions.add_parser("list-revocations", help="print the revoked tokens and principals as JSON (oldest first)",
                            epilog="example: regauth admin list-revocations")
    lr.set_defaults(run=_failing_cleanly(_list_revocations))
    pr = actions.add_parser("prune", help="delete expired token index entries, sessions and revocations that no "
                                          "longer have any effect",
                            description="Deletes, as of now:\n"
                                        "  - index entries of expired tokens (the audit trail keeps them);\n"
                                        "  - STS sessions expired more than 24 hours ago (a token issued with\n"
                                        "    temporary credentials can outlive them by up to that long);\n"
                                        "  - revocations made more than 24 hours and a minute ago (every token\n"
                                        "    they refuse has expired);\n"
                                        "  - signing keys retired more than 24 hours ago (rotate-signing-key);\n"
                                        "  - with --audit-days N, audit events older than N days (kept otherwise).\n"
                                        "Each bound also waits out the tokens' 60-second expiry leeway: nothing\n"
                                        "a token still accepted depends on is touched. Safe while\n"
                                        "servers run on the same store: it deletes in small transactions. Run it\n"
                                        "from cron or a systemd timer, e.g. hourly.",
                            epilog="examples:\n"
                                   "  regauth admin prune\n"
                                   "  regauth admin prune --audit-days 400 --quiet   # a little over a year of audit",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    pr.add_argument("--audit-days", type=_bounded(1, 36500), default=None, metavar="N",
                    help="also delete audit events older than N days (at least 1); without it the trail is kept")
    pr.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    pr.set_defaults(run=_failing_cleanly(_prune))
    rk = actions.add_parser("rotate-signing-key", help="make a new key sign issued tokens; retire (or revoke) the "
                                                      "previous ones",
                            description="Every node signs with the new key from its next request on. The previous\n"
                                        "keys are retired: they still verify the tokens they signed until those\n"
                                        "expire (admin prune deletes them a day later). With --revoke-previous\n"
                                        "(a key that may have leaked) they are deleted at once: every token\n"
                                        "issued before is refused where it is checked, and clients fetch new ones.",
                            epilog="examples:\n"
                                   "  regauth admin rotate-signing-key                       # routine, e.g. yearly\n"
                                   "  regauth admin rotate-signing-key --revoke-previous --reason 'backup leaked'",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    rk.add_argument("--revoke-previous", action="store_true",
                    help="delete the previous keys: tokens they signed stop working at once")
    rk.add_argument("--reason", default="", help="kept in the audit trail")
    rk.set_defaults(run=_failing_cleanly(_rotate_signing_key))
    lk = actions.add_parser("list-signing-keys", help="print the token signing keys' ids and times as JSON (never "
                                                     "the keys)",
                            epilog="example: regauth admin list-signing-keys")
    lk.set_defaults(run=_failing_cleanly(_list_signing_keys))
    rr_ = actions.add_parser("rotate-registry-ca", help="replace the registry CA in three steps, with no moment a "
                                                          "registry refuses regauth's tokens",
                             description="1. --prepare   make the next CA; `admin registry-ca` now prints active +\n"
                                         "               next: put that in every registry's rootcertbundle and\n"
                                         "               restart them.\n"
                                         "2. --activate  the next CA signs from each node's next request on; the\n"
                                         "               replaced certificate stays in the bundle.\n"
                                         "3. --finish    drop the replaced certificates from the bundle; update the\n"
                                         "               registries once more. Not before the JWTs the replaced\n"
                                         "               CA signed have expired (REGAUTH_REGISTRY_TOKEN_SECONDS\n"
                                         "               and 60 s after --activate; --force skips the wait).\n"
                                         "Each step prints the CA certificates (subject, expiry, SHA-256\n"
                                         "fingerprint) and is audited. The keys never leave the store unsealed.",
                             epilog="example:\n"
                                    "  regauth admin rotate-registry-ca --prepare\n"
                                    "  regauth admin registry-ca > /etc/docker/registry/regauth-ca.pem\n"
                                    "  regauth admin rotate-registry-ca --activate\n"
                                    "  regauth admin rotate-registry-ca --finish\n"
                                    "  regauth admin registry-ca > /etc/docker/registry/regauth-ca.pem",
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    step = rr_.add_mutually_exclusive_group(required=True)
    step.add_argument("--prepare", action="store_true", help="make the next CA (trusted, not yet signing)")
    step.add_argument("--activate", action="store_true", help="make the prepared CA the one that signs")
    step.add_argument("--finish", action="store_true", help="forget the certificates earlier rotations replaced "
                                                             "(once the JWTs they signed have expired)")
    rr_.add_argument("--force", action="store_true", help="with --finish: do not wait for those JWTs to expire")
    rr_.set_defaults(run=_failing_cleanly(_rotate_registry_ca), usage_error=rr_.error)
    rc = actions.add_parser("registry-ca", help="print the CA certificates (PEM) a registry trusts for regauth's "
                                                "tokens",
                            description="Registry JWTs from regauth's token realm (GET /token) are signed by leaf\n"
                                        "keys certified by this CA (x5c). Put it in the registry's\n"
                                        "auth.token.rootcertbundle; the leaves rotate without touching the\n"
                                        "registry. The CA is made on first use and kept in the store, its key\n"
                                        "encrypted; every regauth node sharing the store uses the same one.\n"
                                        "During a rotation (rotate-registry-ca) this prints every certificate\n"
                                        "registries must trust: the active CA, the next one, the replaced ones.",
                            epilog="example:\n"
                                   "  regauth admin registry-ca > /etc/docker/registry/regauth-ca.pem\n"
                                   "then in the registry's config.yml:\n"
                                   "  auth:\n"
                                   "    token:\n"
                                   "      realm: https://regauth.example.internal/token\n"
                                   "      service: registry.example.internal:5000   # the host regauth hands out\n"
                                   "      issuer: regauth                           # REGAUTH_REGISTRY_ISSUER\n"
                                   "      rootcertbundle: /etc/docker/registry/regauth-ca.pem",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    rc.set_defaults(run=_failing_cleanly(_registry_ca))
    for command in actions.choices.values():    # every admin command acts on the store of these settings
        command.add_argument("--data-dir", default=None, help="the data dir (default: REGAUTH_DATA_DIR, else .regauth)")


def _bounded(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from low to high (argparse says which option and why)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, not {value}")
        return value
    return parse


def open_runtime(settings: Settings) -> Runtime:
    """The store a server has started on (never a new one: see `runtime.open_runtime`). Imported on
    use: the store stack stays out of `regauth --help` and the client commands."""
    from regauth.cli.runtime import open_runtime as _open

    return _open(settings, existing=True)


def _check_account_id(account_id: str | None) -> None:
    """Every command taking --account-id refuses one that is not 12 digits, as create-account does, before
    the store is opened: set-registry-endpoint and the others used to take any text, which no ARN holds."""
    if account_id is not None and not re.fullmatch(r"[0-9]{12}", account_id):
        raise SystemExit("regauth: --account-id must be 12 digits (an account id is part of every ARN of the account)")


def _create_account(args: argparse.Namespace) -> int:
    from regauth.services.bootstrap import create_account

    _check_account_id(args.account_id)
    settings = load_settings(data_dir=args.data_dir)
    rt = open_runtime(settings)
    if args.account_id and rt.services.store.account_exists(args.account_id):
        raise SystemExit(f"regauth: account {args.account_id} already exists")
    result = create_account(rt.services.store, rt.services.clock, args.account_id)
    assert result.secret is not None
    _audit_operator(rt.services, "regauth:CreateAccount", f"{result.account_id} {result.access_key_id}")
    print(json.dumps({"AccountId": result.account_id, "UserName": "admin", "AccessKeyId": result.access_key_id,
                      "SecretAccessKey": result.secret.reveal()}, indent=2))
    return 0


def _audit(args: argparse.Namespace) -> int:
    rt = open_runtime(load_settings(data_dir=args.data_dir))
    for e in rt.services.store.list_audit_events(limit=args.limit, principal_arn=args.principal):
        print(json.dumps(e.__dict__, sort_keys=True))
    return 0


def _instance_json(i: AcrInstance) -> dict[str, object]:
    return {"InstanceId": i.instance_id, "AccountId": i.account_id, "RegionId": i.region, "InstanceName": i.name,
            "LoginServer": i.login_server, "CreatedAt": i.created_at}


def _failing_cleanly(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """`command`, with a failure of the store (locked, full, unreachable) told in one line, not a
    traceback of the database library."""
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except Exception as exc:  # noqa: BLE001 - only store failures are caught; the rest goes on
            reason = _store_failure(exc)
            if reason is None:
                raise
            raise SystemExit(f"regauth: the store failed: {reason}") from None
    return run


def _store_failure(exc: BaseException) -> str | None:
    """The database's own one-line reason when `exc` is a failure of the store, else None."""
    import sqlite3

    sa_exc = sys.modules.get("sqlalchemy.exc")
    psycopg = sys.modules.get("psycopg")
    if sa_exc is not None and isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None:
        exc = exc.orig
    if isinstance(exc, sqlite3.Error) or (psycopg is not None and isinstance(exc, psycopg.Error)):
        return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    return None


def _store_command(args: argparse.Namespace, act: Callable[[Any], dict[str, object]],
                   audited: tuple[str, Callable[[dict[str, Any]], str]] | None = None) -> int:
    """Open the store with the usual settings, run one operator action, print its JSON. `audited`:
    (action, the resource of its output) of an action that changes the store, for the audit trail."""
    services = open_runtime(load_settings(data_dir=args.data_dir)).services
    try:
        out = act(services)
    except RegauthError as exc:
        raise SystemExit(f"regauth: {exc.message}") from None
    if audited is not None:
        _audit_operator(services, audited[0], audited[1](out))
    print(json.dumps(out, indent=2))
    return 0


def _audit_operator(services: Any, action: str, resource: str) -> None:
    """An operator's change to the store, in the audit trail as revocations and rotations are (no IAM
    principal: the operator acts on the store directly)."""
    from regauth.domain import ids
    from regauth.domain.principals import AuditEvent

    event = AuditEvent(at=services.clock.now(), request_id=ids.request_id(), principal_arn="", action=action,
                       resource=resource[:256], outcome="allowed", source_ip="")
    services.store.record_audit(event)
    services.auditor.logged(event)


def _list_accounts(args: argparse.Namespace) -> int:
    """Ids in order, each with its users' and roles' names (an id an older regauth accepted, not 12
    digits, is listed as it is: `serve` names it at start)."""
    def accounts(s: Any) -> dict[str, object]:
        return {"Accounts": [{"AccountId": a, "Users": [u.name for u in s.store.list_users(a)],
                              "Roles": [r.name for r in s.store.list_roles(a)]}
                             for a in s.store.list_account_ids()]}
    return _store_command(args, accounts)


def _create_acr_instance(args: argparse.Namespace) -> int:
    _check_account_id(args.account_id)
    return _store_command(args, lambda s: _instance_json(s.acr.create_instance(
        args.account_id, args.region, args.name, args.login_server, args.instance_id)),
        ("regauth:CreateAcrInstance", lambda out: f"{out['InstanceId']} {out['LoginServer']}"))


def _list_acr_instances(args: argparse.Namespace) -> int:
    _check_account_id(args.account_id)
    return _store_command(args, lambda s: {"Instances": [_instance_json(i)
                                                         for i in s.acr.list_instances(args.account_id)]})


def _delete_acr_instance(args: argparse.Namespace) -> int:
    return _store_command(args, lambda s: {"Deleted": _instance_json(s.acr.delete_instance(args.instance_id))},
                          ("regauth:DeleteAcrInstance", lambda out: str(out["Deleted"]["InstanceId"])))


def _set_registry_endpoint(args: argparse.Namespace) -> int:
    _check_account_id(args.account_id)
    return _store_command(args, lambda s: {"AccountId": args.account_id, "RegionId": args.region,
                                           "ProxyEndpoint": s.ecr.set_registry_endpoint(args.account_id,
                                                                                        args.region, args.url)},
                          ("regauth:SetRegistryEndpoint",
                           lambda out: f"{out['AccountId']} {out['RegionId']} {out['ProxyEndpoint']}"))


def _set_repository_endpoint(args: argparse.Namespace) -> int:
    _check_account_id(args.account_id)
    return _store_command(args, lambda s: {
        "Domain": args.domain, "Format": args.format, "Template": args.template,
        "Example": s.codeartifact.set_endpoint(args.account_id, args.region, args.domain, args.format,
                                               args.template)},
        ("regauth:SetRepositoryEndpoint", lambda out: f"{args.account_id} {args.region} {out['Domain']} "
                                                      f"{out['Format']} {out['Template']}"))


def _revocation_json(r: Revocation) -> dict[str, object]:
    return {"Kind": r.kind, "Subject": r.subject, "NotBefore": r.not_before, "CreatedAt": r.created_at,
            "Reason": r.reason}


def _revoke(args: argparse.Namespace) -> int:
    def act(s: Any) -> dict[str, object]:
        if args.token_id is not None:
            return _revocation_json(s.revocations.revoke_token(args.token_id, args.reason, unindexed=args.unindexed))
        return _revocation_json(s.revocations.revoke_principal(args.principal_arn, args.reason,
                                                               unknown_ok=args.unindexed))
    return _store_command(args, act)


def _list_revocations(args: argparse.Namespace) -> int:
    return _store_command(args, lambda s: {"Revocations": [_revocation_json(r) for r in s.revocations.list()]})


def _prune(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from regauth.services.pruning import Pruner

    def iso(at: float) -> str:
        return datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="seconds")

    def progress(what: str, total: int) -> None:
        if not args.quiet:
            print(f"regauth: pruned {total} {what} so far", file=sys.stderr, flush=True)

    def act(s: Any) -> dict[str, object]:
        done = Pruner(s.store, s.clock, s.auditor).run(progress, args.audit_days)
        return {"IssuedTokens": done.issued_tokens, "Sessions": done.sessions, "Revocations": done.revocations,
                "SigningKeys": done.signing_keys, "AuditEvents": done.audit_events,
                "TokensExpiredBefore": iso(done.tokens_expired_before),
                "SessionsExpiredBefore": iso(done.sessions_expired_before),
                "RevocationsBefore": iso(done.revocations_before),
                "AuditEventsBefore": iso(done.audit_before) if done.audit_before is not None else None}
    return _store_command(args, act)


def _rotate_signing_key(args: argparse.Namespace) -> int:
    from regauth.services.signing_keys import SigningKeys

    if len(args.reason) > 512:
        raise SystemExit("regauth: the reason must be at most 512 characters")

    def act(s: Any) -> dict[str, object]:
        done = SigningKeys(s.store, s.clock, s.auditor).rotate(args.revoke_previous, args.reason)
        return {"ActiveKid": done.new_kid, "RetiredKids": list(done.retired), "DeletedKids": list(done.deleted)}
    return _store_command(args, act)


def _list_signing_keys(args: argparse.Namespace) -> int:
    from regauth.services.signing_keys import SigningKeys

    def act(s: Any) -> dict[str, object]:
        keys = SigningKeys(s.store, s.clock, s.auditor).list()
        active = max((k for k in keys if k.retired_at is None), key=lambda k: (k.created_at, k.kid), default=None)
        return {"SigningKeys": [{"Kid": k.kid, "CreatedAt": k.created_at, "RetiredAt": k.retired_at,
                                 "Active": active is not None and k.kid == active.kid} for k in keys]}
    return _store_command(args, act)


def _registry_ca(args: argparse.Namespace) -> int:
    from regauth.services.registry_ca import RegistryCaRotation

    services = open_runtime(load_settings(data_dir=args.data_dir)).services
    made = services.store.get_registry_ca() is None
    services.registry.ca_certificate()                       # the first CA is made on first use
    if made:                                                 # here, by the operator: audited as rotations are
        _audit_operator(services, "regauth:CreateRegistryCa", _ca_fingerprint(services))
    print(RegistryCaRotation(services.store, services.clock, services.auditor).state().bundle(), end="")
    return 0


def _ca_fingerprint(services: Any) -> str:
    from regauth.services.registry_ca import fingerprint

    return fingerprint(services.registry.ca_certificate())


def _cert_json(pem: str) -> dict[str, object]:
    from cryptography import x509

    from regauth.services.registry_ca import fingerprint

    cert = x509.load_pem_x509_certificate(pem.encode())
    return {"Subject": cert.subject.rfc4514_string(), "NotAfter": cert.not_valid_after_utc.isoformat(),
            "SHA256Fingerprint": fingerprint(pem)}


def _rotate_registry_ca(args: argparse.Namespace) -> int:
    from regauth.services.registry_ca import RegistryCaRotation

    step = "prepare" if args.prepare else "activate" if args.activate else "finish"
    if args.force and step != "finish":             # it skips the wait of --finish only: never silently dropped
        args.usage_error(f"argument --force: only with --finish, not with --{step}")

    def act(s: Any) -> dict[str, object]:
        s.registry.ca_certificate()                          # there is an active CA to rotate from
        rotation = RegistryCaRotation(s.store, s.clock, s.auditor)
        state = (rotation.finish(s.registry.token_seconds, force=args.force) if step == "finish"
                 else getattr(rotation, step)())
        return {"Step": step, "Active": _cert_json(state.active) if state.active else None,
                "Next": _cert_json(state.next) if state.next else None,
                "Previous": [_cert_json(p) for p in state.previous],
                "Then": _NEXT_STEP[step]}
    return _store_command(args, act)


_NEXT_STEP = {
    "prepare": "Put the output of `regauth admin registry-ca` (active + next) in every registry's rootcertbundle "
               "and restart them; then run --activate.",
    "activate": "The new CA signs from each node's next request on. Once the JWTs the old one signed have expired "
                "(REGAUTH_REGISTRY_TOKEN_SECONDS and 60 s from now), run --finish.",
    "finish": "Put the output of `regauth admin registry-ca` (the active CA only) in every registry's "
              "rootcertbundle and restart them.",
}
