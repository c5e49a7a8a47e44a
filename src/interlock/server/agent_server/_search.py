"""`POST /threads/search` and `/threads/count` as store queries: the body's `status`,
`metadata`, `ids` and the caller's visibility become a `ThreadQuery`, which the store
answers from index ranges (`checkpoint._threads.search`), sorted and paged in SQL.

`values` cannot be indexed (a thread's values are folded from its checkpoints): a search
with `values` reads, in the sort order, the state of the threads the other filters match,
at most `SCAN_LIMIT` of them, and keeps those whose values match.

Statuses: `interrupted` is a thread with a pending request; `busy` one a run holds (and
nothing pending); `idle` neither (a finished thread is idle); `error` is never a thread's
status here. `sort_by="status"` reads each status's threads in turn (alphabetical order),
counting the ones before the page.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any, Literal

from interlock.checkpoint.base import ThreadInfo, ThreadQuery
from interlock.server._operations import run_config
from interlock.server._plain import plain
from interlock.server.agent_server._context import Context
from interlock.server.auth import Principal

__all__ = ["SCAN_LIMIT", "count_matching", "search_matching", "values_of"]

SCAN_LIMIT = 10_000
"""Threads whose values a search with `values` reads at most."""

_PAGE = 500
"""Threads read per store call while scanning for `values`."""

_STATUS: Mapping[str, tuple[bool, bool | None]] = {
    "busy": (False, True),
    "idle": (False, False),
    "interrupted": (True, None),
}
"""Each status as the store's filters `(pending, leased)` (`error`: none)."""


def _with_status(query: ThreadQuery, status: str) -> ThreadQuery:
    pending, leased = _STATUS[status]
    return replace(query, pending=pending, leased=leased)


Status = Literal["idle", "busy", "interrupted", "error"]


def _queries(
    ctx: Context,
    who: Principal,
    *,
    status: Status | None,
    metadata: Mapping[str, Any] | None,
    ids: list[str] | None,
    sort_by: str,
    sort_order: str,
) -> list[ThreadQuery]:
    """The store queries whose results, one after the other, are the search's order."""
    base = ThreadQuery(
        metadata=dict(metadata or {}),
        ids=None if ids is None else tuple(dict.fromkeys(ids)),
        owner=ctx.lists_for(who),
        sort_by="updated_at" if sort_by in ("status", "state_updated_at") else sort_by,  # type: ignore[arg-type]
        descending=sort_order == "desc",
    )
    if sort_by == "status":
        names = sorted(_STATUS, reverse=sort_order == "desc")
        return [_with_status(base, s) for s in names if status in (None, s)]
    if status is None:
        return [base]
    if status not in _STATUS:
        return []
    return [_with_status(base, status)]


def _each(ctx: Context, queries: list[ThreadQuery]) -> Iterator[ThreadInfo]:
    """Every thread of `queries`, in order, read a store page at a time."""
    for query in queries:
        offset = 0
        while True:
            page = ctx.saver.search_threads(query, limit=_PAGE, offset=offset)
            yield from page
            if len(page) < _PAGE:
                break
            offset += _PAGE


def values_of(ctx: Context, info: ThreadInfo) -> Any:
    """The thread's state values (None before its first checkpoint), read by its graph:
    the one the summary names (`info.graph`), else the one `ctx.graph` finds."""
    if info.head_id is None:
        return None
    named = [g for g in ctx.registry.values() if info.graph and g.name == info.graph]
    found = named[0] if len(named) == 1 else (ctx.graph(info.thread_id) or (None, None))[1]
    return None if found is None else found.get_state(run_config(info.thread_id)).values


def _values_match(ctx: Context, info: ThreadInfo, wanted: Mapping[str, Any]) -> bool:
    have = plain(values_of(ctx, info))
    if not isinstance(have, Mapping):
        return False
    return all(k in have and have[k] == v for k, v in wanted.items())


def _scanned(
    ctx: Context, queries: list[ThreadQuery], wanted: Mapping[str, Any]
) -> Iterator[ThreadInfo]:
    """The threads of `queries` whose values match `wanted`, among the first `SCAN_LIMIT`."""
    for n, info in enumerate(_each(ctx, queries)):
        if n >= SCAN_LIMIT:
            return
        if _values_match(ctx, info, wanted):
            yield info


def search_matching(
    ctx: Context,
    who: Principal,
    *,
    limit: int,
    offset: int,
    values: Mapping[str, Any] | None = None,
    **filters: Any,
) -> list[ThreadInfo]:
    """One page of the threads the search's filters match, in its order."""
    queries = _queries(ctx, who, **filters)
    if values:  # read in order, checked here
        out = []
        for n, info in enumerate(_scanned(ctx, queries, values)):
            if n >= offset + limit:
                break
            if n >= offset:
                out.append(info)
        return out
    page: list[ThreadInfo] = []
    for query in queries:  # one query, or one per status for sort_by="status"
        if len(queries) > 1:
            before = ctx.saver.count_threads(query)
            if offset >= before:
                offset -= before
                continue
        page += ctx.saver.search_threads(query, limit=limit - len(page), offset=offset)
        offset = 0
        if len(page) >= limit:
            break
    return page


def count_matching(
    ctx: Context, who: Principal, *, values: Mapping[str, Any] | None = None, **filters: Any
) -> int:
    """How many threads the filters match (with `values`: among the first `SCAN_LIMIT`)."""
    queries = _queries(ctx, who, **filters)
    if values:
        return sum(1 for _ in _scanned(ctx, queries, values))
    return sum(ctx.saver.count_threads(q) for q in queries)
