"""Adversarial review of three store changes: PostgreSQL contention retries, a cron fire
queued in one transaction (`queue_cron_run`), and server audit entries recorded after the
act.

The PostgreSQL probes make PostgreSQL itself roll a call back: a trigger raises SQLSTATE
40P01 (deadlock_detected) on the store's own statement, counted by a sequence (which a
rollback does not undo), so the abort lands exactly where the probe wants it."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypedDict

import httpx
import pytest
from langgraph_sdk import get_sync_client

import interlock as il
from interlock import StoreUnavailable
from interlock.checkpoint._checkpoints.protocol import TaskWrites
from interlock.checkpoint._testkit import make_interrupt, make_record
from interlock.checkpoint.base import SnapshotPolicy
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.server import ApiKeys, create_app
from tests._http import served
from tests.conftest import SAVERS
from tests.pg import DSN
from tests.test_crons_scheduler import KEYS as CRON_KEYS
from tests.test_crons_scheduler import SHIPPED, Service, graphs

postgres = [
    pytest.mark.postgres,
    pytest.mark.skipif("postgres" not in SAVERS, reason="PostgreSQL tests are switched off"),
]


@pytest.fixture
def pg() -> Iterator[Any]:
    from tests.pg import fresh_postgres_saver

    s = fresh_postgres_saver()
    try:
        yield s
    finally:
        s.close()


def _abort_on(saver: Any, table: str, event: str, *, tries: set[int], sleep: float = 0.0) -> None:
    """A trigger on `table` that makes PostgreSQL roll back the statement's transaction
    with SQLSTATE 40P01 on the `tries`-th firings (1-based), after `sleep` seconds."""
    import psycopg

    fired = ", ".join(str(t) for t in sorted(tries))
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{saver.schema}"')
        conn.execute(f"CREATE SEQUENCE IF NOT EXISTS probe_{table}_seq")
        conn.execute(
            f"CREATE OR REPLACE FUNCTION probe_{table}_abort() RETURNS trigger AS $$ "
            f"BEGIN IF nextval('probe_{table}_seq') IN ({fired}) THEN "
            f"PERFORM pg_sleep({sleep}); "
            "RAISE EXCEPTION 'probe: deadlock' USING ERRCODE = '40P01'; END IF; "
            "RETURN NULL; END $$ LANGUAGE plpgsql"
        )
        conn.execute(
            f"CREATE TRIGGER probe_{table} AFTER {event} ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION probe_{table}_abort()"
        )


def _finished_thread(saver: Any, thread_id: str, steps: int) -> None:
    parent = None
    for n in range(steps):
        last = n == steps - 1
        record = make_record(thread_id, parent, [], {"n": n}, **({"next_": ()} if last else {}))
        saver.put_checkpoint(record, expected_head=None if parent is None else parent.checkpoint_id)
        parent = record


# ---- PostgreSQL: contention retries ------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.skipif("postgres" not in SAVERS, reason="PostgreSQL tests are switched off")
def test_a_prune_rolled_back_halfway_reports_every_thread_it_deleted(pg: Any) -> None:
    """prune(finished_before=) deletes thread by thread, each in its own transaction. When
    the second deletion is rolled back (40P01) the saver runs the whole prune again; the
    first thread is gone by then, so the count must still include its checkpoints."""
    _finished_thread(pg, "a", 3)
    _finished_thread(pg, "b", 2)
    _abort_on(pg, "threads", "DELETE", tries={2})
    deleted = pg.prune(finished_before=datetime.now(UTC) + timedelta(minutes=1))
    assert pg.get_thread("a") is None and pg.get_thread("b") is None
    assert deleted == 5


@pytest.mark.postgres
@pytest.mark.skipif("postgres" not in SAVERS, reason="PostgreSQL tests are switched off")
def test_an_expiry_rolled_back_halfway_reports_every_thread_it_deleted(pg: Any) -> None:
    """`expire_finished` is `prune(finished_before=)`: the same count after a rollback."""
    _finished_thread(pg, "a", 3)
    _finished_thread(pg, "b", 2)
    _abort_on(pg, "threads", "DELETE", tries={2})
    assert pg.expire_finished(timedelta(minutes=-1)) == 5
    assert pg.get_thread("a") is None and pg.get_thread("b") is None


@pytest.mark.postgres
@pytest.mark.skipif("postgres" not in SAVERS, reason="PostgreSQL tests are switched off")
def test_an_async_prune_rolled_back_halfway_reports_every_thread_it_deleted(pg: Any) -> None:
    _finished_thread(pg, "a", 3)
    _finished_thread(pg, "b", 2)
    _abort_on(pg, "threads", "DELETE", tries={2})
    cutoff = datetime.now(UTC) + timedelta(minutes=1)
    assert asyncio.run(pg.aprune(finished_before=cutoff)) == 5


@pytest.mark.postgres
@pytest.mark.skipif("postgres" not in SAVERS, reason="PostgreSQL tests are switched off")
def test_a_call_rolled_back_every_time_ends_within_twice_its_bound(pg: Any) -> None:
    """Each try is rolled back after most of the request bound: the retries stop once the
    bound from the first try is spent (Contended, a StoreUnavailable), and the thread is
    left as it was."""
    pg.request_timeout = 1.0
    _abort_on(pg, "heads", "INSERT", tries=set(range(1, 50)), sleep=0.6)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="40P01"):
        pg.put_checkpoint(make_record("t", None, [], {"n": 0}), expected_head=None)
    took = time.monotonic() - started
    assert 1.0 <= took < 2.0 + 0.5
    assert pg.get_checkpoint("t") is None


@pytest.mark.postgres
@pytest.mark.skipif("postgres" not in SAVERS, reason="PostgreSQL tests are switched off")
def test_a_prune_of_old_checkpoints_rolled_back_runs_again_and_counts_once(pg: Any) -> None:
    pg.policy = SnapshotPolicy(ratio=1.0, min_bytes=64, max_steps=4)
    _finished_thread(pg, "a", 20)
    before = len(list(pg.list_checkpoints("a")))
    _abort_on(pg, "checkpoints", "DELETE", tries={1})
    deleted = pg.prune(keep_last=2)
    assert deleted > 0
    assert len(list(pg.list_checkpoints("a"))) == before - deleted


# ---- the Agent Server's audit entries, recorded after the act ----------------------------

KEYS = "k-bob=bob:requester;k-ada=ada:approver;k-root=root:admin"
FAIL: list[bool] = []
"""Set: the `gate` graph's first node fails."""


