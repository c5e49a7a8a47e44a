"""Who may approve: per-request approver rules, and escalation when nobody answers in time.

`interrupt(approvers=[...])` names people, roles and groups; the HTTP API and the web inbox
refuse everyone else (admins excepted). `interrupt(deadline=..., escalate=Escalation(...))`
hands an unanswered request to new approvers with a new deadline, exactly once, before it
finally expires. Every test runs on each store.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

import httpx
import pytest

import interlock as il
from interlock import AIMessage, Command, Escalation, GraphError, create_agent, tool
from interlock.agent.approval import ApprovalError
from interlock.agent.models.scripted import ScriptedChatModel
from interlock.checkpoint.conformance import make_interrupt, make_record
from interlock.server import ApiKeys, create_app
from interlock.server.auth import Principal, may_decide
from tests._http import served

KEYS = (
    "k-bob=bob:requester;k-ada=ada:approver;k-fin=fay:approver,group:finance;"
    "k-eve=eve:approver;k-root=root:admin"
)
ran: list[Any] = []
lock = threading.Lock()


class Ask(TypedDict, total=False):
    answer: Any


def ask_graph(saver: Any, **interrupt_kwargs: Any) -> il.CompiledStateGraph:
    def ask(state: Ask) -> dict:
        answer = il.interrupt({"pay": 120}, **interrupt_kwargs)
        with lock:
            ran.append(answer)  # the side effect after the request
        return {"answer": answer}

    g = il.StateGraph(Ask)
    g.add_node("ask", ask)
    g.add_edge(il.START, "ask")
    return g.compile(checkpointer=saver, name="payer")


@pytest.fixture(autouse=True)
def _clear() -> None:
    ran.clear()


def _pause(graph: il.CompiledStateGraph, thread: str) -> il.Interrupt:
    [request] = graph.invoke({}, {"configurable": {"thread_id": thread}})["__interrupt__"]
    return request


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# ---- the store: escalate_interrupt ------------------------------------------------------------


def test_the_store_escalates_a_pending_request_once_and_audits_it(saver: Any) -> None:
    [rec] = _chain(saver, "t")
    due = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    asked = make_interrupt(
        "t", rec.checkpoint_id, deadline=due, metadata={"approvers": ["ada"], "graph": "g"}
    )
    saver.put_task_writes("t", "", rec.checkpoint_id, [], [asked])
    later = due + timedelta(hours=1)
    meta = {"approvers": ["role:admin"], "graph": "g", "escalation_level": 1}

    wrong = saver.escalate_interrupt(
        asked.interrupt_id, expected_deadline=later, deadline=later, metadata=meta
    )
    assert wrong is None  # not the deadline it has: someone else moved it
    moved = saver.escalate_interrupt(
        asked.interrupt_id, expected_deadline=due, deadline=later, metadata=meta
    )
    assert moved is not None and moved.deadline == later and moved.metadata == meta
    assert moved.status == "pending" and saver.get_interrupt(asked.interrupt_id) == moved
    again = saver.escalate_interrupt(
        asked.interrupt_id, expected_deadline=due, deadline=later, metadata=meta
    )
    assert again is None  # exactly once
    [entry] = [e for e in saver.list_audit(thread_id="t").items if e.action != "approval.requested"]
    assert (entry.action, entry.actor, entry.interrupt_id) == (
        "approval.escalated",
        None,
        asked.interrupt_id,
    )
    assert entry.detail["from"] == ["ada"] and entry.detail["to"] == ["role:admin"]
    assert entry.detail["level"] == 1 and entry.detail["value"] == asked.value
    assert datetime.fromisoformat(entry.detail["deadline"]) == later

    saver.resolve_interrupts("t", {asked.interrupt_id: "ok"}, decided_by="root")
    decided = saver.escalate_interrupt(
        asked.interrupt_id, expected_deadline=later, deadline=later, metadata=meta
    )
    assert decided is None  # a decided request is never escalated
    assert saver.get_interrupt(asked.interrupt_id).metadata == meta


def test_racing_escalations_have_one_winner(saver: Any) -> None:
    [rec] = _chain(saver, "t")
    due = datetime(2030, 1, 2, tzinfo=UTC)
    asked = make_interrupt("t", rec.checkpoint_id, deadline=due)
    saver.put_task_writes("t", "", rec.checkpoint_id, [], [asked])
    barrier = threading.Barrier(6)
    results: list[Any] = []

    def escalate(n: int) -> None:
        barrier.wait()
        results.append(
            saver.escalate_interrupt(
                asked.interrupt_id,
                expected_deadline=due,
                deadline=due + timedelta(minutes=n + 1),
                metadata={"approvers": [f"p{n}"], "escalation_level": 1},
            )
        )

    threads = [threading.Thread(target=escalate, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert saver.get_interrupt(asked.interrupt_id) == winners[0]
    actions = [e.action for e in saver.list_audit(thread_id="t").items]
    assert actions.count("approval.escalated") == 1


def _chain(saver: Any, thread: str) -> list[Any]:
    rec = make_record(thread, None, [("n", 0)], {"n": 0})
    saver.put_checkpoint(rec, expected_head=None)
    return [rec]


# ---- the library: interrupt(approvers=..., escalate=...) --------------------------------------


def test_a_request_records_its_approvers_and_escalation(saver: Any) -> None:
    graph = ask_graph(
        saver,
        approvers=["ada", "group:finance"],
        deadline=timedelta(hours=4),
        escalate=[Escalation(to=["role:admin"], deadline=timedelta(hours=1))],
    )
    request = _pause(graph, "t")
    record = saver.get_interrupt(request.id)
    assert record.metadata["approvers"] == ["ada", "group:finance"]
    assert record.metadata["escalations"] == [{"to": ["role:admin"], "after": 3600.0}]
    assert record.deadline == record.created_at + timedelta(hours=4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"approvers": []}, "empty"),
        ({"approvers": "ada"}, "list of names"),
        ({"approvers": ["ada", ""]}, "not a name"),
        ({"approvers": ["role:"]}, "is not a name"),
        ({"approvers": ["role:aprover"]}, "unknown role"),
        ({"approvers": ["user:ada"]}, "is not a name"),
        ({"approvers": {"ada": 1}}, "list of names"),
        ({"approvers": [3]}, "is not a name"),
        ({"deadline": 60, "escalate": "role:admin"}, "Escalation"),
        ({"escalate": Escalation(to=["x"], deadline=60)}, "needs a deadline"),
        ({"deadline": 60, "escalate": ["role:admin"]}, "Escalation"),
    ],
)
def test_bad_approver_rules_are_refused_and_nothing_is_saved(
    saver: Any, kwargs: dict[str, Any], message: str
) -> None:
    graph = ask_graph(saver, **kwargs)
    with pytest.raises(GraphError, match=message):
        graph.invoke({}, {"configurable": {"thread_id": "t"}})
    assert saver.list_interrupts().items == ()


@pytest.mark.parametrize(
    ("to", "deadline"),
    [
        ([], 60),
        (["ok"], 0),
        (["ok"], -5),
        (["ok"], "soon"),
        ("role:", 1),
        (None, 1),
        ({"ada": 1}, 1),
        (["ok"], float("inf")),
        (["ok"], float("nan")),
        (["ok"], 1e13),  # past the ten-year cap: `now + deadline` must stay a date
        (["ok"], timedelta.max),
    ],
)
def test_bad_escalations_are_refused(to: Any, deadline: Any) -> None:
    with pytest.raises(ValueError):
        Escalation(to=to, deadline=deadline)


def test_an_unanswered_request_escalates_then_expires(saver: Any) -> None:
    graph = ask_graph(
        saver,
        approvers=["ada"],
        deadline=timedelta(hours=4),
        escalate=[
            Escalation(to=["eve"], deadline=timedelta(hours=2)),
            Escalation(to=["role:admin"], deadline=timedelta(hours=1)),
        ],
        on_expiry="nobody answered",
    )
    request = _pause(graph, "t")
    asked_at = saver.get_interrupt(request.id).created_at
    escalated: list[Any] = []

    def sweep(hours: float) -> list[str]:
        at = asked_at + timedelta(hours=hours)
        return graph.expire_due(now=at, on_escalated=escalated.append)

    assert sweep(3) == [] and escalated == []  # not due yet
    assert sweep(5) == []  # escalated, not expired
    [first] = escalated
    assert first.metadata["approvers"] == ["eve"] and first.metadata["escalation_level"] == 1
    assert first.deadline == asked_at + timedelta(hours=7)  # two hours from the sweep
    assert saver.get_interrupt(request.id).status == "pending" and ran == []
    assert sweep(6) == [] and len(escalated) == 1  # the new deadline is not due
    assert sweep(8) == []
    assert escalated[-1].metadata["approvers"] == ["role:admin"]
    assert sweep(10) == [request.id]  # no step left: it expires, the run goes on
    assert ran == ["nobody answered"]
    assert saver.get_interrupt(request.id).status == "expired"
    actions = [e.action for e in reversed(saver.list_audit(interrupt_id=request.id).items)]
    assert actions == [
        "approval.requested",
        "approval.escalated",
        "approval.escalated",
        "approval.expired",
    ]


def test_an_escalated_request_can_still_be_decided(saver: Any) -> None:
    graph = ask_graph(
        saver,
        deadline=timedelta(minutes=5),
        escalate=Escalation(to=["role:admin"], deadline=timedelta(minutes=5)),
    )
    request = _pause(graph, "t")
    asked_at = saver.get_interrupt(request.id).created_at
    assert graph.expire_due(now=asked_at + timedelta(minutes=6)) == []
    out = graph.invoke(Command(resume="approved late"), {"configurable": {"thread_id": "t"}})
    assert out["answer"] == "approved late" and ran == ["approved late"]
    assert graph.expire_due(now=asked_at + timedelta(days=1)) == []  # decided: nothing to do
    assert saver.get_interrupt(request.id).status == "resolved"


def test_concurrent_sweeps_escalate_once(saver: Any) -> None:
    graph = ask_graph(
        saver,
        deadline=timedelta(minutes=1),
        escalate=Escalation(to=["role:admin"], deadline=timedelta(minutes=30)),
    )
    requests = [_pause(graph, f"t{n}") for n in range(4)]
    asked_at = max(saver.get_interrupt(r.id).created_at for r in requests)
    at = asked_at + timedelta(minutes=2)
    barrier = threading.Barrier(4)
    escalated: list[str] = []

    def sweep() -> None:
        barrier.wait()
        graph.expire_due(now=at, on_escalated=lambda r: escalated.append(r.interrupt_id))

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(escalated) == sorted(r.id for r in requests)  # each once, by some sweeper
    for r in requests:
        entries = saver.list_audit(interrupt_id=r.id).items
        assert [e.action for e in entries].count("approval.escalated") == 1
        assert saver.get_interrupt(r.id).status == "pending"
    assert ran == []


def test_async_sweeps_escalate_too(saver: Any) -> None:
    import asyncio

    graph = ask_graph(
        saver, deadline=60, escalate=Escalation(to=["role:admin"], deadline=60), on_expiry="late"
    )
    request = _pause(graph, "t")
    asked_at = saver.get_interrupt(request.id).created_at
    seen: list[Any] = []
    assert (
        asyncio.run(
            graph.aexpire_due(now=asked_at + timedelta(seconds=61), on_escalated=seen.append)
        )
        == []
    )
    assert [r.metadata["approvers"] for r in seen] == [["role:admin"]]
    done = asyncio.run(graph.aexpire_due(now=asked_at + timedelta(seconds=200)))
    assert done == [request.id] and ran == ["late"]


# ---- the HTTP API and the inbox enforce the rule ------------------------------------------------


def test_only_the_named_approvers_may_decide_over_http(saver: Any) -> None:
    graph = ask_graph(saver, approvers=["ada", "group:finance"])
    with served(create_app({"payer": graph}, keys=ApiKeys.parse(KEYS))) as http:
        started = http.post("/v1/threads", json={"input": {}}, headers=_bearer("k-bob")).json()
        [request] = started["run"]["interrupts"]
        view = http.get(f"/v1/approvals/{request['id']}", headers=_bearer("k-eve")).json()
        assert view["approvers"] == ["ada", "group:finance"] and view["escalation_level"] == 0

        refused = http.post(
            f"/v1/approvals/{request['id']}/decision",
            json={"value": "ok"},
            headers=_bearer("k-eve"),
        )
        assert refused.status_code == 403
        assert refused.json()["error"] == "not_an_approver"
        assert "ada, group:finance" in refused.json()["message"]
        assert ran == [] and saver.get_interrupt(request["id"]).status == "pending"

        mine = {
            key: [
                a["id"]
                for a in http.get(
                    "/v1/approvals", params={"mine": "true"}, headers=_bearer(key)
                ).json()["approvals"]
            ]
            for key in ("k-eve", "k-fin", "k-root")
        }
        assert mine == {"k-eve": [], "k-fin": [request["id"]], "k-root": [request["id"]]}
        every = http.get("/v1/approvals", headers=_bearer("k-eve")).json()["approvals"]
        assert [a["id"] for a in every] == [request["id"]]  # visible, not decidable

        decided = http.post(
            f"/v1/approvals/{request['id']}/decision",
            json={"value": "ok"},
            headers=_bearer("k-fin"),
        )
        assert decided.status_code == 200, decided.text
        assert decided.json()["approval"]["decided_by"] == "fay"
        audit = http.get(
            "/v1/audit", params={"interrupt_id": request["id"]}, headers=_bearer("k-root")
        ).json()["entries"]
        refusal = [e for e in audit if e["action"] == "approval.refused"]
        assert refusal[0]["actor"] == "eve" and refusal[0]["detail"]["reason"] == "not_an_approver"
    assert ran == ["ok"]


def test_admins_may_decide_whatever_the_rule(saver: Any) -> None:
    graph = ask_graph(saver, approvers=["ada"])
    with served(create_app({"payer": graph}, keys=ApiKeys.parse(KEYS))) as http:
        started = http.post("/v1/threads", json={"input": {}}, headers=_bearer("k-bob")).json()
        [request] = started["run"]["interrupts"]
        decided = http.post(
            f"/v1/approvals/{request['id']}/decision",
            json={"value": "root says"},
            headers=_bearer("k-root"),
        )
        assert decided.status_code == 200
    assert ran == ["root says"]


def test_an_escalation_hands_the_request_to_new_approvers(saver: Any) -> None:
    graph = ask_graph(
        saver,
        approvers=["ada"],
        deadline=timedelta(minutes=1),
        escalate=Escalation(to=["eve"], deadline=timedelta(hours=1)),
    )
    with served(create_app({"payer": graph}, keys=ApiKeys.parse(KEYS))) as http:
        started = http.post("/v1/threads", json={"input": {}}, headers=_bearer("k-bob")).json()
        [request] = started["run"]["interrupts"]
        now = (datetime.now(UTC) + timedelta(minutes=2)).isoformat()
        swept = http.post("/v1/approvals/expire", json={"now": now}, headers=_bearer("k-root"))
        assert swept.json() == {"expired": [], "escalated": [request["id"]]}
        view = http.get(f"/v1/approvals/{request['id']}", headers=_bearer("k-ada")).json()
        assert view["approvers"] == ["eve"] and view["escalation_level"] == 1
        assert view["status"] == "pending"
        late = http.post(
            f"/v1/approvals/{request['id']}/decision",
            json={"value": "ada"},
            headers=_bearer("k-ada"),
        )
        assert late.status_code == 403 and late.json()["error"] == "not_an_approver"
        decided = http.post(
            f"/v1/approvals/{request['id']}/decision",
            json={"value": "eve"},
            headers=_bearer("k-eve"),
        )
        assert decided.status_code == 200
    assert ran == ["eve"]


def test_the_inbox_shows_the_rule_and_refuses_others(saver: Any) -> None:
    import re

    graph = ask_graph(saver, approvers=["ada"])
    with served(create_app({"payer": graph}, keys=ApiKeys.parse(KEYS))) as http:
        started = http.post("/v1/threads", json={"input": {}}, headers=_bearer("k-bob")).json()
        [request] = started["run"]["interrupts"]
        eve = httpx.Client(base_url=str(http.base_url))
        assert eve.post("/inbox/login", data={"key": "k-eve"}).status_code == 303
        listing = eve.get("/inbox").text
        assert "not yours" in listing and "ada" in listing
        page = eve.get(f"/inbox/{request['id']}").text
        assert "Only ada may decide this request." in page and "Send answer" not in page
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
        assert csrf is not None
        posted = eve.post(
            f"/inbox/{request['id']}",
            data={"csrf": csrf.group(1), "form": "answer", "answer": '"eve"'},
            headers={"Origin": str(http.base_url).rstrip("/")},
        )
        assert posted.status_code == 403 and "may decide" in posted.text
        eve.close()
        assert saver.get_interrupt(request["id"]).status == "pending"
    assert ran == []


# ---- agents and keys ---------------------------------------------------------------------------


@tool
def refund(order_id: str) -> str:
    """Refund an order."""
    with lock:
        ran.append(order_id)
    return "refunded"


@tool
def wire(to: str) -> str:
    """Wire money."""
    return "wired"


def _refund_and_wire_agent(saver: Any, interrupt_on: dict[str, Any]) -> Any:
    """An agent whose model asks, in one turn, to refund an order and to wire money."""
    model = ScriptedChatModel(
        [
            AIMessage(
                content="",
                tool_calls=[
                    {"name": "refund", "args": {"order_id": "o1"}, "id": "c1"},
                    {"name": "wire", "args": {"to": "x"}, "id": "c2"},
                ],
            ),
            "done",
        ]
    )
    return create_agent(
        model=model, tools=[refund, wire], checkpointer=saver, interrupt_on=interrupt_on
    )


def test_an_agent_policy_names_its_approvers_and_escalation(saver: Any) -> None:
    agent = _refund_and_wire_agent(
        saver,
        {
            "refund": {
                "approvers": ["ada", "group:finance"],
                "deadline": timedelta(hours=1),
                "escalate": Escalation(to=["role:admin"], deadline=timedelta(hours=1)),
            },
            "wire": {"approvers": ["group:finance", "eve"], "deadline": timedelta(hours=2)},
        },
    )
    config = {"configurable": {"thread_id": "a"}}
    [request] = agent.invoke({"messages": [{"role": "user", "content": "go"}]}, config)[
        "__interrupt__"
    ]
    record = saver.get_interrupt(request.id)
    assert record.metadata["approvers"] == ["group:finance"]  # allowed for both calls
    assert record.metadata["escalations"] == [{"to": ["role:admin"], "after": 3600.0}]
    assert record.deadline == record.created_at + timedelta(hours=1)  # the sooner one


def test_agent_rules_that_share_nobody_leave_the_review_to_admins(saver: Any) -> None:
    agent = _refund_and_wire_agent(
        saver,
        {"refund": {"approvers": ["ada"]}, "wire": {"approvers": ["eve"]}},
    )
    [request] = agent.invoke(
        {"messages": [{"role": "user", "content": "go"}]}, {"configurable": {"thread_id": "a"}}
    )["__interrupt__"]
    assert saver.get_interrupt(request.id).metadata["approvers"] == ["role:admin"]


@pytest.mark.parametrize(
    "spec",
    [
        {"approvers": []},
        {"approvers": "ada"},
        {"escalate": Escalation(to=["x"], deadline=1)},
        {"deadline": 5, "escalate": "role:admin"},
    ],
)
def test_bad_agent_rules_are_refused_when_the_agent_is_built(spec: dict[str, Any]) -> None:
    with pytest.raises(ApprovalError):
        create_agent(model=ScriptedChatModel(["hi"]), tools=[refund], interrupt_on={"refund": spec})


def test_keys_put_people_in_groups() -> None:
    keys = ApiKeys.parse("k1=fay:approver,group:finance,group:ops;k2=root:admin")
    fay = keys.authenticate("k1")
    assert fay == Principal("fay", frozenset({"approver"}), frozenset({"finance", "ops"}))
    assert may_decide(fay, ["group:ops"]) and may_decide(fay, ["fay"])
    assert may_decide(fay, ["role:approver"]) and may_decide(fay, None)
    assert not may_decide(fay, ["group:legal", "ada", "role:requester"])
    assert may_decide(keys.authenticate("k2"), ["ada"])  # admins always may
    with pytest.raises(ValueError, match="names no group"):
        ApiKeys.parse("k=fay:approver,group:")
    with pytest.raises(ValueError, match="unknown role"):
        ApiKeys.parse("k=fay:aprover,group:finance")


# ---- review findings ---------------------------------------------------------------------------


def test_none_means_no_escalation(saver: Any) -> None:
    graph = ask_graph(saver, deadline=60, escalate=None, on_expiry="late")
    request = _pause(graph, "t")
    assert "escalations" not in saver.get_interrupt(request.id).metadata


def test_a_malformed_escalation_expires_its_request_and_blocks_no_other(saver: Any) -> None:
    graph = ask_graph(
        saver, deadline=60, escalate=Escalation(to=["eve"], deadline=60), on_expiry="late"
    )
    broken, fine = _pause(graph, "broken"), _pause(graph, "fine")
    record = saver.get_interrupt(broken.id)
    assert record.deadline is not None
    saver.escalate_interrupt(  # a step no sweep could take (as a bad writer might store)
        broken.id,
        expected_deadline=record.deadline,
        deadline=record.deadline,
        metadata={**record.metadata, "escalations": [{"to": "eve", "after": float("inf")}]},
    )
    plain = ask_graph(saver, deadline=60, on_expiry="late")
    other = _pause(plain, "other")
    later = max(saver.get_interrupt(i.id).created_at for i in (broken, fine, other))
    expired = graph.expire_due(now=later + timedelta(seconds=61))
    assert sorted(expired) == sorted([broken.id, other.id])  # the broken one just expires
    assert saver.get_interrupt(fine.id).metadata["approvers"] == ["eve"]  # escalated


def test_a_decision_racing_an_escalation_is_checked_on_the_new_rule(
    saver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interlock.server import _durable as ops  # where a run's default invoke lives

    graph = ask_graph(
        saver, approvers=["ada"], deadline=60, escalate=Escalation(to=["eve"], deadline=3600)
    )
    real = ops._invoke

    def escalate_then_invoke(g: Any, command: Any, config: Any) -> Any:
        if not isinstance(command, Command):  # the thread's first run
            return real(g, command, config)
        # another process's sweep escalates after the server's first check, before the run
        [(iid, _)] = command.resume.items()
        deadline = saver.get_interrupt(iid).deadline
        assert g.expire_due(now=deadline + timedelta(seconds=1)) == []
        assert saver.get_interrupt(iid).metadata["approvers"] == ["eve"]
        return real(g, command, config)

    monkeypatch.setattr(ops, "_invoke", escalate_then_invoke)
    with served(create_app({"payer": graph}, keys=ApiKeys.parse(KEYS))) as http:
        started = http.post("/v1/threads", json={"input": {}}, headers=_bearer("k-bob")).json()
        [request] = started["run"]["interrupts"]
        late = http.post(
            f"/v1/approvals/{request['id']}/decision",
            json={"value": "ada"},
            headers=_bearer("k-ada"),
        )
        assert late.status_code == 403 and late.json()["error"] == "not_an_approver"
        assert "eve" in late.json()["message"]
    assert ran == [] and saver.get_interrupt(request["id"]).status == "pending"


def test_a_sweep_leaves_a_thread_being_decided_to_the_next_sweep(saver: Any) -> None:
    graph = ask_graph(saver, deadline=60, escalate=Escalation(to=["eve"], deadline=60))
    request = _pause(graph, "t")
    record = saver.get_interrupt(request.id)
    assert saver.acquire_thread("t", "a-deciding-run", ttl=60)  # a decision is under way
    assert graph.expire_due(now=record.deadline + timedelta(seconds=1)) == []
    assert saver.get_interrupt(request.id).metadata.get("escalation_level") is None
    saver.release_thread("t", "a-deciding-run")
    graph.expire_due(now=record.deadline + timedelta(seconds=1))
    assert saver.get_interrupt(request.id).metadata["escalation_level"] == 1


def test_the_library_can_authorize_decisions_itself(saver: Any) -> None:
    graph = ask_graph(saver, approvers=["ada"])
    request = _pause(graph, "t")
    seen: list[Any] = []

    def only_ada(record: Any) -> None:
        seen.append(record.metadata["approvers"])
        raise PermissionError("not ada")

    config = {"configurable": {"thread_id": "t", "authorize_decision": only_ada}}
    with pytest.raises(PermissionError):
        graph.invoke(Command(resume="yes"), config)
    assert seen == [["ada"]] and ran == []
    assert saver.get_interrupt(request.id).status == "pending"
    assert graph.invoke(Command(resume="yes"), {"configurable": {"thread_id": "t"}})["answer"]


def test_a_combined_reviews_escalation_keeps_every_calls_rule(saver: Any) -> None:
    agent = _refund_and_wire_agent(
        saver,
        {
            "refund": {
                "approvers": ["ada", "group:finance"],
                "deadline": 60,
                "escalate": [
                    Escalation(to=["eve"], deadline=3600),
                    Escalation(to=["group:finance", "fay"], deadline=3600),
                ],
            },
            "wire": {"approvers": ["group:finance"]},  # only finance may approve wires
        },
    )
    [request] = agent.invoke(
        {"messages": [{"role": "user", "content": "go"}]}, {"configurable": {"thread_id": "a"}}
    )["__interrupt__"]
    steps = saver.get_interrupt(request.id).metadata["escalations"]
    # eve may not approve wires: that step goes to admins; finance stays in the second
    assert steps == [
        {"to": ["role:admin"], "after": 3600.0},
        {"to": ["group:finance"], "after": 3600.0},
    ]


def test_a_rule_of_the_wrong_shape_lets_only_admins_decide() -> None:
    d = Principal("d", frozenset({"approver"}))
    assert not may_decide(d, "ada")  # not matched letter by letter
    assert not may_decide(d, [["d"]])
    assert may_decide(Principal("root", frozenset({"admin"})), "ada")


def test_a_naive_sweep_time_is_local_and_audited_as_stored(saver: Any) -> None:
    graph = ask_graph(saver, deadline=60, escalate=Escalation(to=["eve"], deadline=60))
    request = _pause(graph, "t")
    asked = saver.get_interrupt(request.id)
    naive_now = (asked.created_at + timedelta(seconds=61)).astimezone().replace(tzinfo=None)
    graph.expire_due(now=naive_now)
    stored = saver.get_interrupt(request.id).deadline
    assert stored == asked.created_at + timedelta(seconds=121)
    [entry] = [
        e
        for e in saver.list_audit(interrupt_id=request.id).items
        if e.action == "approval.escalated"
    ]
    assert datetime.fromisoformat(entry.detail["deadline"]) == stored


def test_mine_leaves_out_ones_own_requests(saver: Any) -> None:
    graph = ask_graph(saver)
    keys = ApiKeys.parse(KEYS + ";k-carl=carl:requester,approver")
    with served(create_app({"payer": graph}, keys=keys)) as http:
        own = http.post("/v1/threads", json={"input": {}}, headers=_bearer("k-carl")).json()
        [request] = own["run"]["interrupts"]
        mine = http.get("/v1/approvals", params={"mine": "true"}, headers=_bearer("k-carl"))
        assert mine.json()["approvals"] == []  # carl may not approve his own request
        ada = http.get("/v1/approvals", params={"mine": "true"}, headers=_bearer("k-ada"))
        assert [a["id"] for a in ada.json()["approvals"]] == [request["id"]]


def test_filtered_inbox_pages_are_full_and_mine_is_for_pending_requests(saver: Any) -> None:
    """`mine`, `agent` and `requested_by` are ranges in the store: a page holds `limit`
    requests while more match, however many others lie between them."""
    payer = ask_graph(saver, approvers=["ada"])
    g = il.StateGraph(Ask)
    g.add_node("ask", lambda state: {"answer": il.interrupt({"any": 1})})
    g.add_edge(il.START, "ask")
    anyone = g.compile(checkpointer=saver, name="anyone")
    app = create_app({"payer": payer, "anyone": anyone}, keys=ApiKeys.parse(KEYS))
    with served(app) as http:
        for n in range(6):
            http.post(
                "/v1/threads",
                json={"agent": "payer" if n % 2 else "anyone", "input": {}},
                headers=_bearer("k-bob"),
            )

        def pages(key: str, **params: Any) -> list[list[str]]:
            out, cursor = [], None
            while True:
                query = {**params, "limit": 2, **({"cursor": cursor} if cursor else {})}
                body = http.get("/v1/approvals", params=query, headers=_bearer(key)).json()
                out.append([a["thread_id"] for a in body["approvals"]])
                cursor = body["next_cursor"]
                if cursor is None:
                    return out

        def flat(paged: list[list[str]]) -> list[str]:
            return [thread for page in paged for thread in page]

        every = flat(pages("k-eve"))
        assert len(every) == 6
        payer_threads = every[1::2]
        assert [len(p) for p in pages("k-eve", agent="payer")] == [2, 1]
        assert flat(pages("k-eve", agent="payer")) == payer_threads
        assert flat(pages("k-ada", mine="true")) == every  # named, or no rule at all
        assert flat(pages("k-eve", mine="true")) == every[0::2]  # no rule only
        assert [len(p) for p in pages("k-eve", mine="true")] == [2, 1]
        assert flat(pages("k-eve", requested_by="bob")) == every
        assert flat(pages("k-eve", requested_by="ada")) == []
        refused = http.get(
            "/v1/approvals", params={"mine": "true", "status": "resolved"}, headers=_bearer("k-ada")
        )
        assert refused.status_code == 422 and refused.json()["error"] == "invalid_request"
