"""The SQLite schema at head as plain SQL: what a first start on an empty file runs, so that it, like a
restart, never imports SQLAlchemy (about 0.2 s of a 0.55 s first start on the bench machine).

`STATEMENTS` is not written by hand: it is the DDL SQLAlchemy's SQLite dialect renders from
`store.schema` (as `metadata.create_all` sends it, then Alembic's version table), followed by the
seed rows of `schema.INITIAL_ROWS`. After a change to `schema.py`, rewrite it with

    .venv/bin/python -m regauth.store.sqlite_schema

`tests/store/test_fresh_schema.py` fails while it differs from the rendering, and checks that a file
created from it is the very database Alembic's migrations build (down to `sqlite_master`'s text).
"""

from __future__ import annotations

import sys
from pathlib import Path

STAMP = "INSERT INTO alembic_version (version_num) VALUES (?)"

# --- rendered by `python -m regauth.store.sqlite_schema`: do not edit ---
STATEMENTS: tuple[str, ...] = (
    ('CREATE TABLE meta (\n'
     '\t"key" VARCHAR NOT NULL, \n'
     '\tvalue TEXT NOT NULL, \n'
     '\tCONSTRAINT pk_meta PRIMARY KEY ("key")\n'
     ')'),
    ('CREATE TABLE generation (\n'
     '\tid INTEGER NOT NULL, \n'
     '\tvalue BIGINT NOT NULL, \n'
     '\tCONSTRAINT pk_generation PRIMARY KEY (id)\n'
     ')'),
    ('CREATE TABLE accounts (\n'
     '\taccount_id VARCHAR NOT NULL, \n'
     '\tcreated_at DOUBLE NOT NULL, \n'
     '\tCONSTRAINT pk_accounts PRIMARY KEY (account_id)\n'
     ')'),
    ('CREATE TABLE users (\n'
     '\taccount_id VARCHAR NOT NULL, \n'
     '\tname VARCHAR NOT NULL, \n'
     '\tuser_id VARCHAR NOT NULL, \n'
     '\tarn VARCHAR NOT NULL, \n'
     '\tpath VARCHAR NOT NULL, \n'
     '\tcreated_at DOUBLE NOT NULL, \n'
     '\tCONSTRAINT pk_users PRIMARY KEY (account_id, name), \n'
     '\tCONSTRAINT uq_users_user_id UNIQUE (user_id)\n'
     ')'),
    ('CREATE TABLE roles (\n'
     '\taccount_id VARCHAR NOT NULL, \n'
     '\tname VARCHAR NOT NULL, \n'
     '\trole_id VARCHAR NOT NULL, \n'
     '\tarn VARCHAR NOT NULL, \n'
     '\tpath VARCHAR NOT NULL, \n'
     '\ttrust_policy TEXT NOT NULL, \n'
     '\tmax_session_duration INTEGER NOT NULL, \n'
     '\tdescription TEXT NOT NULL, \n'
     '\tcreated_at DOUBLE NOT NULL, \n'
     '\tCONSTRAINT pk_roles PRIMARY KEY (account_id, name), \n'
     '\tCONSTRAINT uq_roles_role_id UNIQUE (role_id)\n'
     ')'),
    ('CREATE TABLE sessions (\n'
     '\taccess_key_id VARCHAR NOT NULL, \n'
     '\taccount_id VARCHAR NOT NULL, \n'
     '\tkind VARCHAR NOT NULL, \n'
     '\tsource_name VARCHAR NOT NULL, \n'
     '\tsession_name VARCHAR NOT NULL, \n'
     '\tarn VARCHAR NOT NULL, \n'
     '\tuser_id VARCHAR NOT NULL, \n'
     '\tsession_policy TEXT, \n'
     '\tsecret TEXT NOT NULL, \n'
     '\ttoken_hash VARCHAR NOT NULL, \n'
     '\texpires_at DOUBLE NOT NULL, \n'
     '\tcreated_at DOUBLE NOT NULL, \n'
     '\tCONSTRAINT pk_sessions PRIMARY KEY (access_key_id)\n'
     ')'),
    'CREATE INDEX ix_sessions_expires_at ON sessions (expires_at)',
    ('CREATE TABLE codeartifact_domains (\n'
     '\taccount_id VARCHAR NOT NULL, \n'
     '\tregion VARCHAR NOT NULL, \n'
     '\tname VARCHAR NOT NULL, \n'
     '\tarn VARCHAR NOT NULL, \n'
     '\tencryption_key VARCHAR NOT NULL, \n'
     '\tcreated_at DOUBLE NOT NULL, \n'
     '\tCONSTRAINT pk_codeartifact_domains PRIMARY KEY (account_id, region, name)\n'
     ')'),
    ('CREATE TABLE ecr_repositories (\n'
     '\taccount_id VARCHAR NOT NULL, \n'
     '\tregion VARCHAR NOT NULL, \n'
     '\tname VARCHAR NOT NULL, \n'
     '\tarn VARCHAR NOT NULL, \n'
     '\turi VARCHAR NOT NULL, \n'
     '\timage_tag_mutability VARCHAR NOT NULL, \n'
     '\tscan_on_push BOOLEAN NOT NULL, \n'
     '\tencryption_type VARCHAR NOT NULL, \n'
     '\tcreated_at DOUBLE NOT NULL, \n'
     '\tCONSTRAINT pk_ecr_repositories PRIMARY KEY (account_id, region, name)\n'
     ')'),
    ('CREATE TABLE ecr_registry_endpoints (\n'
     '\taccount_id VARCHAR NOT NULL, \n'
     '\tregion VARCHAR NOT NULL, \n'
     '\turl TEXT NOT NULL, \n'
     '\tCONSTRAINT pk_ecr_registry_endpoints PRIMARY KEY (account_id, region)\n'
     ')'),
    ('CREATE TABLE acr_instances (\n'
     '\tinstance_id VARCHAR NOT NULL, \n'
     '\taccount_id VARCHAR NOT NULL, \n'
     '\tregion VARCHAR NOT NULL, \n'
     '\tname VARCHAR NOT NULL, \n'
     '\tlogin_server VARCHAR NOT NULL, \n'
     '\tcreated_at DOUBLE NOT NULL, \n'
     '\tCONSTRAINT pk_acr_instances PRIMARY KEY (instance_id)\n'
     ')'),
    'CREATE INDEX ix_acr_instances_account ON acr_instances (account_id, name)',
    ('CREATE TABLE issued_tokens (\n'
     '\ttoken_id VARCHAR NOT NULL, \n'
     '\tkind VARCHAR NOT NULL, \n'
     '\tprincipal_arn VARCHAR NOT NULL, \n'
     '\taccount_id VARCHAR NOT NULL, \n'
     '\tscope VARCHAR NOT NULL, \n'
     '\tissued_at DOUBLE NOT NULL, \n'
     '\texpires_at DOUBLE NOT NULL, \n'
     '\tCONSTRAINT pk_issued_tokens PRIMARY KEY (token_id)\n'
     ')'),
    'CREATE INDEX ix_issued_tokens_expires_at ON issued_tokens (expires_at)',
    ('CREATE TABLE audit_events (\n'
     '\tid INTEGER NOT NULL, \n'
     '\tat DOUBLE NOT NULL, \n'
     '\trequest_id VARCHAR NOT NULL, \n'
     '\tprincipal_arn VARCHAR NOT NULL, \n'
     '\taction VARCHAR NOT NULL, \n'
     '\tresource TEXT NOT NULL, \n'
     '\toutcome VARCHAR NOT NULL, \n'
     '\tsource_ip VARCHAR NOT NULL, \n'
     '\ttoken_id VARCHAR NOT NULL, \n'
     '\tdetail TEXT NOT NULL, \n'
     '\tCONSTRAINT pk_audit_events PRIMARY KEY (id)\n'
     ')'),
    'CREATE INDEX ix_audit_events_at ON audit_events (at, id)',
    'CREATE INDEX ix_audit_events_principal ON audit_events (principal_arn, at, id)',
    ('CREATE TABLE signing_keys (\n'
     '\tkid VARCHAR NOT NULL, \n'
     '\tsecret TEXT NOT NULL, \n'
     '\tcreated_at DOUBLE NOT NULL, \n'
     '\tretired_at DOUBLE, \n'
     '\tCONSTRAINT pk_signing_keys PRIMARY KEY (kid)\n'
     ')'),
    'CREATE INDEX ix_signing_keys_created_at ON signing_keys (created_at)',
    ('CREATE TABLE revocations (\n'
     '\tkind VARCHAR NOT NULL, \n'
     '\tsubject VARCHAR NOT NULL, \n'
     '\tnot_before DOUBLE NOT NULL, \n'
     '\tcreated_at DOUBLE NOT NULL, \n'
     '\treason TEXT NOT NULL, \n'
     '\tCONSTRAINT pk_revocations PRIMARY KEY (kind, subject)\n'
     ')'),
    'CREATE INDEX ix_revocations_created_at ON revocations (created_at, kind, subject)',
    ('CREATE TABLE access_keys (\n'
     '\taccess_key_id VARCHAR NOT NULL, \n'
     '\taccount_id VARCHAR NOT NULL, \n'
     '\tuser_name VARCHAR NOT NULL, \n'
     '\tstatus VARCHAR NOT NULL, \n'
     '\tsecret TEXT NOT NULL, \n'
     '\tcreated_at DOUBLE NOT NULL, \n'
     '\tCONSTRAINT pk_access_keys PRIMARY KEY (access_key_id), \n'
     '\tCONSTRAINT fk_access_keys_users FOREIGN KEY(account_id, user_name) REFERENCES users (account_id, name)\n'
     ')'),
    'CREATE INDEX ix_access_keys_user ON access_keys (account_id, user_name)',
    ('CREATE TABLE user_policies (\n'
     '\taccount_id VARCHAR NOT NULL, \n'
     '\tuser_name VARCHAR NOT NULL, \n'
     '\tpolicy_name VARCHAR NOT NULL, \n'
     '\tdocument TEXT NOT NULL, \n'
     '\tCONSTRAINT pk_user_policies PRIMARY KEY (account_id, user_name, policy_name), \n'
     '\tCONSTRAINT fk_user_policies_users FOREIGN KEY(account_id, user_name) REFERENCES users (account_id, name)\n'
     ')'),
    ('CREATE TABLE role_policies (\n'
     '\taccount_id VARCHAR NOT NULL, \n'
     '\trole_name VARCHAR NOT NULL, \n'
     '\tpolicy_name VARCHAR NOT NULL, \n'
     '\tdocument TEXT NOT NULL, \n'
     '\tCONSTRAINT pk_role_policies PRIMARY KEY (account_id, role_name, policy_name), \n'
     '\tCONSTRAINT fk_role_policies_roles FOREIGN KEY(account_id, role_name) REFERENCES roles (account_id, name)\n'
     ')'),
    ('CREATE TABLE codeartifact_domain_policies (\n'
     '\taccount_id VARCHAR NOT NULL, \n'
     '\tregion VARCHAR NOT NULL, \n'
     '\tdomain_name VARCHAR NOT NULL, \n'
     '\tdocument TEXT NOT NULL, \n'
     '\trevision VARCHAR NOT NULL, \n'
     '\tCONSTRAINT pk_codeartifact_domain_policies PRIMARY KEY (account_id, region, domain_name), \n'
     '\tCONSTRAINT fk_codeartifact_domain_policies_codeartifact_domains FOREIGN KEY(account_id, region, domain_name) REFERENCES codeartifact_domains (account_id, region, name)\n'
     ')'),
    ('CREATE TABLE codeartifact_repository_endpoints (\n'
     '\taccount_id VARCHAR NOT NULL, \n'
     '\tregion VARCHAR NOT NULL, \n'
     '\tdomain_name VARCHAR NOT NULL, \n'
     '\tformat VARCHAR NOT NULL, \n'
     '\ttemplate TEXT NOT NULL, \n'
     '\tCONSTRAINT pk_codeartifact_repository_endpoints PRIMARY KEY (account_id, region, domain_name, format), \n'
     '\tCONSTRAINT fk_codeartifact_repository_endpoints_codeartifact_domains FOREIGN KEY(account_id, region, domain_name) REFERENCES codeartifact_domains (account_id, region, name)\n'
     ')'),
    ('CREATE TABLE codeartifact_repositories (\n'
     '\taccount_id VARCHAR NOT NULL, \n'
     '\tregion VARCHAR NOT NULL, \n'
     '\tdomain_name VARCHAR NOT NULL, \n'
     '\tname VARCHAR NOT NULL, \n'
     '\tarn VARCHAR NOT NULL, \n'
     '\tdescription TEXT NOT NULL, \n'
     '\tupstreams TEXT NOT NULL, \n'
     '\tcreated_at DOUBLE NOT NULL, \n'
     '\tCONSTRAINT pk_codeartifact_repositories PRIMARY KEY (account_id, region, domain_name, name), \n'
     '\tCONSTRAINT fk_codeartifact_repositories_codeartifact_domains FOREIGN KEY(account_id, region, domain_name) REFERENCES codeartifact_domains (account_id, region, name)\n'
     ')'),
    ('CREATE TABLE alembic_version (\n'
     '\tversion_num VARCHAR(32) NOT NULL, \n'
     '\tCONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)\n'
     ')'),
    'ALTER TABLE roles ADD COLUMN trust_principal_ids TEXT',
    'ALTER TABLE codeartifact_domain_policies ADD COLUMN principal_ids TEXT',
    'INSERT INTO generation (id, value) VALUES (1, 1)',
)
# --- end of rendered ---


