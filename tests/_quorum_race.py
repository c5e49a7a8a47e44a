"""Multi-process quorum race: one approval is in, then several people vote at the same
moment from their own processes; the vote that completes the quorum resumes the run.

Workers are started with the `spawn` method and import this module."""

from __future__ import annotations

import os
from typing import Any, TypedDict

from interlock import START, Command, ResumeConflict, StateGraph, interrupt
from tests._race import open_saver


class S(TypedDict, total=False):
    answer: Any


def build_graph(saver: Any, effects_path: str) -> Any:
    """A 2-of-4 request; the side effect after it appends a line to `effects_path`."""

    def pay(state: S) -> dict:
        answer = interrupt({"action": "pay"}, approvers=["ada", "bob", "cy", "dan"], quorum=2)
        fd = os.open(effects_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{answer}\n".encode())
        finally:
            os.close(fd)
        return {"answer": answer}

    g = StateGraph(S)
    g.add_node("pay", pay)
    g.add_edge(START, "pay")
    return g.compile(checkpointer=saver)


def voter(spec: str, effects_path: str, name: str, rounds: int, barrier: Any, results: Any) -> None:
    """Vote as `name` on thread `round-<r>` for each round, in step with the others."""
    saver = open_saver(spec)
    graph = build_graph(saver, effects_path)
    for r in range(rounds):
        barrier.wait()
        config = {"configurable": {"thread_id": f"round-{r}", "user_id": name}}
        try:
            out = graph.invoke(Command(resume="approve"), config)
            results.put((r, name, "waiting" if "__interrupt__" in out else "resumed"))
        except ResumeConflict:
            results.put((r, name, "conflict"))
        except Exception as exc:
            results.put((r, name, f"error: {type(exc).__name__}: {exc}"))
    saver.close()