BROKEN: list[bool] = []
"""Set: the `notes` reducer refuses every update (a write that fails after its check)."""


def _notes(old: list[str], new: list[str]) -> list[str]:
    if BROKEN:
        raise ValueError("notes are closed")
    return [*old, *new]


class Gate(TypedDict, total=False):
    text: str
    notes: Annotated[list[str], _notes]


def _prep(state: Gate) -> Gate:
    if FAIL:
        raise RuntimeError("prep failed")
    return {"text": f"prepared {state.get('text')}"}


HOLD: list[bool] = []
"""Set: the `memo` graph's `write` waits for `RELEASE` first."""
RELEASE = threading.Event()


def _write(state: Gate) -> Gate:
    if HOLD:
        RELEASE.wait(10)
    if state.get("text") == "boom":
        raise RuntimeError("write failed")
    return {"text": f"wrote {state.get('text')}"}


def _audit_graphs(saver: Any) -> dict[str, Any]:
    # prep -> review (a person decides) -> END
    gate = il.StateGraph(Gate)
    gate.add_node("prep", _prep)
    gate.add_node("review", lambda s: {"text": il.interrupt("ok?")})
    gate.add_edge(il.START, "prep")
    gate.add_edge("prep", "review")
    # write -> END
    memo = il.StateGraph(Gate)
    memo.add_node("write", _write)
    memo.add_edge(il.START, "write")
    return {
        "gate": gate.compile(checkpointer=saver, name="gate"),
        "memo": memo.compile(checkpointer=saver, name="memo"),
    }


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    saver = SqliteSaver(tmp_path / "audit.db")
    FAIL.clear()
    HOLD.clear()
    BROKEN.clear()
    app = create_app(_audit_graphs(saver), keys=ApiKeys.parse(KEYS), workers=1)
    try:
        with served(app) as http:
            yield str(http.base_url).rstrip("/"), saver
    finally:
        FAIL.clear()
        HOLD.clear()
        BROKEN.clear()
        RELEASE.set()
        saver.close()