def render() -> tuple[str, ...]:
    """`STATEMENTS` as `store.schema` gives them now (imports SQLAlchemy)."""
    import sqlalchemy as sa

    from regauth.store import schema
    from regauth.store.open import _alembic_version

    sent: list[str] = []
    engine = sa.create_mock_engine("sqlite://", lambda sql, *_a, **_k: sent.append(
        str(sql.compile(dialect=engine.dialect)).strip()))
    schema.metadata.create_all(engine, checkfirst=False)
    _alembic_version().create(engine, checkfirst=False)
    _sort_index_runs(sent)
    _add_columns_as_migrations_do(sent, schema.metadata, engine.dialect)
    for table, rows in schema.INITIAL_ROWS:
        sent.append(str(table.insert().values(rows).compile(dialect=engine.dialect,
                                                             compile_kwargs={"literal_binds": True})).strip())
    return tuple(sent)


def _add_columns_as_migrations_do(statements: list[str], metadata, dialect) -> None:
    """Columns marked `schema.ADDED` leave their CREATE TABLE and come back by ALTER TABLE, as
    their migration adds them (SQLite keeps the CREATE text and splices the column into it)."""
    from sqlalchemy.schema import CreateColumn

    for table in metadata.sorted_tables:
        for column in table.columns:
            if not column.info.get("added_by_migration"):
                continue
            ddl = str(CreateColumn(column).compile(dialect=dialect))
            i = next(i for i, s in enumerate(statements) if s.startswith(f"CREATE TABLE {table.name} ("))
            line = f"\t{ddl}, \n"
            if line not in statements[i]:
                raise AssertionError(f"{table.name}.{column.name} is not rendered as {line!r}")
            statements[i] = statements[i].replace(line, "", 1)
            statements.append(f"ALTER TABLE {table.name} ADD COLUMN {ddl}")


