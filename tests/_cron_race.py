"""Multi-process cron race: N processes, each with its own scheduler on one store, tick at
the same moment with the same clock. Started with `spawn`: each imports this module."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TypedDict

import interlock as il
from interlock.server import create_app
from tests._race import open_saver


class Count(TypedDict, total=False):
    n: int


def registry(saver: Any) -> dict[str, Any]:
    g = il.StateGraph(Count)
    g.add_node("step", lambda s: {"n": s.get("n", 0) + 1})
    g.add_edge(il.START, "step")
    return {"counter": g.compile(checkpointer=saver, name="counter")}


def ticker(spec: str, start: str, rounds: int, barrier: Any, results: Any) -> None:
    """Tick at `start`, then an hour later each round, in step with the other processes;
    report each fire's (round, cron, outcome)."""
    saver = open_saver(spec)
    try:
        scheduler = create_app(registry(saver), workers=0).state.crons
        now = datetime.fromisoformat(start)
        for r in range(rounds):
            barrier.wait()
            try:
                for fire in scheduler.tick(now + timedelta(hours=r)):
                    results.put((r, fire.cron_id, fire.outcome))
            except Exception as exc:
                results.put((r, "", f"error: {type(exc).__name__}: {exc}"))
            results.put((r, "", "tick"))
    finally:
        saver.close()
