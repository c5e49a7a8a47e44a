"""What the inbox says of a request's state beyond its question: a quorum's votes from the
votes room ("1 of 2 approvals, by ada", the next approver adds theirs, one who voted is told
so), a decision withdrawn before it was carried out (with the reason), and a request asked
under an older graph version."""

from __future__ import annotations

from typing import Any

from interlock import Command
from interlock.server import ApiKeys, create_app
from tests._http import served
from tests.test_quorum import as_user, pay_graph, start

KEYS = "k-ada=ada:approver;k-bob=bob:approver;k-cy=cy:approver"


def _login(http: Any, key: str) -> None:
    http.cookies.clear()
    assert http.post("/inbox/login", data={"key": key}).status_code == 303


def test_the_inbox_shows_the_votes_so_far_and_who_may_add_theirs(saver: Any) -> None:
    ran: list[Any] = []
    graph = pay_graph(saver, ran, approvers=["ada", "bob", "cy"], quorum=2)
    iid = start(graph)
    graph.invoke(Command(resume="yes"), as_user("t", "ada"))  # the first of two approvals
    assert ran == []
    with served(create_app({"payer": graph}, keys=ApiKeys.parse(KEYS))) as http:
        _login(http, "k-bob")
        listed = http.get("/inbox").text
        assert "1 of 2 approvals, by ada" in listed
        page = http.get(f"/inbox/{iid}").text
        assert "1 of 2 approvals, by ada" in page
        assert "You have voted" not in page  # bob may add his
        _login(http, "k-ada")
        assert "You have voted" in http.get(f"/inbox/{iid}").text
        answer = http.post(
            f"/v1/approvals/{iid}/decision", json={"value": "yes"}, headers={"X-API-Key": "k-bob"}
        )
        assert answer.status_code == 200 and answer.json()["approval"]["status"] == "resolved"
    assert ran == ["yes"]
    votes = answer.json()["approval"]["quorum"]["votes"]
    assert [(v["by"], v["vote"]) for v in votes] == [("ada", "approve"), ("bob", "approve")]


def test_a_request_asked_again_says_why_in_the_inbox(saver: Any) -> None:
    """A decision withdrawn before it was carried out (its question changed, its validity
    window passed, the code changed under it) returns the request to the inbox with the
    reason, on the list and on its page."""
    ran: list[Any] = []
    asks = {"q": {"pay": 120}}
    graph = pay_graph(saver, ran, asks)
    iid = start(graph)
    asks["q"] = {"pay": 999}  # the code now asks something else at that call
    out = graph.invoke(Command(resume="yes"), as_user("t", "ada"))
    assert out["__interrupt__"][0].value == {"pay": 999} and ran == []
    with served(create_app({"payer": graph}, keys=ApiKeys.parse(KEYS))) as http:
        _login(http, "k-bob")
        assert "asked again" in http.get("/inbox").text
        page = http.get(f"/inbox/{iid}").text
        assert 'id="reopened"' in page and "by ada was withdrawn" in page
        assert "the question changed" in page


def test_a_request_asked_under_an_older_version_says_so_in_the_inbox(saver: Any) -> None:
    import interlock as il

    def build(version: str) -> Any:
        g = il.StateGraph(dict)
        g.add_node("ask", lambda state: {"answer": il.interrupt({"pay": 1})})
        g.add_edge(il.START, "ask")
        return g.compile(checkpointer=saver, name="payer", version=version)

    old = build("2026-12-01")
    [request] = old.invoke({}, as_user("t", "req"))["__interrupt__"]
    with served(create_app({"payer": build("2026-12-06")}, keys=ApiKeys.parse(KEYS))) as http:
        _login(http, "k-bob")
        page = http.get(f"/inbox/{request.id}").text
        assert 'id="older-version"' in page
        assert "asked under graph version 2026-12-01; this server runs 2026-12-06" in page
    with served(create_app({"payer": old}, keys=ApiKeys.parse(KEYS))) as http:
        _login(http, "k-bob")
        assert 'id="older-version"' not in http.get(f"/inbox/{request.id}").text