def _actions(url: str, thread_id: str, *actions: str) -> list[dict[str, Any]]:
    got = httpx.get(
        f"{url}/v1/audit", params={"thread_id": thread_id}, headers={"x-api-key": "k-root"}
    )
    assert got.status_code == 200, got.text
    return [e for e in got.json()["entries"] if e["action"] in actions]


def test_a_fork_whose_first_step_fails_is_audited_once_it_cancelled_the_request(
    server: tuple[str, Any],
) -> None:
    """An admin's fork back before `prep` on a thread waiting at `review`: the fork cancels
    the request and moves the head, then `prep` fails. The fork happened, so `run.forked`
    is recorded (once), with the request's cancellation."""
    url, saver = server
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        get_sync_client(url=url, api_key="k-root") as root,
    ):
        tid = bob.threads.create()["thread_id"]
        bob.runs.wait(tid, "gate", input={"text": "a"})
        (asked,) = saver.list_interrupts(status="pending", thread_id=tid).items
        history = bob.threads.get_history(tid)
        (before_prep,) = [h for h in history if h["next"] == ["prep"]]
        FAIL.append(True)
        with pytest.raises(Exception, match="prep failed"):
            root.runs.wait(
                tid, "gate", input=None, checkpoint_id=before_prep["checkpoint"]["checkpoint_id"]
            )
        assert saver.get_interrupt(asked.interrupt_id).status != "pending"
        assert bob.threads.get_state(tid)["next"] == ["prep"]
        (forked,) = _actions(url, tid, "run.forked")
        assert forked["actor"] == "root"
        assert len(_actions(url, tid, "approval.cancelled")) == 1


def test_a_command_whose_node_fails_at_once_is_audited_once_its_update_stayed(
    server: tuple[str, Any],
) -> None:
    """An admin's command (update + `goto` a node that fails at once): the update is
    committed before the node runs, so `state.command` is recorded once."""
    url, _ = server
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        get_sync_client(url=url, api_key="k-root") as root,
    ):
        tid = bob.threads.create()["thread_id"]
        bob.runs.wait(tid, "memo", input={"text": "hi"})
        with pytest.raises(Exception, match="write failed"):
            root.runs.wait(tid, "memo", command={"update": {"text": "boom"}, "goto": "write"})
        assert bob.threads.get_state(tid)["values"]["text"] == "boom"
        (command,) = _actions(url, tid, "state.command")
        assert command["actor"] == "root"


