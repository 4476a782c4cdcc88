"""CodeArtifact domains, domain policies, repository endpoints and repositories."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from regauth.domain.principals import Domain, DomainPolicy, Repository
from regauth.errors import Conflict
from regauth.store import row_records as rr
from regauth.store import schema as t
from regauth.store.sql_base import SqlBase, map_integrity

_HAS_REPOSITORIES = "Domain {name} still has repositories; delete them first."


def _domain_key(table: sa.Table, account_id: str, region: str, domain_name: str):
    """Rows of a domain's child table (by the child's domain_name column)."""
    return sa.and_(table.c.account_id == account_id, table.c.region == region,
                   table.c.domain_name == domain_name)


def _domain_where(account_id: str, region: str, name: str):
    d = t.domains.c
    return sa.and_(d.account_id == account_id, d.region == region, d.name == name)


def _repository_count():
    r, d = t.repositories.c, t.domains.c
    return (sa.select(sa.func.count()).select_from(t.repositories)
            .where(r.account_id == d.account_id, r.region == d.region, r.domain_name == d.name)
            .scalar_subquery().label("repository_count"))


def _prefix_bounds(prefix: str):
    """Names starting with `prefix` as a range scan: prefix <= name < successor(prefix). Exact under
    binary (code point) collation, which both backends use for NAME columns."""
    col = t.repositories.c.name
    cond = [col >= prefix]
    stem = prefix
    while stem and ord(stem[-1]) == 0x10FFFF:
        stem = stem[:-1]
    if stem:
        cond.append(col < stem[:-1] + chr(ord(stem[-1]) + 1))
    return cond


class SqlCodeArtifactMixin(SqlBase):
    # --- domains --------------------------------------------------------------------------------
    def create_domain(self, domain: Domain) -> Domain:
        with map_integrity("domain", domain.name), self._write() as conn:
            conn.execute(t.domains.insert().values(**rr.domain_values(domain)))
        return Domain(**{**rr.domain_values(domain), "repository_count": 0})

    def get_domain(self, account_id: str, region: str, name: str) -> Domain | None:
        with self._read() as conn:
            row = conn.execute(sa.select(t.domains, _repository_count())
                               .where(_domain_where(account_id, region, name))).first()
        return rr.domain(row, row.repository_count) if row else None

    def list_domains(self, account_id: str, region: str, limit: int,
                     after_name: str | None) -> list[Domain]:
        d = t.domains.c
        query = (sa.select(t.domains, _repository_count())
                 .where(d.account_id == account_id, d.region == region)
                 .order_by(d.name).limit(max(0, limit)))
        if after_name is not None:
            query = query.where(d.name > after_name)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [rr.domain(r, r.repository_count) for r in rows]

    def delete_domain(self, account_id: str, region: str, name: str) -> Domain | None:
        message = _HAS_REPOSITORIES.format(name=name)
        with map_integrity("domain", name, conflict_message=message), self._write() as conn:
            row = conn.execute(sa.select(t.domains).where(_domain_where(account_id, region, name))).first()
            if row is None:
                return None
            if conn.execute(sa.select(t.repositories.c.name).where(
                    _domain_key(t.repositories, account_id, region, name)).limit(1)).first():
                raise Conflict("domain", name, message, kind="delete")
            for child in (t.domain_policies, t.repository_endpoints):
                conn.execute(child.delete().where(_domain_key(child, account_id, region, name)))
            conn.execute(t.domains.delete().where(_domain_where(account_id, region, name)))
        return rr.domain(row)

    # --- domain policy ------------------------------------------------------------------------
    def put_domain_policy(self, policy: DomainPolicy,
                          guard: Callable[[DomainPolicy | None], None] | None = None) -> DomainPolicy:
        values = dict(account_id=policy.account_id, region=policy.region,
                      domain_name=policy.domain_name, document=policy.document,
                      revision=policy.revision, principal_ids=rr.principal_ids_text(policy.principal_ids))
        key = (policy.account_id, policy.region, policy.domain_name)
        with map_integrity("domain_policy", policy.domain_name, parent=("domain", policy.domain_name)), \
                self._write() as conn:
            if guard is not None:
                self._exclusive(conn, t.domain_policies.name, *key)
                row = conn.execute(sa.select(t.domain_policies).where(_domain_key(t.domain_policies, *key))).first()
                guard(rr.domain_policy(row) if row else None)
            self._upsert(conn, t.domain_policies, values, ["account_id", "region", "domain_name"])
        return policy

    def get_domain_policy(self, account_id: str, region: str, domain_name: str) -> DomainPolicy | None:
        with self._read() as conn:
            row = conn.execute(sa.select(t.domain_policies).where(
                _domain_key(t.domain_policies, account_id, region, domain_name))).first()
        return rr.domain_policy(row) if row else None

    def delete_domain_policy(self, account_id: str, region: str, domain_name: str) -> DomainPolicy | None:
        with self._write() as conn:
            row = conn.execute(t.domain_policies.delete().where(
                _domain_key(t.domain_policies, account_id, region, domain_name))
                .returning(*t.domain_policies.c)).first()
        return rr.domain_policy(row) if row else None

    # --- repository endpoints ------------------------------------------------------------------
    def set_repository_endpoint(self, account_id: str, region: str, domain_name: str, fmt: str,
                                template: str) -> None:
        values = dict(account_id=account_id, region=region, domain_name=domain_name, format=fmt,
                      template=template)
        with map_integrity("repository_endpoint", fmt, parent=("domain", domain_name)), \
                self._write() as conn:
            self._upsert(conn, t.repository_endpoints, values,
                         ["account_id", "region", "domain_name", "format"])

    def get_repository_endpoint(self, account_id: str, region: str, domain_name: str,
                                fmt: str) -> str | None:
        e = t.repository_endpoints
        with self._read() as conn:
            return conn.execute(sa.select(e.c.template).where(
                _domain_key(e, account_id, region, domain_name), e.c.format == fmt)).scalar()

    def list_repository_endpoints(self) -> list[tuple[str, str, str, str, str]]:
        e = t.repository_endpoints.c
        with self._read() as conn:
            rows = conn.execute(sa.select(e.account_id, e.region, e.domain_name, e.format, e.template)
                                .order_by(e.account_id, e.region, e.domain_name, e.format)).all()
        return [tuple(row) for row in rows]

    # --- repositories ---------------------------------------------------------------------------
    def create_repository(self, repo: Repository) -> Repository:
        with map_integrity("repository", repo.name, parent=("domain", repo.domain_name)), \
                self._write() as conn:
            conn.execute(t.repositories.insert().values(**rr.repository_values(repo)))
        return repo

    def get_repository(self, account_id: str, region: str, domain_name: str,
                       name: str) -> Repository | None:
        r = t.repositories
        with self._read() as conn:
            row = conn.execute(sa.select(r).where(
                _domain_key(r, account_id, region, domain_name), r.c.name == name)).first()
        return rr.repository(row) if row else None

    def list_repositories(self, account_id: str, region: str, domain_name: str, prefix: str | None,
                          limit: int, after_name: str | None) -> list[Repository]:
        r = t.repositories
        query = (sa.select(r).where(_domain_key(r, account_id, region, domain_name))
                 .order_by(r.c.name).limit(max(0, limit)))
        if prefix:
            query = query.where(*_prefix_bounds(prefix))
        if after_name is not None:
            query = query.where(r.c.name > after_name)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [rr.repository(row) for row in rows]

    def delete_repository(self, account_id: str, region: str, domain_name: str,
                          name: str) -> Repository | None:
        r = t.repositories
        with self._write() as conn:
            row = conn.execute(r.delete().where(
                _domain_key(r, account_id, region, domain_name), r.c.name == name)
                .returning(*r.c)).first()
        return rr.repository(row) if row else None
