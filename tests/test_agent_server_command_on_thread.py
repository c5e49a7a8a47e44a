"""A `command` with `update` / `goto` and no `resume`, on a thread that has checkpoints, over
the Agent Server API (the real `langgraph-sdk` over loopback, on SQLite): it goes on from the
thread's checkpoint as the library does (tests/test_parity_command_on_thread.py), and no
command — refused or accepted — opens a way past a review."""

from __future__ import annotations

import operator
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import httpx
import pytest
from langgraph_sdk import get_sync_client

import interlock as il
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.server import ApiKeys, create_app
from tests._http import served

KEYS = "k-bob=bob:requester;k-ada=ada:approver;k-root=root:admin"
SENT: list[str] = []


class Mail(TypedDict, total=False):
    text: str
    tone: str
    done: bool


def _send(state: Mail) -> dict[str, Any]:
    SENT.append(f"{state['text']}:{state.get('tone', '')}")
    return {"done": True}


def _refused(call: Any) -> tuple[int, str]:
    """The status and error code of a call that must be refused."""
    with pytest.raises(httpx.HTTPStatusError) as refused:
        call()
    return refused.value.response.status_code, refused.value.response.json()["code"]


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    saver = SqliteSaver(tmp_path / "cmd.db")
    SENT.clear()
    g = il.StateGraph(Mail)
    g.add_node("draft", lambda s: {"tone": "drafted"})
    g.add_node("send", _send)
    g.add_edge(il.START, "draft")
    g.add_edge("draft", "send")
    graph = g.compile(checkpointer=saver, name="mail", interrupt_before=["send"])
    app = create_app({"mail": graph}, keys=ApiKeys.parse(KEYS), workers=1)
    try:
        with served(app) as http:
            yield str(http.base_url).rstrip("/")
    finally:
        saver.close()


def test_a_refused_command_leaves_the_review_for_an_approver(url: str) -> None:
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        get_sync_client(url=url, api_key="k-ada") as ada,
        get_sync_client(url=url, api_key="k-root") as root,
    ):
        tid = bob.threads.create()["thread_id"]
        bob.runs.wait(tid, "mail", input={"text": "q"})
        assert bob.threads.get_state(tid)["next"] == ["send"]  # the review before send
        # an admin's command that cannot be applied changes nothing (an approver's goto or
        # update past the breakpoint is a detour: refused before anything, see
        # tests/test_agent_server_detours.py)
        for command in (
            {"update": {"tone": "x"}, "goto": "nowhere"},  # a misspelt node
            {"update": {"tone": "x"}, "goto": "draft"},  # a goto beside the paused step
        ):
            got = _refused(lambda c=command: root.runs.wait(tid, "mail", command=c))
            assert got == (422, "invalid_input")
            got = _refused(lambda c=command: ada.runs.wait(tid, "mail", command=c))
            assert got == (403, "detour_forbidden")
            # so the breakpoint still waits: a requester cannot continue past it (it would
            # run send if the refused command had used the review up), nor update past it
            assert _refused(lambda: bob.runs.wait(tid, "mail", input=None)) == (403, "forbidden")
            forged = {"update": {"tone": "forged"}}
            assert _refused(lambda f=forged: bob.runs.wait(tid, "mail", command=f))[0] == 403
            assert SENT == [] and bob.threads.get_state(tid)["next"] == ["send"]
        # an answer with a goto is refused before anything is decided (LangGraph would run
        # draft beside the resumed step)
        answer = {"resume": "go", "goto": "draft"}
        got = _refused(lambda: ada.runs.wait(tid, "mail", command=answer))
        assert got == (422, "invalid_command")
        assert bob.threads.get_state(tid)["interrupts"]
        # ... while the admin's update passes it, and send runs with the update
        done = root.runs.wait(tid, "mail", command={"update": {"tone": "checked"}})
        assert done == {"text": "q", "tone": "checked", "done": True}
        assert SENT == ["q:checked"]


def test_an_approver_edits_at_a_breakpoint_with_the_answer(url: str) -> None:
    """The approver's way to edit and pass a breakpoint: the update with the answer
    (`command.resume` + `update`, the one decision path), not an update alone."""
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        get_sync_client(url=url, api_key="k-ada") as ada,
    ):
        tid = bob.threads.create()["thread_id"]
        bob.runs.wait(tid, "mail", input={"text": "q"})
        alone = {"update": {"tone": "checked"}}
        assert _refused(lambda: ada.runs.wait(tid, "mail", command=alone)) == (
            403,
            "detour_forbidden",
        )
        assert SENT == [] and bob.threads.get_state(tid)["next"] == ["send"]
        done = ada.runs.wait(tid, "mail", command={"resume": "ok", "update": {"tone": "checked"}})
        assert done == {"text": "q", "tone": "checked", "done": True}
        assert SENT == ["q:checked"]


