"""The audit trail records only acts that happened (the real `langgraph-sdk` over loopback,
on SQLite, the audit read through `GET /v1/audit`): a state update refused with 422, or
a 409 because the thread moved on between the check and the write, leaves no
`state.updated` (nor an admin's `state.detour`) entry; a successful one leaves exactly
one, naming the checkpoint it wrote. The same holds for the other writes that audit them
selves: a command run, a fork, deleting a thread. Refusals stay audited (`state.refused`):
a refusal is an act that happened."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import httpx
import pytest
from langgraph_sdk import get_sync_client

import interlock as il
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.server import ApiKeys, create_app
from interlock.server import _operations as operations
from interlock.server.agent_server import _plan as plan_module
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


# ---- command runs, continues and forks ---------------------------------------------------


def _held_after(
    monkeypatch: pytest.MonkeyPatch, module: Any, name: str, saver: SqliteSaver
) -> None:
    """Make `module.name` (a check) take the thread's lease for another owner once it
    passed: the run planned on it is then refused as it starts (409, the thread is busy)."""
    checked = getattr(module, name)

    def then_busy(*args: Any, **kwargs: Any) -> Any:
        found = checked(*args, **kwargs)
        thread_id = next(a for a in args if isinstance(a, str) and a in HELD)
        assert saver.acquire_thread(thread_id, "elsewhere", ttl=60)
        return found

    monkeypatch.setattr(module, name, then_busy)


HELD: set[str] = set()
"""Thread ids `_held_after` takes the lease of."""


def _decided_ask(bob: Any, ada: Any) -> str:
    tid = bob.threads.create()["thread_id"]
    bob.runs.wait(tid, "ask", input={"text": "a"})
    ada.runs.wait(tid, "ask", command={"resume": "yes"})
    return str(tid)


def test_a_command_refused_as_it_starts_is_not_audited(
    server: tuple[str, SqliteSaver], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An admin's `command.update` on a decided thread is checked (a detour, allowed), then
    refused as its run starts (the thread is busy): no `state.command`, no `state.detour`;
    carried out, one of each."""
    url, saver = server
    with _clients(url) as (bob, ada, root):
        tid = _decided_ask(bob, ada)
        HELD.add(tid)
        _held_after(monkeypatch, plan_module, "check_leaves", saver)
        code, _ = _status(lambda: root.runs.wait(tid, "ask", command={"update": {"text": "z"}}))
        assert code == 409
        monkeypatch.undo()
        saver.release_thread(tid, "elsewhere")
        assert bob.threads.get_state(tid)["values"]["text"] == "yes"
        assert _actions(url, tid, "state.command", "state.detour") == []
        root.runs.wait(tid, "ask", command={"update": {"text": "z"}})
        assert bob.threads.get_state(tid)["values"]["text"] == "z"
        (command,) = _actions(url, tid, "state.command")
        (detour,) = _actions(url, tid, "state.detour")
        assert command["actor"] == detour["actor"] == "root"
        assert detour["detail"]["change"] == "state.command"