def _ended(client: Any, tid: str) -> list[dict[str, Any]]:
    """The thread's runs once none is pending or running (polled, bounded)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        runs = client.runs.list(tid)
        if runs and all(r["status"] not in ("pending", "running") for r in runs):
            return list(runs)
        RELEASE.wait(0.05)
    pytest.fail("the run never ended")


def test_a_streamed_command_the_client_stops_reading_is_audited_once_it_happened(
    server: tuple[str, Any],
) -> None:
    """An admin streams a command and hangs up after the first event, while `write` still
    runs: what the run did stays audited (`state.command` once, as the update stayed)."""
    url, _ = server
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        get_sync_client(url=url, api_key="k-root") as root,
    ):
        tid = bob.threads.create()["thread_id"]
        bob.runs.wait(tid, "memo", input={"text": "hi"})
        HOLD.append(True)
        RELEASE.clear()
        try:
            stream = root.runs.stream(
                tid, "memo", command={"update": {"text": "held"}, "goto": "write"}
            )
            next(iter(stream))
            stream.close()  # the client stops reading
        finally:
            RELEASE.set()
        runs = _ended(bob, tid)
        state = bob.threads.get_state(tid)["values"]
        commands = _actions(url, tid, "state.command")
        assert state["text"] == "wrote held", runs  # the run went on without its reader
        (command,) = commands
        assert command["actor"] == "root"


def _command(root: Any, tid: str, mode: str, command: dict[str, Any]) -> None:
    """Send `command` as a run: waited for, streamed to its end, or in the background
    (then joined)."""
    if mode == "wait":
        root.runs.wait(tid, "memo", command=command)
    elif mode == "stream":
        for _ in root.runs.stream(tid, "memo", command=command):
            pass
    else:
        run = root.runs.create(tid, "memo", command=command)
        root.runs.join(tid, run["run_id"])


@pytest.mark.parametrize("mode", ["wait", "stream", "background"])
@pytest.mark.parametrize("goto", [(), "write"], ids=["update", "update-goto"])
def test_a_command_whose_update_the_reducer_refuses_is_not_audited(
    server: tuple[str, Any], mode: str, goto: Any
) -> None:
    """The update is checked, then refused by the reducer as the run folds it in (422):
    nothing was changed, so no `state.command` (nor `state.detour`) entry — whether the
    client waits, streams, or started it in the background. Carried out, one entry."""
    url, _ = server
    command = {"update": {"notes": ["x"]}, "goto": goto}
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        get_sync_client(url=url, api_key="k-root") as root,
    ):
        tid = bob.threads.create()["thread_id"]
        bob.runs.wait(tid, "memo", input={"text": "hi"})
        BROKEN.append(True)
        with pytest.raises(Exception, match=r"422|notes are closed"):
            _command(root, tid, mode, command)
        BROKEN.clear()
        assert bob.threads.get_state(tid)["values"]["notes"] == []
        assert _actions(url, tid, "state.command", "state.detour") == []
        _command(root, tid, mode, command)
        assert bob.threads.get_state(tid)["values"]["notes"] == ["x"]
        assert len(_actions(url, tid, "state.command")) == 1


# ---- PostgreSQL: the one lock order, in statements the lock-order tests do not replay ----


@pytest.fixture
def pg_strict() -> Iterator[Any]:
    """A PostgreSQL saver that does not retry: a deadlock shows as an error."""
    from tests.pg import fresh_postgres_saver

    s = fresh_postgres_saver()
    s.contention_retries = 0
    try:
        yield s
    finally:
        s.close()


def _pause_in_a_parallel_step(saver: Any, head: Any) -> Any:
    """A run's pause in a step whose sibling finished: its writes and a new request, on
    the head (`put_task_writes`, one statement)."""
    done = TaskWrites(task_id="sibling", task_name="sibling", writes=(("n", 5),))
    ask = make_interrupt(head.thread_id, head.checkpoint_id, 1, interrupt_id="c")
    return lambda: saver.put_task_writes(
        head.thread_id, "", head.checkpoint_id, [done], [ask], lease_owner="run-1"
    )


@pytest.mark.postgres
@pytest.mark.skipif("postgres" not in SAVERS, reason="PostgreSQL tests are switched off")
@pytest.mark.parametrize(
    ("first_of", "pause_after"),
    [
        (
            lambda s: lambda: s.resolve_interrupts("t", {"a": 1, "b": 2}, decided_by="ann"),
            "UPDATE interrupts",
        ),
        (lambda s: lambda: s.delete_thread("t"), "DELETE FROM interrupts"),
    ],
    ids=["several-decisions", "a-deletion"],
)
def test_a_pause_in_a_parallel_step_races_a_decision_or_deletion_without_deadlock(
    pg_strict: Any, monkeypatch: pytest.MonkeyPatch, first_of: Any, pause_after: str
) -> None:
    from tests.test_postgres_lock_order import Race, _paused_thread

    head = _paused_thread(pg_strict)
    race = Race(pg_strict, monkeypatch, pause_after)
    outcome = race.run(first_of(pg_strict), _pause_in_a_parallel_step(pg_strict, head))
    for role in ("first", "second"):
        assert "40P01" not in repr(outcome[role]), outcome
    assert not isinstance(outcome["first"], Exception), outcome


def _cron_on_thread(saver: Any) -> Any:
    """A paused thread `t` with an enabled cron `c1` on it, due; returns its fire."""
    from interlock.checkpoint._crons.conformance import T0, _cron, _fire
    from tests.test_postgres_lock_order import _paused_thread

    _paused_thread(saver)
    cron = saver.add_cron(
        _cron("c1", thread_id="t", owner="bob", next_run_date=T0 + timedelta(minutes=5)),
        actor="bob",
    )
    return _fire(cron)


@pytest.mark.postgres
@pytest.mark.skipif("postgres" not in SAVERS, reason="PostgreSQL tests are switched off")
@pytest.mark.parametrize("fire_first", [True, False], ids=["fire-first", "deletion-first"])
def test_a_cron_fire_racing_its_threads_deletion_neither_deadlocks_nor_leaves_a_run(
    pg_strict: Any, monkeypatch: pytest.MonkeyPatch, fire_first: bool
) -> None:
    """A fire on thread `t` and `t`'s deletion, each held after its first lock: no deadlock;
    no run of the deleted cron is left open on the deleted thread."""
    from tests.test_postgres_lock_order import Race

    fire = _cron_on_thread(pg_strict)

    def fire_it() -> Any:
        return pg_strict.queue_cron_run(fire)

    def delete_it() -> Any:
        return pg_strict.delete_thread("t")

    if fire_first:
        race = Race(pg_strict, monkeypatch, "UPDATE crons")
        outcome = race.run(fire_it, delete_it)
    else:
        race = Race(pg_strict, monkeypatch, "DELETE FROM interrupts")
        outcome = race.run(delete_it, fire_it)
    for role in ("first", "second"):
        assert not isinstance(outcome[role], Exception), outcome
    assert pg_strict.get_cron("c1") is None
    run = pg_strict.get_run(fire.run_id)
    assert run is None or run.status not in ("pending", "running"), run


@pytest.mark.postgres
@pytest.mark.skipif("postgres" not in SAVERS, reason="PostgreSQL tests are switched off")
@pytest.mark.parametrize("fire_first", [True, False], ids=["fire-first", "deletion-first"])
def test_a_cron_fire_racing_the_crons_deletion_neither_deadlocks_nor_queues_after_it(
    pg_strict: Any, monkeypatch: pytest.MonkeyPatch, fire_first: bool
) -> None:
    from tests.test_postgres_lock_order import Race

    fire = _cron_on_thread(pg_strict)

    def fire_it() -> Any:
        return pg_strict.queue_cron_run(fire)

    def delete_it() -> Any:
        return pg_strict.delete_cron("c1", actor="ada")

    if fire_first:
        outcome = Race(pg_strict, monkeypatch, "UPDATE crons").run(fire_it, delete_it)
        assert outcome["first"] is not None  # queued before the deletion: the run stays
    else:
        outcome = Race(pg_strict, monkeypatch, "DELETE FROM crons").run(delete_it, fire_it)
        assert outcome["second"] is None  # deleted first: nothing queued
        assert pg_strict.get_run(fire.run_id) is None
    for role in ("first", "second"):
        assert not isinstance(outcome[role], Exception), outcome
    assert pg_strict.get_cron("c1") is None


def _audit_fails_once(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The store fails (`StoreUnavailable`) the next server-side audit entry appended with
    `record_audit` — after the change it records was made; the actions it refused."""
    from interlock.server import _audit_later

    real = _audit_later.record_audit
    refused: list[str] = []

    def record(saver: Any, who: Any, action: str, *args: Any, **kwargs: Any) -> None:
        if not refused:
            refused.append(action)
            raise StoreUnavailable("the store is unavailable; nothing was changed, retry later")
        real(saver, who, action, *args, **kwargs)

    from interlock.server.agent_server import _cron_fire

    monkeypatch.setattr(_audit_later, "record_audit", record)
    monkeypatch.setattr(_cron_fire, "record_audit", record, raising=False)
    return refused


