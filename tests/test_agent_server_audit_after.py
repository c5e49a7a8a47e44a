"""The audit trail records only acts that happened (the real `langgraph-sdk` over loopback,
on SQLite, the audit read through `GET /v1/audit`): a state update refused with 422, or
a 409 because the thread moved on between the check and the write, leaves no
`state.updated` (nor an admin's `state.detour`) entry; a successful one leaves exactly
one, naming the checkpoint it wrote. The same holds for the other writes that audit them
selves: a command run, a fork, deleting a thread. Refusals stay audited (`state.refused`):
a refusal is an act that happened."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import httpx
import pytest
from langgraph_sdk import get_sync_client

import interlock as il
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.server import ApiKeys, create_app
from interlock.server.agent_server import threads as threads_routes
from tests._http import served

KEYS = "k-bob=bob:requester;k-ada=ada:approver;k-root=root:admin"
BROKEN: list[bool] = []
"""Set: the `notes` reducer refuses every update (a write that fails after its check)."""


def _notes(old: list[str], new: list[str]) -> list[str]:
    if BROKEN:
        raise ValueError("notes are closed")
    return [*old, *new]


class Memo(TypedDict, total=False):
    text: str
    notes: Annotated[list[str], _notes]


def _graphs(saver: SqliteSaver) -> dict[str, Any]:
    # write -> END: a thread nobody reviews; a requester may edit its data once it finished
    memo = il.StateGraph(Memo)
    memo.add_node("write", lambda s: {"notes": [f"wrote {s.get('text')}"]})
    memo.add_edge(il.START, "write")
    # review (a person decides) -> END
    ask = il.StateGraph(Memo)
    ask.add_node("review", lambda s: {"text": il.interrupt("ok?")})
    ask.add_edge(il.START, "review")
    return {
        "memo": memo.compile(checkpointer=saver, name="memo"),
        "ask": ask.compile(checkpointer=saver, name="ask"),
    }


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, SqliteSaver]]:
    saver = SqliteSaver(tmp_path / "audit.db")
    BROKEN.clear()
    app = create_app(_graphs(saver), keys=ApiKeys.parse(KEYS), workers=1)
    try:
        with served(app) as http:
            yield str(http.base_url).rstrip("/"), saver
    finally:
        BROKEN.clear()
        saver.close()


@contextlib.contextmanager
def _clients(url: str) -> Iterator[tuple[Any, Any, Any]]:
    """The requester (bob), the approver (ada) and the admin (root), over the real SDK."""
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        get_sync_client(url=url, api_key="k-ada") as ada,
        get_sync_client(url=url, api_key="k-root") as root,
    ):
        yield bob, ada, root


def _audit(url: str, thread_id: str) -> list[dict[str, Any]]:
    """The thread's audit entries, oldest first, through the `/v1` audit API."""
    got = httpx.get(
        f"{url}/v1/audit", params={"thread_id": thread_id}, headers={"x-api-key": "k-root"}
    )
    assert got.status_code == 200, got.text
    return list(got.json()["entries"])


def _actions(url: str, thread_id: str, *actions: str) -> list[dict[str, Any]]:
    return [e for e in _audit(url, thread_id) if e["action"] in actions]


def _status(call: Any) -> tuple[int, str]:
    with pytest.raises(httpx.HTTPStatusError) as refused:
        call()
    body = refused.value.response.json()
    return refused.value.response.status_code, body.get("code") or body.get("error")


def _finished_memo(bob: Any) -> str:
    tid = bob.threads.create()["thread_id"]
    bob.runs.wait(tid, "memo", input={"text": "hi"})
    assert bob.threads.get_state(tid)["next"] == []
    return str(tid)


def _head(client: Any, tid: str) -> str:
    return str(client.threads.get_state(tid)["checkpoint"]["checkpoint_id"])


# ---- POST /threads/{id}/state ---------------------------------------------------------


