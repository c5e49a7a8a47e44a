"""Quorum through LangGraph's Agent Server API (the real `langgraph-sdk` over loopback): a
resume is the caller's vote; one that does not decide the request leaves the thread
interrupted, and the N-th approval resumes the run once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

import httpx
import pytest
from langgraph_sdk import get_sync_client
from langgraph_sdk.errors import ConflictError

import interlock as il
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.server import ApiKeys, create_app
from tests._http import served

KEYS = "k-bob=bob:requester;k-ada=ada:approver;k-cy=cy:approver;k-root=root:admin"
SHIPPED: list[Any] = []


class Order(TypedDict, total=False):
    item: str
    approved: Any


def ask(state: Order) -> dict[str, Any]:
    answer = il.interrupt({"ship": state["item"]}, approvers=["ada", "cy", "dan"], quorum=2)
    SHIPPED.append(answer)
    return {"approved": answer}


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    SHIPPED.clear()
    saver = SqliteSaver(tmp_path / "as.db")
    g = il.StateGraph(Order)
    g.add_node("ask", ask)
    g.add_edge(il.START, "ask")
    app = create_app(
        {"orders": g.compile(checkpointer=saver, name="orders")},
        keys=ApiKeys.parse(KEYS),
        workers=1,
    )
    with served(app) as http:
        yield str(http.base_url).rstrip("/")
    saver.close()


def test_a_resume_is_a_vote_and_the_second_one_resumes(url: str) -> None:
    bob = get_sync_client(url=url, api_key="k-bob")
    ada = get_sync_client(url=url, api_key="k-ada")
    cy = get_sync_client(url=url, api_key="k-cy")
    try:
        tid = bob.threads.create()["thread_id"]
        paused = bob.runs.wait(tid, "orders", input={"item": "vase"})
        [request] = paused["__interrupt__"]
        voted = ada.runs.wait(tid, "orders", command={"resume": "yes"})
        assert voted["__interrupt__"][0]["id"] == request["id"] and SHIPPED == []
        assert ada.threads.get(tid)["status"] == "interrupted"
        view = httpx.get(
            f"{url}/v1/approvals/{request['id']}", headers={"Authorization": "Bearer k-ada"}
        ).json()
        assert view["quorum"]["required"] == 2
        assert [v["by"] for v in view["quorum"]["votes"]] == ["ada"]
        with pytest.raises((ConflictError, httpx.HTTPStatusError)) as again:
            ada.runs.wait(tid, "orders", command={"resume": "yes"})  # one vote per person
        response = getattr(again.value, "response", None)
        assert response is not None and response.status_code == 409
        assert response.json()["error"] == "already_voted"
        done = cy.runs.wait(tid, "orders", command={"resume": "yes"})
        assert done == {"item": "vase", "approved": "yes"} and SHIPPED == ["yes"]
    finally:
        for c in (bob, ada, cy):
            c.close()
