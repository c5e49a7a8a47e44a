"""Child process for crash tests: runs a graph and gets killed with SIGKILL mid-way.

Usage: python -m tests._crash_child SPEC MODE THREAD
  MODE=slow-node : the node reports "started" on stdout and then blocks forever
  MODE=many-steps: a loop graph commits a checkpoint per step, reporting each step
"""

from __future__ import annotations

import operator
import sys
import threading
from typing import Annotated, TypedDict

from interlock import END, START, StateGraph
from tests._race import open_saver


class Counter(TypedDict, total=False):
    log: Annotated[list[int], operator.add]
    done: bool


def slow_graph(saver: object, block: bool) -> object:
    def prepare(state: Counter) -> dict:
        return {"log": [0]}

    def slow_tool(state: Counter) -> dict:
        if block:
            print("started", flush=True)
            threading.Event().wait()  # never set: the parent kills us here
        return {"log": [1], "done": True}

    g = StateGraph(Counter)
    g.add_node("prepare", prepare)
    g.add_node("slow_tool", slow_tool)
    g.add_edge(START, "prepare")
    g.add_edge("prepare", "slow_tool")
    return g.compile(checkpointer=saver)


def loop_graph(saver: object, steps: int) -> object:
    def tick(state: Counter) -> dict:
        n = len(state.get("log") or [])
        print(f"step {n}", flush=True)
        return {"log": [n]}

    g = StateGraph(Counter)
    g.add_node("tick", tick)
    g.add_edge(START, "tick")
    g.add_conditional_edges("tick", lambda s: END if len(s["log"]) >= steps else "tick")
    return g.compile(checkpointer=saver)


def main() -> None:
    spec, mode, thread = sys.argv[1:4]
    saver = open_saver(spec)
    config = {"configurable": {"thread_id": thread}, "recursion_limit": 100_000}
    if mode == "slow-node":
        graph = slow_graph(saver, block=True)
        graph.lease_ttl = float(sys.argv[4])  # type: ignore[attr-defined]
        graph.invoke({"log": []}, config)  # type: ignore[attr-defined]
    elif mode == "many-steps":
        graph = loop_graph(saver, steps=int(sys.argv[4]))
        graph.lease_ttl = float(sys.argv[5])  # type: ignore[attr-defined]
        graph.invoke({"log": []}, config)  # type: ignore[attr-defined]
    print("finished", flush=True)


if __name__ == "__main__":
    main()