def _sort_index_runs(statements: list[str]) -> None:
    """A table's indexes come from a set, in any order: put each run of them in name order."""
    i = 0
    while i < len(statements):
        j = i
        while j < len(statements) and statements[j].startswith("CREATE INDEX"):
            j += 1
        statements[i:j] = sorted(statements[i:j])
        i = j + 1


def _source(statements: tuple[str, ...]) -> str:
    """The tuple as Python source: one string literal per line of each statement, each item ending
    with a comma."""
    out = ["STATEMENTS: tuple[str, ...] = ("]
    for statement in statements:
        lines = statement.split("\n")
        parts = [repr(line + "\n") for line in lines[:-1]] + [repr(lines[-1])]
        if len(parts) == 1:
            out.append(f"    {parts[0]},")
        else:
            out.append(f"    ({parts[0]}")
            out.extend(f"     {part}" for part in parts[1:])
            out[-1] += "),"
    out.append(")")
    return "\n".join(out)


def rewrite(path: Path = Path(__file__)) -> bool:
    """Put the current rendering into this module's source; True if it changed."""
    text = path.read_text(encoding="utf-8")
    begin = text.index("# --- rendered by")
    begin = text.index("\n", begin) + 1
    end = text.index("# --- end of rendered ---")
    new = text[:begin] + _source(render()) + "\n" + text[end:]
    if new == text:
        return False
    path.write_text(new, encoding="utf-8")
    return True


if __name__ == "__main__":
    print("rewritten" if rewrite() else "already current", file=sys.stderr)
