"""Assistants in the store protocol: the records, the pure rules the store halves share
(matching a search, its order, applying a change), and the abstract methods.

An assistant names a registered graph (`graph_id`) with a configuration: `config` (a
RunnableConfig: `configurable`, `recursion_limit`, ...), `context` (the runtime context) and
`metadata`, plus a `name` and a `description`. It is versioned as LangGraph's Agent Server
versions assistants: creating one makes version 1; each update makes the next version
(one more than the highest given so far) from the current one and makes it current;
`set_assistant_version` makes an older version current again (its fields become the
assistant's) without making a new one. Each change writes an audit entry in the same
transaction (`assistant.created`, `assistant.updated`, `assistant.version_set`,
`assistant.deleted`; no thread). Callers (the Agent Server routes) check graphs, roles and
the shape of `config`; the store keeps what it is given.

The default assistant of each registered graph is not stored: the service derives it from
the graph (read-only).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from interlock.checkpoint._async import to_thread
from interlock.checkpoint._threads.search import tag

__all__ = [
    "SORT_FIELDS",
    "AssistantChange",
    "AssistantQuery",
    "Assistants",
    "SortField",
    "SortOrder",
    "StoredAssistant",
    "assistant_detail",
    "contains",
    "fold",
    "sort_key",
]

SortField = Literal["assistant_id", "graph_id", "name", "created_at", "updated_at"]
SortOrder = Literal["asc", "desc"]
SORT_FIELDS: tuple[str, ...] = ("assistant_id", "graph_id", "name", "created_at", "updated_at")


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredAssistant:
    """An assistant as stored: its current version's fields. A version listed by
    `list_assistant_versions` is one too, with that version's fields (its `created_at` and
    `updated_at` both when the version was made)."""

    assistant_id: str
    graph_id: str
    """The registered graph it runs."""
    name: str
    description: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    """Its RunnableConfig (JSON): merged under each run's own config."""
    context: Mapping[str, Any] = field(default_factory=dict)
    """Its runtime context (JSON): merged under each run's own context."""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    version: int = 1
    """The current version (the newest unless an older one was made current again)."""
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class AssistantChange:
    """An update: each field given replaces the current one, except `metadata`, whose
    top-level keys are merged over the current metadata (as LangGraph merges them). None:
    kept."""

    graph_id: str | None = None
    config: Mapping[str, Any] | None = None
    context: Mapping[str, Any] | None = None
    metadata: Mapping[str, Any] | None = None
    name: str | None = None
    description: str | None = None

    def applied(self, current: StoredAssistant, version: int, now: datetime) -> StoredAssistant:
        """The assistant once this change made `version` of it at `now`."""
        return replace(
            current,
            graph_id=current.graph_id if self.graph_id is None else self.graph_id,
            config=dict(current.config if self.config is None else self.config),
            context=dict(current.context if self.context is None else self.context),
            metadata={**current.metadata, **(self.metadata or {})},
            name=current.name if self.name is None else self.name,
            description=current.description if self.description is None else self.description,
            version=version,
            updated_at=now,
        )


def _same(a: Any, b: Any) -> bool:
    """JSON equality (numbers by value, `true` is not `1`), as the metadata index spells it."""
    return tag("", a) == tag("", b)


def contains(superset: Mapping[str, Any], subset: Mapping[str, Any]) -> bool:
    """Whether `superset` holds every pair of `subset`, an object value containing the
    filter's object (recursively), any other value equal (PostgreSQL's `@>` on objects,
    as LangGraph filters metadata; a list must be equal).

    Example:
        >>> contains({"team": "x", "n": {"a": 1, "b": 2}}, {"n": {"a": 1}})
        True
        >>> contains({"n": 1}, {"n": True})
        False
    """
    for key, want in subset.items():
        if key not in superset:
            return False
        have = superset[key]
        if isinstance(want, Mapping) and isinstance(have, Mapping):
            if not contains(have, want):
                return False
        elif not _same(have, want):
            return False
    return True


@dataclass(frozen=True, slots=True, kw_only=True)
class AssistantQuery:
    """What a search or count matches (every filter given)."""

    graph_id: str | None = None
    name: str | None = None
    """A case-insensitive part of the name."""
    metadata: Mapping[str, Any] | None = None
    """Pairs the metadata contains (`contains`)."""

    def matches(self, assistant: StoredAssistant) -> bool:
        """Whether `assistant` passes every filter."""
        return (
            (self.graph_id is None or assistant.graph_id == self.graph_id)
            and (self.name is None or self.name.lower() in assistant.name.lower())
            and (not self.metadata or contains(assistant.metadata, self.metadata))
        )

    @property
    def indexed(self) -> list[tuple[str, Any]]:
        """The metadata pairs an index entry can match whole (not objects, which match by
        containment)."""
        return [(k, v) for k, v in (self.metadata or {}).items() if not isinstance(v, Mapping)]

    @property
    def checked(self) -> bool:
        """Whether some filter is checked row by row (a name, an object in `metadata`)."""
        return self.name is not None or len(self.indexed) != len(self.metadata or {})


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold(text: str) -> str:
    """`text` with its ASCII letters lowered: how names and graph ids are ordered (SQL's
    `lower()` on both databases, with byte order)."""
    return text.translate(_ASCII_LOWER)


