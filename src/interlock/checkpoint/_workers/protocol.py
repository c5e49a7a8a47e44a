"""Worker versions in the store protocol: each process that runs background workers
advertises, per agent, the graph and version it runs, under a lease it renews.

A run whose thread paused (or was decided) under a version this process does not run is
given back to the queue marked for that version (`RunQueue.release_run(for_version=...)`)
when a live process advertises it; only a claimer that runs the version claims it while
one does (`RunQueue.claim_run(versions=...)`), and anyone once none does. A process that
stops withdraws its adverts; one that dies stops renewing, and its adverts lapse after
their `ttl`. Leases use the store's clock (the database clock for SQL stores).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from interlock.checkpoint._async import to_thread

__all__ = ["WorkerVersion", "WorkerVersions"]


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerVersion:
    """One graph version one process runs (its workers claim that version's runs)."""

    owner: str
    """The process (its workers' id prefix)."""
    agent: str
    """The name the process registers the graph under."""
    graph: str
    """The graph's name, as its checkpoints record it (`metadata["graph"]`)."""
    version_id: str
    """The version its checkpoints record (`metadata["graph_version"]`)."""
    fingerprint: str = ""
    """SHA-256 of the version's manifest."""
    expires_at: datetime | None = None
    """When the advert lapses unless renewed (set by the store when read back)."""


class WorkerVersions(ABC):
    """Advertise, renew, withdraw and list the versions live processes run."""

    @abstractmethod
    def advertise_versions(self, versions: Sequence[WorkerVersion], *, ttl: float) -> None:
        """Store or renew each advert (keyed by graph, version and owner) for `ttl` seconds
        from now; adverts lapsed by then are forgotten."""

    @abstractmethod
    def withdraw_versions(self, owner: str) -> int:
        """Forget every advert of `owner` (a process that stops); how many there were."""

    @abstractmethod
    def list_worker_versions(self, graph: str | None = None) -> tuple[WorkerVersion, ...]:
        """The adverts whose lease has not lapsed (of one graph, or of all), by graph,
        version and owner."""

    async def aadvertise_versions(self, versions: Sequence[WorkerVersion], *, ttl: float) -> None:
        """Async twin of `advertise_versions`."""
        await to_thread(self.advertise_versions, versions, ttl=ttl)

    async def awithdraw_versions(self, owner: str) -> int:
        """Async twin of `withdraw_versions`."""
        return await to_thread(self.withdraw_versions, owner)

    async def alist_worker_versions(self, graph: str | None = None) -> tuple[WorkerVersion, ...]:
        """Async twin of `list_worker_versions`."""
        return await to_thread(self.list_worker_versions, graph)
