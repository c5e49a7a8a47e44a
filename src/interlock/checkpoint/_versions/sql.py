"""Graph versions in SQL: a mixin of `SqlSaver` (one statement per call on both dialects)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from interlock.checkpoint import serde
from interlock.checkpoint._sql_core import SqlCore
from interlock.checkpoint._sql_dialect import json_text
from interlock.checkpoint._versions.protocol import GraphVersion

__all__ = ["SqlGraphVersions"]

_COLS = "graph, version_id, fingerprint, manifest, explicit, created_at"


class SqlGraphVersions(SqlCore):
    """`put_graph_version`, `get_graph_version`, ... over the `graph_versions` table."""

    def _graph_version(self, row: Sequence[Any]) -> GraphVersion:
        return GraphVersion(
            graph=row[0],
            version_id=row[1],
            fingerprint=row[2],
            manifest=serde.loads(json_text(row[3])),
            explicit=bool(row[4]),
            created_at=self.dialect.ts_req(row[5]),
        )

    def put_graph_version(self, version: GraphVersion) -> bool:
        """See `GraphVersions.put_graph_version`."""
        text = serde.dumps(version.manifest, "manifest")
        with self._write() as conn:
            cur = self._x(
                conn,
                f"INSERT INTO graph_versions ({_COLS}) VALUES (?, ?, ?, ?J, ?, ?) "
                "ON CONFLICT (graph, version_id) DO NOTHING",
                (
                    version.graph,
                    version.version_id,
                    version.fingerprint,
                    text,
                    1 if version.explicit else 0,
                    self.dialect.ts(version.created_at),
                ),
            )
            return bool(cur.rowcount)

    def get_graph_version(self, graph: str, version_id: str) -> GraphVersion | None:
        """See `GraphVersions.get_graph_version`."""
        with self._read() as conn:
            row = self._x(
                conn,
                f"SELECT {_COLS} FROM graph_versions WHERE graph = ? AND version_id = ?",
                (graph, version_id),
            ).fetchone()
        return None if row is None else self._graph_version(row)

    def list_graph_versions(self, graph: str | None = None) -> tuple[GraphVersion, ...]:
        """See `GraphVersions.list_graph_versions`."""
        where, params = ("WHERE graph = ?", (graph,)) if graph is not None else ("", ())
        with self._read() as conn:
            rows = self._x(
                conn,
                f"SELECT {_COLS} FROM graph_versions {where} "
                "ORDER BY created_at, graph, version_id",
                params,
            ).fetchall()
        return tuple(self._graph_version(r) for r in rows)