def test_a_goto_on_a_finished_thread_stops_at_the_review(url: str) -> None:
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        get_sync_client(url=url, api_key="k-ada") as ada,
        get_sync_client(url=url, api_key="k-root") as root,
    ):
        tid = bob.threads.create()["thread_id"]
        bob.runs.wait(tid, "mail", input={"text": "q"})
        ada.runs.wait(tid, "mail", input=None)
        assert SENT == ["q:drafted"] and bob.threads.get_state(tid)["next"] == []
        # an update on the finished thread: recorded, nothing runs — an admin's, as the
        # thread has a decision (a requester's is refused: it may change what was settled)
        forged = {"update": {"tone": "later"}}
        assert _refused(lambda: bob.runs.wait(tid, "mail", command=forged)) == (
            403,
            "detour_forbidden",
        )
        out = root.runs.wait(tid, "mail", command=forged)
        assert out == {"text": "q", "tone": "later", "done": True}
        # a requester's goto is a detour (refused); an admin's goto to the reviewed node
        # plans it, and it waits for its review (LangGraph would run it)
        assert _refused(lambda: bob.runs.wait(tid, "mail", command={"goto": "send"})) == (
            403,
            "detour_forbidden",
        )
        root.runs.wait(tid, "mail", command={"goto": "send"})
        state = bob.threads.get_state(tid)
        assert state["next"] == ["send"] and state["interrupts"]
        assert SENT == ["q:drafted"]
        assert _refused(lambda: bob.runs.wait(tid, "mail", input=None)) == (403, "forbidden")
        ada.runs.wait(tid, "mail", input=None)
        assert SENT == ["q:drafted", "q:later"]


def test_a_callers_passable_breakpoints_never_reach_the_graph() -> None:
    """`passable_breakpoints` is the service's fact (what the caller was allowed to pass
    when the command was checked): a run's or an assistant's `config.configurable` may not
    set it, as it may not set `user_id` or `run_id` (a command run's own value overrides
    it today, but any other run would hand the forged list to the graph and its takeovers)."""
    from interlock.graph._run import PASSABLE
    from interlock.server.agent_server._plan import _configurable

    assert _configurable({PASSABLE: ["any"], "model": "m"}) == {"model": "m"}


class Notes(TypedDict, total=False):
    text: str
    notes: Annotated[list[str], operator.add]


def test_an_update_the_reducer_refuses_leaves_the_review_for_an_approver(
    tmp_path: Path,
) -> None:
    """An admin's command whose update passes the key check but not the state's
    reducer (`operator.add` of a list and a number) is a 422 that changes nothing: it
    used to pass the breakpoint, then fail, so that a requester's `input: null` ran the
    reviewed node (without the update)."""
    saver = SqliteSaver(tmp_path / "notes.db")
    SENT.clear()
    g = il.StateGraph(Notes)
    g.add_node("draft", lambda s: {"notes": ["drafted"]})
    g.add_node("send", lambda s: SENT.append(s["text"]) or {})
    g.add_edge(il.START, "draft")
    g.add_edge("draft", "send")
    graph = g.compile(checkpointer=saver, name="notes", interrupt_before=["send"])
    app = create_app({"notes": graph}, keys=ApiKeys.parse(KEYS), workers=1)
    try:
        with (
            served(app) as http,
            get_sync_client(url=str(http.base_url).rstrip("/"), api_key="k-bob") as bob,
            get_sync_client(url=str(http.base_url).rstrip("/"), api_key="k-root") as root,
        ):
            tid = bob.threads.create()["thread_id"]
            bob.runs.wait(tid, "notes", input={"text": "q"})
            bad = {"update": {"notes": 5}}
            assert _refused(lambda: root.runs.wait(tid, "notes", command=bad))[0] == 422
            assert _refused(lambda: bob.runs.wait(tid, "notes", input=None)) == (403, "forbidden")
            assert SENT == [] and bob.threads.get_state(tid)["interrupts"]
            done = root.runs.wait(tid, "notes", command={"update": {"notes": ["checked"]}})
            assert done == {"text": "q", "notes": ["drafted", "checked"]} and SENT == ["q"]
    finally:
        saver.close()


class Payment(TypedDict, total=False):
    amount: int
    ok: str


def test_a_requester_cannot_route_past_a_review_node(tmp_path: Path) -> None:
    """The tutorial's shape: `review` asks a person (`interrupt()`), then `pay` acts. On a
    finished thread a requester's `command` with `update` and `goto: "pay"` used to be
    allowed (nothing waits, so `check_state_change` let it through) and ran `pay` with an
    amount no one reviewed. A goto is an operator's act now: 403 `detour_forbidden`."""
    saver = SqliteSaver(tmp_path / "pay.db")
    paid: list[int] = []
    g = il.StateGraph(Payment)
    g.add_node("review", lambda s: {"ok": il.interrupt(f"pay {s['amount']}?")})
    g.add_node("pay", lambda s: paid.append(s["amount"]) or {})
    g.add_edge(il.START, "review")
    g.add_edge("review", "pay")
    graph = g.compile(checkpointer=saver, name="pay")
    app = create_app({"pay": graph}, keys=ApiKeys.parse(KEYS), workers=1)
    try:
        with (
            served(app) as http,
            get_sync_client(url=str(http.base_url).rstrip("/"), api_key="k-bob") as bob,
            get_sync_client(url=str(http.base_url).rstrip("/"), api_key="k-ada") as ada,
        ):
            tid = bob.threads.create()["thread_id"]
            bob.runs.wait(tid, "pay", input={"amount": 10})
            ada.runs.wait(tid, "pay", command={"resume": "yes"})
            assert paid == [10]
            forged = {"update": {"amount": 999_999}, "goto": "pay"}
            got = _refused(lambda: bob.runs.wait(tid, "pay", command=forged))
            assert got == (403, "detour_forbidden")
            assert paid == [10]  # pay never runs on an amount no one reviewed
            assert bob.threads.get_state(tid)["values"] == {"amount": 10, "ok": "yes"}
    finally:
        saver.close()
