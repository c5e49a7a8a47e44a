"""The web inbox over real HTTP: log in, see requests from every thread, decide with a form
(exactly once, CSRF-checked, no self-approval), and nothing a request says is run as HTML."""

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
from tests._http import served

KEYS = "k-ada=ada:approver;k-bob=bob:requester;k-carl=carl:requester,approver"
ran: list[Any] = []
lock = threading.Lock()


class Ask(TypedDict, total=False):
    item: str
    answer: Any


def ask_graph(saver: Any) -> il.CompiledStateGraph:
    def ask(state: Ask) -> dict:
        answer = il.interrupt({"ship": state["item"]})
        with lock:
            ran.append(answer)
        return {"answer": answer}

    g = il.StateGraph(Ask)
    g.add_node("ask", ask)
    g.add_edge(il.START, "ask")
    return g.compile(checkpointer=saver, name="asker")


@pytest.fixture(autouse=True)
def _clear() -> None:
    ran.clear()


def _login(http: httpx.Client, key: str) -> None:
    response = http.post("/inbox/login", data={"key": key})
    assert response.status_code == 303 and response.headers["location"] == "/inbox"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert match, page
    return match.group(1)


def _ask(http: httpx.Client, item: str) -> str:
    started = http.post(
        "/v1/threads", json={"input": {"item": item}}, headers={"X-API-Key": "k-bob"}
    )
    return str(started.json()["run"]["interrupts"][0]["id"])


def test_an_approver_logs_in_sees_every_thread_and_decides_once(saver: Any) -> None:
    with served(create_app({"asker": ask_graph(saver)}, keys=ApiKeys.parse(KEYS))) as http:
        ids = [_ask(http, f"item-{i}") for i in range(3)]
        assert http.get("/inbox").headers["location"] == "/inbox/login"  # not logged in
        assert http.post("/inbox/login", data={"key": "wrong"}).status_code == 401
        _login(http, "k-ada")
        listing = http.get("/inbox").text
        assert all(f"/inbox/{iid}" in listing for iid in ids)
        assert "item-2" in listing and "bob" in listing

        page = http.get(f"/inbox/{ids[0]}").text
        assert "item-0" in page and "Answer (JSON)" in page
        sent = http.post(
            f"/inbox/{ids[0]}", data={"csrf": _csrf(page), "form": "answer", "answer": '"yes"'}
        )
        assert sent.status_code == 303 and sent.headers["location"].startswith("/inbox?done=")
        assert ran == ["yes"]
        assert f"/inbox/{ids[0]}" not in http.get("/inbox").text
        again = http.post(
            f"/inbox/{ids[0]}", data={"csrf": _csrf(page), "form": "answer", "answer": '"no"'}
        )
        assert again.status_code == 409 and "already resolved by ada" in again.text
        assert ran == ["yes"]
        audit = http.get(
            "/v1/audit", params={"interrupt_id": ids[0]}, headers={"X-API-Key": "k-ada"}
        )
        assert audit.status_code == 403  # the audit log is for admins


def test_forms_need_the_csrf_token_and_valid_json(saver: Any) -> None:
    with served(create_app({"asker": ask_graph(saver)}, keys=ApiKeys.parse(KEYS))) as http:
        iid = _ask(http, "lamp")
        _login(http, "k-ada")
        forged = http.post(f"/inbox/{iid}", data={"form": "answer", "answer": "1"})
        assert forged.status_code == 403
        page = http.get(f"/inbox/{iid}").text
        broken = http.post(
            f"/inbox/{iid}", data={"csrf": _csrf(page), "form": "answer", "answer": "{nope"}
        )
        assert broken.status_code == 422 and "not JSON" in broken.text
        assert ran == [] and saver.get_interrupt(iid).status == "pending"


def test_requesters_cannot_use_the_inbox_or_approve_their_own(saver: Any) -> None:
    with served(create_app({"asker": ask_graph(saver)}, keys=ApiKeys.parse(KEYS))) as http:
        started = http.post(
            "/v1/threads", json={"input": {"item": "x"}}, headers={"X-API-Key": "k-carl"}
        ).json()
        own = started["run"]["interrupts"][0]["id"]
        _login(http, "k-bob")
        assert http.get("/inbox").status_code == 403
        http.cookies.clear()
        _login(http, "k-carl")  # both roles, but it is carl's own request
        page = http.get(f"/inbox/{own}").text
        refused = http.post(
            f"/inbox/{own}", data={"csrf": _csrf(page), "form": "answer", "answer": "1"}
        )
        assert refused.status_code == 403 and "may not decide" in refused.text
        assert ran == [] and saver.get_interrupt(own).status == "pending"


def test_what_a_request_says_is_shown_not_run(saver: Any) -> None:
    with served(create_app({"asker": ask_graph(saver)}, keys=ApiKeys.parse(KEYS))) as http:
        iid = _ask(http, "<script>alert('x')</script>")
        _login(http, "k-ada")
        for page in (http.get("/inbox").text, http.get(f"/inbox/{iid}").text):
            assert "<script>alert" not in page
            assert "&lt;script&gt;" in page


