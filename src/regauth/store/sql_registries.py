"""ECR repositories and registry endpoints; Alibaba ACR instances."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from regauth.domain.principals import AcrInstance, EcrRepository
from regauth.store import row_records as rr
from regauth.store import schema as t
from regauth.store.sql_base import SqlBase, map_integrity
from regauth.store.sqlite_reads import registry_hosts


def _ecr_where(account_id: str, region: str, name: str):
    e = t.ecr_repositories.c
    return sa.and_(e.account_id == account_id, e.region == region, e.name == name)


class SqlRegistriesMixin(SqlBase):
    # --- ECR repositories -----------------------------------------------------------------------
    def create_ecr_repository(self, repo: EcrRepository) -> EcrRepository:
        with map_integrity("ecr_repository", repo.name), self._write() as conn:
            conn.execute(t.ecr_repositories.insert().values(**rr.ecr_repository_values(repo)))
        return repo

    def get_ecr_repository(self, account_id: str, region: str, name: str) -> EcrRepository | None:
        with self._read() as conn:
            row = conn.execute(sa.select(t.ecr_repositories)
                               .where(_ecr_where(account_id, region, name))).first()
        return rr.ecr_repository(row) if row else None

    def list_ecr_repositories(self, account_id: str, region: str, limit: int,
                              after_name: str | None) -> list[EcrRepository]:
        e = t.ecr_repositories.c
        query = (sa.select(t.ecr_repositories).where(e.account_id == account_id, e.region == region)
                 .order_by(e.name).limit(max(0, limit)))
        if after_name is not None:
            query = query.where(e.name > after_name)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [rr.ecr_repository(r) for r in rows]

    def delete_ecr_repository(self, account_id: str, region: str, name: str) -> EcrRepository | None:
        with self._write() as conn:
            row = conn.execute(t.ecr_repositories.delete().where(_ecr_where(account_id, region, name))
                               .returning(*t.ecr_repositories.c)).first()
        return rr.ecr_repository(row) if row else None

    # --- ECR registry endpoint (proxyEndpoint) --------------------------------------------------
    def _hosts(self, conn: sa.Connection, guard: Callable[[list[tuple[str, str]]], None]) -> None:
        self._exclusive(conn, "registry hosts")       # one claim of a host at a time, in any account
        guard(self._registry_hosts(conn))

    def set_registry_endpoint(self, account_id: str, region: str, url: str,
                              guard: Callable[[list[tuple[str, str]]], None] | None = None) -> None:
        with self._write() as conn:
            if guard is not None:
                self._hosts(conn, guard)
            self._upsert(conn, t.registry_endpoints,
                         {"account_id": account_id, "region": region, "url": url},
                         ["account_id", "region"])

    def get_registry_endpoint(self, account_id: str, region: str) -> str | None:
        r = t.registry_endpoints.c
        with self._read() as conn:
            return conn.execute(sa.select(r.url).where(r.account_id == account_id,
                                                       r.region == region)).scalar()

    def list_registry_endpoints(self) -> list[tuple[str, str, str]]:
        r = t.registry_endpoints.c
        with self._read() as conn:
            rows = conn.execute(sa.select(r.account_id, r.region, r.url).order_by(r.account_id, r.region)).all()
        return [tuple(row) for row in rows]

    # --- Alibaba ACR instances --------------------------------------------------------------------
    def create_acr_instance(self, instance: AcrInstance,
                            guard: Callable[[list[tuple[str, str]]], None] | None = None) -> AcrInstance:
        with map_integrity("acr_instance", instance.instance_id), self._write() as conn:
            if guard is not None:
                self._hosts(conn, guard)
            conn.execute(t.acr_instances.insert().values(**rr.acr_instance_values(instance)))
        return instance

    def get_acr_instance(self, instance_id: str) -> AcrInstance | None:
        with self._read() as conn:
            row = conn.execute(sa.select(t.acr_instances)
                               .where(t.acr_instances.c.instance_id == instance_id)).first()
        return rr.acr_instance(row) if row else None

    def delete_acr_instance(self, instance_id: str) -> AcrInstance | None:
        """Delete the instance; what was deleted, or None when there is none by that id."""
        with self._write() as conn:
            row = conn.execute(t.acr_instances.delete().where(t.acr_instances.c.instance_id == instance_id)
                               .returning(*t.acr_instances.c)).first()
        return rr.acr_instance(row) if row else None

    def list_registry_hosts(self) -> list[tuple[str, str]]:
        with self._read() as conn:
            return self._registry_hosts(conn)

    @staticmethod
    def _registry_hosts(conn: sa.Connection) -> list[tuple[str, str]]:
        r, a = t.registry_endpoints.c, t.acr_instances.c
        endpoints = conn.execute(sa.select(r.account_id, r.url)).all()
        servers = conn.execute(sa.select(a.account_id, a.login_server)).all()
        return registry_hosts([tuple(e) for e in endpoints], [tuple(s) for s in servers])

    def list_acr_instances(self, account_id: str) -> list[AcrInstance]:
        a = t.acr_instances.c
        with self._read() as conn:
            rows = conn.execute(sa.select(t.acr_instances).where(a.account_id == account_id)
                                .order_by(a.name, a.instance_id)).all()
        return [rr.acr_instance(r) for r in rows]