def test_a_background_command_refused_as_it_starts_is_not_audited(
    server: tuple[str, SqliteSaver], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, saver = server
    with _clients(url) as (bob, ada, root):
        tid = _decided_ask(bob, ada)
        HELD.add(tid)
        _held_after(monkeypatch, plan_module, "check_leaves", saver)
        code, _ = _status(lambda: root.runs.create(tid, "ask", command={"update": {"text": "z"}}))
        assert code == 409
        monkeypatch.undo()
        saver.release_thread(tid, "elsewhere")
        assert _actions(url, tid, "state.command", "state.detour") == []


def test_a_fork_refused_as_it_starts_is_not_audited(
    server: tuple[str, SqliteSaver], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, saver = server
    with _clients(url) as (bob, _, _):
        tid = _finished_memo(bob)
        first = _head(bob, tid)
        bob.runs.wait(tid, "memo", input={"text": "again"})
        HELD.add(tid)
        _held_after(monkeypatch, plan_module, "check_fork", saver)
        code, _ = _status(
            lambda: bob.runs.wait(tid, "memo", input={"text": "forked"}, checkpoint_id=first)
        )
        assert code == 409
        monkeypatch.undo()
        saver.release_thread(tid, "elsewhere")
        assert bob.threads.get_state(tid)["values"]["text"] == "again"
        assert _actions(url, tid, "run.forked") == []
        bob.runs.wait(tid, "memo", input={"text": "forked"}, checkpoint_id=first)
        (forked,) = _actions(url, tid, "run.forked")
        assert forked["detail"]["checkpoint_id"] == first


def test_a_fork_refused_as_it_starts_cancels_nothing(
    server: tuple[str, SqliteSaver], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An admin's fork of a thread paused on ada's request, refused as it starts (busy):
    the request is not cancelled (the fork cancels with its first write), and ada's answer
    is carried out."""
    url, saver = server
    with _clients(url) as (bob, ada, root):
        tid = bob.threads.create()["thread_id"]
        bob.runs.wait(tid, "ask", input={"text": "a"})
        (waiting,) = bob.threads.get_state(tid)["interrupts"]
        forked_from = [h["checkpoint"]["checkpoint_id"] for h in bob.threads.get_history(tid)][-1]
        HELD.add(tid)
        _held_after(monkeypatch, plan_module, "check_fork", saver)
        code, _ = _status(
            lambda: root.runs.wait(tid, "ask", input={"text": "b"}, checkpoint_id=forked_from)
        )
        assert code == 409
        monkeypatch.undo()
        saver.release_thread(tid, "elsewhere")
        assert _actions(url, tid, "approval.cancelled") == []
        assert [i["id"] for i in bob.threads.get_state(tid)["interrupts"]] == [waiting["id"]]
        ada.runs.wait(tid, "ask", command={"resume": "yes"})
        assert bob.threads.get_state(tid)["interrupts"] == []
        (decided,) = _actions(url, tid, "approval.decided")
        assert decided["interrupt_id"] == waiting["id"]


def test_a_v1_continue_refused_as_it_starts_leaves_no_detour(
    server: tuple[str, SqliteSaver], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`POST /v1/threads/{id}/runs {"continue": true}` by an admin on a head an update
    wrote (a detour): refused as it starts (busy), no `state.detour`; run, one."""
    url, saver = server
    with _clients(url) as (bob, _, root):
        tid = _finished_memo(bob)
        root.threads.update_state(tid, {"text": "again"}, as_node=il.START)  # plans write
        assert bob.threads.get_state(tid)["next"] == ["write"]
        busy_first = operations.run_input

        def run_input(*args: Any, **kwargs: Any) -> Any:  # after the check: busy
            assert saver.acquire_thread(tid, "elsewhere", ttl=60)
            return busy_first(*args, **kwargs)

        monkeypatch.setattr(operations, "run_input", run_input)

        def go_on() -> httpx.Response:
            return httpx.post(
                f"{url}/v1/threads/{tid}/runs",
                headers={"x-api-key": "k-root"},
                json={"continue": True},
            )

        assert go_on().status_code == 409
        monkeypatch.undo()
        saver.release_thread(tid, "elsewhere")
        assert _continued(url, tid) == []
        assert go_on().status_code == 200
        (detour,) = _continued(url, tid)
        assert detour["actor"] == "root"


def _continued(url: str, tid: str) -> list[dict[str, Any]]:
    """The detours that continued a thread (not the update's own)."""
    detours = _actions(url, tid, "state.detour")
    return [e for e in detours if e["detail"]["change"] == "run.continued"]


# ---- deleting threads ----------------------------------------------------------------------


def _store_fails_deleting(monkeypatch: pytest.MonkeyPatch, saver: SqliteSaver) -> None:
    """The store fails the deletion (as a lost database would)."""

    def broken(thread_id: str, **_: Any) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(saver, "delete_thread", broken)


def test_a_thread_deletion_the_store_failed_is_not_audited(
    server: tuple[str, SqliteSaver], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, saver = server
    with _clients(url) as (bob, _, _):
        tid = _finished_memo(bob)
        _store_fails_deleting(monkeypatch, saver)
        assert httpx.delete(f"{url}/threads/{tid}", headers={"x-api-key": "k-bob"}).is_error
        assert _actions(url, tid, "thread.deleted") == []
        monkeypatch.undo()
        bob.threads.delete(tid)
        (deleted,) = _actions(url, tid, "thread.deleted")
        assert deleted["actor"] == "bob"


def test_a_prune_the_store_failed_is_not_audited(
    server: tuple[str, SqliteSaver], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, saver = server
    with _clients(url) as (bob, _, _):
        tid = _finished_memo(bob)
        _store_fails_deleting(monkeypatch, saver)
        pruned = httpx.post(
            f"{url}/threads/prune", headers={"x-api-key": "k-bob"}, json={"thread_ids": [tid]}
        )
        assert pruned.is_error
        assert _actions(url, tid, "thread.deleted") == []
        monkeypatch.undo()
        assert bob.threads.prune([tid]) == {"pruned_count": 1}
        (deleted,) = _actions(url, tid, "thread.deleted")
        assert deleted["detail"]["reason"] == "prune"


def test_an_assistants_threads_deleted_with_it_are_audited_once_gone(
    server: tuple[str, SqliteSaver], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, saver = server
    with _clients(url) as (bob, _, root):
        made = root.assistants.create("memo", name="m")
        tid = bob.threads.create()["thread_id"]
        bob.runs.wait(tid, made["assistant_id"], input={"text": "hi"})
        _store_fails_deleting(monkeypatch, saver)
        gone = httpx.delete(
            f"{url}/assistants/{made['assistant_id']}",
            params={"delete_threads": "true"},
            headers={"x-api-key": "k-root"},
        )
        assert gone.is_error
        assert _actions(url, tid, "thread.deleted") == []


def test_a_thread_deleted_on_completion_is_audited_once_gone(
    server: tuple[str, SqliteSaver], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A thread-less run's thread goes once the run ended (`on_completion="delete"`): a
    deletion the store failed leaves no entry; one that went, one."""
    url, saver = server
    with _clients(url) as (bob, _, _):
        _store_fails_deleting(monkeypatch, saver)
        with pytest.raises(httpx.HTTPError):  # (the answer had begun: a reset)
            bob.runs.wait(None, "memo", input={"text": "one"}, on_completion="delete")
    with get_sync_client(url=url, api_key="k-bob") as bob:  # (a new connection)
        (left,) = [t["thread_id"] for t in bob.threads.search(limit=10)]
        assert _actions(url, left, "thread.deleted") == []
        monkeypatch.undo()
        bob.runs.wait(left, "memo", input={"text": "two"}, on_completion="delete")
        (deleted,) = _actions(url, left, "thread.deleted")
        assert deleted["detail"]["reason"] == "on_completion"
