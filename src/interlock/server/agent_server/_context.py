"""What every Agent Server route shares: the store, the agents, the rules of the service,
and the thread look-ups the routes make (existence, owner, metadata, graph)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from interlock.checkpoint.base import BaseSaver, ThreadQuery
from interlock.graph import CompiledStateGraph
from interlock.server._errors import ApiError
from interlock.server._operations import graph_of, plausible_id, record_audit, record_made
from interlock.server.agent_server._assistant import Resolved, resolve
from interlock.server.auth import Principal

__all__ = ["METADATA_RUN", "Context"]

METADATA_RUN = "thread-metadata"
"""The thread log's entry for metadata changes (`PATCH /threads/{id}`, runs tagging their
thread): a history of them; the store's `threads.metadata` holds the current metadata."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """The service the routes act for."""

    saver: BaseSaver
    registry: Mapping[str, CompiledStateGraph]
    allow_self_approval: bool
    may_see: Callable[[Principal, str], bool]
    wake_workers: Callable[[], None]
    formats: Mapping[str, str]
    """Graph name -> how its requests are shown (`"agent_inbox"`; default: as asked)."""
    lists_for: Callable[[Principal], str | None]
    """Whose threads a caller's searches list: a person's name (only the threads they
    created, the rule `may_see` applies) or None (every thread)."""

    def fmt(self, thread_id: str) -> str | None:
        """How the thread's requests are shown (its graph's format)."""
        if not self.formats:
            return None
        found = self.graph(thread_id)
        return self.formats.get(found[0]) if found else None

    # ---- roles and threads ---------------------------------------------------------------

    def need(self, who: Principal, *roles: str) -> None:
        """403 unless `who` holds one of `roles`."""
        if not any(who.can(r) for r in roles):
            raise ApiError(403, "forbidden", f"{who.name} needs the role {' or '.join(roles)}")

    def created(self, thread_id: str) -> tuple[str | None, datetime | None, dict[str, Any]]:
        """Who created the thread over HTTP, when, and the metadata it was created with (from
        its first audit entry); `(None, None, {})` for a thread made otherwise."""
        first = self.saver.list_audit(thread_id=thread_id, after="", limit=1).items
        if not first or first[0].action != "thread.created":
            return None, None, {}
        entry = first[0]
        return entry.actor, entry.at, dict(entry.detail.get("metadata") or {})

    def exists(self, thread_id: str) -> bool:
        """Whether the thread exists: it has a checkpoint, or was created over HTTP and not
        deleted since."""
        if not plausible_id(thread_id):
            return False
        if self.saver.get_thread(thread_id) is not None:
            return True
        newest = self.saver.list_audit(thread_id=thread_id, limit=1).items
        if newest and newest[0].action == "thread.deleted":  # its id stays taken
            return False
        return self.created(thread_id)[0] is not None

    def visible(self, who: Principal, thread_id: str) -> None:
        """404 for a thread that does not exist or that `who` may not see."""
        if not self.exists(thread_id) or not self.may_see(who, thread_id):
            raise ApiError(404, "not_found", f"thread {thread_id!r} not found")

    def metadata(self, thread_id: str) -> dict[str, Any]:
        """The thread's metadata, as the store holds it for searches."""
        found = self.saver.search_threads(ThreadQuery(ids=(thread_id,)), limit=1)
        return dict(found[0].metadata) if found else {}

    def set_metadata(self, who: Principal, thread_id: str, metadata: dict[str, Any]) -> None:
        """Record the thread's new metadata (audited as `thread.updated`; kept in the thread
        log too, as before the store held it)."""
        self.saver.set_thread_metadata(thread_id, metadata)
        self.saver.append_events(thread_id, METADATA_RUN, [("thread.metadata", metadata)])
        record_made(self.saver, who, "thread.updated", thread_id, detail={"metadata": metadata})

    def graph(self, thread_id: str) -> tuple[str, CompiledStateGraph] | None:
        """The registered graph that runs the thread, if it is known yet."""
        try:
            return graph_of(self.saver, self.registry, thread_id)
        except ApiError:
            meta = self.metadata(thread_id)
            name = meta.get("graph_id")
            if isinstance(name, str) and name in self.registry:
                return name, self.registry[name]
            if len(self.registry) == 1:
                return next(iter(self.registry.items()))
            return None

    def assistant(self, assistant_id: str) -> Resolved:
        """The assistant an id (or a graph name) names, with its graph; 404 otherwise."""
        return resolve(self.saver, self.registry, assistant_id)

    def new_thread(
        self,
        who: Principal,
        thread_id: str | None,
        metadata: dict[str, Any],
        *,
        if_exists: str = "raise",
    ) -> tuple[str, bool]:
        """Create a thread (audited `thread.created`, with its agent and metadata) as
        `POST /v1/threads` does: one winner for one id. Returns `(id, created)`; an existing
        id is 409 unless `if_exists="do_nothing"`."""
        thread_id = thread_id or str(uuid.uuid4())
        if not plausible_id(thread_id):
            raise ApiError(422, "invalid_request", "thread_id must be printable text")
        claim = f"create:{uuid.uuid4().hex}"
        if not self.saver.acquire_thread(thread_id, claim, ttl=30.0):
            if if_exists == "do_nothing":
                return thread_id, False
            raise ApiError(409, "thread_exists", f"thread {thread_id!r} already exists")
        try:
            if (
                self.saver.get_checkpoint(thread_id) is not None
                or self.saver.list_audit(thread_id=thread_id, after="", limit=1).items
            ):
                if if_exists == "do_nothing":
                    return thread_id, False
                raise ApiError(409, "thread_exists", f"thread {thread_id!r} already exists")
            name = metadata.get("graph_id")
            if name not in self.registry:
                name = next(iter(self.registry)) if len(self.registry) == 1 else None
            detail = {"agent": name, "metadata": metadata, "via": "agent_server"}
            record_audit(self.saver, who, "thread.created", thread_id, detail=detail)
            self.saver.set_thread_metadata(thread_id, metadata)
        finally:
            self.saver.release_thread(thread_id, claim)
        return thread_id, True