def sort_key(assistant: StoredAssistant, sort_by: str) -> tuple[Any, str]:
    """The order of a search by `sort_by` (one of `SORT_FIELDS`), ties by id: names and
    graph ids without regard to ASCII case, as LangGraph sorts them."""
    value: Any = getattr(assistant, sort_by)
    if sort_by in ("name", "graph_id"):
        value = fold(value)
    return value, assistant.assistant_id


def assistant_detail(assistant: StoredAssistant) -> dict[str, Any]:
    """The audit detail of a change: the version it made current, whole."""
    return {
        "assistant_id": assistant.assistant_id,
        "graph_id": assistant.graph_id,
        "version": assistant.version,
        "name": assistant.name,
        "description": assistant.description,
        "config": dict(assistant.config),
        "context": dict(assistant.context),
        "metadata": dict(assistant.metadata),
    }


class Assistants(ABC):
    """Assistants and their versions (see the module docstring)."""

    @abstractmethod
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
        """Keep a new assistant as its version 1 (audited `assistant.created` by `actor`,
        same transaction) and return it with True. An id that exists: the stored assistant
        and False, nothing written (of two racing creations one is True). `SerializationError`
        (nothing written) for a value that cannot be stored."""

    @abstractmethod
    def get_assistant(self, assistant_id: str) -> StoredAssistant | None:
        """One assistant (its current version's fields), or None."""

    @abstractmethod
    def update_assistant(
        self, assistant_id: str, change: AssistantChange, *, actor: str | None
    ) -> StoredAssistant | None:
        """Make the next version from the current one with `change` applied and make it
        current (audited `assistant.updated`, same transaction); None: no such assistant.
        Racing updates each make their own version, one after the other."""

    @abstractmethod
    def set_assistant_version(
        self, assistant_id: str, version: int, *, actor: str | None
    ) -> StoredAssistant | None:
        """Make an existing version current: its fields become the assistant's, no version
        is made (audited `assistant.version_set`); None: no such assistant or version."""

    @abstractmethod
    def delete_assistant(self, assistant_id: str, *, actor: str | None) -> bool:
        """Delete the assistant and every version of it (audited `assistant.deleted`); False:
        there was none."""

    @abstractmethod
    def list_assistant_versions(
        self,
        assistant_id: str,
        *,
        metadata: Mapping[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> list[StoredAssistant]:
        """The assistant's versions whose metadata contains `metadata`, newest version
        first, `offset` skipped, at most `limit` (none for an unknown assistant)."""

    @abstractmethod
    def search_assistants(
        self,
        query: AssistantQuery,
        *,
        sort_by: SortField = "created_at",
        sort_order: SortOrder = "desc",
        limit: int = 10,
        offset: int = 0,
    ) -> list[StoredAssistant]:
        """The assistants `query` matches, in `sort_key` order (`sort_order`), `offset`
        skipped, at most `limit`."""

    @abstractmethod
    def count_assistants(self, query: AssistantQuery) -> int:
        """How many assistants `query` matches."""

    async def acreate_assistant(
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
        """Async twin of `create_assistant`."""
        return await to_thread(
            self.create_assistant,
            assistant_id,
            graph_id=graph_id,
            name=name,
            description=description,
            config=config,
            context=context,
            metadata=metadata,
            actor=actor,
        )

    async def aget_assistant(self, assistant_id: str) -> StoredAssistant | None:
        """Async twin of `get_assistant`."""
        return await to_thread(self.get_assistant, assistant_id)

    async def aupdate_assistant(
        self, assistant_id: str, change: AssistantChange, *, actor: str | None
    ) -> StoredAssistant | None:
        """Async twin of `update_assistant`."""
        return await to_thread(self.update_assistant, assistant_id, change, actor=actor)

    async def aset_assistant_version(
        self, assistant_id: str, version: int, *, actor: str | None
    ) -> StoredAssistant | None:
        """Async twin of `set_assistant_version`."""
        return await to_thread(self.set_assistant_version, assistant_id, version, actor=actor)

    async def adelete_assistant(self, assistant_id: str, *, actor: str | None) -> bool:
        """Async twin of `delete_assistant`."""
        return await to_thread(self.delete_assistant, assistant_id, actor=actor)

    async def alist_assistant_versions(
        self,
        assistant_id: str,
        *,
        metadata: Mapping[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> list[StoredAssistant]:
        """Async twin of `list_assistant_versions`."""
        return await to_thread(
            self.list_assistant_versions,
            assistant_id,
            metadata=metadata,
            limit=limit,
            offset=offset,
        )

    async def asearch_assistants(
        self,
        query: AssistantQuery,
        *,
        sort_by: SortField = "created_at",
        sort_order: SortOrder = "desc",
        limit: int = 10,
        offset: int = 0,
    ) -> list[StoredAssistant]:
        """Async twin of `search_assistants`."""
        return await to_thread(
            self.search_assistants,
            query,
            sort_by=sort_by,
            sort_order=sort_order,
            limit=limit,
            offset=offset,
        )

    async def acount_assistants(self, query: AssistantQuery) -> int:
        """Async twin of `count_assistants`."""
        return await to_thread(self.count_assistants, query)
