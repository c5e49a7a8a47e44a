"""N-of-M quorum with veto, and answers bound to the exact question, through the library
(`graph.invoke(Command(resume=...))` votes as `configurable.user_id`). Every test runs on
each store."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

import pytest

import interlock as il
from interlock import AIMessage, Command, GraphError, ResumeConflict, create_agent, tool
from interlock.agent.approval import ApprovalError
from interlock.agent.models.scripted import ScriptedChatModel
from interlock.errors import AlreadyVoted, InvalidResumeValue
from interlock.graph import _interrupt

PEOPLE = ["ada", "bob", "cy"]


class Pay(TypedDict, total=False):
    amount: int
    answer: Any


def pay_graph(saver: Any, ran: list[Any], asks: dict[str, Any] | None = None, **kw: Any) -> Any:
    """A node that asks to pay (the question is `asks["q"]` when given: code outside the
    state that can change between runs), then records the answer it was given."""
    lock = threading.Lock()

    def pay(state: Pay) -> dict:
        question = asks["q"] if asks is not None else {"pay": state["amount"]}
        answer = il.interrupt(question, **kw)
        with lock:
            ran.append(answer)
        return {"answer": answer}

    g = il.StateGraph(Pay)
    g.add_node("pay", pay)
    g.add_edge(il.START, "pay")
    return g.compile(checkpointer=saver, name="payer")


def as_user(thread: str, user: str, **extra: Any) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread, "user_id": user, **extra}}


def start(graph: Any, thread: str = "t") -> str:
    out = graph.invoke({"amount": 120}, as_user(thread, "req"))
    return str(out["__interrupt__"][0].id)


def test_two_of_three_the_second_approval_resumes_once(saver: Any) -> None:
    ran: list[Any] = []
    graph = pay_graph(saver, ran, approvers=PEOPLE, quorum=2)
    iid = start(graph)
    first = graph.invoke(Command(resume="yes"), as_user("t", "ada"))
    assert first["__interrupt__"][0].id == iid and ran == []  # still waiting: 1 of 2
    record = saver.get_interrupt(iid)
    assert record.status == "pending" and record.metadata["quorum"] == 2
    with pytest.raises(AlreadyVoted):  # one vote per person
        graph.invoke(Command(resume="yes"), as_user("t", "ada"))
    done = graph.invoke(Command(resume="yes"), as_user("t", "bob"))
    assert done["answer"] == "yes" and "__interrupt__" not in done
    assert ran == ["yes"]  # the side effect after the request ran once
    record = saver.get_interrupt(iid)
    assert record.status == "resolved" and record.decided_by == "bob"
    assert record.metadata["decision"]["by"] == "bob"
    assert record.metadata["decision"]["rule"] == PEOPLE
    assert len(record.metadata["decision"]["digest"]) == 64
    assert [(v.voter, v.vote) for v in saver.list_votes(iid)] == [
        ("ada", "approve"),
        ("bob", "approve"),
    ]
    with pytest.raises(ResumeConflict):
        graph.invoke(Command(resume="yes"), as_user("t", "cy"))
    assert ran == ["yes"]


def test_racing_votes_resume_the_run_exactly_once(saver: Any) -> None:
    ran: list[Any] = []
    graph = pay_graph(saver, ran, approvers=["ada", "bob", "cy", "dan"], quorum=2)
    iid = start(graph)
    barrier = threading.Barrier(4)
    outcomes: dict[str, str] = {}

    def vote(name: str) -> None:
        barrier.wait()
        try:
            out = graph.invoke(Command(resume="go"), as_user("t", name))
            outcomes[name] = "waiting" if "__interrupt__" in out else "resumed"
        except ResumeConflict:  # decided, or being decided by another vote right now
            outcomes[name] = "conflict"

    threads = [threading.Thread(target=vote, args=(n,)) for n in ["ada", "bob", "cy", "dan"]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    votes = saver.list_votes(iid)
    counted = [n for n, o in outcomes.items() if o != "conflict"]
    assert sorted(v.voter for v in votes) == sorted(counted)  # recorded iff answered
    assert list(outcomes.values()).count("resumed") <= 1
    while saver.get_interrupt(iid).status == "pending":  # the refused ones vote again
        name = next(n for n in ["ada", "bob", "cy", "dan"] if n not in {v.voter for v in votes})
        graph.invoke(Command(resume="go"), as_user("t", name))
        votes = saver.list_votes(iid)
    assert ran == ["go"]  # exactly once, whoever's vote completed it
    assert len(votes) == 2 and saver.get_interrupt(iid).decided_by == votes[1].voter


def test_any_reject_vetoes(saver: Any) -> None:
    ran: list[Any] = []
    graph = pay_graph(saver, ran, approvers=PEOPLE, quorum=3)
    iid = start(graph)
    graph.invoke(Command(resume={"approved": True}), as_user("t", "ada"))
    out = graph.invoke(Command(resume={"approved": False, "why": "no"}), as_user("t", "bob"))
    assert out["answer"] == {"approved": False, "why": "no"} and ran == [out["answer"]]
    record = saver.get_interrupt(iid)
    assert record.status == "resolved" and record.decided_by == "bob"
    assert [v.vote for v in saver.list_votes(iid)] == ["approve", "reject"]


def test_the_requester_never_counts_unless_self_approval_is_allowed(saver: Any) -> None:
    ran: list[Any] = []
    graph = pay_graph(saver, ran, approvers=["ada", "bob", "req"], quorum=2)
    iid = start(graph)
    with pytest.raises(ResumeConflict, match="may not vote"):
        graph.invoke(Command(resume="yes"), as_user("t", "req"))
    assert saver.list_votes(iid) == () and ran == []
    graph.invoke(Command(resume="yes"), as_user("t", "req", allow_self_approval=True))
    assert [v.voter for v in saver.list_votes(iid)] == ["req"]
    graph.invoke(Command(resume="yes"), as_user("t", "ada"))
    assert ran == ["yes"]


def test_a_vote_needs_a_voter(saver: Any) -> None:
    graph = pay_graph(saver, [], approvers=PEOPLE, quorum=2)
    iid = start(graph)
    with pytest.raises(il.ResumeError, match="user_id"):
        graph.invoke(Command(resume="yes"), {"configurable": {"thread_id": "t"}})
    assert saver.list_votes(iid) == ()


def test_a_rule_naming_fewer_people_than_the_quorum_is_refused(saver: Any) -> None:
    graph = pay_graph(saver, [], approvers=["ada", "req"], quorum=2)
    with pytest.raises(GraphError, match="quorum=2 needs 2 people"):
        graph.invoke({"amount": 1}, as_user("t", "req"))  # the requester does not count
    assert saver.list_interrupts().items == ()
    roles = pay_graph(saver, [], approvers=["role:approver"], quorum=5)
    assert "__interrupt__" in roles.invoke({"amount": 1}, as_user("t2", "req"))
    with pytest.raises(GraphError, match="positive int"):
        pay_graph(saver, [], quorum=0).invoke({"amount": 1}, as_user("t3", "req"))


def test_a_deadline_never_lowers_the_bar(saver: Any) -> None:
    ran: list[Any] = []
    graph = pay_graph(
        saver, ran, approvers=PEOPLE, quorum=2, deadline=timedelta(minutes=5), on_expiry="expired"
    )
    iid = start(graph)
    graph.invoke(Command(resume="yes"), as_user("t", "ada"))  # one vote of two
    expired = graph.expire_due(now=datetime.now(UTC) + timedelta(minutes=6))
    assert expired == [iid]
    record = saver.get_interrupt(iid)
    assert record.status == "expired" and ran == ["expired"]  # not passed with fewer


def test_a_vote_records_a_validity_window_and_a_late_run_reopens(
    saver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[Any] = []
    fail = [True]

    def pay(state: Pay) -> dict:
        answer = il.interrupt({"pay": state["amount"]}, approvers=PEOPLE, quorum=2)
        if fail[0]:  # the worker dies after the decision was recorded
            fail[0] = False
            raise RuntimeError("worker down")
        ran.append(answer)
        return {"answer": answer}

    g = il.StateGraph(Pay)
    g.add_node("pay", pay)
    g.add_edge(il.START, "pay")
    graph = g.compile(checkpointer=saver, name="payer")
    iid = start(graph)
    graph.invoke(Command(resume="yes"), as_user("t", "ada", valid_for=60))
    with pytest.raises(RuntimeError, match="worker down"):
        graph.invoke(Command(resume="yes"), as_user("t", "bob", valid_for=60))
    record = saver.get_interrupt(iid)
    assert record.status == "resolved" and "valid_until" in record.metadata["decision"]
    later = datetime.now(UTC) + timedelta(minutes=2)
    monkeypatch.setattr(_interrupt, "_now", lambda: later)
    out = graph.invoke(None, {"configurable": {"thread_id": "t"}})  # the run, recovered late
    assert out["__interrupt__"][0].id == iid and ran == []  # not carried out
    record = saver.get_interrupt(iid)
    assert record.status == "pending" and "valid_for" in record.metadata["reopened"]["reason"]
    assert "approval.reopened" in [e.action for e in saver.list_audit(interrupt_id=iid).items]
    graph.invoke(Command(resume="yes"), as_user("t", "ada"))  # votes start again
    assert saver.get_interrupt(iid).status == "pending"
    out = graph.invoke(Command(resume="yes"), as_user("t", "cy"))
    assert ran == ["yes"] and out["answer"] == "yes"


def test_a_stale_answer_is_not_applied_to_a_changed_question(saver: Any) -> None:
    ran: list[Any] = []
    asks = {"q": {"pay": 120, "to": "acme"}}
    graph = pay_graph(saver, ran, asks)
    iid = start(graph)
    asks["q"] = {"pay": 9000, "to": "acme"}  # the code now computes another question
    out = graph.invoke(Command(resume="yes"), as_user("t", "ada"))
    assert ran == []  # the answer to "pay 120" was not applied to "pay 9000"
    assert out["__interrupt__"][0].id == iid
    assert out["__interrupt__"][0].value == {"pay": 9000, "to": "acme"}
    record = saver.get_interrupt(iid)
    assert record.status == "pending" and record.value == {"pay": 9000, "to": "acme"}
    reopened = record.metadata["reopened"]
    assert "question changed" in reopened["reason"] and reopened["decision"] == "yes"
    [entry] = [
        e for e in saver.list_audit(interrupt_id=iid).items if e.action == "approval.reopened"
    ]
    assert entry.detail["previous_value"] == {"pay": 120, "to": "acme"}
    out = graph.invoke(Command(resume="yes to 9000"), as_user("t", "ada"))
    assert ran == ["yes to 9000"] and out["answer"] == "yes to 9000"


def test_the_same_question_keeps_its_answer(saver: Any) -> None:
    ran: list[Any] = []
    asks = {"q": {"b": 2, "a": 1}}
    graph = pay_graph(saver, ran, asks)
    start(graph)
    asks["q"] = {"a": 1, "b": 2}  # equal JSON, other key order: the same question
    assert graph.invoke(Command(resume="ok"), as_user("t", "ada"))["answer"] == "ok"
    assert ran == ["ok"]


# ---- the agent policy -----------------------------------------------------------------------

sent: list[dict[str, Any]] = []


@tool
def pay_invoice(vendor: str, amount: int) -> str:
    """Pay an invoice.

    Args:
        vendor: who is paid.
        amount: how much.
    """
    sent.append({"vendor": vendor, "amount": amount})
    return f"paid {amount} to {vendor}"


@tool
def refund(vendor: str, amount: int) -> str:
    """Refund a vendor.

    Args:
        vendor: who is refunded.
        amount: how much.
    """
    return "refunded"


def agent(saver: Any, **policy: Any) -> Any:
    call = {"name": "pay_invoice", "args": {"vendor": "acme", "amount": 100}, "id": "c1"}
    model = ScriptedChatModel([AIMessage(content="", tool_calls=[call]), AIMessage(content="done")])
    return create_agent(
        model,
        [pay_invoice, refund],
        checkpointer=saver,
        interrupt_on={"pay_invoice": {"approvers": PEOPLE, "quorum": 2, **policy}},
    )


def edit(amount: int) -> dict[str, Any]:
    return {
        "decisions": [
            {
                "type": "edit",
                "edited_action": {
                    "name": "pay_invoice",
                    "args": {"vendor": "acme", "amount": amount},
                },
            }
        ]
    }


def test_an_agent_edit_needs_its_own_approvals(saver: Any) -> None:
    sent.clear()
    graph = agent(saver)
    out = graph.invoke({"messages": [{"role": "user", "content": "pay acme"}]}, as_user("t", "req"))
    iid = out["__interrupt__"][0].id
    approve = {"decisions": [{"type": "approve"}]}
    graph.invoke(Command(resume=approve), as_user("t", "ada"))
    graph.invoke(Command(resume=edit(90)), as_user("t", "bob"))  # restarts the count
    assert saver.get_interrupt(iid).status == "pending" and sent == []
    graph.invoke(Command(resume=edit(80)), as_user("t", "cy"))  # other arguments: restart
    assert saver.get_interrupt(iid).status == "pending" and sent == []
    graph.invoke(Command(resume=edit(80)), as_user("t", "ada"))  # ada votes on the new one
    assert sent == [{"vendor": "acme", "amount": 80}]
    assert [v.vote for v in saver.list_votes(iid)] == ["approve", "edit", "edit", "edit"]


def test_an_agent_reject_vetoes_and_renaming_the_tool_is_refused(saver: Any) -> None:
    sent.clear()
    graph = agent(saver)
    out = graph.invoke({"messages": [{"role": "user", "content": "pay acme"}]}, as_user("t", "req"))
    iid = out["__interrupt__"][0].id
    renamed = {
        "decisions": [
            {
                "type": "edit",
                "edited_action": {"name": "refund", "args": {"vendor": "acme", "amount": 1}},
            }
        ]
    }
    with pytest.raises(InvalidResumeValue):  # an edit cannot escape to another tool's rule
        graph.invoke(Command(resume=renamed), as_user("t", "ada"))
    assert saver.list_votes(iid) == ()
    graph.invoke(Command(resume={"decisions": [{"type": "approve"}]}), as_user("t", "ada"))
    no = {"decisions": [{"type": "reject", "message": "not this month"}]}
    graph.invoke(Command(resume=no), as_user("t", "bob"))
    assert sent == [] and saver.get_interrupt(iid).resume == no


def test_an_agent_policy_refuses_a_quorum_its_approvers_cannot_reach(saver: Any) -> None:
    with pytest.raises(ApprovalError, match="quorum=4"):
        agent(saver, quorum=4)
    with pytest.raises(ApprovalError, match="positive int"):
        agent(saver, quorum="two")


def test_votes_and_reopening_through_the_async_api(saver: Any) -> None:
    import asyncio

    ran: list[Any] = []
    asks = {"q": {"pay": 1}}

    def pay(state: Pay) -> dict:
        answer = il.interrupt(dict(asks["q"]), approvers=PEOPLE, quorum=2)
        ran.append(answer)
        return {"answer": answer}

    g = il.StateGraph(Pay)
    g.add_node("pay", pay)
    g.add_edge(il.START, "pay")
    graph = g.compile(checkpointer=saver)

    async def scenario() -> None:
        out = await graph.ainvoke({"amount": 1}, as_user("t", "req"))
        iid = out["__interrupt__"][0].id
        out = await graph.ainvoke(Command(resume="yes"), as_user("t", "ada"))
        assert out["__interrupt__"][0].id == iid and ran == []
        asks["q"] = {"pay": 2}
        out = await graph.ainvoke(Command(resume="yes"), as_user("t", "bob"))
        assert out["__interrupt__"][0].value == {"pay": 2} and ran == []  # reopened
        assert saver.get_interrupt(iid).status == "pending"
        await graph.ainvoke(Command(resume="yes"), as_user("t", "bob"))  # votes start again
        out = await graph.ainvoke(Command(resume="yes"), as_user("t", "cy"))
        assert out["answer"] == "yes" and ran == ["yes"]

    asyncio.run(scenario())


def test_a_resume_whose_update_changes_the_question_reopens_it(saver: Any) -> None:
    """An update sent with the answer is applied in the same step, but the answer is bound
    to the question it answered: if the updated state makes the node ask something else,
    the request is reopened with that question (on a quorum request one person's update
    must never carry the others' votes to a question they did not see)."""
    ran: list[Any] = []
    graph = pay_graph(saver, ran)  # the question is {"pay": state["amount"]}
    iid = start(graph)
    out = graph.invoke(Command(resume="yes", update={"amount": 80}), as_user("t", "ada"))
    assert out["__interrupt__"][0].value == {"pay": 80} and ran == []
    record = saver.get_interrupt(iid)
    assert (
        record.status == "pending" and "question changed" in record.metadata["reopened"]["reason"]
    )
    out = graph.invoke(Command(resume="yes"), as_user("t", "ada"))
    assert out["answer"] == "yes" and ran == ["yes"]
