"""Quorum over `/v1`: a vote that does not decide answers 202 with the votes so far; the
N-th approval resumes the run (200); one vote per person (409); the requester and service
keys never count (403); `valid_for` in the decision body. Every test runs on each store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypedDict

import pytest
from fastapi.testclient import TestClient

import interlock as il
from interlock.server import ApiKeys, create_app

KEYS = (
    "k-bob=bob:requester,approver;k-ada=ada:approver;k-cy=cy:approver;k-dan=dan:approver;"
    "k-bot=bot:approver,service;k-root=root:admin"
)
ran: list[Any] = []


def key(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer k-{name}"}


class Pay(TypedDict, total=False):
    amount: int
    answer: Any


def quorum_graph(saver: Any) -> Any:
    def ask(state: Pay) -> dict:
        answer = il.interrupt(
            {"pay": state.get("amount")}, approvers=["ada", "cy", "dan", "bot", "bob"], quorum=2
        )
        ran.append(answer)
        return {"answer": answer}

    g = il.StateGraph(Pay)
    g.add_node("ask", ask)
    g.add_edge(il.START, "ask")
    return g.compile(checkpointer=saver, name="pay")


@pytest.fixture
def client(saver: Any) -> Iterator[TestClient]:
    ran.clear()
    app = create_app({"pay": quorum_graph(saver)}, keys=ApiKeys.parse(KEYS))
    with TestClient(app, raise_server_exceptions=False) as http:
        yield http


def pending(client: TestClient) -> str:
    started = client.post("/v1/threads", json={"input": {"amount": 5}}, headers=key("bob"))
    assert started.status_code == 201, started.text
    return str(started.json()["run"]["interrupts"][0]["id"])


def decide(client: TestClient, iid: str, who: str, value: Any = "yes", **extra: Any) -> Any:
    return client.post(
        f"/v1/approvals/{iid}/decision", json={"value": value, **extra}, headers=key(who)
    )


def test_a_vote_short_of_the_quorum_is_202_with_the_votes(client: TestClient) -> None:
    iid = pending(client)
    assert client.get(f"/v1/approvals/{iid}", headers=key("ada")).json()["quorum"] == {
        "required": 2,
        "votes": [],
    }
    first = decide(client, iid, "ada")
    assert first.status_code == 202, first.text
    body = first.json()
    assert body["approval"]["status"] == "pending" and body["run"]["status"] == "paused"
    [vote] = body["approval"]["quorum"]["votes"]
    assert vote["by"] == "ada" and vote["vote"] == "approve" and vote["at"]
    assert ran == []
    again = decide(client, iid, "ada")
    assert again.status_code == 409 and again.json()["error"] == "already_voted"
    listed = client.get("/v1/approvals", headers=key("cy")).json()["approvals"]
    assert [a["quorum"]["votes"][0]["by"] for a in listed] == ["ada"]
    done = decide(client, iid, "cy")
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["approval"]["status"] == "resolved" and body["approval"]["decided_by"] == "cy"
    assert [v["by"] for v in body["approval"]["quorum"]["votes"]] == ["ada", "cy"]
    assert body["approval"]["binding"]["by"] == "cy" and body["run"]["status"] == "finished"
    assert ran == ["yes"]
    late = decide(client, iid, "dan")
    assert late.status_code == 409 and ran == ["yes"]


def test_a_service_key_and_the_requester_never_count(client: TestClient) -> None:
    iid = pending(client)
    bot = decide(client, iid, "bot")
    assert bot.status_code == 403 and bot.json()["error"] == "not_a_person"
    requester = decide(client, iid, "bob")
    assert requester.status_code == 403 and requester.json()["error"] == "self_approval"
    view = client.get(f"/v1/approvals/{iid}", headers=key("ada")).json()
    assert view["status"] == "pending" and view["quorum"]["votes"] == []
    audit = client.get("/v1/audit", params={"interrupt_id": iid}, headers=key("root")).json()
    refused = [e for e in audit["entries"] if e["action"] == "approval.refused"]
    assert {e["detail"]["reason"] for e in refused} == {"not_a_person", "self_approval"}
    assert not [e for e in audit["entries"] if e["action"] == "approval.voted"]


def test_a_reject_vote_vetoes_over_http(client: TestClient) -> None:
    iid = pending(client)
    assert decide(client, iid, "ada").status_code == 202
    veto = decide(client, iid, "dan", {"approved": False})
    assert veto.status_code == 200
    assert veto.json()["approval"]["decision"] == {"approved": False}
    assert ran == [{"approved": False}]


def test_valid_for_is_checked_and_recorded(client: TestClient) -> None:
    iid = pending(client)
    bad = decide(client, iid, "ada", valid_for=0)
    assert bad.status_code == 422
    assert decide(client, iid, "ada", valid_for=3600).status_code == 202
    done = decide(client, iid, "cy", valid_for=3600)
    assert done.status_code == 200
    assert "valid_until" in done.json()["approval"]["binding"]


def test_a_request_without_a_quorum_shows_none(saver: Any) -> None:
    def ask(state: Pay) -> dict:
        return {"answer": il.interrupt({"pay": 1})}

    g = il.StateGraph(Pay)
    g.add_node("ask", ask)
    g.add_edge(il.START, "ask")
    app = create_app({"pay": g.compile(checkpointer=saver, name="pay")}, keys=ApiKeys.parse(KEYS))
    with TestClient(app, raise_server_exceptions=False) as http:
        iid = pending(http)
        assert http.get(f"/v1/approvals/{iid}", headers=key("ada")).json()["quorum"] is None
        done = decide(http, iid, "bot")  # a service key decides a plain request as today
        assert done.status_code == 200 and done.json()["approval"]["quorum"] is None


def test_a_vote_landing_while_another_holds_the_thread_still_counts(saver: Any) -> None:
    """Two votes landing together both count: the one that finds the thread busy (another
    vote being counted holds it) waits for it instead of answering 409 `thread_busy`. Here
    the thread is held on purpose until the vote has been turned away once."""
    import threading

    from tests._http import served

    ran.clear()
    app = create_app({"pay": quorum_graph(saver)}, keys=ApiKeys.parse(KEYS))
    refused = threading.Event()
    taking = saver.acquire_and_get

    def spy(thread_id: str, owner: str, **kw: Any) -> Any:
        taken = taking(thread_id, owner, **kw)
        if not taken[0]:
            refused.set()
        return taken

    with served(app) as http:
        started = http.post("/v1/threads", json={"input": {"amount": 5}}, headers=key("bob"))
        iid = started.json()["run"]["interrupts"][0]["id"]
        thread_id = started.json()["thread_id"]
        assert saver.acquire_thread(thread_id, "someone-else", ttl=60)
        saver.acquire_and_get = spy  # (an instance attribute: this test's saver only)
        answers: list[Any] = []
        voter = threading.Thread(
            target=lambda: answers.append(
                http.post(
                    f"/v1/approvals/{iid}/decision", json={"value": "yes"}, headers=key("ada")
                )
            )
        )
        voter.start()
        assert refused.wait(30), "the vote never found the thread busy"
        saver.release_thread(thread_id, "someone-else")
        voter.join(30)
        [answer] = answers
        assert answer.status_code == 202, answer.text  # counted, 1 of 2
        assert [v.voter for v in saver.list_votes(iid)] == ["ada"]
        done = http.post(f"/v1/approvals/{iid}/decision", json={"value": "yes"}, headers=key("cy"))
        assert done.status_code == 200 and ran == ["yes"]