def test_a_forged_or_expired_session_is_refused(saver: Any) -> None:
    with served(create_app({"asker": ask_graph(saver)}, keys=ApiKeys.parse(KEYS))) as http:
        http.cookies.set("interlock_session", "ada:9999999999:" + "0" * 64)
        assert http.get("/inbox").headers["location"] == "/inbox/login"
        http.cookies.set("interlock_session", "ada:1:whatever")
        assert http.get("/inbox").headers["location"] == "/inbox/login"


@tool
def refund(order_id: str, amount: float) -> str:
    """Refund an order.

    Args:
        order_id: The order.
        amount: How much.
    """
    with lock:
        ran.append(("refund", order_id, amount))
    return f"refunded {amount}"


def test_an_agents_tool_call_is_edited_in_the_form_and_the_edit_runs(saver: Any) -> None:
    model = ScriptedChatModel(
        [
            AIMessage(
                content="",
                tool_calls=[
                    {"name": "refund", "args": {"order_id": "o1", "amount": 90.0}, "id": "c1"}
                ],
            ),
            "Refunded.",
        ]
    )
    agent = create_agent(
        model=model, tools=[refund], checkpointer=saver, interrupt_on={"refund": True}
    )
    with served(create_app({"support": agent}, keys=ApiKeys.parse(KEYS))) as http:
        started = http.post(
            "/v1/threads", json={"message": "refund o1"}, headers={"X-API-Key": "k-bob"}
        ).json()
        iid = started["run"]["interrupts"][0]["id"]
        _login(http, "k-ada")
        listing = http.get("/inbox").text
        assert ">refund</a>" in listing and "order_id: o1, amount: 90.0" in listing
        page = http.get(f"/inbox/{iid}").text
        assert "refund o1" in page  # the conversation that led to it
        assert '"amount": 90.0' in html.unescape(page)  # the arguments, editable
        bad = http.post(
            f"/inbox/{iid}",
            data={"csrf": _csrf(page), "form": "actions", "decision_0": "edit", "args_0": "{"},
        )
        assert bad.status_code == 422 and ran == []
        sent = http.post(
            f"/inbox/{iid}",
            data={
                "csrf": _csrf(page),
                "form": "actions",
                "decision_0": "edit",
                "args_0": '{"order_id": "o1", "amount": 45.0}',
            },
        )
        assert sent.status_code == 303
    assert ran == [("refund", "o1", 45.0)]


def test_without_keys_the_inbox_is_open_for_local_use(saver: Any) -> None:
    with served(create_app({"asker": ask_graph(saver)})) as http:
        iid = http.post("/v1/threads", json={"input": {"item": "pen"}}).json()["run"]["interrupts"][
            0
        ]["id"]
        assert http.get("/").headers["location"] == "/inbox"
        page = http.get(f"/inbox/{iid}").text
        sent = http.post(
            f"/inbox/{iid}", data={"csrf": _csrf(page), "form": "answer", "answer": "true"}
        )
        assert sent.status_code == 303 and ran == [True]


def test_a_threads_timeline_and_the_audit_log(saver: Any) -> None:
    keys = ApiKeys.parse(KEYS + ";k-root=root:admin")
    with served(create_app({"asker": ask_graph(saver)}, keys=keys)) as http:
        iid = _ask(http, "<b>bold</b>")
        thread_id = saver.get_interrupt(iid).thread_id
        _login(http, "k-ada")
        page = http.get(f"/inbox/{iid}").text
        assert f"/inbox/threads/{thread_id}" in page
        http.post(f"/inbox/{iid}", data={"csrf": _csrf(page), "form": "answer", "answer": '"ok"'})
        timeline = http.get(f"/inbox/threads/{thread_id}").text
        assert "resolved" in timeline and "ada: ok" in timeline
        assert "approval decided" in timeline and "run started" in timeline
        assert "<b>bold</b>" not in timeline  # values are text
        assert http.get("/inbox/threads/nope").status_code == 404
        assert http.get("/inbox/audit").status_code == 403  # approvers: no audit log
        http.cookies.clear()
        _login(http, "k-root")
        audit = http.get("/inbox/audit").text
        assert "approval.decided" in audit and "approval.requested" in audit
        assert f"/inbox/threads/{thread_id}" in audit


