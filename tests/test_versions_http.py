"""Graph versions over HTTP: the version in thread and approval views, a refused decision on
changed code (409 `version_changed`, the request still pending), `?version=` and drain."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypedDict

import httpx
import pytest

import interlock as il
from interlock.server import ApiKeys, create_app
from tests._http import served

KEYS = "k-bob=bob:requester;k-ada=ada:approver"
BOB = {"Authorization": "Bearer k-bob"}
ADA = {"Authorization": "Bearer k-ada"}


class Order(TypedDict, total=False):
    item: str
    shipped: bool


def orders(saver: Any, node: str = "ship", **kw: Any) -> il.CompiledStateGraph:
    def ship(state: Order) -> dict[str, Any]:
        return {"shipped": bool(il.interrupt({"ship": state["item"]}))}

    g = il.StateGraph(Order)
    g.add_node(node, ship)
    g.add_edge(il.START, node)
    return g.compile(checkpointer=saver, name="orders", **kw)


@pytest.fixture
def v1(saver: Any) -> Iterator[tuple[Any, httpx.Client]]:
    graph = orders(saver)
    with served(create_app({"orders": graph}, keys=ApiKeys.parse(KEYS))) as http:
        yield graph, http


def _pause(http: httpx.Client, thread_id: str = "t1") -> str:
    started = http.post(
        "/v1/threads", json={"input": {"item": "book"}, "thread_id": thread_id}, headers=BOB
    )
    assert started.status_code == 201, started.text
    [request] = started.json()["run"]["interrupts"]
    return str(request["id"])


def test_views_show_the_version_and_approvals_filter_by_it(
    saver: Any, v1: tuple[Any, httpx.Client]
) -> None:
    graph, http = v1
    iid = _pause(http)
    agents = http.get("/v1/versions", headers=ADA).json()["agents"]
    assert agents["orders"]["version"] == graph.version
    thread = http.get("/v1/threads/t1", headers=BOB).json()
    assert thread["graph_version"] == graph.version == thread["agent_version"]
    assert thread["pending"][0]["graph_version"] == graph.version
    on_v1 = http.get("/v1/approvals", params={"version": graph.version}, headers=ADA).json()
    assert [a["id"] for a in on_v1["approvals"]] == [iid]
    other = http.get("/v1/approvals", params={"version": "nope"}, headers=ADA).json()
    assert other["approvals"] == []


def test_a_decision_on_changed_code_is_refused_and_the_request_stays_pending(
    saver: Any, v1: tuple[Any, httpx.Client]
) -> None:
    graph, http = v1
    iid = _pause(http)
    v2 = orders(saver, "dispatch")
    with served(create_app({"orders": v2}, keys=ApiKeys.parse(KEYS))) as new:
        refused = new.post(f"/v1/approvals/{iid}/decision", json={"value": True}, headers=ADA)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"] == "version_changed"
        assert "node `ship` was removed (and `dispatch` added)" in refused.json()["message"]
        approval = new.get(f"/v1/approvals/{iid}", headers=ADA).json()
        assert approval["status"] == "pending" and approval["graph_version"] == graph.version
        thread = new.get("/v1/threads/t1", headers=BOB).json()
        assert thread["graph_version"] == graph.version != thread["agent_version"]
    decided = http.post(f"/v1/approvals/{iid}/decision", json={"value": True}, headers=ADA)
    assert decided.status_code == 200, decided.text  # the old version still answers it
    assert decided.json()["run"]["values"]["shipped"] is True


def test_a_draining_agent_takes_no_new_runs_but_its_requests_are_decided(saver: Any) -> None:
    graph = orders(saver)
    with served(create_app({"orders": graph}, keys=ApiKeys.parse(KEYS))) as http:
        iid = _pause(http)
    app = create_app({"orders": graph}, keys=ApiKeys.parse(KEYS), drain=["orders"])
    with served(app) as http:
        assert http.get("/v1/versions", headers=ADA).json()["agents"]["orders"]["draining"]
        new = http.post("/v1/threads", json={"input": {"item": "pen"}}, headers=BOB)
        assert new.status_code == 503 and new.json()["error"] == "agent_draining"
        more = http.post("/v1/threads/t1/runs", json={"input": {"item": "pen"}}, headers=BOB)
        assert more.status_code == 503 and more.json()["error"] == "agent_draining"
        decided = http.post(f"/v1/approvals/{iid}/decision", json={"value": True}, headers=ADA)
        assert decided.status_code == 200, decided.text
    # its workers leave the agent's queued runs to the processes that do not drain it
    queued = saver.enqueue_run(thread_id="t2", agent="orders", input={"item": "cup"})
    run = saver.claim_run("draining-worker", ttl=30.0)
    assert run is not None and run.run_id == queued.run_id
    app.state.runner.execute(run, "draining-worker")
    back = saver.get_run(queued.run_id)
    assert back is not None and back.status == "queued"  # given back, not run, not failed
    assert saver.get_checkpoint("t2") is None
    with pytest.raises(ValueError, match="drain names unknown agents"):
        create_app({"orders": graph}, drain=["nobody"])


def test_versions_lists_the_threads_paused_on_each_version(
    saver: Any, v1: tuple[Any, httpx.Client]
) -> None:
    graph, http = v1
    _pause(http, "t1")
    _pause(http, "t2")
    v2 = orders(saver, "dispatch")
    with served(create_app({"orders": v2}, keys=ApiKeys.parse(KEYS), drain=())) as new:
        assert new.get("/v1/versions", headers=BOB).status_code == 403
        body = new.get("/v1/versions", headers=ADA).json()["agents"]["orders"]
        assert (body["version"], body["draining"]) == (v2.version, False)
        by_version = {row["version"]: row for row in body["versions"]}
        old = by_version[graph.version]
        assert (old["current"], old["paused_threads"], old["pending"]) == (False, ["t1", "t2"], 2)
        assert old["first_seen"] is not None
        assert by_version[v2.version]["current"] is True
        assert by_version[v2.version]["paused_threads"] == []
