"""What the memory rooms whose changes are audited share: the saver's lock, under which a
change and its audit entry are one critical section (the memory twin of the SQL rooms'
one transaction), and the audit room's `_log` (`MemoryAuditLog`), which writes the entry."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from interlock.checkpoint import serde

__all__ = ["AuditedMemory"]


class AuditedMemory:
    """A mixin of `InMemorySaver`'s rooms: `_log` an entry under `_lock`, in the change's
    critical section.

    A detail that might not serialise (it holds values the caller gave) is serialised
    before the lock is taken and passed to `_log` as text, so that a failure writes
    nothing; `_audited` serialises under the lock a detail made of values the change has
    already stored (which serialise)."""

    _lock: threading.RLock

    if TYPE_CHECKING:

        def _log(
            self,
            thread_id: str | None,
            interrupt_id: str | None,
            action: str,
            actor: Any,
            detail: str,
        ) -> None: ...

    def _audited(
        self,
        thread_id: str | None,
        interrupt_id: str | None,
        action: str,
        actor: Any,
        detail: Mapping[str, Any],
    ) -> None:
        """Under the saver's lock: `_log` an entry whose detail is of stored values."""
        self._log(thread_id, interrupt_id, action, actor, serde.dumps(dict(detail), action))
