"""An entrypoint registered with the service behaves like any agent over /v1: threads,
the inbox with its approver rules, decisions exactly once, state, history, streaming and
background runs."""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from interlock import interrupt
from interlock.func import entrypoint, task
from interlock.server import ApiKeys, create_app
from tests._http import served

KEYS = "k-bob=bob:requester;k-ada=ada:approver;k-eve=eve:approver;k-root=root:admin"
BOB = {"Authorization": "Bearer k-bob"}
ADA = {"Authorization": "Bearer k-ada"}
EVE = {"Authorization": "Bearer k-eve"}
ROOT = {"Authorization": "Bearer k-root"}

shipped: list[str] = []
lock = threading.Lock()


def order_flow(saver: Any) -> Any:
    @task
    def price(item: str) -> int:
        return len(item) * 10

    @task
    def ship(item: str) -> str:
        with lock:
            shipped.append(item)
        return f"shipped {item}"

    @entrypoint(checkpointer=saver)
    def orders(order: dict, *, previous: Any = None) -> dict:
        cost = price(order["item"]).result()
        answer = interrupt({"ship": order["item"], "cost": cost}, approvers=["ada"])
        if not answer.get("approved"):
            return {"item": order["item"], "status": "cancelled"}
        return {"item": order["item"], "status": ship(order["item"]).result()}

    return orders


@pytest.fixture(autouse=True)
def _clear() -> None:
    shipped.clear()


@pytest.fixture
def client(saver: Any) -> Iterator[httpx.Client]:
    app = create_app({"orders": order_flow(saver)}, keys=ApiKeys.parse(KEYS))
    with served(app) as http:
        yield http


def test_an_entrypoint_asks_over_http_and_runs_once(client: httpx.Client) -> None:
    started = client.post(
        "/v1/threads", json={"thread_id": "o1", "input": {"item": "lamp"}}, headers=BOB
    )
    assert started.status_code == 201, started.text
    body = started.json()
    assert body["status"] == "paused" and body["agent"] == "orders"
    [request] = body["run"]["interrupts"]
    assert request["value"] == {"ship": "lamp", "cost": 40}

    inbox = client.get("/v1/approvals", headers=ADA).json()["approvals"]
    assert [a["id"] for a in inbox] == [request["id"]]
    assert inbox[0]["requested_by"] == "bob" and inbox[0]["thread_id"] == "o1"

    # the approver rule holds: eve is an approver, but not this request's
    eve = client.post(
        f"/v1/approvals/{request['id']}/decision", json={"value": {"approved": True}}, headers=EVE
    )
    assert eve.status_code == 403, eve.text

    url = f"/v1/approvals/{request['id']}/decision"

    def decide(headers: dict) -> int:
        return client.post(url, json={"value": {"approved": True}}, headers=headers).status_code

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(decide, [ADA, ROOT] * 2))
    assert sorted(codes) == [200, 409, 409, 409]
    assert shipped == ["lamp"]

    state = client.get("/v1/threads/o1", headers=BOB).json()
    assert state["status"] != "interrupted" and state["pending"] == []
    assert state["values"] == {"item": "lamp", "status": "shipped lamp"}
    history = client.get("/v1/threads/o1/history", headers=ADA).json()["checkpoints"]
    assert history[0]["values"] == {"item": "lamp", "status": "shipped lamp"}


def test_an_entrypoint_streams_as_server_sent_events(client: httpx.Client) -> None:
    client.post("/v1/threads", json={"thread_id": "s"}, headers=BOB)
    with client.stream(
        "POST", "/v1/threads/s/runs/stream", json={"input": {"item": "desk"}}, headers=BOB
    ) as response:
        assert response.status_code == 200
        text = response.read().decode()
    assert 'event: updates\ndata: {"price":40}' in text
    assert "event: end" in text and '"status":"paused"' in text
    pending = client.get("/v1/threads/s", headers=BOB).json()["pending"]
    assert [p["value"] for p in pending] == [{"ship": "desk", "cost": 40}]


def test_interlock_serve_loads_an_entrypoint_factory(saver: Any) -> None:
    from interlock.cli.serve import app_options, load_agents

    agents = load_agents("tests.test_func_server:order_flow", saver)
    app = create_app(agents, keys=ApiKeys.parse(KEYS), **app_options(expire_every=0))
    with served(app) as http:
        assert http.get("/v1/agents", headers=BOB).json() == {"agents": ["order_flow"]}
        started = http.post("/v1/threads", json={"input": {"item": "pen"}}, headers=BOB).json()
        [request] = started["run"]["interrupts"]
        decided = http.post(
            f"/v1/approvals/{request['id']}/decision",
            json={"value": {"approved": False}},
            headers=ADA,
        )
        assert decided.status_code == 200, decided.text
        assert decided.json()["run"]["values"] == {"item": "pen", "status": "cancelled"}
    assert shipped == []


def test_an_entrypoint_returning_a_plain_value(saver: Any) -> None:
    @entrypoint(checkpointer=saver)
    def greet(person: dict) -> str:  # the HTTP API's input is a JSON object
        return f"hello {interrupt({'greet': person['name']})}"

    with served(create_app(greet, keys=ApiKeys.parse(KEYS))) as http:
        http.post("/v1/threads", json={"thread_id": "g"}, headers=BOB)
        with http.stream(
            "POST", "/v1/threads/g/runs/stream", json={"input": {"name": "ada"}}, headers=BOB
        ) as response:
            text = response.read().decode()
        assert '"status":"paused"' in text and '"value":{"greet":"ada"}' in text
        [pending] = http.get("/v1/threads/g", headers=BOB).json()["pending"]
        decided = http.post(
            f"/v1/approvals/{pending['id']}/decision", json={"value": "ada"}, headers=ADA
        )
        assert decided.status_code == 200, decided.text
        assert decided.json()["run"]["values"] == "hello ada"
        assert http.get("/v1/threads/g", headers=BOB).json()["values"] == "hello ada"
