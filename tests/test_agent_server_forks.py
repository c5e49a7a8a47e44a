"""Forks over the Agent Server runs API, driven by the real `langgraph-sdk` (sync and async)
over loopback on SQLite and PostgreSQL: Agent Chat UI's "regenerate" (`input: null` from
the parent checkpoint) and "edit message" (new input from it), and the guarantees around
them (requests of the abandoned branch are cancelled once and refuse a late decision; the
fork is audited; a checkpoint the thread does not have is a 404).

Expected values come from LangGraph 1.2.22 running the same graph with the same calls
(`invoke(None, config_with_checkpoint_id)` and `invoke(input, config_with_checkpoint_id)`
after a finished first turn): regenerate gives `{"log": ["hi", "draft:1"]}` paused on
`{"check": "draft:1"}`, its new head's parent being a `fork` copy of the checkpoint, whose
parent is that checkpoint; the edit gives `["hi", "draft:1", "ok:draft:1", "changed",
"draft:4"]` paused on `{"check": "draft:4"}`, its input checkpoint's parent being the
checkpoint it forked from.
"""

from __future__ import annotations

import asyncio
import operator
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import httpx
import pytest
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.errors import ConflictError, PermissionDeniedError

import interlock as il
from interlock.server import ApiKeys, create_app
from tests._http import served
from tests.conftest import make_saver

KEYS = "k-bob=bob:requester;k-ada=ada:requester,approver;k-root=root:admin"


class Log(TypedDict, total=False):
    log: Annotated[list[str], operator.add]


def draft(state: Log) -> dict[str, Any]:
    return {"log": [f"draft:{len(state['log'])}"]}


def review(state: Log) -> dict[str, Any]:
    answer = il.interrupt({"check": state["log"][-1]})
    return {"log": [f"{answer}:{state['log'][-1]}"]}


def _graph(saver: Any) -> Any:
    g = il.StateGraph(Log)
    g.add_node("draft", draft)
    g.add_node("review", review)
    g.add_edge(il.START, "draft")
    g.add_edge("draft", "review")
    g.add_edge("review", il.END)
    return g.compile(checkpointer=saver, name="drafts")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    saver = make_saver(request.param, tmp_path)
    app = create_app({"drafts": _graph(saver)}, keys=ApiKeys.parse(KEYS), workers=1)
    with served(app) as http:
        yield str(http.base_url).rstrip("/"), saver
    saver.close()


_OPEN: list[Any] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def client(url: str, key: str) -> Any:
    made = get_sync_client(url=url, api_key=key)
    _OPEN.append(made)
    return made


def audit(url: str, thread_id: str) -> list[dict[str, Any]]:
    got = httpx.get(
        f"{url}/v1/audit", params={"thread_id": thread_id}, headers={"x-api-key": "k-root"}
    )
    assert got.status_code == 200, got.text
    return list(got.json()["entries"])


def _values(result: dict[str, Any]) -> tuple[list[str], list[Any]]:
    return result["log"], [i["value"] for i in result.get("__interrupt__", [])]


def _first_turn(bob: Any, ada: Any) -> tuple[str, list[dict[str, Any]]]:
    """A thread whose first turn finished (bob asked, ada approved): its id and history."""
    thread = bob.threads.create()["thread_id"]
    first = bob.runs.wait(thread, "drafts", input={"log": ["hi"]})
    assert _values(first) == (["hi", "draft:1"], [{"check": "draft:1"}])
    done = ada.runs.wait(thread, "drafts", command={"resume": "ok"})
    assert done["log"] == ["hi", "draft:1", "ok:draft:1"]
    return thread, ada.threads.get_history(thread, limit=20)


def _id(state: dict[str, Any]) -> str:
    return str(state["checkpoint"]["checkpoint_id"])


