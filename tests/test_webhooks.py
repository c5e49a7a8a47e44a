"""Signed webhooks from the audit log: delivered in order, retried, at least once, by one
process at a time, over real HTTP to a loopback receiver."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypedDict

import pytest

from interlock.checkpoint.base import AuditEntry
from interlock.server import Webhook, create_app, verify_signature
from interlock.server.webhooks import WebhookDispatcher, parse_hook, sign
from tests._http import served
from tests.test_server import order_graph

SECRET = "s3cret"


class Receiver:
    """A loopback HTTP server that records webhook calls; answers from a script."""

    def __init__(self, answers: list[int] | None = None) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.answers = list(answers or [])
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = receiver.answers.pop(0) if receiver.answers else 200
                with receiver.arrived:
                    receiver.calls.append((dict(self.headers), body))
                    receiver.arrived.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.calls]

    def wait_for(self, count: int, timeout: float = 20.0) -> None:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.calls) >= count, timeout), self.calls

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


def _entries(saver: Any, *actions: str) -> list[AuditEntry]:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return list(
        saver.append_audit(
            [
                AuditEntry(at=at, actor="ada", action=a, thread_id="t", interrupt_id=f"i{n}")
                for n, a in enumerate(actions)
            ]
        )
    )


def _dispatcher(saver: Any, hooks: list[Webhook], owner: str = "p1") -> WebhookDispatcher:
    """A dispatcher whose hooks start now: a new hook does not replay the log's history."""
    dispatcher = WebhookDispatcher(saver, hooks, owner=owner, lag=0.0, backoff=0.0)
    assert dispatcher.run_once() == 0
    return dispatcher


def test_events_arrive_signed_in_order_and_only_the_chosen_ones(
    saver: Any, receiver: Receiver
) -> None:
    _entries(saver, "approval.requested")  # history: a new hook starts at the end of the log
    hook = Webhook(
        receiver.url, SECRET, events=frozenset({"approval.requested", "approval.decided"})
    )
    dispatcher = _dispatcher(saver, [hook])
    written = _entries(
        saver, "approval.requested", "run.started", "approval.decided", "approval.expired"
    )
    assert dispatcher.run_once() == 2
    assert [e["event"] for e in receiver.events()] == ["approval.requested", "approval.decided"]
    assert [e["id"] for e in receiver.events()] == [written[0].entry_id, written[2].entry_id]
    for headers, body in receiver.calls:
        assert verify_signature(SECRET, headers, body)
        assert not verify_signature("wrong", headers, body)
        assert not verify_signature(SECRET, headers, body + b" ")
        assert not verify_signature(SECRET, {**headers, "X-Interlock-Signature": "sha256=é"}, body)
        assert headers["X-Interlock-Delivery"] == json.loads(body)["id"]
    assert dispatcher.run_once() == 0  # the cursor remembers


def test_failures_are_retried_then_recorded_and_delivery_goes_on(saver: Any) -> None:
    receiver = Receiver(answers=[500, 503, 200, 400])
    try:
        hook = Webhook(receiver.url, SECRET, attempts=3)
        dispatcher = _dispatcher(saver, [hook])
        _entries(saver, "approval.requested", "approval.decided")
        assert dispatcher.run_once() == 1
        # the first event: 500, 503, then 200; the second: 400 is final, not retried
        assert [json.loads(b)["event"] for _, b in receiver.calls] == [
            "approval.requested",
            "approval.requested",
            "approval.requested",
            "approval.decided",
        ]
        failed = [e for e in saver.list_audit().items if e.action == "webhook.failed"]
        assert len(failed) == 1 and failed[0].interrupt_id == "i1"
        assert dispatcher.run_once() == 0  # a failed event is not sent again
    finally:
        receiver.close()


def test_an_unreachable_receiver_is_retried_then_skipped(saver: Any) -> None:
    hook = Webhook("http://127.0.0.1:9/nothing-listens", SECRET, attempts=2)
    dispatcher = _dispatcher(saver, [hook])
    _entries(saver, "approval.requested")
    assert dispatcher.run_once() == 0
    assert [e.action for e in saver.list_audit(limit=1).items] == ["webhook.failed"]