def test_the_inbox_event_stream_says_when_requests_change(saver: Any) -> None:
    with served(create_app({"asker": ask_graph(saver)}, keys=ApiKeys.parse(KEYS))) as http:
        _login(http, "k-ada")
        with http.stream("GET", "/inbox/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            assert next(lines) == ": watching"
            _ask(http, "cup")
            while (line := next(lines)) != "event: changed":
                assert line == ""
            assert next(lines) == "data: 1"
        http.cookies.clear()
        assert http.get("/inbox/events").headers["location"] == "/inbox/login"


def test_forms_from_other_sites_and_bare_logouts_are_refused(saver: Any) -> None:
    with served(create_app({"asker": ask_graph(saver)}, keys=ApiKeys.parse(KEYS))) as http:
        evil = {"Origin": "http://evil.example"}
        assert http.post("/inbox/login", data={"key": "k-ada"}, headers=evil).status_code == 403
        assert (
            http.post(
                "/inbox/login", data={"key": "k-ada"}, headers={"Sec-Fetch-Site": "cross-site"}
            ).status_code
            == 403
        )
        _login(http, "k-ada")
        assert http.post("/inbox/logout", data={}).status_code == 403  # no CSRF token
        assert http.get("/inbox").status_code == 200  # still logged in
        page = http.get("/inbox").text
        out = http.post("/inbox/logout", data={"csrf": _csrf(page)})
        assert out.status_code == 303


def test_one_name_cannot_carry_two_sets_of_roles() -> None:
    with pytest.raises(ValueError, match="different roles"):
        ApiKeys.parse("k1=eve:requester;k2=eve:admin")
    assert ApiKeys.parse("k1=eve:approver;k2=eve:approver").named("eve") is not None


def test_requests_of_an_unexpected_shape_are_answered_as_json(saver: Any) -> None:
    def odd(state: Ask) -> dict:
        answer = il.interrupt({"action_requests": ["not a dict"], "review_configs": {"x": 1}})
        with lock:
            ran.append(answer)
        return {"answer": answer}

    g = il.StateGraph(Ask)
    g.add_node("odd", odd)
    g.add_edge(il.START, "odd")
    graph = g.compile(checkpointer=saver, name="odd")
    with served(create_app({"odd": graph}, keys=ApiKeys.parse(KEYS))) as http:
        iid = _ask(http, "x")
        _login(http, "k-ada")
        assert http.get("/inbox").status_code == 200
        page = http.get(f"/inbox/{iid}")
        assert page.status_code == 200 and "Answer (JSON)" in page.text
        wrong = http.post(f"/inbox/{iid}", data={"csrf": _csrf(page.text), "form": "actions"})
        assert wrong.status_code == 422
        ok = http.post(
            f"/inbox/{iid}", data={"csrf": _csrf(page.text), "form": "answer", "answer": "7"}
        )
        assert ok.status_code == 303 and ran == [7]


def test_a_review_needs_an_allowed_decision_for_each_call(saver: Any) -> None:
    model = ScriptedChatModel(
        [
            AIMessage(
                content="",
                tool_calls=[
                    {"name": "refund", "args": {"order_id": "o1", "amount": 1.0}, "id": "c1"}
                ],
            ),
            "ok",
        ]
    )
    agent = create_agent(
        model=model,
        tools=[refund],
        checkpointer=saver,
        interrupt_on={"refund": {"allowed_decisions": ["approve", "reject"]}},
    )
    with served(create_app({"support": agent}, keys=ApiKeys.parse(KEYS))) as http:
        iid = http.post(
            "/v1/threads", json={"message": "refund"}, headers={"X-API-Key": "k-bob"}
        ).json()["run"]["interrupts"][0]["id"]
        _login(http, "k-ada")
        page = http.get(f"/inbox/{iid}").text
        for choice in (None, "edit", "bogus"):
            data = {"csrf": _csrf(page), "form": "actions", "args_0": "{}"}
            if choice:
                data["decision_0"] = choice
            refused = http.post(f"/inbox/{iid}", data=data)
            assert refused.status_code == 422 and "choose one of" in refused.text
        assert ran == [] and saver.get_interrupt(iid).status == "pending"


def test_same_origin_posts_is_only_about_posts_under_its_prefix() -> None:
    import asyncio

    from interlock.server._same_origin import SameOriginPosts

    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["path"])

    def call(method: str, path: str, headers: list[tuple[bytes, bytes]], **scope: Any) -> int:
        sent: list[Any] = []

        async def send(message: Any) -> None:
            sent.append(message)

        async def receive() -> Any:
            return {"type": "http.request", "body": b""}

        full = {"type": "http", "method": method, "path": path, "headers": headers, **scope}
        asyncio.run(SameOriginPosts(inner, prefix="/inbox")(full, receive, send))
        return sent[0]["status"] if sent else 200

    own = [(b"host", b"inbox.example:8443"), (b"origin", b"https://inbox.example:8443")]
    assert call("POST", "/inbox/x", own, scheme="https") == 200
    assert call("POST", "/inbox/x", own, scheme="http") == 403  # another origin
    evil = [(b"origin", b"http://evil.example")]
    assert call("POST", "/inbox/x", evil, scheme="http", server=("evil.example", 80)) == 200
    assert call("POST", "/inbox/x", evil, scheme="http", server=("own.example", 80)) == 403
    assert call("GET", "/inbox/x", [*evil, (b"sec-fetch-site", b"cross-site")]) == 200
    assert call("POST", "/v1/threads", [*evil, (b"sec-fetch-site", b"cross-site")]) == 200
    assert seen == ["/inbox/x", "/inbox/x", "/inbox/x", "/v1/threads"]