def test_regenerate_and_edit_fork_the_thread(server: tuple[str, Any]) -> None:
    url, _ = server
    ada, bob = client(url, "k-ada"), client(url, "k-bob")
    thread, history = _first_turn(bob, ada)
    done1 = history[0]
    before_draft = next(h for h in history if h["next"] == ["draft"])

    # regenerate: `input: null` from the checkpoint before the draft (Agent Chat UI's call)
    again = bob.runs.wait(thread, "drafts", input=None, checkpoint_id=_id(before_draft))
    assert _values(again) == (["hi", "draft:1"], [{"check": "draft:1"}])
    branch = ada.threads.get_history(thread, limit=3)
    assert branch[0]["next"] == ["review"] and branch[1]["metadata"]["source"] == "fork"
    assert branch[0]["parent_checkpoint"]["checkpoint_id"] == _id(branch[1])
    assert branch[1]["parent_checkpoint"]["checkpoint_id"] == _id(before_draft)
    # the old branch stays in the history
    assert _id(done1) in {_id(h) for h in ada.threads.get_history(thread, limit=20)}
    (waiting,) = ada.threads.get_state(thread)["interrupts"]

    # bob may not fork past the review of his own run (it would cancel it): 403, intact
    with pytest.raises(httpx.HTTPStatusError) as refused:  # (runs.wait raises httpx's)
        bob.runs.wait(
            thread, "drafts", input={"log": ["x"]}, checkpoint={"checkpoint_id": _id(done1)}
        )
    assert refused.value.response.status_code == 403
    assert refused.value.response.json()["code"] == "self_approval"
    with pytest.raises(PermissionDeniedError):  # runs.create: the same refusal
        bob.runs.create(thread, "drafts", input=None, checkpoint_id=_id(before_draft))
    assert ada.threads.get_state(thread)["interrupts"][0]["id"] == waiting["id"]

    # edit: new input from the finished first turn (the `checkpoint` object of useStream)
    edited = ada.runs.wait(
        thread,
        "drafts",
        input={"log": ["changed"]},
        checkpoint={"checkpoint_id": _id(done1), "checkpoint_ns": ""},
    )
    assert _values(edited) == (
        ["hi", "draft:1", "ok:draft:1", "changed", "draft:4"],
        [{"check": "draft:4"}],
    )
    now = ada.threads.get_history(thread, limit=3)
    assert now[1]["metadata"]["source"] == "input"
    assert now[1]["parent_checkpoint"]["checkpoint_id"] == _id(done1)

    # the abandoned branch's request was cancelled; a late answer to it is refused
    answer = httpx.post(
        f"{url}/v1/approvals/{waiting['id']}/decision",
        json={"value": "late"},
        headers={"x-api-key": "k-ada"},
    )
    assert answer.status_code == 409, answer.text
    with pytest.raises(ConflictError):
        ada.runs.create(thread, "drafts", command={"resume": {waiting["id"]: "late"}})
    assert ada.threads.get_state(thread)["values"]["log"][-1] == "draft:4"
    entries = audit(url, thread)[::-1]  # (newest first)
    forks = [e for e in entries if e["action"] == "run.forked"]
    assert [f["detail"]["checkpoint_id"] for f in forks] == [_id(before_draft), _id(done1)]
    assert forks[1]["detail"]["pending"] == [waiting["id"]]
    refused = [e for e in entries if e["action"] == "state.refused"]
    assert [r["detail"]["change"] for r in refused] == ["run.forked", "run.forked"]
    cancelled = [e for e in entries if e["action"] == "approval.cancelled"]
    assert [e["interrupt_id"] for e in cancelled] == [waiting["id"]]
    # the new branch's request is answered as usual (by another than who forked)
    last = client(url, "k-root").runs.wait(thread, "drafts", command={"resume": "fine"})
    assert last["log"][-1] == "fine:draft:4"


