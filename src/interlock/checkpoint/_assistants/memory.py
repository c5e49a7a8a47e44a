"""Assistants in Python structures: a mixin of `InMemorySaver`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from interlock.checkpoint import serde
from interlock.checkpoint._assistants.protocol import (
    AssistantChange,
    AssistantQuery,
    SortField,
    SortOrder,
    StoredAssistant,
    assistant_detail,
    contains,
    sort_key,
)
from interlock.checkpoint._audit.audited import AuditedMemory
from interlock.checkpoint._time import utc_now

__all__ = ["MemoryAssistants"]


@dataclass(frozen=True, slots=True)
class _Kept:
    """An assistant or a version, its JSON fields serialised (as the SQL stores keep them):
    an unstorable value fails at write time, and callers cannot change stored values
    through objects they hold."""

    record: StoredAssistant
    """Without its JSON fields."""
    config: str
    context: str
    metadata: str

    @classmethod
    def of(cls, record: StoredAssistant) -> _Kept:
        where = f"assistant {record.assistant_id!r}"
        texts = [serde.dumps(dict(m), where) for m in (record.config, record.context)]
        meta = serde.dumps(dict(record.metadata), where)
        bare = replace(record, config={}, context={}, metadata={})
        return cls(bare, texts[0], texts[1], meta)

    def read(self) -> StoredAssistant:
        return replace(
            self.record,
            config=serde.loads(self.config),
            context=serde.loads(self.context),
            metadata=serde.loads(self.metadata),
        )


class MemoryAssistants(AuditedMemory):
    """Assistants in dicts under the saver's lock; each change audited in the same
    critical section."""

    def _init_assistants(self) -> None:
        self._assistants: dict[str, _Kept] = {}
        self._assistant_versions: dict[str, dict[int, _Kept]] = {}

    def create_assistant(
        self,
        assistant_id: str,
        *,
        graph_id: str,
        name: str,
        description: str | None = None,
        config: Mapping[str, Any],
        context: Mapping[str, Any],
        metadata: Mapping[str, Any],
        actor: str | None,
    ) -> tuple[StoredAssistant, bool]:
        """Keep a new assistant as version 1, once per id (audited)."""
        now = utc_now()
        record = StoredAssistant(
            assistant_id=assistant_id,
            graph_id=graph_id,
            name=name,
            description=description,
            config=config,
            context=context,
            metadata=metadata,
            created_at=now,
            updated_at=now,
        )
        kept = _Kept.of(record)
        with self._lock:
            existing = self._assistants.get(assistant_id)
            if existing is not None:
                return existing.read(), False
            self._assistants[assistant_id] = kept
            self._assistant_versions[assistant_id] = {1: kept}
            self._audited(None, None, "assistant.created", actor, assistant_detail(record))
        return kept.read(), True

    def get_assistant(self, assistant_id: str) -> StoredAssistant | None:
        """One assistant, or None."""
        with self._lock:
            kept = self._assistants.get(assistant_id)
        return None if kept is None else kept.read()

    def update_assistant(
        self, assistant_id: str, change: AssistantChange, *, actor: str | None
    ) -> StoredAssistant | None:
        """The next version, made current (audited)."""
        with self._lock:
            kept = self._assistants.get(assistant_id)
            if kept is None:
                return None
            versions = self._assistant_versions[assistant_id]
            now = utc_now()
            new = change.applied(kept.read(), max(versions) + 1, now)
            made = _Kept.of(new)
            versions[new.version] = _Kept.of(replace(new, created_at=now))
            self._assistants[assistant_id] = made
            self._audited(None, None, "assistant.updated", actor, assistant_detail(new))
        return made.read()

    def set_assistant_version(
        self, assistant_id: str, version: int, *, actor: str | None
    ) -> StoredAssistant | None:
        """Make a version current again (audited)."""
        with self._lock:
            kept = self._assistants.get(assistant_id)
            chosen = self._assistant_versions.get(assistant_id, {}).get(version)
            if kept is None or chosen is None:
                return None
            old = chosen.read()
            current = kept.read()
            now = utc_now()
            new = replace(old, created_at=current.created_at, updated_at=now)
            made = _Kept.of(new)
            self._assistants[assistant_id] = made
            self._audited(None, None, "assistant.version_set", actor, assistant_detail(new))
        return made.read()

    def delete_assistant(self, assistant_id: str, *, actor: str | None) -> bool:
        """Delete it and its versions (audited)."""
        with self._lock:
            kept = self._assistants.pop(assistant_id, None)
            if kept is None:
                return False
            self._assistant_versions.pop(assistant_id, None)
            record = kept.record
            detail = {
                "assistant_id": assistant_id,
                "graph_id": record.graph_id,
                "version": record.version,
            }
            self._audited(None, None, "assistant.deleted", actor, detail)
        return True

    def list_assistant_versions(
        self,
        assistant_id: str,
        *,
        metadata: Mapping[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> list[StoredAssistant]:
        """Versions newest first, filtered and paged."""
        with self._lock:
            kept = list(self._assistant_versions.get(assistant_id, {}).values())
        found = [k.read() for k in sorted(kept, key=lambda k: k.record.version, reverse=True)]
        found = [v for v in found if not metadata or contains(v.metadata, metadata)]
        return found[offset : offset + max(limit, 0)]

    def _assistants_matching(self, query: AssistantQuery) -> list[StoredAssistant]:
        with self._lock:
            kept = list(self._assistants.values())
        return [a for a in (k.read() for k in kept) if query.matches(a)]

    def search_assistants(
        self,
        query: AssistantQuery,
        *,
        sort_by: SortField = "created_at",
        sort_order: SortOrder = "desc",
        limit: int = 10,
        offset: int = 0,
    ) -> list[StoredAssistant]:
        """Matches in order, paged."""
        found = self._assistants_matching(query)
        found.sort(key=lambda a: sort_key(a, sort_by), reverse=sort_order == "desc")
        return found[offset : offset + max(limit, 0)]

    def count_assistants(self, query: AssistantQuery) -> int:
        """How many match."""
        return len(self._assistants_matching(query))
