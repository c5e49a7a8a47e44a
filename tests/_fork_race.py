"""Workers for `test_library_fork_review`: in each round one process forks a paused thread
from its first checkpoint while others decide the request the thread's head waits on (one
through the graph, which carries the decision out; one in the store only, as an approver's
decision lands). Started with `spawn`; they import this module to build the same graph."""

from __future__ import annotations

import operator
import os
from typing import Annotated, Any, TypedDict

import interlock as il
from interlock.errors import ResumeConflict, ThreadBusy
from tests._race import open_saver


class Doc(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    ok: Any


def build_graph(saver: Any, effects_path: str) -> Any:
    """draft -> review (asks) -> publish (appends `<thread>|<answer>` to `effects_path`)."""

    def publish(state: Doc, config: Any) -> Doc:
        line = f"{config['configurable']['thread_id']}|{state.get('ok')}\n"
        fd = os.open(effects_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
        return {"log": ["publish"]}

    g = il.StateGraph(Doc)
    g.add_node("draft", lambda s: {"log": ["draft"]})
    g.add_node("review", lambda s: {"ok": il.interrupt("publish?")})
    g.add_node("publish", publish)
    g.add_edge(il.START, "draft")
    g.add_edge("draft", "review")
    g.add_edge("review", "publish")
    return g.compile(checkpointer=saver)


def worker(
    role: str, spec: str, effects_path: str, rounds: list[dict[str, str]], barrier: Any, out: Any
) -> None:
    """Play `role` (`fork`, `graph` or `store`) in each round, in step with the others."""
    saver = open_saver(spec)
    graph = build_graph(saver, effects_path)
    for i, r in enumerate(rounds):
        barrier.wait()
        config = {"configurable": {"thread_id": r["thread"], "user_id": role}}
        try:
            if role == "fork":
                at = {"configurable": {**config["configurable"], "checkpoint_id": r["older"]}}
                graph.invoke(None, at)
            elif role == "graph":
                graph.invoke(il.Command(resume={r["request"]: "graph"}), config)
            else:
                saver.resolve_interrupts(r["thread"], {r["request"]: "store"}, decided_by=role)
            out.put((i, role, "ok"))
        except ThreadBusy:
            out.put((i, role, "busy"))
        except ResumeConflict:
            out.put((i, role, "conflict"))
        except Exception as exc:
            out.put((i, role, f"error: {type(exc).__name__}: {exc}"))
    saver.close()