def test_stopping_mid_retry_loses_nothing(saver: Any) -> None:
    receiver = Receiver(answers=[503] * 50)
    try:
        hook = Webhook(receiver.url, SECRET, attempts=5)
        first = _dispatcher(saver, [hook], owner="p1")
        _entries(saver, "approval.requested", "approval.decided", "approval.expired")
        first.backoff = 30.0  # long enough that only stop() can end the wait
        runner = threading.Thread(target=first.run_once)
        runner.start()
        receiver.wait_for(1)  # the first try failed; it now waits to retry
        first.stop()
        runner.join(timeout=30)
        assert not runner.is_alive()
        assert not [e for e in saver.list_audit().items if e.action == "webhook.failed"]
        receiver.answers.clear()  # the receiver is back
        saver.claim_cursor(hook.key, "p1", ttl=0)  # p1 is gone; its lease lapses
        second = WebhookDispatcher(saver, [hook], owner="p2", lag=0.0, backoff=0.0)
        assert second.run_once() == 3  # p2 sends all three, in order
        delivered = [json.loads(b)["event"] for _, b in receiver.calls[-3:]]
        assert delivered == ["approval.requested", "approval.decided", "approval.expired"]
    finally:
        receiver.close()


def test_an_entry_committed_late_is_still_delivered(saver: Any, receiver: Receiver) -> None:
    hook = Webhook(receiver.url, SECRET)
    dispatcher = _dispatcher(saver, [hook])
    _entries(saver, "approval.requested")
    assert dispatcher.run_once() == 1
    # another process took its id a moment ago but committed only now, behind the cursor
    late_id = f"{time.time_ns() - 5 * 10**9:016x}" + "ab" * 8
    at = datetime.now(UTC)
    saver.append_audit(
        [AuditEntry(entry_id=late_id, at=at, actor="x", action="approval.decided", thread_id="t")]
    )
    assert dispatcher.run_once() == 1
    assert [e["id"] for e in receiver.events()][-1] == late_id
    assert dispatcher.run_once() == 0  # and only once


def test_one_process_delivers_at_a_time_and_another_takes_over(
    saver: Any, receiver: Receiver
) -> None:
    hook = Webhook(receiver.url, SECRET)
    first = _dispatcher(saver, [hook], owner="p1")
    second = WebhookDispatcher(saver, [hook], owner="p2", lag=0.0, backoff=0.0)
    _entries(saver, "approval.requested", "approval.decided")
    assert first.run_once() == 2
    assert second.run_once() == 0  # p1 holds the hook's cursor
    _entries(saver, "approval.expired")
    assert saver.claim_cursor(hook.key, "p1", ttl=0) is not None  # p1's lease lapses now
    assert second.run_once() == 1  # p2 carries on from p1's position
    assert [e["event"] for e in receiver.events()] == [
        "approval.requested",
        "approval.decided",
        "approval.expired",
    ]  # nothing twice, nothing lost
    assert first.run_once() == 0  # p1 finds p2 holding it now


def test_a_broken_hook_does_not_hold_the_others_up(saver: Any, receiver: Receiver) -> None:
    broken = Webhook("http://[::1/", SECRET, attempts=1, name="broken")
    good = Webhook(receiver.url, SECRET, name="good")
    dispatcher = _dispatcher(saver, [broken, good])
    _entries(saver, "approval.requested")
    assert dispatcher.run_once() == 1
    assert len(receiver.calls) == 1


def test_recent_entries_wait_for_the_lag(saver: Any, receiver: Receiver) -> None:
    dispatcher = WebhookDispatcher(saver, [Webhook(receiver.url, SECRET)], owner="p", lag=60)
    assert dispatcher.run_once() == 0  # starts at the end of the log
    _entries(saver, "approval.requested")
    assert dispatcher.run_once() == 0  # younger than a minute: left for a later pass
    assert dispatcher.run_once(now=datetime.now(UTC) + timedelta(minutes=2)) == 1


def test_the_server_posts_requests_and_decisions(saver: Any, receiver: Receiver) -> None:
    app = create_app(
        {"orders": order_graph(saver)},
        webhooks=[Webhook(receiver.url, SECRET)],
        webhook_every=0.05,
    )
    with served(app) as http:
        iid = http.post("/v1/threads", json={"input": {"item": "pen"}}).json()["run"]["interrupts"][
            0
        ]["id"]
        http.post(f"/v1/approvals/{iid}/decision", json={"value": {"approved": True}})
        # delivery waits out a 2 s lag (entries committed late by another process)
        receiver.wait_for(2, timeout=30)
    events = receiver.events()
    assert [(e["event"], e["interrupt_id"]) for e in events] == [
        ("approval.requested", iid),
        ("approval.decided", iid),
    ]
    assert events[1]["detail"]["decision"] == {"approved": True}
    assert all(verify_signature(SECRET, h, b) for h, b in receiver.calls)


