"""The inbox list's filters (agent, who asked, what I may decide) with exact paging, and a
decided review's record: each call's decision and, for an edit, the diff of its arguments."""

from __future__ import annotations

import html
import re
import threading
from typing import Any, TypedDict

import httpx
import pytest

import interlock as il
from interlock import AIMessage, create_agent, tool
from interlock.agent.models.scripted import ScriptedChatModel
from interlock.server import ApiKeys, create_app
from interlock.server.inbox import args_diff
from tests._http import served

KEYS = "k-bob=bob:requester;k-cy=cy:requester;k-ada=ada:approver;k-eve=eve:approver"
ran: list[Any] = []
lock = threading.Lock()


class Ask(TypedDict, total=False):
    item: str
    answer: Any


def ask_graph(saver: Any, name: str, **interrupt_kwargs: Any) -> il.CompiledStateGraph:
    def ask(state: Ask) -> dict:
        return {"answer": il.interrupt({"ship": state["item"]}, **interrupt_kwargs)}

    g = il.StateGraph(Ask)
    g.add_node("ask", ask)
    g.add_edge(il.START, "ask")
    return g.compile(checkpointer=saver, name=name)


@pytest.fixture(autouse=True)
def _clear() -> None:
    ran.clear()


def _login(http: httpx.Client, key: str) -> None:
    assert http.post("/inbox/login", data={"key": key}).status_code == 303


def _listed(page: str) -> list[str]:
    return re.findall(r'href="/inbox/([0-9a-f]{32})"', page)


def _ask(http: httpx.Client, agent: str, item: str, key: str) -> str:
    started = http.post(
        "/v1/threads", json={"agent": agent, "input": {"item": item}}, headers={"X-API-Key": key}
    )
    assert started.status_code == 201, started.text
    return str(started.json()["run"]["interrupts"][0]["id"])


def test_the_list_filters_by_agent_requester_and_approver_rule(saver: Any) -> None:
    agents = {
        "shipper": ask_graph(saver, "shipper"),
        "payer": ask_graph(saver, "payer", approvers=["eve"]),
    }
    with served(create_app(agents, keys=ApiKeys.parse(KEYS))) as http:
        ship_bob = _ask(http, "shipper", "a", "k-bob")
        pay_bob = _ask(http, "payer", "b", "k-bob")
        ship_cy = _ask(http, "shipper", "c", "k-cy")
        _login(http, "k-ada")
        assert sorted(_listed(http.get("/inbox").text)) == sorted([ship_bob, pay_bob, ship_cy])
        page = http.get("/inbox", params={"agent": "shipper"}).text
        assert sorted(_listed(page)) == sorted([ship_bob, ship_cy])
        assert 'value="shipper" selected' in page  # the form shows the filter in force
        assert _listed(http.get("/inbox", params={"by": "cy"}).text) == [ship_cy]
        assert _listed(http.get("/inbox", params={"agent": "payer", "by": "cy"}).text) == []
        mine = _listed(http.get("/inbox", params={"mine": "1"}).text)
        assert sorted(mine) == sorted([ship_bob, ship_cy])  # ada is not in payer's rule
        nothing = http.get("/inbox", params={"agent": "nobody"}).text
        assert "Nothing is waiting that matches these filters" in nothing


def test_filtered_pages_follow_each_other_without_gaps(saver: Any) -> None:
    agents = {"shipper": ask_graph(saver, "shipper"), "other": ask_graph(saver, "other")}
    with served(create_app(agents, keys=ApiKeys.parse(KEYS))) as http:
        wanted = []
        for n in range(60):  # more than a page of each, interleaved
            wanted.append(_ask(http, "shipper", f"s{n}", "k-bob"))
            _ask(http, "other", f"o{n}", "k-bob")
        _login(http, "k-ada")
        seen: list[str] = []
        url = "/inbox?agent=shipper"
        while True:
            page = http.get(url).text
            seen += _listed(page)
            more = re.search(r'href="(/inbox\?cursor=[^"]+)">Older requests', page)
            if more is None:
                break
            url = html.unescape(more.group(1))
            assert "agent=shipper" in url  # the next page keeps the filter
        assert seen == wanted  # every match once, oldest first


def test_args_diff_marks_removed_and_added_lines() -> None:
    diff = args_diff({"order_id": "o1", "amount": 90.0}, {"order_id": "o1", "amount": 45.0})
    assert ("-", '  "amount": 90.0,') in diff and ("+", '  "amount": 45.0,') in diff
    assert (" ", '  "order_id": "o1"') in diff
    assert all(mark == " " for mark, _ in args_diff({"a": 1}, {"a": 1}))


@tool
def refund(order_id: str, amount: float) -> str:
    """Refund part of an order."""
    with lock:
        ran.append((order_id, amount))
    return "refunded"


def test_a_decided_review_shows_each_decision_and_the_diff_of_an_edit(saver: Any) -> None:
    model = ScriptedChatModel(
        [
            AIMessage(
                content="",
                tool_calls=[
                    {"name": "refund", "args": {"order_id": "o1", "amount": 90.0}, "id": "c1"},
                    {"name": "refund", "args": {"order_id": "o2", "amount": 5.0}, "id": "c2"},
                ],
            ),
            "Done.",
        ]
    )
    agent = create_agent(
        model=model, tools=[refund], checkpointer=saver, interrupt_on={"refund": True}
    )
    with served(create_app({"support": agent}, keys=ApiKeys.parse(KEYS))) as http:
        started = http.post(
            "/v1/threads", json={"message": "refunds"}, headers={"X-API-Key": "k-bob"}
        ).json()
        iid = started["run"]["interrupts"][0]["id"]
        _login(http, "k-ada")
        page = http.get(f"/inbox/{iid}").text
        assert 'data-original="{' in page  # the form knows the original, for the live diff
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
        assert csrf is not None
        sent = http.post(
            f"/inbox/{iid}",
            data={
                "csrf": csrf.group(1),
                "form": "actions",
                "decision_0": "edit",
                "args_0": '{"order_id": "o1", "amount": 45.0}',
                "decision_1": "reject",
                "message_1": "<b>not this one</b>",
            },
        )
        assert sent.status_code == 303
        decided = http.get(f"/inbox/{iid}").text
        assert "Send decision" not in decided  # no form once decided
        assert "resolved by ada" in decided
        assert '<div class="del">-   &#34;amount&#34;: 90.0,</div>' in decided
        assert '<div class="add">+   &#34;amount&#34;: 45.0,</div>' in decided
        assert "refund: reject" in decided
        assert "&lt;b&gt;not this one&lt;/b&gt;" in decided  # shown as text
    assert ran == [("o1", 45.0)]


def test_the_api_filters_approvals_by_agent_and_requester(saver: Any) -> None:
    agents = {"shipper": ask_graph(saver, "shipper"), "payer": ask_graph(saver, "payer")}
    with served(create_app(agents, keys=ApiKeys.parse(KEYS))) as http:
        ship_bob = _ask(http, "shipper", "a", "k-bob")
        pay_bob = _ask(http, "payer", "b", "k-bob")
        ship_cy = _ask(http, "shipper", "c", "k-cy")

        def ids(**params: str) -> list[str]:
            got = http.get("/v1/approvals", params=params, headers={"X-API-Key": "k-ada"})
            assert got.status_code == 200, got.text
            return [a["id"] for a in got.json()["approvals"]]

        assert ids() == [ship_bob, pay_bob, ship_cy]
        assert ids(agent="shipper") == [ship_bob, ship_cy]
        assert ids(requested_by="bob") == [ship_bob, pay_bob]
        assert ids(agent="payer", requested_by="cy") == []
