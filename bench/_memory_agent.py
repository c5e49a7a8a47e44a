"""The agent of bench/server_memory.py, served by `interlock serve
bench._memory_agent:make`: it asks a question, and once answered asks again, up to
`ROUNDS` times (no model: what the server holds is the service's, not a model client's)."""

from __future__ import annotations

from typing import Any, TypedDict

import interlock as il

ROUNDS = 1_000
"""Questions a thread asks before it finishes (more than the bench decides)."""


class Asking(TypedDict, total=False):
    order: str
    n: int


def ask(state: Asking) -> dict[str, Any]:
    answer = il.interrupt({"action": "refund", "order": state["order"], "round": state.get("n", 0)})
    return {
        "n": state.get("n", 0) + 1,
        "order": f"{state['order'][:40]}{'+' if answer else '-'}"[:44],
    }


def again(state: Asking) -> str:
    return "ask" if state.get("n", 0) < ROUNDS else il.END


def make(checkpointer: Any) -> Any:
    """The agent over the store `interlock serve --db` chose."""
    g = il.StateGraph(Asking)
    g.add_node("ask", ask)
    g.add_edge(il.START, "ask")
    g.add_conditional_edges("ask", again)
    return g.compile(checkpointer=checkpointer, name="asker")
