"""The saver protocol: what the graph runtime and the service ask of a store.

`BaseSaver` is composed of one protocol per concept; each concept lives in its own room
(a private subpackage holding its records, its abstract methods, its in-memory half, its
SQL half, its PostgreSQL statements and its conformance tests):

| concept | protocol | room |
|---|---|---|
| checkpoints and task writes | `CheckpointStore` | `_checkpoints/` |
| the interrupt index (requests for a person) | `InterruptIndex` | `_interrupts/` |
| the audit log and its cursors | `AuditLog` | `_audit/` |
| threads: summaries, leases, retention | `Threads` | `_threads/` |
| threads: metadata and search | `ThreadSearch` | `_threads/` |
| the run queue (background runs) | `RunQueue` | `_runs/` |
| the run event log (what runs streamed) | `EventLog` | `_events/` |
| votes on quorum requests | `Votes` | `_votes/` |
| graph versions (the manifest of each) | `GraphVersions` | `_versions/` |
| standing grants (calls allowed without pausing) | `Grants` | `_grants/` |
| the graph versions live worker processes run | `WorkerVersions` | `_workers/` |
| long-term memory items (LangGraph's `BaseStore`) | `Items` | `_items/` |
| assistants: versioned configurations of a graph | `Assistants` | `_assistants/` |
| crons (runs queued on a schedule) | `Crons` | `_crons/` |

Rooms are for code, not for transactions: a checkpoint write stores the step, its new
requests, their audit entries and the run's lease in one transaction (on PostgreSQL in one
statement), each room contributing its part.

Every method has an async twin with an `a` prefix and the same parameters; the protocols
give them by running the sync method in a worker thread, and stores with native async I/O
override them. The records are importable from here (`interlock.checkpoint.base`) as before.
"""

from __future__ import annotations

from abc import ABC

from interlock.checkpoint._assistants.protocol import (
    AssistantChange,
    AssistantQuery,
    Assistants,
    StoredAssistant,
)
from interlock.checkpoint._audit.protocol import AuditEntry, AuditLog, AuditPage, new_audit_id
from interlock.checkpoint._checkpoints.protocol import (
    CheckpointRecord,
    CheckpointStore,
    SnapshotPolicy,
    StoredCheckpoint,
    TaskWrites,
    Write,
)
from interlock.checkpoint._crons.protocol import CronFire, CronJob, CronQuery, Crons
from interlock.checkpoint._events.protocol import TERMINAL_EVENTS, EventLog, RunEvent, RunLog
from interlock.checkpoint._grants.protocol import Grant, Grants
from interlock.checkpoint._interrupts.protocol import (
    InterruptIndex,
    InterruptPage,
    InterruptRecord,
    InterruptStatus,
    decision_action,
    escalation_detail,
)
from interlock.checkpoint._items.protocol import Items, ItemWrite, StoredItem
from interlock.checkpoint._runs.protocol import (
    RunKind,
    RunQueue,
    RunRecord,
    RunStatus,
    StrandedThread,
)
from interlock.checkpoint._threads.protocol import ThreadAudit, ThreadInfo, Threads
from interlock.checkpoint._threads.search import ThreadQuery, ThreadSearch
from interlock.checkpoint._versions.protocol import GraphVersion, GraphVersions
from interlock.checkpoint._votes.protocol import VoteOutcome, VoteRecord, Votes
from interlock.checkpoint._workers.protocol import WorkerVersion, WorkerVersions

__all__ = [
    "TERMINAL_EVENTS",
    "AssistantChange",
    "AssistantQuery",
    "Assistants",
    "AuditEntry",
    "AuditLog",
    "AuditPage",
    "BaseSaver",
    "CheckpointRecord",
    "CheckpointStore",
    "CronFire",
    "CronJob",
    "CronQuery",
    "Crons",
    "EventLog",
    "Grant",
    "Grants",
    "GraphVersion",
    "GraphVersions",
    "InterruptIndex",
    "InterruptPage",
    "InterruptRecord",
    "InterruptStatus",
    "ItemWrite",
    "Items",
    "RunEvent",
    "RunKind",
    "RunLog",
    "RunQueue",
    "RunRecord",
    "RunStatus",
    "SnapshotPolicy",
    "StoredAssistant",
    "StoredCheckpoint",
    "StoredItem",
    "StrandedThread",
    "TaskWrites",
    "ThreadAudit",
    "ThreadInfo",
    "ThreadQuery",
    "ThreadSearch",
    "Threads",
    "VoteOutcome",
    "VoteRecord",
    "Votes",
    "WorkerVersion",
    "WorkerVersions",
    "Write",
    "decision_action",
    "escalation_detail",
    "new_audit_id",
]


class BaseSaver(
    CheckpointStore,
    InterruptIndex,
    AuditLog,
    Threads,
    ThreadSearch,
    RunQueue,
    EventLog,
    Votes,
    GraphVersions,
    Grants,
    WorkerVersions,
    Items,
    Assistants,
    Crons,
    ABC,
):
    """The store protocol: every concept's methods (see the module docstring). Subclasses
    implement the sync methods, usually by composing each room's half; async twins come free.

    Errors: `SerializationError` before anything is written; `ResumeConflict` /
    `ResumeError` from `resolve_interrupts`; `StoreUnavailable` when the database is down;
    `ResumeConflict` when `put_checkpoint`'s compare-and-swap fails, or when task writes
    name a checkpoint that is not stored.
    """

    def ping(self, timeout: float = 1.0) -> None:
        """Raise `StoreUnavailable` unless the store answers within `timeout` seconds; for
        readiness probes. The default (a store in this process) always answers."""

    @property
    def reachable(self) -> bool:
        """False while the store knows its database is unreachable (no I/O). The default:
        always True."""
        return True

    def close(self) -> None:
        """Release connections. The default does nothing."""

    def __enter__(self) -> BaseSaver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
