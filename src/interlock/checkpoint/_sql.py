"""`SqlSaver`: the store protocol in SQL, written once for SQLite and PostgreSQL.

It composes each room's SQL half (checkpoints, the interrupt index, the audit log, threads,
the run queue, the run event log) over `SqlCore` (connections, statement rendering,
migrations). Subclasses supply the `Dialect` and the connections; `PostgresSaver` also
replaces some writes with its rooms' one-statement versions. Every statement here is shared.
"""

from __future__ import annotations

from interlock.checkpoint._assistants.sql import SqlAssistants
from interlock.checkpoint._audit.sql import SqlAuditLog
from interlock.checkpoint._checkpoints.chain import RowStats
from interlock.checkpoint._checkpoints.sql import SqlCheckpoints
from interlock.checkpoint._crons.sql import SqlCrons
from interlock.checkpoint._events.sql import SqlEventLog
from interlock.checkpoint._grants.sql import SqlGrants
from interlock.checkpoint._interrupts.sql import SqlInterrupts
from interlock.checkpoint._items.sql import SqlItems
from interlock.checkpoint._runs.sql import SqlRunQueue
from interlock.checkpoint._sql_dialect import Dialect
from interlock.checkpoint._threads.sql import SqlThreads
from interlock.checkpoint._versions.sql import SqlGraphVersions
from interlock.checkpoint._votes.sql import SqlVotes
from interlock.checkpoint._workers.sql import SqlWorkerVersions
from interlock.checkpoint.base import BaseSaver, SnapshotPolicy

__all__ = ["Dialect", "SqlSaver"]


class SqlSaver(
    SqlCheckpoints,
    SqlInterrupts,
    SqlAuditLog,
    SqlThreads,
    SqlRunQueue,
    SqlEventLog,
    SqlVotes,
    SqlGraphVersions,
    SqlGrants,
    SqlWorkerVersions,
    SqlItems,
    SqlAssistants,
    SqlCrons,
    BaseSaver,
):
    """A store over a SQL database; see the module docstring."""

    def __init__(self, *, snapshot_policy: SnapshotPolicy | None = None) -> None:
        self.policy = snapshot_policy or SnapshotPolicy()
        self._stats: dict[tuple[str, str, str], RowStats] = {}
        self._sql_cache: dict[str, str] = {}
