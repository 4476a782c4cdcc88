"""The scale run's store: 10^6 issued tokens and their audit events, written straight into the
tables (SQLAlchemy Core bulk INSERTs through `regauth.store.schema`), not through HTTP: issuing
them one request at a time would take most of the run's budget.

Rows look like the server's own: token ids as `domain.tokens.new_token_id` makes them (14 hex
digits of the issue time in microseconds, then 32 random base64url characters), a few principals
and scopes, issue times spread over the last 12 hours (so about half are still unexpired), one
"allowed" audit event per token carrying its token id.

    python bench/scale.py --database-url sqlite:///path/regauth.db --tokens 1000000
"""

from __future__ import annotations

import argparse
import base64
import os
import time

CHUNK = 50_000
TOKEN_COLUMNS = ("token_id", "kind", "principal_arn", "account_id", "scope", "issued_at", "expires_at")
EVENT_COLUMNS = ("at", "request_id", "principal_arn", "action", "resource", "outcome", "source_ip", "token_id",
                 "detail")


def populate(database_url: str, n: int, account_id: str, now: float | None = None) -> float:
    """Insert n issued tokens and n audit events; returns the seconds it took."""
    import sqlalchemy as sa

    from regauth.store import schema as t
    from regauth.store.open import create_store_engine

    now = time.time() if now is None else now
    engine = create_store_engine(database_url)
    principals = [f"arn:aws:iam::{account_id}:user/ci-{i:02d}" for i in range(20)]
    scopes = [("ecr", "ecr:GetAuthorizationToken", f"arn:aws:ecr:us-east-1:{account_id}:registry"),
              ("codeartifact", "codeartifact:GetAuthorizationToken",
               f"arn:aws:codeartifact:us-east-1:{account_id}:domain/bench"),
              ("ecr-public", "ecr-public:GetAuthorizationToken", f"arn:aws:ecr-public::{account_id}:registry"),
              ("acr", "cr:GetAuthorizationToken", f"acs:cr:cn-hangzhou:{account_id}:instance/cri-bench")]
    token_cols = [c.name for c in t.issued_tokens.columns]
    event_cols = [c.name for c in t.audit_events.columns if c.name != "id"]
    # The statements are compiled from the schema; on SQLite the rows go to the driver as tuples
    # (executemany), elsewhere through Core's executemany with dicts.
    token_sql = str(t.issued_tokens.insert().values({c: None for c in token_cols}).compile(dialect=engine.dialect))
    event_sql = str(t.audit_events.insert().values({c: None for c in event_cols}).compile(dialect=engine.dialect))
    fast = (engine.dialect.name == "sqlite" and engine.dialect.paramstyle == "qmark"
            and token_cols == list(TOKEN_COLUMNS) and event_cols == list(EVENT_COLUMNS))
    if fast:
        @sa.event.listens_for(engine, "connect")
        def _bulk(dbapi_conn, _record) -> None:     # this engine only: a big page cache for the bulk load
            dbapi_conn.execute("PRAGMA cache_size=-262144")

    # The server's id format: issue time, then 192 random bits. Issue times rise with i, so the ids
    # are inserted in key order, as the server appends them.
    raw = base64.urlsafe_b64encode(os.urandom(24 * n)).decode()
    issued_at = [now - 43200.0 * (n - i) / n for i in range(n)]
    ids = [f"{int(issued_at[i] * 1e6):014x}{raw[32 * i:32 * (i + 1)]}" for i in range(n)]
    del raw
    started = time.perf_counter()
    try:
        for lo in range(0, n, CHUNK):
            tokens, events = [], []
            for i in range(lo, min(n, lo + CHUNK)):
                kind, action, scope = scopes[i % len(scopes)]
                principal = principals[i % len(principals)]
                issued = issued_at[i]
                expires = float(int(issued) + 43200)
                tokens.append((ids[i], kind, principal, account_id, scope, issued, expires))
                events.append((issued, f"{i:08x}-0000-4000-8000-{i:012x}", principal, action, scope, "allowed",
                               "127.0.0.1", ids[i], f"expires={int(expires)}"))
            with engine.begin() as conn:
                if fast:
                    conn.exec_driver_sql(token_sql, tokens)
                    conn.exec_driver_sql(event_sql, events)
                else:
                    conn.execute(t.issued_tokens.insert(), [dict(zip(TOKEN_COLUMNS, r, strict=True)) for r in tokens])
                    conn.execute(t.audit_events.insert(), [dict(zip(EVENT_COLUMNS, r, strict=True)) for r in events])
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)" if engine.dialect.name == "sqlite" else "ANALYZE")
    finally:
        engine.dispose()
    return time.perf_counter() - started


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", required=True)
    p.add_argument("--tokens", type=int, default=1_000_000)
    p.add_argument("--account-id", default="123456789012")
    a = p.parse_args()
    print(f"populated {a.tokens} tokens in {populate(a.database_url, a.tokens, a.account_id):.1f} s")


if __name__ == "__main__":
    main()