def _entries_soon(url: str, thread_id: str, *actions: str) -> list[dict[str, Any]]:
    """The thread's entries of `actions` once each of them is there (polled, bounded)."""
    deadline = time.monotonic() + 10
    while True:
        found = _actions(url, thread_id, *actions)
        if {e["action"] for e in found} >= set(actions) or time.monotonic() > deadline:
            return found
        RELEASE.wait(0.05)


def test_a_command_whose_audit_entry_the_store_fails_is_still_audited(
    server: tuple[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An admin's command: its update is committed, then appending its `state.detour`
    entry fails (the store blinked). The change happened, so its entries must be written
    (once the store answers), and the run must not be left half done and unaudited."""
    url, _ = server
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        get_sync_client(url=url, api_key="k-root") as root,
    ):
        tid = bob.threads.create()["thread_id"]
        bob.runs.wait(tid, "memo", input={"text": "hi"})
        refused = _audit_fails_once(monkeypatch)
        root.runs.wait(tid, "memo", command={"update": {"text": "new"}, "goto": "write"})
        assert refused  # the fault struck
        assert bob.threads.get_state(tid)["values"]["text"] == "wrote new"  # it went on
        assert [r["status"] for r in bob.runs.list(tid)] == ["success", "success"]
        found = _entries_soon(url, tid, "state.command", "state.detour")
        assert sorted(e["action"] for e in found) == ["state.command", "state.detour"]


def test_a_state_update_whose_audit_entry_the_store_fails_is_not_reported_undone(
    server: tuple[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`POST /threads/{id}/state` writes the update, then appending `state.updated` fails.
    The update happened: the client must not be told "nothing was changed, retry" (a retry
    applies it twice), and its entry must be written once the store answers."""
    url, _ = server
    with get_sync_client(url=url, api_key="k-bob") as bob:
        tid = bob.threads.create()["thread_id"]
        bob.runs.wait(tid, "memo", input={"text": "hi"})
        before = bob.threads.get_state(tid)["checkpoint"]["checkpoint_id"]
        refused = _audit_fails_once(monkeypatch)
        answer = httpx.post(
            f"{url}/threads/{tid}/state",
            json={"values": {"notes": ["once"]}, "as_node": "write"},
            headers={"x-api-key": "k-bob"},
        )
        assert refused == ["state.updated"]
        assert bob.threads.get_state(tid)["values"]["notes"] == ["once"]  # it was written
        assert bob.threads.get_state(tid)["checkpoint"]["checkpoint_id"] != before
        assert "nothing was changed" not in answer.text, answer.text
        assert answer.status_code == 200, answer.text
        (entry,) = _entries_soon(url, tid, "state.updated")
        assert entry["actor"] == "bob"


@pytest.fixture
def crons(saver: Any) -> Iterator[Service]:
    """`tests/test_crons_scheduler.py`'s service, on every store."""
    from fastapi.testclient import TestClient

    SHIPPED.clear()
    registry = graphs(saver)
    app = create_app(registry, keys=ApiKeys.parse(CRON_KEYS), workers=0)
    with TestClient(app) as http:
        yield Service(saver, registry, app.state.crons, http)


def test_a_cron_skip_whose_audit_entry_the_store_fails_is_still_audited(
    crons: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A thread cron's due time is skipped (its thread waits for a decision): the cron
    moves on, then appending `cron.skipped` fails (the store blinked). The skip happened
    (the due time will never fire), so its entry must still be written."""
    svc = crons
    thread = svc.post("/threads", {})["thread_id"]
    cron = svc.cron(
        {"assistant_id": "orders", "schedule": "0 * * * *", "input": {"item": "book"}}, thread
    )
    first = svc.due(cron["cron_id"])
    [fire] = svc.crons.tick(first)
    assert fire.outcome == "queued"
    svc.work()  # the thread now waits for ada
    refused = _audit_fails_once(monkeypatch)
    with contextlib.suppress(StoreUnavailable):
        svc.crons.tick(first + timedelta(hours=1))
    assert refused == ["cron.skipped"]
    assert svc.due(cron["cron_id"]) > first + timedelta(hours=1)  # it moved on
    deadline = time.monotonic() + 10
    while not svc.audit("cron.skipped") and time.monotonic() < deadline:
        RELEASE.wait(0.05)
    [audited] = svc.audit("cron.skipped")
    assert audited.detail["cron_id"] == cron["cron_id"]
