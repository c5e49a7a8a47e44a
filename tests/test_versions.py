"""Paused runs survive deploys: a resume on changed code is checked, migrated or refused.

Each test pauses a thread under one version of a graph ("v1") and resumes it with another
compiled from changed code ("v2"), as a deploy between the question and the answer would.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any, TypedDict

import pytest

from interlock import END, START, Command, StateGraph, VersionChanged, interrupt, tool
from interlock.errors import ResumeConflict, ResumeError


class PayState(TypedDict, total=False):
    amount: int
    paid: str


class TotalState(TypedDict, total=False):
    total: int
    paid: str


CFG = {"configurable": {"thread_id": "t"}}


def _pay_graph(saver: Any, node: str = "pay", *, calls: list | None = None, **kw: Any) -> Any:
    def pay(state: dict[str, Any]) -> dict[str, Any]:
        answer = interrupt({"pay": state.get("amount", state.get("total"))})
        if calls is not None:
            calls.append(answer)
        return {"paid": f"{answer}:{state.get('amount', state.get('total'))}"}

    g = StateGraph(kw.pop("schema", PayState))
    g.add_node(node, pay)
    g.add_edge(START, node)
    for extra in kw.pop("extra_nodes", ()):
        g.add_node(extra, lambda s: {})
        g.add_edge(extra, END)
    g.add_edge(node, END)
    migrations = kw.pop("migrations", {})
    for frm, (fn, nodes) in migrations.items():
        g.migrate(from_version=frm, nodes=nodes)(fn)
    return g.compile(checkpointer=saver, **kw)


def _pause(saver: Any, **kw: Any) -> tuple[Any, str]:
    v1 = _pay_graph(saver, **kw)
    (pending,) = v1.invoke({"amount": 5}, CFG)["__interrupt__"]
    return v1, pending.id


def test_a_renamed_node_is_refused_before_the_decision_is_recorded(saver: Any) -> None:
    v1, iid = _pause(saver)
    v2 = _pay_graph(saver, "charge")
    with pytest.raises(VersionChanged) as err:
        v2.invoke(Command(resume="yes"), CFG)
    assert "node `pay` was removed (and `charge` added)" in str(err.value)
    assert err.value.changes == ("node `pay` was removed (and `charge` added)",)
    assert (err.value.from_version, err.value.to_version) == (v1.version, v2.version)
    assert saver.get_interrupt(iid).status == "pending"  # still answerable
    assert v2.get_state(CFG).next == ("pay",)
    assert v1.invoke(Command(resume="yes"), CFG)["paid"] == "yes:5"  # after rollback


def test_a_removed_state_key_is_refused(saver: Any) -> None:
    v1, iid = _pause(saver)
    v2 = _pay_graph(saver, schema=TotalState)
    with pytest.raises(
        VersionChanged, match=r"state key `amount` was removed \(and `total` added\)"
    ):
        v2.invoke(Command(resume="yes"), CFG)
    assert saver.get_interrupt(iid).status == "pending"
    assert v1.invoke(Command(resume="ok"), CFG)["paid"] == "ok:5"


def _tool_graph(saver: Any, pay_tool: Any, **kw: Any) -> Any:
    def pay(state: PayState) -> dict[str, Any]:
        answer = interrupt({"tool": "pay", "args": {"amount": state["amount"]}})
        return {"paid": str(answer)}

    g = StateGraph(PayState)
    g.add_node("pay", pay)
    g.add_edge(START, "pay")
    return g.compile(checkpointer=saver, tools=[pay_tool], **kw)


@tool
def pay_v1(amount: int) -> str:
    """Pay an amount.

    Args:
        amount: in cents
    """
    return "paid"


@tool
def pay_v1_docs(amount: int) -> str:
    """Pay an amount of money to the supplier (reworded).

    Args:
        amount: how much, in cents
    """
    return "paid"


@tool
def pay_v2(amount: int, iban: str) -> str:
    """Pay an amount.

    Args:
        amount: in cents
        iban: the account
    """
    return "paid"


for _t in (pay_v1, pay_v1_docs, pay_v2):
    _t.name = "pay"


def test_a_new_required_tool_argument_is_refused(saver: Any) -> None:
    v1 = _tool_graph(saver, pay_v1)
    (pending,) = v1.invoke({"amount": 5}, CFG)["__interrupt__"]
    v2 = _tool_graph(saver, pay_v2)
    with pytest.raises(VersionChanged, match="tool `pay` argument `iban` is now required"):
        v2.invoke(Command(resume="yes"), CFG)
    assert saver.get_interrupt(pending.id).status == "pending"
    assert v1.invoke(Command(resume="yes"), CFG)["paid"] == "yes"


def test_a_docstring_edit_resumes_untouched(saver: Any) -> None:
    v1 = _tool_graph(saver, pay_v1)
    v1.invoke({"amount": 5}, CFG)
    v2 = _tool_graph(saver, pay_v1_docs)
    assert v2.version == v1.version  # descriptions are not part of the manifest
    assert v2.invoke(Command(resume="yes"), CFG)["paid"] == "yes"


def test_a_new_node_elsewhere_resumes_untouched(saver: Any) -> None:
    v1, _ = _pause(saver)
    v2 = _pay_graph(saver, extra_nodes=["audit"])
    assert v2.version != v1.version
    out = v2.invoke(Command(resume="yes"), CFG)
    assert out["paid"] == "yes:5"
    assert v2.get_state(CFG).metadata["graph_version"] == v2.version


def test_a_migration_moves_a_renamed_node_and_applies_once(saver: Any) -> None:
    v1, iid = _pause(saver)
    calls: list[Any] = []
    v2 = _pay_graph(
        saver,
        "charge",
        calls=calls,
        on_version_change="migrate",
        migrations={v1.version: (lambda s: s, {"pay": "charge"})},
    )
    assert v2.invoke(Command(resume="yes"), CFG)["paid"] == "yes:5"
    assert calls == ["yes"]  # the node ran once, with the decision
    history = list(v2.get_state_history(CFG))
    migrated = [s for s in history if s.metadata.get("source") == "migrate"]
    assert len(migrated) == 1
    assert migrated[0].metadata["migrated_from"] == v1.version
    assert migrated[0].next == ("charge",)
    assert saver.get_interrupt(iid).status == "resolved"
    with pytest.raises((ResumeConflict, VersionChanged)):
        v2.invoke(Command(resume="again"), CFG)
    assert calls == ["yes"]


def test_a_migration_of_a_removed_state_key(saver: Any) -> None:
    v1, _ = _pause(saver)

    def amount_to_total(values: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in values.items() if k != "amount"}
        out["total"] = values["amount"] * 100
        return out

    assert amount_to_total({"amount": 2}) == {"total": 200}  # testable on its own
    v2 = _pay_graph(
        saver,
        schema=TotalState,
        on_version_change="migrate",
        migrations={v1.version: (amount_to_total, {})},
    )
    asked = v2.invoke(Command(resume="yes"), CFG)
    # the migrated node asks to pay 500 where "yes" answered 5: the answer is bound to its
    # question, so it is not carried over; the new question waits for its own decision
    [again] = asked["__interrupt__"]
    assert again.value == {"pay": 500} and asked["total"] == 500 and "paid" not in asked
    assert saver.get_interrupt(again.id).status == "pending"
    out = v2.invoke(Command(resume="yes"), CFG)
    assert out == {"total": 500, "paid": "yes:500"}
    assert v2.get_state(CFG).values == {"total": 500, "paid": "yes:500"}
    # a fresh graph (no cached state) folds the stored migration the same way
    again = _pay_graph(saver, schema=TotalState)
    assert again.get_state(CFG).values == {"total": 500, "paid": "yes:500"}


def test_migrate_without_a_migration_for_the_old_version_refuses(saver: Any) -> None:
    _, iid = _pause(saver)
    v2 = _pay_graph(saver, "charge", on_version_change="migrate")
    with pytest.raises(VersionChanged, match="no migration is registered from version"):
        v2.invoke(Command(resume="yes"), CFG)
    assert saver.get_interrupt(iid).status == "pending"


def test_resume_policy_is_an_explicit_opt_in(saver: Any) -> None:
    _pause(saver)
    v2 = _pay_graph(saver, schema=TotalState, on_version_change="resume")
    assert v2.invoke(Command(resume="yes"), CFG)["paid"] == "yes:5"


def test_an_explicit_version_is_trusted(saver: Any) -> None:
    _pause(saver, version="2026-12-06")
    v2 = _pay_graph(saver, schema=TotalState, version="2026-12-06")
    assert v2.version == "2026-12-06"
    assert v2.invoke(Command(resume="yes"), CFG)["paid"] == "yes:5"


def test_a_decision_recorded_under_v1_is_not_applied_under_v2(saver: Any) -> None:
    v1, iid = _pause(saver)
    # v1 recorded the decision, then its process stopped before applying it
    saver.resolve_interrupts("t", {iid: "yes"}, decided_by="ann")
    v2 = _pay_graph(saver, "charge")
    with pytest.raises(VersionChanged, match="node `pay` was removed"):
        v2.invoke(None, CFG)  # a v2 worker takes the run over
    record = saver.get_interrupt(iid)
    assert record.status == "pending" and record.resume is None
    reopened = record.metadata["reopened"]
    assert "node `pay` was removed" in reopened["reason"]
    assert (reopened["decision"], reopened["decided_by"]) == ("yes", "ann")
    actions = [e.action for e in saver.list_audit(thread_id="t").items]
    assert "approval.reopened" in actions
    assert v1.invoke(Command(resume="yes again"), CFG)["paid"] == "yes again:5"


def test_requests_and_checkpoints_record_the_version(saver: Any) -> None:
    v1, iid = _pause(saver)
    assert saver.get_interrupt(iid).metadata["graph_version"] == v1.version
    assert v1.get_state(CFG).metadata["graph_version"] == v1.version
    stored = saver.get_graph_version(v1.name, v1.version)
    assert stored is not None and stored.manifest == v1.manifest
    assert stored.manifest["nodes"] == ["pay"]


def test_a_checkpoint_from_before_versions_resumes_with_an_audit_note(saver: Any) -> None:
    old = _pay_graph(saver)
    old.spec = replace(old.spec, version=None)  # as interlock wrote it before versions
    old.invoke({"amount": 5}, CFG)
    assert "graph_version" not in old.get_state(CFG).metadata
    v2 = _pay_graph(saver)
    assert v2.invoke(Command(resume="yes"), CFG)["paid"] == "yes:5"
    notes = [e for e in saver.list_audit(thread_id="t").items if e.action == "version.unrecorded"]
    assert len(notes) == 1 and notes[0].detail["version"] == v2.version


def test_async_resume_is_checked_the_same_way(saver: Any) -> None:
    v1, iid = _pause(saver)
    v2 = _pay_graph(saver, "charge")

    async def go() -> None:
        with pytest.raises(VersionChanged, match="node `pay` was removed"):
            await v2.ainvoke(Command(resume="yes"), CFG)
        assert (await v1.ainvoke(Command(resume="yes"), CFG))["paid"] == "yes:5"

    asyncio.run(go())
    assert saver.get_interrupt(iid).status == "resolved"


def test_bad_policy_and_version_are_refused_at_compile() -> None:
    from interlock.errors import GraphError

    with pytest.raises(GraphError, match="on_version_change"):
        _pay_graph(None, on_version_change="ignore")
    with pytest.raises(GraphError, match="version"):
        _pay_graph(None, version="")


def test_a_finished_thread_is_not_checked(saver: Any) -> None:
    v1, _ = _pause(saver)
    v1.invoke(Command(resume="yes"), CFG)
    v2 = _pay_graph(saver, "charge")
    with pytest.raises(ResumeError, match="has finished") as err:
        v2.invoke(None, CFG)
    assert not isinstance(err.value, VersionChanged)
    (pending,) = v2.invoke({"amount": 3}, CFG)["__interrupt__"]  # a new turn, new code
    assert saver.get_interrupt(pending.id).metadata["graph_version"] == v2.version


def test_resume_policy_cannot_go_on_at_a_removed_node(saver: Any) -> None:
    _, iid = _pause(saver)
    v2 = _pay_graph(saver, "charge", on_version_change="resume")
    with pytest.raises(VersionChanged, match="node `pay`, where the run paused, is not in"):
        v2.invoke(Command(resume="yes"), CFG)
    assert saver.get_interrupt(iid).status == "pending"


def test_a_migration_that_cannot_apply_refuses_and_reopens_a_recorded_decision(
    saver: Any,
) -> None:
    v1, iid = _pause(saver)
    saver.resolve_interrupts("t", {iid: "yes"}, decided_by="ann")
    v2 = _pay_graph(
        saver,
        schema=TotalState,
        on_version_change="migrate",
        migrations={v1.version: (lambda s: {**s, "cost": 1}, {})},
    )
    with pytest.raises(VersionChanged, match="the migration returned unknown state key `cost`"):
        v2.invoke(None, CFG)
    record = saver.get_interrupt(iid)
    assert record.status == "pending" and "`cost`" in record.metadata["reopened"]["reason"]
