"""`GET /v1/versions`: each agent's graph version, the threads paused on each version, and
how many live processes run each (their workers take the runs handed back to it).

Built from the store's graph versions (`list_graph_versions`), its pending requests, which
record the version they were asked under (at most `SCAN` requests are read), and the
versions live worker processes advertise (`list_worker_versions`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from interlock.checkpoint.base import BaseSaver
from interlock.graph import CompiledStateGraph

__all__ = ["SCAN", "versions_view"]

SCAN = 10_000
"""At most this many pending requests are read."""


def _paused(saver: BaseSaver) -> dict[tuple[str, str | None], dict[str, int]]:
    """(graph, version) -> {thread id: pending requests}, from the pending requests."""
    out: dict[tuple[str, str | None], dict[str, int]] = {}
    cursor, seen = None, 0
    while seen < SCAN:
        page = saver.list_interrupts(status="pending", limit=500, cursor=cursor)
        for r in page.items:
            key = (str(r.metadata.get("graph")), r.metadata.get("graph_version"))
            threads = out.setdefault(key, {})
            threads[r.thread_id] = threads.get(r.thread_id, 0) + 1
        seen += len(page.items)
        cursor = page.next_cursor
        if not cursor:
            break
    return out


def versions_view(
    saver: BaseSaver, registry: Mapping[str, CompiledStateGraph], draining: Collection[str]
) -> dict[str, Any]:
    """Per agent: the version this server runs, whether it drains, and every version known
    (stored, or recorded by a pending request) with the threads paused on it and the number
    of live processes whose workers run it."""
    paused = _paused(saver)
    live: dict[tuple[str, str], set[str]] = {}
    for advert in saver.list_worker_versions():
        live.setdefault((advert.graph, advert.version_id), set()).add(advert.owner)
    agents: dict[str, Any] = {}
    for name, graph in sorted(registry.items()):
        stored = {v.version_id: v for v in saver.list_graph_versions(graph.name)}
        ids: list[str | None] = list(stored)
        ids += [v for (g, v), _ in paused.items() if g == graph.name and v not in stored]
        if graph.version not in ids:  # not run on this store yet
            ids.append(graph.version)
        rows = []
        for vid in ids:
            threads = paused.get((graph.name, vid), {})
            known = stored.get(vid) if vid is not None else None
            rows.append(
                {
                    "version": vid,
                    "current": vid == graph.version,
                    "first_seen": known.created_at.isoformat() if known else None,
                    "paused_threads": sorted(threads),
                    "pending": sum(threads.values()),
                    "live_processes": len(live.get((graph.name, vid), ())) if vid else 0,
                }
            )
        agents[name] = {
            "graph": graph.name,
            "version": graph.version,
            "draining": name in draining,
            "versions": rows,
        }
    return {"agents": agents}
