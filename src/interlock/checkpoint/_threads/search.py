"""Thread search in the store protocol: a thread's metadata, and the threads that match a
query (metadata key/value pairs, ids, owner, a pending request, a live lease), sorted, a
page at a time — what LangGraph's `POST /threads/search` asks.

Each top-level metadata pair is indexed as a tag (`metadata_tags`): the key and the value's
canonical JSON (sorted keys, no spaces, whole floats as integers), or a digest of either when
it is long. Two values match when their tags are equal, so `1` matches `1.0` but not `true`,
and nested objects match only whole (not by containment).

How the SQL stores read a page (`SqlThreadSearch`): every filter that an index can list
(a metadata pair, the owner, a pending request, a live lease, ids) is counted up to a cap:
`RANGE_CAP`, or `RANGE_PER_ROW * (offset + limit)` for a later page, at most
`RANGE_CAP_MAX`. When the smallest such count is under the cap, its range is read and the
page sorted from it (fewer rows than the cap). Otherwise, and when no filter can be listed
(no filter at all, `leased=False`), the sort order's index is walked — the idle threads'
(`threads.waiting = 0`) for `pending=False`, the owner's for one person's threads — and
each thread checked with index probes until the page is full: every filter then matches at
least the cap, so the walk reads about `(offset + limit) * threads / matching` rows.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from interlock.checkpoint._async import to_thread
from interlock.checkpoint._threads.protocol import ThreadInfo

__all__ = [
    "RANGE_CAP",
    "RANGE_CAP_MAX",
    "RANGE_PER_ROW",
    "TAG_TEXT_LIMIT",
    "ThreadQuery",
    "ThreadSearch",
    "metadata_tags",
    "tag",
]

RANGE_CAP = 2_000
"""A filter whose index lists fewer threads is read whole and its page sorted; one listing
more makes the search walk the sort order instead (see the module docstring)..."""

RANGE_PER_ROW = 50
"""... or fewer than this many times `offset + limit` (a later page: a walk reads about
`(offset + limit) * threads / matching` rows), ..."""

RANGE_CAP_MAX = 50_000
"""... up to this many."""

TAG_TEXT_LIMIT = 200
"""A tag's key or value longer than this (in characters) is stored as its digest."""

SortKey = Literal["updated_at", "created_at", "thread_id"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ThreadQuery:
    """Which threads a search or count wants, and their order. Every filter given must hold.

    Example:
        >>> ThreadQuery(metadata={"graph_id": "orders"}, pending=True).sort_by
        'updated_at'
    """

    metadata: Mapping[str, Any] = field(default_factory=dict)
    """Top-level key/value pairs the thread's metadata must hold (each value equal)."""
    ids: tuple[str, ...] | None = None
    """Only these threads."""
    owner: str | None = None
    """Only the threads this person created (`set_thread_owner`)."""
    pending: bool | None = None
    """True: threads with a pending request; False: threads without one."""
    leased: bool | None = None
    """True: threads a run holds (a live lease); False: threads no run holds."""
    sort_by: SortKey = "updated_at"
    descending: bool = True


def _normal(value: Any) -> Any:
    """`value` with whole floats as integers (JSON does not tell 1 from 1.0)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): _normal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normal(v) for v in value]
    return value


_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def _short(text: str) -> str:
    if len(text) <= TAG_TEXT_LIMIT:
        return text
    return "#sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def tag(key: str, value: Any) -> tuple[str, str]:
    """The index entry of one metadata pair: `(key, canonical JSON of value)`, each shortened
    to a digest when long.

    Example:
        >>> tag("user", "ada"), tag("n", 2.0) == tag("n", 2), tag("n", True) == tag("n", 1)
        (('user', '"ada"'), True, False)
    """
    return _short(str(key)), _short(_canonical(_normal(value)))


def metadata_tags(metadata: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The index entries of a thread's metadata, one per top-level key."""
    return sorted({tag(k, v) for k, v in metadata.items()})


class ThreadSearch(ABC):
    """Thread metadata and search (see the module docstring)."""

    @abstractmethod
    def set_thread_metadata(self, thread_id: str, metadata: Mapping[str, Any]) -> None:
        """Replace the thread's metadata (JSON), which searches match; the thread need not
        have a checkpoint yet (it is then listed, as idle, from now on)."""

    @abstractmethod
    def search_threads(
        self, query: ThreadQuery, *, limit: int = 10, offset: int = 0
    ) -> tuple[ThreadInfo, ...]:
        """The threads `query` matches, in its order, from `offset`: those with a checkpoint,
        and those created over the service or given metadata before their first one (a
        thread without a checkpoint reads as idle, `head_id` None)."""

    @abstractmethod
    def count_threads(self, query: ThreadQuery) -> int:
        """How many threads `query` matches (reads every match)."""

    async def aset_thread_metadata(self, thread_id: str, metadata: Mapping[str, Any]) -> None:
        """Async twin of `set_thread_metadata`."""
        await to_thread(self.set_thread_metadata, thread_id, metadata)

    async def asearch_threads(
        self, query: ThreadQuery, *, limit: int = 10, offset: int = 0
    ) -> tuple[ThreadInfo, ...]:
        """Async twin of `search_threads`."""
        return await to_thread(self.search_threads, query, limit=limit, offset=offset)

    async def acount_threads(self, query: ThreadQuery) -> int:
        """Async twin of `count_threads`."""
        return await to_thread(self.count_threads, query)
