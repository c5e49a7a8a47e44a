"""Multi-process race helpers: N processes resume the same interrupts at the same moment.

Workers are started with the `spawn` method and import this module, so the graph they build
is the same graph the parent built.
"""

from __future__ import annotations

import os
from typing import Any, TypedDict

from interlock import START, Command, ResumeConflict, StateGraph, interrupt


class S(TypedDict, total=False):
    answer: Any


def open_saver(spec: str) -> Any:
    """`sqlite:/path/file.db` or `postgres:<dsn>|<schema>`."""
    kind, _, rest = spec.partition(":")
    if kind == "sqlite":
        from interlock.checkpoint.sqlite import SqliteSaver

        return SqliteSaver(rest)
    if kind == "postgres":
        from interlock.checkpoint.postgres import PostgresSaver

        dsn, _, schema = rest.partition("|")
        return PostgresSaver(dsn, schema=schema)
    raise ValueError(spec)


def build_graph(saver: Any, effects_path: str) -> Any:
    """A graph whose node records a side effect once the approval comes back."""

    def pay(state: S) -> dict:
        answer = interrupt({"action": "pay"})
        fd = os.open(effects_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{state.get('answer')}|{answer}\n".encode())
        finally:
            os.close(fd)
        return {"answer": answer}

    g = StateGraph(S)
    g.add_node("pay", pay)
    g.add_edge(START, "pay")
    return g.compile(checkpointer=saver)


def worker(spec: str, effects_path: str, rounds: int, barrier: Any, results: Any) -> None:
    """Resume thread `round-<r>` for each round, in step with the other workers."""
    saver = open_saver(spec)
    graph = build_graph(saver, effects_path)
    me = os.getpid()
    for r in range(rounds):
        barrier.wait()
        config = {"configurable": {"thread_id": f"round-{r}"}}
        try:
            graph.invoke(Command(resume=f"{me}"), config)
            results.put((r, "ok"))
        except ResumeConflict:
            results.put((r, "conflict"))
        except Exception as exc:
            results.put((r, f"error: {type(exc).__name__}: {exc}"))
    saver.close()