def test_bad_fork_points_are_refused(server: tuple[str, Any]) -> None:
    url, _ = server
    ada, bob = client(url, "k-ada"), client(url, "k-bob")
    thread, history = _first_turn(bob, ada)
    other, other_history = _first_turn(bob, ada)
    head = ada.threads.get_state(thread)
    # unknown id, another thread's checkpoint: 404; several ids: 422; a subgraph's: 422
    for body in (
        {"checkpoint_id": "no-such-checkpoint"},
        {"checkpoint": {"checkpoint_id": _id(other_history[1])}},
        {"config": {"configurable": {"checkpoint_id": _id(other_history[1])}}},
    ):
        got = httpx.post(
            f"{url}/threads/{thread}/runs/wait",
            json={"assistant_id": "drafts", "input": {"log": ["x"]}, **body},
            headers={"x-api-key": "k-ada"},
        )
        assert got.status_code == 404, got.text
        assert got.json()["code"] == "checkpoint_not_found"
    for body in (
        {"checkpoint_id": _id(history[1]), "checkpoint": {"checkpoint_id": _id(history[2])}},
        {"checkpoint": {"checkpoint_id": _id(history[1]), "checkpoint_ns": "sub:1"}},
        {"checkpoint_id": _id(history[1]), "command": {"update": {"log": ["x"]}}},
        {"checkpoint": {**history[1]["checkpoint"], "thread_id": other}},
    ):
        got = httpx.post(
            f"{url}/threads/{thread}/runs/wait",
            json={"assistant_id": "drafts", **body},
            headers={"x-api-key": "k-ada"},
        )
        assert got.status_code == 422, got.text
    assert ada.threads.get_state(thread)["checkpoint"] == head["checkpoint"]
    # the head's own id is an ordinary run (`input: null` on a finished thread: 422)
    got = httpx.post(
        f"{url}/threads/{thread}/runs/wait",
        json={"assistant_id": "drafts", "input": None, "checkpoint_id": _id(head)},
        headers={"x-api-key": "k-bob"},
    )
    assert got.status_code == 422, got.text
    # a replay of a finished checkpoint (no longer the head) has nothing to run: 409
    bob.runs.wait(thread, "drafts", input={"log": ["again"]}, checkpoint_id=_id(history[1]))
    moved = ada.threads.get_state(thread)
    got = httpx.post(
        f"{url}/threads/{thread}/runs/wait",
        json={"assistant_id": "drafts", "input": None, "checkpoint_id": _id(head)},
        headers={"x-api-key": "k-ada"},
    )
    assert got.status_code == 409 and got.json()["code"] == "nothing_to_continue", got.text
    assert ada.threads.get_state(thread)["checkpoint"] == moved["checkpoint"]
    assert (
        moved["interrupts"] and ada.threads.get_state(thread)["interrupts"] == moved["interrupts"]
    )
    assert ada.threads.get_state(other)["values"]["log"] == ["hi", "draft:1", "ok:draft:1"]


def test_fork_streamed_and_in_the_background_async(server: tuple[str, Any]) -> None:
    url, _ = server

    async def main() -> None:
        bob = get_client(url=url, api_key="k-bob")
        ada = get_client(url=url, api_key="k-ada")
        try:
            thread = (await bob.threads.create())["thread_id"]
            await bob.runs.wait(thread, "drafts", input={"log": ["hi"]})
            await ada.runs.wait(thread, "drafts", command={"resume": "ok"})
            history = await bob.threads.get_history(thread, limit=20)
            before_draft = next(h for h in history if h["next"] == ["draft"])
            # Agent Chat UI's regenerate: values stream, subgraphs on, the checkpoint object
            parts = [
                p
                async for p in bob.runs.stream(
                    thread,
                    "drafts",
                    input=None,
                    checkpoint=before_draft["checkpoint"],
                    stream_mode=["values"],
                    stream_subgraphs=True,
                )
            ]
            values = [p.data for p in parts if p.event == "values"]
            assert values[-1]["log"] == ["hi", "draft:1"]
            assert values[-1]["__interrupt__"][0]["value"] == {"check": "draft:1"}
            assert parts[-1].event != "error"
            # in the background (ada may cancel bob's pending review): joined to its end
            finished = next(h for h in history if not h["next"])
            run = await ada.runs.create(
                thread, "drafts", input={"log": ["edit"]}, checkpoint_id=_id(finished)
            )
            joined = await ada.runs.join(thread, run["run_id"])
            assert joined["log"] == ["hi", "draft:1", "ok:draft:1", "edit", "draft:4"]
            assert (await ada.runs.get(thread, run["run_id"]))["status"] == "interrupted"
            head = await ada.threads.get_history(thread, limit=2)
            assert head[1]["parent_checkpoint"]["checkpoint_id"] == _id(finished)
        finally:
            await ada.http.client.aclose()
            await bob.http.client.aclose()

    asyncio.run(main())


