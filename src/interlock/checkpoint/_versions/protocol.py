"""The graph-versions part of the store protocol: one manifest per (graph, version).

A compiled graph stores its manifest (node names and edges, state keys and reducers, tool
argument schemas; see `interlock.graph._manifest`) the first time it runs on a store; its
checkpoints and requests carry only the version id. A version is written once and never
changes: the first write wins (an explicit `compile(version=...)` is the developer's promise
that the code behind that name is compatible).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from interlock.checkpoint._async import to_thread

__all__ = ["GraphVersion", "GraphVersions"]


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphVersion:
    """The manifest one version of a graph was compiled with."""

    graph: str
    """The graph's name (`compile(name=...)`, `create_agent(name=...)`)."""
    version_id: str
    """The explicit version, or the manifest's fingerprint (a prefix of it)."""
    fingerprint: str
    """SHA-256 of the manifest's canonical JSON."""
    manifest: dict[str, Any] = field(default_factory=dict)
    """What paused runs depend on (JSON)."""
    explicit: bool = False
    """Named by the developer (`compile(version=...)`) rather than derived."""
    created_at: datetime
    """When this store first saw the version."""


class GraphVersions(ABC):
    """Store a graph version's manifest once; read it back by id."""

    @abstractmethod
    def put_graph_version(self, version: GraphVersion) -> bool:
        """Store `version` unless that (graph, version id) is stored already (the first
        write wins). Returns whether this call stored it."""

    @abstractmethod
    def get_graph_version(self, graph: str, version_id: str) -> GraphVersion | None:
        """One version of a graph, or None."""

    @abstractmethod
    def list_graph_versions(self, graph: str | None = None) -> tuple[GraphVersion, ...]:
        """Stored versions (of one graph, or of all), oldest first."""

    async def aput_graph_version(self, version: GraphVersion) -> bool:
        """Async twin of `put_graph_version`."""
        return await to_thread(self.put_graph_version, version)

    async def aget_graph_version(self, graph: str, version_id: str) -> GraphVersion | None:
        """Async twin of `get_graph_version`."""
        return await to_thread(self.get_graph_version, graph, version_id)

    async def alist_graph_versions(self, graph: str | None = None) -> tuple[GraphVersion, ...]:
        """Async twin of `list_graph_versions`."""
        return await to_thread(self.list_graph_versions, graph)
