"""The web inbox shows a quorum request's votes from the votes room ("1 of 2 approvals, by
ada"), lets the next approver add theirs, and tells one who voted that they did."""

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