@pytest.mark.parametrize("replay", [False, True])
def test_a_fork_taken_over_starts_from_its_checkpoint_until_it_committed(
    tmp_path: Path, replay: bool
) -> None:
    """A takeover (its process died) of a fork invokes the graph with `takeover_config`:
    from the fork's checkpoint while none of the run's checkpoints is committed, then from
    the thread's head, where the run's input is not applied again."""
    from interlock.checkpoint.sqlite import SqliteSaver
    from interlock.server._durable import _begin, takeover_config, takeover_input

    saver = SqliteSaver(tmp_path / "t.db")
    try:
        graph = _graph(saver)
        config = {"configurable": {"thread_id": "t"}}
        graph.invoke({"log": ["hi"]}, config)
        graph.invoke(il.Command(resume="ok"), config)
        history = list(graph.get_state_history(config))
        point = next(h for h in history if h.next == ("draft",)) if replay else history[0]
        checkpoint_id = point.config["configurable"]["checkpoint_id"]
        graph.invoke({"log": ["later"]}, config)  # the head moves on: `point` is older
        begun = _begin(
            saver,
            graph,
            None if replay else {"log": ["edit"]},
            {"configurable": {"thread_id": "t", "checkpoint_id": checkpoint_id}},
            None,
            "drafts",
        )
        assert begun is not None
        record = begun[0]
        before = takeover_config(record, saver)["configurable"]
        assert before["checkpoint_id"] == checkpoint_id
        got = graph.invoke(takeover_input(record), {"configurable": before})
        want = ["hi", "draft:1"] if replay else ["hi", "draft:1", "ok:draft:1", "edit", "draft:4"]
        assert got["log"] == want
        after = takeover_config(record, saver)["configurable"]
        assert "checkpoint_id" not in after
        head = graph.get_state(config)
        if not replay:  # a second takeover goes on from the head: the input is applied once
            again = graph.invoke(takeover_input(record), {"configurable": after})
            assert again["log"] == want
        assert graph.get_state(config).config == head.config
    finally:
        saver.close()


def test_a_state_update_at_an_older_checkpoint_cancels_the_old_heads_request(
    server: tuple[str, Any],
) -> None:
    """`threads.update_state(..., checkpoint_id=older)` forks too (LangGraph 1.2.22: the
    update's checkpoint has the older one as parent); the request that waited on the old
    head is cancelled, and a late answer to it is refused."""
    url, _ = server
    ada, bob = client(url, "k-ada"), client(url, "k-bob")
    thread, history = _first_turn(bob, ada)
    bob.runs.wait(thread, "drafts", input={"log": ["more"]})
    (waiting,) = bob.threads.get_state(thread)["interrupts"]
    with pytest.raises(PermissionDeniedError):  # bob's own review: not his to skip
        bob.threads.update_state(thread, {"log": ["x"]}, checkpoint_id=_id(history[0]))
    assert bob.threads.get_state(thread)["interrupts"] == [waiting]
    # ada may decide it, but the thread has decisions: its state is an admin's to change
    with pytest.raises(PermissionDeniedError):
        ada.threads.update_state(thread, {"log": ["x"]}, checkpoint_id=_id(history[0]))
    assert bob.threads.get_state(thread)["interrupts"] == [waiting]
    root = client(url, "k-root")
    made = root.threads.update_state(thread, {"log": ["edited"]}, checkpoint_id=_id(history[0]))
    state = bob.threads.get_state(thread)
    assert state["checkpoint"]["checkpoint_id"] == made["checkpoint"]["checkpoint_id"]
    assert state["parent_checkpoint"]["checkpoint_id"] == _id(history[0])
    assert state["values"]["log"] == ["hi", "draft:1", "ok:draft:1", "edited"]
    assert state["interrupts"] == []
    late = httpx.post(
        f"{url}/v1/approvals/{waiting['id']}/decision",
        json={"value": "late"},
        headers={"x-api-key": "k-ada"},
    )
    assert late.status_code == 409, late.text
    assert [
        e["interrupt_id"] for e in audit(url, thread) if e["action"] == "approval.cancelled"
    ] == [waiting["id"]]
