"""The Agent Server runs API with the real `langgraph-sdk`: a resume naming several requests
takes the one decision path for each (all or nothing), and every run-body field is honoured
or refused with a clear 422."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import httpx
import pytest
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.errors import ConflictError, NotFoundError, PermissionDeniedError

import interlock as il
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.server import ApiKeys, create_app
from tests._http import served

KEYS = "k-bob=bob:requester;k-ada=ada:approver;k-eve=eve:approver;k-root=root:admin"


class Pair(TypedDict, total=False):
    item: str
    left: Any
    right: Any
    who: str


def left(state: Pair) -> dict[str, Any]:
    return {"left": il.interrupt({"left": state["item"]}, approvers=["ada"])}


def right(state: Pair) -> dict[str, Any]:
    return {"right": il.interrupt({"right": state["item"]}, approvers=["ada", "eve"])}


@dataclass
class Ctx:
    user: str


def greet(state: Pair, runtime: il.Runtime[Ctx]) -> dict[str, Any]:
    return {"who": runtime.context.user}


def _pair(saver: SqliteSaver) -> Any:
    g = il.StateGraph(Pair)
    g.add_node("left", left)
    g.add_node("right", right)
    g.add_edge(il.START, "left")
    g.add_edge(il.START, "right")
    return g.compile(checkpointer=saver, name="pair")


def _greeter(saver: SqliteSaver) -> Any:
    g = il.StateGraph(Pair, context_schema=Ctx)
    g.add_node("greet", greet)
    g.add_edge(il.START, "greet")
    return g.compile(checkpointer=saver, name="greeter")


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    saver = SqliteSaver(tmp_path / "as.db")
    app = create_app(
        {"pair": _pair(saver), "greeter": _greeter(saver)}, keys=ApiKeys.parse(KEYS), workers=1
    )
    with served(app) as http:
        yield str(http.base_url).rstrip("/")
    saver.close()


def _audit(url: str, thread_id: str) -> list[dict[str, Any]]:
    got = httpx.get(
        f"{url}/v1/audit", params={"thread_id": thread_id}, headers={"x-api-key": "k-root"}
    )
    assert got.status_code == 200, got.text
    return list(got.json()["entries"])


def _paused_pair(url: str) -> tuple[str, dict[str, str]]:
    """A `pair` thread waiting for two requests; their ids by side."""
    with get_sync_client(url=url, api_key="k-bob") as bob:
        tid = bob.threads.create()["thread_id"]
        paused = bob.runs.wait(tid, "pair", input={"item": "vase"})
    ids = {next(iter(p["value"])): p["id"] for p in paused["__interrupt__"]}
    assert set(ids) == {"left", "right"}
    return tid, ids


def test_a_resume_map_of_several_requests_decides_them_together(url: str) -> None:
    tid, ids = _paused_pair(url)
    with get_sync_client(url=url, api_key="k-ada") as ada:
        done = ada.runs.wait(tid, "pair", command={"resume": {ids["left"]: "L", ids["right"]: "R"}})
        assert done == {"item": "vase", "left": "L", "right": "R"}
        assert ada.threads.get(tid)["status"] == "idle"
        decided = [e for e in _audit(url, tid) if e["action"] == "approval.decided"]
        assert sorted(e["interrupt_id"] for e in decided) == sorted(ids.values())
        assert {e["actor"] for e in decided} == {"ada"}
        with pytest.raises(ConflictError) as err:  # decided: exactly once
            ada.runs.create(
                tid, "pair", command={"resume": {ids["left"]: "L2", ids["right"]: "R2"}}
            )
        assert err.value.code == "already_decided"


def test_several_requests_are_all_or_nothing(url: str) -> None:
    tid, ids = _paused_pair(url)
    both = {"resume": {ids["left"]: "L", ids["right"]: "R"}}
    with (
        get_sync_client(url=url, api_key="k-eve") as eve,
        get_sync_client(url=url, api_key="k-bob") as bob,
        get_sync_client(url=url, api_key="k-ada") as ada,
    ):
        with pytest.raises(PermissionDeniedError):  # eve may decide `right`, not `left`
            eve.runs.create(tid, "pair", command=both)
        with pytest.raises(PermissionDeniedError):  # the requester decides nothing
            bob.runs.create(tid, "pair", command=both)
        with pytest.raises(NotFoundError):  # one unknown id refuses the whole answer
            ada.runs.create(tid, "pair", command={"resume": {ids["left"]: "L", "nope": "x"}})
        pending = ada.threads.get_state(tid)["interrupts"]
        assert sorted(p["id"] for p in pending) == sorted(ids.values())  # both still wait
        refused = [e for e in _audit(url, tid) if e["action"] == "approval.refused"]
        assert {e["actor"] for e in refused} == {"eve", "bob"}
        assert not [e for e in _audit(url, tid) if e["action"] == "approval.decided"]
        # one of the two, by id, is fine too: the other still waits
        half = ada.runs.wait(tid, "pair", command={"resume": {ids["right"]: "R"}})
        assert [p["id"] for p in half["__interrupt__"]] == [ids["left"]]


def test_a_resume_map_with_the_async_client(url: str) -> None:
    tid, ids = _paused_pair(url)

    async def main() -> dict[str, Any]:
        async with get_client(url=url, api_key="k-ada") as ada:
            return await ada.runs.wait(
                tid, "pair", command={"resume": {ids["left"]: 1, ids["right"]: 2}}
            )

    assert asyncio.run(main()) == {"item": "vase", "left": 1, "right": 2}


def test_context_durability_and_recursion_limit_are_honoured(url: str) -> None:
    with get_sync_client(url=url, api_key="k-bob") as bob:
        tid = bob.threads.create()["thread_id"]
        done = bob.runs.wait(
            tid,
            "greeter",
            input={"item": "x"},
            context={"user": "rita"},
            durability="exit",
            config={"recursion_limit": 5, "tags": ["t"]},
        )
        assert done == {"item": "x", "who": "rita"}
        run = bob.runs.list(tid)[0]
        assert run["kwargs"]["context"] == {"user": "rita"}


@pytest.mark.parametrize(
    ("fields", "word"),
    [
        ({"config": {"callbacks": []}}, "config"),
        ({"config": {"recursion_limit": 0}}, "recursion_limit"),
        ({"checkpoint": {"checkpoint_id": "1", "checkpoint_ns": "sub:1"}}, "checkpoint_ns"),
        ({"checkpoint_id": "1", "config": {"configurable": {"checkpoint_id": "2"}}}, "several"),
        ({"multitask_strategy": "interrupt"}, "multitask_strategy"),
        ({"after_seconds": 5}, "after_seconds"),
    ],
)
def test_fields_we_do_not_honour_are_a_clear_422(url: str, fields: dict, word: str) -> None:
    got = httpx.post(
        f"{url}/threads/{_thread(url)}/runs",
        json={"assistant_id": "greeter", "input": {"item": "x"}, **fields},
        headers={"x-api-key": "k-bob"},
    )
    assert got.status_code == 422, got.text
    assert word in got.json()["message"]


def _thread(url: str) -> str:
    with get_sync_client(url=url, api_key="k-bob") as bob:
        return str(bob.threads.create()["thread_id"])
