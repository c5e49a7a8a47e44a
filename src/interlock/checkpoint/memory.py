"""`InMemorySaver`: the store protocol in Python structures, for tests and notebooks.

It composes each room's in-memory half (checkpoints, the interrupt index, the audit log,
threads, the run queue, the run event log, ...) over one lock: a write that spans rooms (a
checkpoint with its requests, their audit entries and the lease) is one critical section,
as it is one transaction in the SQL stores. Values are kept serialised (as the other stores
keep them), so an unserialisable value fails at write time and callers cannot mutate stored
state through objects they hold.
"""

from __future__ import annotations

import threading

from interlock.checkpoint._assistants.memory import MemoryAssistants
from interlock.checkpoint._audit.memory import MemoryAuditLog
from interlock.checkpoint._checkpoints.memory import MemoryCheckpoints
from interlock.checkpoint._crons.memory import MemoryCrons
from interlock.checkpoint._events.memory import MemoryEventLog
from interlock.checkpoint._grants.memory import MemoryGrants
from interlock.checkpoint._interrupts.memory import MemoryInterrupts
from interlock.checkpoint._items.memory import MemoryItems
from interlock.checkpoint._runs.memory import MemoryRunQueue
from interlock.checkpoint._threads.memory import MemoryThreads
from interlock.checkpoint._versions.memory import MemoryGraphVersions
from interlock.checkpoint._votes.memory import MemoryVotes
from interlock.checkpoint._workers.memory import MemoryWorkerVersions
from interlock.checkpoint.base import BaseSaver, SnapshotPolicy

__all__ = ["InMemorySaver", "MemorySaver"]


class InMemorySaver(
    MemoryCheckpoints,
    MemoryInterrupts,
    MemoryAuditLog,
    MemoryThreads,
    MemoryRunQueue,
    MemoryEventLog,
    MemoryVotes,
    MemoryGraphVersions,
    MemoryGrants,
    MemoryWorkerVersions,
    MemoryItems,
    MemoryAssistants,
    MemoryCrons,
    BaseSaver,
):
    """Keeps threads in this process's memory.

    Example:
        >>> saver = InMemorySaver()
        >>> saver.get_checkpoint("nobody") is None
        True
    """

    def __init__(self, *, snapshot_policy: SnapshotPolicy | None = None) -> None:
        self.policy = snapshot_policy or SnapshotPolicy()
        self._lock = threading.RLock()
        self._init_checkpoints()
        self._init_interrupts()
        self._init_audit()
        self._init_threads()
        self._init_runs()
        self._init_events()
        self._init_votes()
        self._init_versions()
        self._init_grants()
        self._init_workers()
        self._init_items()
        self._init_assistants()
        self._init_crons()


MemorySaver = InMemorySaver
