"""Standing grants in Python structures: a mixin of `InMemorySaver`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from interlock.checkpoint import serde
from interlock.checkpoint._audit.audited import AuditedMemory
from interlock.checkpoint._grants.protocol import Grant, grant_detail

__all__ = ["MemoryGrants"]


class MemoryGrants(AuditedMemory):
    """Grants in a dict under the saver's lock; each change audited in the same critical
    section."""

    def _init_grants(self) -> None:
        self._grants: dict[str, Grant] = {}
        self._grant_uses: set[tuple[str, str]] = set()
        """(grant id, call id) of every covered call."""

    def add_grant(self, grant: Grant) -> Grant:
        """Keep a new grant (audited)."""
        detail = serde.dumps(grant_detail(grant), "grant")
        with self._lock:
            if grant.grant_id in self._grants:
                raise ValueError(f"grant {grant.grant_id!r} exists")
            self._grants[grant.grant_id] = grant
            self._log(None, grant.interrupt_id, "grant.created", grant.granted_by, detail)
        return grant

    def get_grant(self, grant_id: str) -> Grant | None:
        """One grant by id."""
        with self._lock:
            return self._grants.get(grant_id)

    def list_grants(
        self, *, agent: str | None = None, tool: str | None = None, active_at: datetime | None
    ) -> tuple[Grant, ...]:
        """Grants oldest first, filtered."""
        with self._lock:
            found = list(self._grants.values())
        return tuple(
            g
            for g in sorted(found, key=lambda g: (g.created_at, g.grant_id))
            if (agent is None or g.agent == agent)
            and (tool is None or g.tool == tool)
            and (active_at is None or g.active(active_at))
        )

    def revoke_grant(self, grant_id: str, *, revoked_by: str) -> Grant | None:
        """Revoke once (audited)."""
        with self._lock:
            grant = self._grants.get(grant_id)
            if grant is None or grant.revoked_at is not None:
                return grant
            grant = replace(grant, revoked_at=datetime.now(UTC), revoked_by=revoked_by)
            self._grants[grant_id] = grant
            detail = {"grant_id": grant_id}
            self._audited(None, grant.interrupt_id, "grant.revoked", revoked_by, detail)
        return grant

    def use_grant(
        self, grant_id: str, *, call_id: str, thread_id: str | None, now: datetime
    ) -> bool:
        """Spend one use on `call_id`, once."""
        with self._lock:
            if (grant_id, call_id) in self._grant_uses:
                return True
            grant = self._grants.get(grant_id)
            if grant is None or not grant.active(now):
                return False
            if grant.uses_left is not None:
                self._grants[grant_id] = replace(grant, uses_left=grant.uses_left - 1)
            self._grant_uses.add((grant_id, call_id))
            detail = {"grant_id": grant_id, "tool": grant.tool, "call_id": call_id}
            self._audited(thread_id, None, "grant.used", grant.granted_by, detail)
        return True
