"""The thread protocol's translation of the run event log (`_protocol`, pure) and where a
subscription starts (`_follow_thread.start_of`, on a real store)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from interlock.checkpoint.base import RunEvent
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.server.agent_server._chunks import Slimmer
from interlock.server.agent_server._follow_thread import start_of
from interlock.server.agent_server._protocol import SUB, Subscription, Translator

AT = datetime(2026, 1, 1, tzinfo=UTC)


def _feed(events: list[tuple[str, str, Any]]) -> list[dict[str, Any]]:
    translator = Translator("g")
    out: list[dict[str, Any]] = []
    for seq, (run, kind, data) in enumerate(events, start=1):
        out.extend(
            translator.feed(
                RunEvent(thread_id="t", seq=seq, run_id=run, event=kind, data=data, at=AT)
            )
        )
    return out


def _short(events: list[dict[str, Any]]) -> list[tuple[int, str, Any]]:
    return [(e["seq"], e["method"], e["params"]["data"]) for e in events]


def test_a_run_to_its_pause_and_on() -> None:
    got = _feed(
        [
            ("r1", "run", {"assistant_id": "x"}),
            ("r1", "metadata", {"run_id": "r1"}),
            ("r1", "values", {"a": 1, "__interrupt__": [{"value": "v", "id": "i1"}]}),
            ("r1", "interrupts", [{"value": "v", "id": "i1"}]),
            ("r1", "end", {"status": "interrupted"}),
            ("r2", "metadata", {"run_id": "r2"}),
            ("r2", "error", {"error": "Boom", "message": "it broke"}),
        ]
    )
    assert _short(got) == [
        (2 * SUB, "lifecycle", {"event": "started", "graph_name": "g"}),
        (3 * SUB, "values", {"a": 1}),
        (4 * SUB, "input.requested", {"interrupt_id": "i1", "payload": "v", "value": "v"}),
        (5 * SUB, "lifecycle", {"event": "interrupted"}),
        (6 * SUB, "lifecycle", {"event": "started", "graph_name": "g"}),
        (7 * SUB, "lifecycle", {"event": "failed", "error": "it broke"}),
    ]
    assert all(e["event_id"] == str(e["seq"]) and e["params"]["namespace"] == [] for e in got)


def test_a_log_without_its_interrupts_event_still_asks() -> None:
    """Logs written before the `interrupts` event: the requests come from the chunks."""
    got = _feed(
        [
            ("r1", "metadata", {}),
            ("r1", "updates", {"__interrupt__": [{"value": {"q": 1}, "id": "i9"}]}),
            ("r1", "end", {"status": "interrupted"}),
        ]
    )
    assert [(e["method"], e["params"]["data"]) for e in got[1:]] == [
        ("input.requested", {"interrupt_id": "i9", "payload": {"q": 1}, "value": {"q": 1}}),
        ("lifecycle", {"event": "interrupted"}),
    ]
    assert [e["seq"] for e in got[1:]] == [3 * SUB, 3 * SUB + 1]


def test_streamed_messages_are_finished_at_the_next_event() -> None:
    chunk = {"type": "AIMessageChunk", "id": "m1", "content": "he", "tool_call_chunks": []}
    more = {**chunk, "content": "llo"}
    call = {**chunk, "content": "", "tool_call_chunks": [{"index": 0, "id": "c1", "name": "f"}]}
    args = {**chunk, "content": "", "tool_call_chunks": [{"index": 0, "args": '{"x": 1}'}]}
    meta = {"langgraph_node": "model"}
    got = _feed(
        [
            ("r", "messages", [chunk, meta]),
            ("r", "messages", [more, meta]),
            ("r", "messages", [call, meta]),
            ("r", "messages", [args, meta]),
            ("r", "updates", {"model": {"n": 1}}),
        ]
    )
    data = [e["params"]["data"] for e in got]
    assert [d["event"] for d in data if e_is_message(d)] == [
        "message-start",
        "content-block-start",
        "content-block-delta",
        "content-block-delta",
        "content-block-finish",
        "content-block-finish",
        "message-finish",
    ]
    assert data[0] == {
        "event": "message-start",
        "role": "ai",
        "id": "m1",
        "metadata": {"langgraph_node": "model"},
    }
    finished = [d for d in data if d.get("event") == "content-block-finish"]
    assert finished[0]["content"] == {"type": "text", "text": "hello"}
    assert finished[1]["content"] == {
        "type": "tool_call",
        "id": "c1",
        "name": "f",
        "args": {"x": 1},
    }
    assert data[-1] == {"node": "model", "values": {"n": 1}}  # the update after the finish


def e_is_message(data: dict[str, Any]) -> bool:
    return "event" in data


def test_tools_come_from_the_updates() -> None:
    ai = {
        "type": "ai",
        "id": "a",
        "content": "",
        "tool_calls": [{"id": "c1", "name": "pay", "args": {"n": 2}}],
    }
    done = {
        "type": "tool",
        "tool_call_id": "c1",
        "name": "pay",
        "content": "paid",
        "status": "success",
    }
    failed = {
        "type": "tool",
        "tool_call_id": "c2",
        "name": "pay",
        "content": "no",
        "status": "error",
    }
    got = _feed(
        [
            ("r1", "updates", {"model": {"messages": [ai]}}),
            ("r2", "updates", {"tools": {"messages": [done, failed]}}),  # a later run
        ]
    )
    tools = [e["params"]["data"] for e in got if e["method"] == "tools"]
    assert tools == [
        {"event": "tool-started", "tool_call_id": "c1", "tool_name": "pay", "input": {"n": 2}},
        {"event": "tool-finished", "tool_call_id": "c1", "output": "paid"},
        {"event": "tool-started", "tool_call_id": "c2", "tool_name": "pay", "input": None},
        {"event": "tool-error", "tool_call_id": "c2", "message": "no"},
    ]


def test_custom_events_and_what_a_subscription_wants() -> None:
    (event,) = _feed([("r", "custom", {"k": 1})])
    assert event["params"]["data"] == {"payload": {"k": 1}}
    assert Subscription.parse({"channels": ["custom"]}).wants(event)
    assert not Subscription.parse({"channels": ["custom:other"]}).wants(event)
    assert not Subscription.parse({"channels": ["values"]}).wants(event)
    assert Subscription.parse({"channels": ["custom"], "namespaces": [[]]}).wants(event)
    assert not Subscription.parse({"channels": ["custom"], "namespaces": [["sub"]]}).wants(event)
    (asked,) = _feed([("r", "interrupts", [{"value": 1, "id": "i"}])])
    assert Subscription.parse({"channels": ["input"]}).wants(asked)
    (value,) = _feed([("r", "values", [1, 2])])  # a functional entrypoint's value
    assert value["params"]["data"] == [1, 2]
    assert not Subscription.parse({"channels": ["custom:x"]}).wants(value)


@pytest.mark.parametrize(
    "body",
    [
        None,
        {},
        {"channels": []},
        {"channels": ["nope"]},
        {"channels": ["values"], "since": -1},
        {"channels": ["values"], "since": True},
        {"channels": ["values"], "namespaces": "x"},
        {"channels": ["values"], "depth": "1"},
    ],
)
def test_a_malformed_subscription_is_refused(body: Any) -> None:
    with pytest.raises(ValueError):
        Subscription.parse(body)


def test_where_a_subscription_starts(tmp_path: Path) -> None:
    saver = SqliteSaver(tmp_path / "s.db")
    try:
        assert start_of(saver, "t", None) == (0, -1)
        saver.append_events("t", "r1", [("metadata", {}), ("end", {"status": "success"})])
        saver.append_events("t", "r2", [("metadata", {}), ("end", {"status": "interrupted"})])
        saver.append_events("t", "thread-metadata", [("thread.metadata", {})])
        saver.append_events("t", "r3", [("metadata", {}), ("values", {})])
        # the current exchange: r2 (paused) and r3, not r1 (completed)
        assert start_of(saver, "t", None) == (2, -1)
        saver.append_events("t", "r3", [("end", {"status": "success"})])
        assert start_of(saver, "t", None) == (2, -1)  # r3 ended the exchange it is in
        # since: the exchange of that event again from its start, skipping what was sent
        assert start_of(saver, "t", 6 * SUB + 0) == (2, 6 * SUB)  # r3's: r2 paused before it
        assert start_of(saver, "t", 4 * SUB + 1) == (2, 4 * SUB + 1)  # r2 from seq 3
        assert start_of(saver, "t", 2 * SUB) == (0, 2 * SUB)  # r1's exchange: r1 alone
        assert start_of(saver, "t", 5 * SUB) == (5, 5 * SUB)  # thread metadata: after it
        assert start_of(saver, "t", 99 * SUB) == (99, 99 * SUB)
    finally:
        saver.close()


def test_namespaces_tasks_and_checkpoints_from_the_log() -> None:
    """A subgraph's chunk (`<mode>|<namespace>`) is sent at its namespace; slim
    `checkpoints` and task starts are whole again (`_chunks`)."""
    ns = "review:t1"
    state = {"item": "a"}
    slim = Slimmer()
    logged = [
        (mode + (f"|{ns}" if inside else ""), slim(mode, (ns,) if inside else (), data))
        for mode, inside, data in [
            ("values", False, state),
            ("checkpoints", False, {"config": {"c": 1}, "values": state, "next": ["review"]}),
            ("tasks", False, {"id": "t1", "name": "review", "input": state, "triggers": ()}),
            ("values", True, state),
            ("tasks", True, {"id": "t2", "name": "look", "input": {"other": 1}, "triggers": ()}),
            ("updates", True, {"look": {"note": "n"}}),
            ("tasks", False, {"id": "t1", "name": "review", "result": {}, "interrupts": []}),
        ]
    ]
    assert "values" not in logged[1][1] and "input" not in logged[2][1]  # stored slim
    assert logged[4][1]["input"] == {"other": 1}  # not the state: kept whole
    got = _feed([("r", "metadata", {}), *[("r", name, data) for name, data in logged]])
    assert [(e["method"], e["params"]["namespace"]) for e in got] == [
        ("lifecycle", []),
        ("values", []),
        ("checkpoints", []),
        ("tasks", []),
        ("values", [ns]),
        ("tasks", [ns]),
        ("updates", [ns]),
        ("tasks", []),
    ]
    assert got[2]["params"]["data"]["values"] == state
    assert got[3]["params"]["data"]["input"] == state
    assert got[6]["params"]["data"] == {"node": "look", "values": {"note": "n"}}
    inside = Subscription.parse({"channels": ["updates"], "namespaces": [["review"]]})
    assert inside.wants(got[6]) and not inside.wants({**got[6], "params": {"namespace": []}})
    exact = Subscription.parse({"channels": ["tasks"], "namespaces": [[]], "depth": 0})
    assert [exact.wants(e) for e in got[3:6]] == [True, False, False]


def test_a_slim_chunk_is_not_filled_with_a_stale_state() -> None:
    """A `values` chunk lost between writer and store (the store failed a batch): the
    slim checkpoint after it stays slim rather than carrying the state before."""
    slim = Slimmer()
    old, new = {"n": 1}, {"n": 2}
    written = [
        ("values", slim("values", (), old)),
        ("tasks", slim("tasks", (), {"id": "a", "name": "a", "result": {"n": 2}})),
        ("updates", slim("updates", (), {"a": {"n": 2}})),
        ("values", slim("values", (), new)),  # lost: not in the log
        ("checkpoints", slim("checkpoints", (), {"config": {}, "values": new})),
    ]
    assert written[-1][1] == {"config": {}}
    got = _feed([("r", name, data) for i, (name, data) in enumerate(written) if i != 3])
    assert got[-1]["method"] == "checkpoints" and got[-1]["params"]["data"] == {"config": {}}
    whole = _feed([("r", name, data) for name, data in written])
    assert whole[-1]["params"]["data"] == {"config": {}, "values": new}


def test_a_request_asked_again_unchanged_is_not_sent_twice() -> None:
    """A vote that does not complete a quorum pauses on the same request again: not a
    second `input.requested` (the SDK lists each until the run completes); a changed
    question is sent; after the exchange ends, a request is new again."""
    first = {"value": "v", "id": "i1", "quorum": {"required": 2, "approvals": 0, "votes": []}}
    voted = {**first, "quorum": {"required": 2, "approvals": 1, "votes": [{"by": "ada"}]}}
    got = _feed(
        [
            ("r1", "interrupts", [first]),
            ("r1", "end", {"status": "interrupted"}),
            ("r2", "metadata", {}),
            ("r2", "interrupts", [voted]),
            ("r2", "end", {"status": "interrupted"}),
            ("r3", "interrupts", [{**voted, "value": "w", "namespace": ["sub:1"]}]),
            ("r3", "end", {"status": "success"}),
            ("r3", "error", {"message": "a second end, as a settled run may have"}),
            ("r4", "interrupts", [first]),
        ]
    )
    asked = [
        (e["params"]["data"]["payload"], e["params"]["namespace"], e["params"]["data"]["quorum"])
        for e in got
        if e["method"] == "input.requested"
    ]
    assert asked == [
        ("v", [], first["quorum"]),
        ("w", ["sub:1"], voted["quorum"]),
        ("v", [], first["quorum"]),
    ]
    ends = [e["params"]["data"]["event"] for e in got if e["method"] == "lifecycle"]
    assert ends == ["interrupted", "started", "interrupted", "completed"]


def test_messages_are_finished_in_their_own_namespace() -> None:
    chunk = {"type": "AIMessageChunk", "id": "m1", "content": "hi", "tool_call_chunks": []}
    meta = {"langgraph_node": "model"}
    got = _feed(
        [
            ("r", "messages", [chunk, meta]),
            ("r", "tasks|sub:1", {"id": "x", "name": "n", "triggers": ()}),  # elsewhere
            ("r", "messages", [{**chunk, "content": " there"}, meta]),
            ("r", "updates", {"model": {"n": 1}}),  # the message's namespace: finished
        ]
    )
    data = [(e["method"], e["params"]["data"].get("event")) for e in got]
    assert data.count(("messages", "message-start")) == 1
    assert data[-2:] == [("messages", "message-finish"), ("updates", None)]
    finished = [e for e in got if e["params"]["data"].get("event") == "content-block-finish"]
    assert finished[0]["params"]["data"]["content"]["text"] == "hi there"


def test_a_cached_update_s_metadata_is_not_a_node() -> None:
    """A node cache hit's chunk carries `"__metadata__": {"cached": True}` (LangGraph's);
    the protocol's `updates` events are one per node, so it is not one."""
    got = _feed([("r", "updates", {"model": {"n": 1}, "__metadata__": {"cached": True}})])
    assert [(e["method"], e["params"]["data"]) for e in got] == [
        ("updates", {"node": "model", "values": {"n": 1}})
    ]
