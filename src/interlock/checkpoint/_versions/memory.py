"""Graph versions in a Python dict: a mixin of `InMemorySaver`."""

from __future__ import annotations

import threading

from interlock.checkpoint import serde
from interlock.checkpoint._versions.protocol import GraphVersion

__all__ = ["MemoryGraphVersions"]


class MemoryGraphVersions:
    """`put_graph_version`, `get_graph_version`, ... under the saver's lock."""

    _lock: threading.RLock

    def _init_versions(self) -> None:
        self._versions: dict[tuple[str, str], GraphVersion] = {}

    def put_graph_version(self, version: GraphVersion) -> bool:
        """See `GraphVersions.put_graph_version`."""
        serde.dumps(version.manifest, "manifest")  # fails here, like the SQL stores
        key = (version.graph, version.version_id)
        with self._lock:
            if key in self._versions:
                return False
            self._versions[key] = version
            return True

    def get_graph_version(self, graph: str, version_id: str) -> GraphVersion | None:
        """See `GraphVersions.get_graph_version`."""
        with self._lock:
            return self._versions.get((graph, version_id))

    def list_graph_versions(self, graph: str | None = None) -> tuple[GraphVersion, ...]:
        """See `GraphVersions.list_graph_versions`."""
        with self._lock:
            rows = [v for v in self._versions.values() if graph is None or v.graph == graph]
        return tuple(sorted(rows, key=lambda v: (v.created_at, v.graph, v.version_id)))
