"""Worker versions in a Python dict: a mixin of `InMemorySaver` (leases on the wall clock,
so `expires_at` reads back as a time)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from interlock.checkpoint._workers.protocol import WorkerVersion

__all__ = ["MemoryWorkerVersions"]


class MemoryWorkerVersions:
    """`advertise_versions`, `withdraw_versions`, `list_worker_versions` under the saver's
    lock."""

    _lock: threading.RLock

    def _init_workers(self) -> None:
        self._adverts: dict[tuple[str, str, str], tuple[WorkerVersion, float]] = {}
        """(graph, version, owner) -> (advert, epoch seconds its lease lapses)."""

    def _advertised(self, graph: str, version_id: str) -> bool:
        """Under the saver's lock: whether a live process advertises the version (the run
        queue's claim filter)."""
        now = time.time()
        return any(
            g == graph and v == version_id and until > now
            for (g, v, _), (_, until) in self._adverts.items()
        )

    def advertise_versions(self, versions: Sequence[WorkerVersion], *, ttl: float) -> None:
        """See `WorkerVersions.advertise_versions`."""
        now = time.time()
        with self._lock:
            for key, (_, until) in list(self._adverts.items()):
                if until <= now:
                    del self._adverts[key]
            for v in versions:
                self._adverts[(v.graph, v.version_id, v.owner)] = (v, now + float(ttl))

    def withdraw_versions(self, owner: str) -> int:
        """See `WorkerVersions.withdraw_versions`."""
        with self._lock:
            mine = [key for key in self._adverts if key[2] == owner]
            for key in mine:
                del self._adverts[key]
            return len(mine)

    def list_worker_versions(self, graph: str | None = None) -> tuple[WorkerVersion, ...]:
        """See `WorkerVersions.list_worker_versions`."""
        now = time.time()
        with self._lock:
            rows = [
                replace(v, expires_at=datetime.fromtimestamp(until, UTC))
                for key, (v, until) in sorted(self._adverts.items())
                if until > now and (graph is None or key[0] == graph)
            ]
        return tuple(rows)
