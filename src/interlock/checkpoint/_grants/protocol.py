"""Standing grants in the store protocol: records and abstract methods.

A grant lets a person's decision stand for later calls: agent `agent` may call tool `tool`
with arguments matching `match` without pausing, for `uses` more calls and/or until
`expires_at`. The store keeps grants, revokes them, and consumes a use exactly once per
tool call (`use_grant` is idempotent per `call_id`, so a node replayed after a restart does
not spend twice). Creating, revoking and using a grant each write an audit entry in the
same transaction (`grant.created`, `grant.revoked`, `grant.used`). Whether a call's
arguments match is decided by the agent (`interlock.agent.grants`), not by the store.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from interlock.checkpoint._async import to_thread

__all__ = ["Grant", "Grants", "grant_detail"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Grant:
    """A standing permission for one agent's one tool."""

    grant_id: str
    agent: str
    tool: str
    match: Mapping[str, Any] = field(default_factory=lambda: {"kind": "any"})
    """Which arguments it covers: `{"kind": "any"}`, `{"kind": "exact", "args": {...}}`
    (these keys with these values), `{"kind": "schema", "schema": {...}}` (a JSON schema)
    or `{"kind": "predicate", "name": "..."}` (registered with the agent)."""
    granted_by: str
    created_at: datetime
    expires_at: datetime | None = None
    """After this, the grant covers nothing (None: until revoked or used up)."""
    uses_left: int | None = None
    """Calls it may still cover (None: any number until it expires)."""
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    interrupt_id: str | None = None
    """The request whose decision created it, if any."""

    def active(self, now: datetime) -> bool:
        """Not revoked, not expired, not used up."""
        return (
            self.revoked_at is None
            and (self.expires_at is None or self.expires_at > now)
            and (self.uses_left is None or self.uses_left > 0)
        )


def grant_detail(grant: Grant) -> dict[str, Any]:
    """The audit detail of a grant's creation."""
    return {
        "grant_id": grant.grant_id,
        "agent": grant.agent,
        "tool": grant.tool,
        "match": dict(grant.match),
        "expires_at": None if grant.expires_at is None else grant.expires_at.isoformat(),
        "uses": grant.uses_left,
        "interrupt_id": grant.interrupt_id,
    }


class Grants(ABC):
    """Standing grants: keep, list, revoke, use exactly once per call."""

    @abstractmethod
    def add_grant(self, grant: Grant) -> Grant:
        """Keep a new grant (audited `grant.created`, same transaction)."""

    @abstractmethod
    def get_grant(self, grant_id: str) -> Grant | None:
        """One grant by id."""

    @abstractmethod
    def list_grants(
        self, *, agent: str | None = None, tool: str | None = None, active_at: datetime | None
    ) -> tuple[Grant, ...]:
        """Grants oldest first, of one agent / tool if given; with `active_at`, only those
        active then."""

    @abstractmethod
    def revoke_grant(self, grant_id: str, *, revoked_by: str) -> Grant | None:
        """Revoke (audited `grant.revoked`); the grant as now stored, None if there is no
        such grant. Revoking twice keeps the first revocation."""

    @abstractmethod
    def use_grant(
        self, grant_id: str, *, call_id: str, thread_id: str | None, now: datetime
    ) -> bool:
        """Spend one use of an active grant on tool call `call_id` (audited `grant.used`, same
        transaction); True if the grant covers the call. Exactly once: a call already
        covered by this grant is True again without spending; concurrent callers never
        spend more than `uses_left`."""

    async def ause_grant(
        self, grant_id: str, *, call_id: str, thread_id: str | None, now: datetime
    ) -> bool:
        """Async twin of `use_grant`."""
        return await to_thread(
            self.use_grant, grant_id, call_id=call_id, thread_id=thread_id, now=now
        )

    async def alist_grants(
        self, *, agent: str | None = None, tool: str | None = None, active_at: datetime | None
    ) -> tuple[Grant, ...]:
        """Async twin of `list_grants`."""
        return await to_thread(self.list_grants, agent=agent, tool=tool, active_at=active_at)
