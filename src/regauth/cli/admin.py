"""`regauth admin ...`: operations that act on the store directly (same settings as serve)."""

from __future__ import annotations

import argparse
import json

from regauth.cli.runtime import open_runtime
from regauth.config import load_settings
from regauth.services.bootstrap import create_account


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("admin", help="operate on the store directly (accounts, audit)")
    actions = p.add_subparsers(dest="admin_command", required=True, metavar="COMMAND")
    ca = actions.add_parser("create-account", help="create an account with an admin user and print its keys once")
    ca.add_argument("--account-id", default=None, help="12 digits; random when omitted")
    ca.add_argument("--data-dir", default=None)
    ca.set_defaults(run=_create_account)
    au = actions.add_parser("audit", help="print recent audit events as JSON lines (newest first)")
    au.add_argument("--limit", type=int, default=50)
    au.add_argument("--principal", default=None, help="only events of this principal ARN")
    au.add_argument("--data-dir", default=None)
    au.set_defaults(run=_audit)


def _create_account(args: argparse.Namespace) -> int:
    settings = load_settings(data_dir=args.data_dir)
    rt = open_runtime(settings)
    if args.account_id and rt.services.store.account_exists(args.account_id):
        raise SystemExit(f"regauth: account {args.account_id} already exists")
    result = create_account(rt.services.store, rt.services.clock, args.account_id)
    assert result.secret is not None
    print(json.dumps({"AccountId": result.account_id, "UserName": "admin", "AccessKeyId": result.access_key_id,
                      "SecretAccessKey": result.secret.reveal()}, indent=2))
    return 0


def _audit(args: argparse.Namespace) -> int:
    rt = open_runtime(load_settings(data_dir=args.data_dir))
    for e in rt.services.store.list_audit_events(limit=args.limit, principal_arn=args.principal):
        print(json.dumps(e.__dict__, sort_keys=True))
    return 0