def test_hook_specs_and_signatures() -> None:
    hook = parse_hook("https://example.org/h|k|approval.decided")
    assert hook.events == frozenset({"approval.decided"}) and hook.secret == "k"
    for bad in ("ftp://x|k", "https://x", "https://x|k|nope", "https://x||"):
        with pytest.raises(ValueError):
            parse_hook(bad)
    body = b'{"a":1}'
    stamp = str(int(time.time()))
    headers = {"X-Interlock-Timestamp": stamp, "X-Interlock-Signature": sign("k", stamp, body)}
    assert verify_signature("k", headers, body)
    assert not verify_signature("k", headers, body, now=time.time() + 3600)  # too old


def test_decisions_made_with_the_library_are_posted_too(saver: Any, receiver: Receiver) -> None:
    from interlock import Command

    dispatcher = _dispatcher(saver, [Webhook(receiver.url, SECRET)])
    graph = order_graph(saver)
    config = {"configurable": {"thread_id": "lib", "user_id": "bob"}}
    [request] = graph.invoke({"item": "cup"}, config)["__interrupt__"]
    graph.invoke(
        Command(resume={"approved": True}), {"configurable": {"thread_id": "lib", "user_id": "ada"}}
    )
    assert dispatcher.run_once() == 2  # the store wrote both entries with the request and decision
    events = receiver.events()
    assert [(e["event"], e["actor"]) for e in events] == [
        ("approval.requested", "bob"),
        ("approval.decided", "ada"),
    ]
    assert events[1]["interrupt_id"] == request.id
    assert events[1]["detail"]["decision"] == {"approved": True}


def test_escalations_are_posted(saver: Any, receiver: Receiver) -> None:
    from datetime import timedelta

    import interlock as il

    class S(TypedDict, total=False):
        answer: Any

    def ask(state: S) -> dict:
        return {
            "answer": il.interrupt(
                {"pay": 5},
                approvers=["ada"],
                deadline=60,
                escalate=il.Escalation(to=["role:admin"], deadline=60),
            )
        }

    g = il.StateGraph(S)
    g.add_node("ask", ask)
    g.add_edge(il.START, "ask")
    graph = g.compile(checkpointer=saver)
    dispatcher = _dispatcher(saver, [Webhook(receiver.url, SECRET)])
    [request] = graph.invoke({}, {"configurable": {"thread_id": "esc"}})["__interrupt__"]
    asked_at = saver.get_interrupt(request.id).created_at
    assert graph.expire_due(now=asked_at + timedelta(seconds=61)) == []
    assert dispatcher.run_once() == 2
    requested, escalated = receiver.events()
    assert requested["event"] == "approval.requested"
    assert escalated["event"] == "approval.escalated" and escalated["interrupt_id"] == request.id
    assert escalated["detail"]["from"] == ["ada"] and escalated["detail"]["to"] == ["role:admin"]


def test_a_request_cancelled_by_a_fork_is_posted(saver: Any, receiver: Receiver) -> None:
    """A subscriber told a request was asked hears when a fork cancels it."""
    import interlock as il

    class S(TypedDict, total=False):
        answer: Any
        log: list[str]

    g = il.StateGraph(S)
    g.add_node("draft", lambda s: {"log": ["draft"]})
    g.add_node("ask", lambda s: {"answer": il.interrupt({"pay": 5}, approvers=["ada"])})
    g.add_edge(il.START, "draft")
    g.add_edge("draft", "ask")
    graph = g.compile(checkpointer=saver)
    dispatcher = _dispatcher(saver, [Webhook(receiver.url, SECRET)])
    config = {"configurable": {"thread_id": "forked", "user_id": "bob"}}
    [request] = graph.invoke({}, config)["__interrupt__"]
    older = next(s for s in graph.get_state_history(config) if s.next == ("draft",))
    fork = {"configurable": {**older.config["configurable"], "user_id": "bob"}}
    graph.invoke(None, fork)  # a fork: the old head's request is cancelled (by bob)
    assert dispatcher.run_once() == 3
    requested, cancelled, asked_again = receiver.events()
    assert requested["event"] == "approval.requested"
    assert cancelled["event"] == "approval.cancelled"
    assert cancelled["interrupt_id"] == request.id and cancelled["actor"] == "bob"
    assert asked_again["event"] == "approval.requested"
    assert asked_again["interrupt_id"] != request.id
