"""Adversarial review of the no-detour policy (exploration)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from langgraph_sdk import get_sync_client

from interlock.checkpoint.sqlite import SqliteSaver
from tests.test_agent_server_detours import (
    FAIL,
    PAID,
    _approved,
    _assert_refused,
    _refused,
    server,
)

__all__ = ["server"]


def _failed_after_review(bob: Any, ada: Any, amount: int) -> str:
    tid = bob.threads.create()["thread_id"]
    bob.runs.wait(tid, "pay", input={"amount": amount})
    FAIL.append(True)
    with pytest.raises(Exception, match="the bank is down"):
        ada.runs.wait(tid, "pay", command={"resume": "yes"})
    assert bob.threads.get_state(tid)["next"] == ["pay"]
    return str(tid)


def test_a_copy_of_a_thread_stopped_after_a_decision_is_refused(
    server: tuple[str, SqliteSaver],
) -> None:
    """Bypass found: review approved, pay failed (head: `next == ["pay"]`, written by the
    graph's own step, nothing pending). A copy then continued with `input: null` (runs API
    and `/v1`'s continue alike) paid a second time on one decision. The copy is refused
    (409 `decision_not_carried_out`, nothing made); once the approved step ran, it copies."""
    url, saver = server
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        get_sync_client(url=url, api_key="k-ada") as ada,
    ):
        tid = _failed_after_review(bob, ada, 10)
        threads = len(bob.threads.search(limit=100))
        with pytest.raises(httpx.HTTPStatusError) as refused:
            bob.threads.copy(tid)
        answer = refused.value.response
        assert (answer.status_code, answer.json()["code"]) == (409, "decision_not_carried_out")
        assert len(bob.threads.search(limit=100)) == threads  # no copy was made
        bob.runs.wait(tid, "pay", input=None)  # the approved retry, in its own thread
        assert PAID == [10]
        copy = bob.threads.copy(tid)["thread_id"]  # carried out: a copy has nothing to run
        assert bob.threads.get_state(copy)["next"] == []
        with pytest.raises(httpx.HTTPStatusError):
            bob.runs.wait(copy, "pay", input=None)
        go_on = httpx.post(
            f"{url}/v1/threads/{copy}/runs", headers={"x-api-key": "k-bob"}, json={"continue": True}
        )
        assert PAID == [10], go_on.text


def test_graph_switch_by_metadata(server: tuple[str, SqliteSaver]) -> None:
    url, saver = server
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        get_sync_client(url=url, api_key="k-ada") as ada,
    ):
        tid = _approved(bob, ada, "cond", 10, answer="no")
        bob.threads.update(tid, metadata={"graph_id": "pay", "assistant_id": "pay"})
        try:
            bob.runs.wait(tid, "pay", input=None)
        except httpx.HTTPStatusError as e:
            print("switch", e.response.status_code, e.response.text)
        assert PAID == []


def test_empty_breakpoint_override(server: tuple[str, SqliteSaver]) -> None:
    url, saver = server
    with get_sync_client(url=url, api_key="k-bob") as bob:
        for kw in ({"interrupt_before": []}, {"interrupt_after": []}, {"interrupt_before": ["prep"]}):
            tid = bob.threads.create()["thread_id"]
            out = bob.runs.wait(tid, "bp", input={"amount": 10}, **kw)
            assert PAID == [], kw
            tid = bob.threads.create()["thread_id"]
            out = bob.runs.wait(tid, "after", input={"amount": 10}, **kw)
            assert PAID == [], kw


def test_stateless_and_stream(server: tuple[str, SqliteSaver]) -> None:
    url, saver = server
    with get_sync_client(url=url, api_key="k-bob") as bob:
        bob.runs.wait(None, "bp", input={"amount": 10}, interrupt_before=[])
        list(bob.runs.stream(None, "bp", input={"amount": 10}, interrupt_before=[]))
        assert PAID == []


def test_update_state_at_older_checkpoint(server: tuple[str, SqliteSaver]) -> None:
    url, saver = server
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        get_sync_client(url=url, api_key="k-ada") as ada,
    ):
        tid = _approved(bob, ada, "pay", 10)
        history = bob.threads.get_history(tid, limit=10)
        for h in history:
            cid = h["checkpoint"]["checkpoint_id"]
            for as_node in (None, "review", "pay", "__start__", "__end__"):
                try:
                    bob.threads.update_state(tid, {"amount": 777}, as_node=as_node, checkpoint_id=cid)
                except httpx.HTTPStatusError as e:
                    continue
                st = bob.threads.get_state(tid)
                print("update ok", h["next"], as_node, st["next"], st["interrupts"])
                try:
                    bob.runs.wait(tid, "pay", input=None)
                    print("continued!", PAID)
                except httpx.HTTPStatusError as e:
                    print("continue refused", e.response.status_code)
        assert PAID == [10]


def test_bp_update_at_older_checkpoint(server: tuple[str, SqliteSaver]) -> None:
    url, saver = server
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        get_sync_client(url=url, api_key="k-ada") as ada,
    ):
        for graph in ("bp", "after"):
            tid = bob.threads.create()["thread_id"]
            bob.runs.wait(tid, graph, input={"amount": 10})
            ada.runs.wait(tid, graph, input=None)
            n = len(PAID)
            history = bob.threads.get_history(tid, limit=10)
            for h in history:
                cid = h["checkpoint"]["checkpoint_id"]
                for as_node in (None, "prep", "pay", "__start__", "__end__"):
                    try:
                        bob.threads.update_state(tid, {"amount": 777}, as_node=as_node, checkpoint_id=cid)
                    except httpx.HTTPStatusError as e:
                        continue
                    st = bob.threads.get_state(tid)
                    print(graph, "update ok", h["next"], as_node, st["next"], [i["id"] for i in st["interrupts"]])
                    for body in ({"input": None}, {"command": {"resume": None}}, {"command": {"update": {"amount": 778}}}):
                        try:
                            bob.runs.wait(tid, graph, **body)
                            print("  ran!", body, PAID)
                        except httpx.HTTPStatusError as e:
                            print("  refused", body, e.response.status_code, e.response.json().get("code"))
            assert len(PAID) == n, PAID


def test_new_input_on_thread_stopped_after_review(server: tuple[str, SqliteSaver]) -> None:
    url, saver = server
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        get_sync_client(url=url, api_key="k-ada") as ada,
    ):
        tid = _failed_after_review(bob, ada, 10)
        out = bob.runs.wait(tid, "pay", input={"amount": 999_999})
        print("new input after failed pay:", out, PAID, bob.threads.get_state(tid)["next"])
        assert PAID == []


def test_new_input_on_bp_thread_stopped_after_breakpoint(server: tuple[str, SqliteSaver]) -> None:
    url, saver = server
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        get_sync_client(url=url, api_key="k-ada") as ada,
    ):
        tid = bob.threads.create()["thread_id"]
        bob.runs.wait(tid, "bp", input={"amount": 10})
        FAIL.append(True)
        with pytest.raises(Exception, match="the bank is down"):
            ada.runs.wait(tid, "bp", input=None)
        out = bob.runs.wait(tid, "bp", input={"amount": 999_999})
        print("bp new input after failed pay:", out, PAID, bob.threads.get_state(tid)["next"])
        assert PAID == []