def test_a_successful_update_is_audited_once_with_the_checkpoint_it_wrote(
    server: tuple[str, SqliteSaver],
) -> None:
    url, _ = server
    with _clients(url) as (bob, _, _):
        tid = _finished_memo(bob)
        wrote = bob.threads.update_state(tid, {"text": "edited"}, as_node="write")
        new = wrote["checkpoint"]["checkpoint_id"]
        assert new == _head(bob, tid)
        (entry,) = _actions(url, tid, "state.updated")
        assert entry["actor"] == "bob"
        assert entry["detail"]["checkpoint_id"] == new
        assert entry["detail"]["values"] == {"text": "edited"}


def test_an_update_refused_with_422_is_not_audited_as_done(
    server: tuple[str, SqliteSaver],
) -> None:
    url, _ = server
    with _clients(url) as (bob, _, _):
        tid = _finished_memo(bob)
        head = _head(bob, tid)
        assert (
            _status(lambda: bob.threads.update_state(tid, {"text": "x"}, as_node="nope"))[0] == 422
        )
        BROKEN.append(True)  # the reducer refuses: already at the check
        assert _status(lambda: bob.threads.update_state(tid, {"notes": ["n"]}))[0] == 422
        assert _head(bob, tid) == head
        assert _actions(url, tid, "state.updated", "state.detour") == []


def test_an_update_whose_write_fails_after_its_check_is_not_audited(
    server: tuple[str, SqliteSaver], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check (a dry run) passes; the write itself is refused (422): no entry."""
    url, _ = server
    with _clients(url) as (bob, _, _):
        tid = _finished_memo(bob)
        head = _head(bob, tid)
        checked = threads_routes.update_leaves

        def then_broken(*args: Any) -> Any:
            found = checked(*args)
            BROKEN.append(True)
            return found

        monkeypatch.setattr(threads_routes, "update_leaves", then_broken)
        assert _status(lambda: bob.threads.update_state(tid, {"notes": ["n"]})) == (
            422,
            "invalid_update",
        )
        monkeypatch.undo()
        assert _head(bob, tid) == head
        assert _actions(url, tid, "state.updated") == []
        BROKEN.clear()
        bob.threads.update_state(tid, {"notes": ["n"]})
        assert len(_actions(url, tid, "state.updated")) == 1


def test_an_update_refused_with_409_conflict_is_not_audited_as_done(
    server: tuple[str, SqliteSaver], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run moves the head between the check and the write: 409 `conflict`, nothing
    changed, and neither `state.updated` nor the admin's `state.detour` is recorded."""
    url, _ = server
    with _clients(url) as (bob, ada, root):
        tid = bob.threads.create()["thread_id"]
        bob.runs.wait(tid, "ask", input={"text": "a"})
        ada.runs.wait(tid, "ask", command={"resume": "yes"})  # decided: an update is a detour
        checked = threads_routes.update_leaves

        def then_a_run(*args: Any) -> Any:
            found = checked(*args)
            bob.runs.wait(tid, "ask", input={"text": "b"})  # pauses at the review
            return found

        monkeypatch.setattr(threads_routes, "update_leaves", then_a_run)
        assert _status(lambda: root.threads.update_state(tid, {"text": "z"})) == (409, "conflict")
        monkeypatch.undo()
        assert _actions(url, tid, "state.updated", "state.detour") == []
        assert bob.threads.get_state(tid)["values"]["text"] == "b"
        # the same update, carried out: one of each
        ada.runs.wait(tid, "ask", command={"resume": "fine"})
        wrote = root.threads.update_state(tid, {"text": "z"})
        (detour,) = _actions(url, tid, "state.detour")
        (updated,) = _actions(url, tid, "state.updated")
        assert detour["actor"] == updated["actor"] == "root"
        assert updated["detail"]["checkpoint_id"] == wrote["checkpoint"]["checkpoint_id"]


def test_a_refused_update_stays_audited_as_refused(server: tuple[str, SqliteSaver]) -> None:
    url, _ = server
    with _clients(url) as (bob, _, _):
        tid = bob.threads.create()["thread_id"]
        bob.runs.wait(tid, "ask", input={"text": "a"})  # waits for ada
        assert _status(lambda: bob.threads.update_state(tid, {"text": "z"}))[0] == 403
        (refused,) = _actions(url, tid, "state.refused", "state.updated")
        assert refused["action"] == "state.refused"
