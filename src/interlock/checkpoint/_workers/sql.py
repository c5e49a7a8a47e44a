"""Worker versions in SQL: a mixin of `SqlSaver` (leases on the database clock)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from interlock.checkpoint._sql_core import SqlCore
from interlock.checkpoint._workers.protocol import WorkerVersion

__all__ = ["SqlWorkerVersions", "advertised"]


def advertised(graph: str, version: str) -> str:
    """SQL: whether a live process advertises the version in columns `graph` and `version`
    (the run queue's claim filter)."""
    return (
        f"EXISTS (SELECT 1 FROM worker_versions w WHERE w.graph = {graph} "
        f"AND w.version_id = {version} AND w.lease_until > {{now}})"
    )


class SqlWorkerVersions(SqlCore):
    """`advertise_versions`, `withdraw_versions`, `list_worker_versions` over the
    `worker_versions` table."""

    def advertise_versions(self, versions: Sequence[WorkerVersion], *, ttl: float) -> None:
        """See `WorkerVersions.advertise_versions`: lapsed adverts are deleted and each
        given one upserted, in one transaction."""
        with self._write() as conn:
            self._x(conn, "DELETE FROM worker_versions WHERE lease_until <= {now}")
            for v in versions:
                self._x(
                    conn,
                    "INSERT INTO worker_versions (graph, version_id, owner, agent, fingerprint, "
                    "lease_until) VALUES (?, ?, ?, ?, ?, {now} + ?) "
                    "ON CONFLICT (graph, version_id, owner) DO UPDATE SET "
                    "agent = excluded.agent, fingerprint = excluded.fingerprint, "
                    "lease_until = excluded.lease_until",
                    (v.graph, v.version_id, v.owner, v.agent, v.fingerprint, float(ttl)),
                )

    def withdraw_versions(self, owner: str) -> int:
        """See `WorkerVersions.withdraw_versions`."""
        with self._write() as conn:
            cur = self._x(conn, "DELETE FROM worker_versions WHERE owner = ?", (owner,))
            return self._count(conn, cur)

    def list_worker_versions(self, graph: str | None = None) -> tuple[WorkerVersion, ...]:
        """See `WorkerVersions.list_worker_versions`."""
        where, params = (" AND graph = ?", (graph,)) if graph is not None else ("", ())
        with self._read() as conn:
            rows = self._x(
                conn,
                "SELECT graph, version_id, owner, agent, fingerprint, lease_until "
                "FROM worker_versions WHERE lease_until > {now}"
                f"{where} ORDER BY graph, version_id, owner",
                params,
            ).fetchall()
        return tuple(
            WorkerVersion(
                graph=r[0],
                version_id=r[1],
                owner=r[2],
                agent=r[3],
                fingerprint=r[4],
                expires_at=datetime.fromtimestamp(float(r[5]), UTC),
            )
            for r in rows
        )
