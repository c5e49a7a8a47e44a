"""A run paused inside a subgraph: the subgraph's own checkpoints are compared too.

The parent graph pauses in node `review`, whose subgraph `approval` asks in its node
`confirm`; v2 changes the subgraph. A breaking change is refused before the decision is
recorded, naming the subgraph and its node (the request stays pending and answerable); a
decision recorded under v1 is returned to pending; a compatible change resumes; and the
parent's version changes with its subgraphs' (a process running the parent runs exactly
those subgraphs).
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest

from interlock import END, START, Command, StateGraph, VersionChanged, interrupt

CFG = {"configurable": {"thread_id": "t"}}


class S(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    answer: Any


def approval(node: str = "confirm", *, extra: str | None = None, **kw: Any) -> Any:
    """The subgraph: one node that asks."""

    def ask(state: S) -> dict[str, Any]:
        answer = interrupt({"ok?": "ship it"})
        return {"log": [f"{node}:{answer}"], "answer": answer}

    g = StateGraph(S)
    g.add_node(node, ask)
    g.add_edge(START, node)
    if extra is not None:  # a node elsewhere: a compatible change
        g.add_node(extra, lambda s: {})
        g.add_edge(extra, END)
    return g.compile(name="approval", **kw)


def parent(saver: Any, sub: Any, *, host: str = "review") -> Any:
    g = StateGraph(S)
    g.add_node(host, sub)
    g.add_node("ship", lambda s: {"log": ["shipped"]})
    g.add_edge(START, host)
    g.add_edge(host, "ship")
    return g.compile(checkpointer=saver, name="orders")


def _pause(saver: Any) -> tuple[Any, str]:
    v1 = parent(saver, approval())
    (pending,) = v1.invoke({"log": []}, CFG)["__interrupt__"]
    return v1, pending.id


def test_the_parent_version_covers_its_subgraphs(saver: Any) -> None:
    v1 = parent(saver, approval())
    v2 = parent(saver, approval("ask"))
    assert v1.manifest["nodes"] == v2.manifest["nodes"]
    assert v1.manifest["subgraphs"]["review"]["graph"] == "approval"
    assert v1.version != v2.version
    assert parent(saver, approval()).version == v1.version
    assert "subgraphs" not in approval().manifest  # no subgraph nodes, no key
    v1.invoke({"log": []}, CFG)  # the subgraph's manifest is stored with the parent's
    sub = v1.spec.nodes["review"].subgraph
    stored = saver.get_graph_version("approval", sub.version)
    assert stored is not None and stored.manifest["nodes"] == ["confirm"]


def test_a_renamed_node_in_a_paused_subgraph_is_refused_naming_both(saver: Any, run) -> None:
    v1, iid = _pause(saver)
    v2 = parent(saver, approval("ask"))
    with pytest.raises(VersionChanged) as refused:
        run.invoke(v2, Command(resume="yes"), CFG)
    change = "subgraph `approval` (node `review`): node `confirm` was removed (and `ask` added)"
    assert refused.value.changes == (change,)
    assert change in str(refused.value) and "stays pending" in str(refused.value)
    record = saver.get_interrupt(iid)
    assert record.status == "pending" and record.resume is None
    done = run.invoke(v1, Command(resume="yes"), CFG)  # rolled back: answered
    assert done["log"] == ["confirm:yes", "shipped"]


def test_a_decision_recorded_in_a_subgraph_under_v1_is_returned_to_pending(saver: Any) -> None:
    v1, iid = _pause(saver)
    saver.resolve_interrupts("t", {iid: "yes"}, decided_by="ann")  # then v1's process died
    v2 = parent(saver, approval("ask"))
    with pytest.raises(VersionChanged, match="subgraph `approval` \\(node `review`\\)"):
        v2.invoke(None, CFG)  # a v2 worker takes the run over
    record = saver.get_interrupt(iid)
    assert record.status == "pending"
    assert (record.metadata["reopened"]["decision"], record.metadata["reopened"]["decided_by"]) == (
        "yes",
        "ann",
    )
    assert "node `confirm` was removed" in record.metadata["reopened"]["reason"]
    assert v1.invoke(Command(resume="again"), CFG)["log"] == ["confirm:again", "shipped"]


def test_a_compatible_subgraph_change_resumes(saver: Any) -> None:
    _pause(saver)
    v2 = parent(saver, approval(extra="audit"))
    assert v2.invoke(Command(resume="yes"), CFG)["log"] == ["confirm:yes", "shipped"]


def test_the_subgraphs_resume_policy_goes_on_unless_its_node_is_gone(saver: Any) -> None:
    pay = {"type": "object", "properties": {"amount": {"type": "integer"}}}
    v1 = parent(saver, approval(tools={"pay": pay}))
    (pending,) = v1.invoke({"log": []}, CFG)["__interrupt__"]
    renamed = parent(saver, approval("ask", on_version_change="resume"))
    with pytest.raises(VersionChanged, match="node `confirm`, where the run paused, is not in"):
        renamed.invoke(Command(resume="yes"), CFG)
    stricter = {**pay, "properties": {**pay["properties"], "iban": {}}, "required": ["iban"]}
    refusing = parent(saver, approval(tools={"pay": stricter}))
    with pytest.raises(VersionChanged, match="tool `pay` argument `iban` is now required"):
        refusing.invoke(Command(resume="yes"), CFG)
    assert saver.get_interrupt(pending.id).status == "pending"
    opted_in = parent(saver, approval(tools={"pay": stricter}, on_version_change="resume"))
    assert opted_in.invoke(Command(resume="yes"), CFG)["log"] == ["confirm:yes", "shipped"]


def test_a_node_that_no_longer_runs_a_subgraph_is_refused(saver: Any) -> None:
    _, iid = _pause(saver)
    g = StateGraph(S)
    g.add_node("review", lambda s: {"log": ["plain"]})
    g.add_node("ship", lambda s: {"log": ["shipped"]})
    g.add_edge(START, "review")
    g.add_edge("review", "ship")
    v2 = g.compile(checkpointer=saver, name="orders")
    with pytest.raises(VersionChanged, match="node `review` no longer runs a subgraph"):
        v2.invoke(Command(resume="yes"), CFG)
    assert saver.get_interrupt(iid).status == "pending"


def test_two_levels_down_the_message_names_the_path(saver: Any) -> None:
    def middle(inner: Any) -> Any:
        g = StateGraph(S)
        g.add_node("check", inner)
        g.add_edge(START, "check")
        return g.compile(name="compliance")

    v1 = parent(saver, middle(approval()))
    (pending,) = v1.invoke({"log": []}, CFG)["__interrupt__"]
    v2 = parent(saver, middle(approval("ask")))
    with pytest.raises(VersionChanged) as refused:
        v2.invoke(Command(resume="yes"), CFG)
    assert refused.value.changes == (
        "subgraph `approval` (node `check` of subgraph `compliance`): node `confirm` was "
        "removed (and `ask` added)",
    )
    assert saver.get_interrupt(pending.id).status == "pending"
    assert v1.invoke(Command(resume="yes"), CFG)["log"] == ["confirm:yes", "shipped"]
