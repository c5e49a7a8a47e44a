"""The crons' scheduler on every store (memory, SQLite, PostgreSQL), driven by an injected
clock: each tick is called with the time it is (`CronScheduler.tick(now)`), and the runs it
queues are run by a worker called in the test (`RunWorkers.execute`), so nothing waits on
time. Crons are made over HTTP as a client makes them.

What is pinned: a due time fires once, whichever scheduler ticks and however often; missed
due times fire once, then the cron goes on from now (LangGraph's rule); a cron on a thread
runs on it, and a due time that finds the thread waiting for a decision is skipped
(audited) — the paused run is decided by an approver and the next due time fires again;
a cron without a thread gets a thread per due time, deleted once its run ended unless
`on_run_completed="keep"`; `end_time` and `enabled=False` stop fires; each fire carries
the cron's run options (breakpoints, `context`, `config.configurable`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

import pytest
from fastapi.testclient import TestClient

import interlock as il
from interlock.checkpoint.base import CronQuery
from interlock.server import ApiKeys, create_app
from interlock.server.agent_server._cron_fire import CronScheduler, fire_id
from interlock.server.auth import Principal
from interlock.server.runs import RunWorkers
from interlock.types import RunnableConfig

KEYS = "k-bob=bob:requester;k-cy=cy:requester;k-ada=ada:approver;k-root=root:admin"
SHIPPED: list[str] = []


class Count(TypedDict, total=False):
    n: int
    tone: str
    who: str


@dataclass
class Who:
    user: str


def step(state: Count, config: RunnableConfig, runtime: il.Runtime[Who]) -> dict[str, Any]:
    tone = (config.get("configurable") or {}).get("tone", "plain")
    who = runtime.context.user if runtime.context else "nobody"
    return {"n": state.get("n", 0) + 1, "tone": tone, "who": who}


class Order(TypedDict, total=False):
    item: str
    approved: Any


def ask(state: Order) -> dict[str, Any]:
    answer = il.interrupt({"ship": state["item"]}, approvers=["ada"])
    SHIPPED.append(state["item"])
    return {"approved": answer}


def graphs(saver: Any) -> dict[str, Any]:
    counter = il.StateGraph(Count, context_schema=Who)
    counter.add_node("step", step)
    counter.add_edge(il.START, "step")
    orders = il.StateGraph(Order)
    orders.add_node("ask", ask)
    orders.add_edge(il.START, "ask")
    return {
        "counter": counter.compile(checkpointer=saver, name="counter"),
        "orders": orders.compile(checkpointer=saver, name="orders"),
    }


@dataclass
class Service:
    saver: Any
    graphs: dict[str, Any]
    crons: CronScheduler
    http: TestClient

    def as_(self, key: str) -> dict[str, str]:
        return {"x-api-key": key}

    def post(self, path: str, body: dict[str, Any], key: str = "k-bob") -> dict[str, Any]:
        got = self.http.post(path, json=body, headers=self.as_(key))
        assert got.status_code == 200, got.text
        return dict(got.json())

    def cron(self, body: dict[str, Any], thread_id: str | None = None) -> dict[str, Any]:
        path = f"/threads/{thread_id}/runs/crons" if thread_id else "/runs/crons"
        return self.post(path, body)

    def due(self, cron_id: str) -> datetime:
        cron = self.saver.get_cron(cron_id)
        assert cron is not None and cron.next_run_date is not None
        return cron.next_run_date  # type: ignore[no-any-return]

    def work(self) -> list[str]:
        """Run the queued runs that can run now (a worker, called here); their ids."""
        workers = RunWorkers(self.saver, self.graphs, workers=0)
        ran = []
        while (run := self.saver.claim_run("w", ttl=30)) is not None:
            workers.execute(run, "w")
            ran.append(run.run_id)
        return ran

    def audit(self, action: str) -> list[Any]:
        entries = self.saver.list_audit(after="", limit=1000).items
        return [e for e in entries if e.action == action]


@pytest.fixture
def service(saver: Any) -> Iterator[Service]:
    SHIPPED.clear()
    registry = graphs(saver)
    app = create_app(registry, keys=ApiKeys.parse(KEYS), workers=0)
    with TestClient(app) as http:
        yield Service(saver, registry, app.state.crons, http)


def test_a_due_cron_fires_once_and_missed_due_times_fire_once(service: Service) -> None:
    cron = service.cron({"assistant_id": "counter", "schedule": "*/5 * * * *", "input": {"n": 1}})
    due = service.due(cron["cron_id"])
    assert datetime.fromisoformat(cron["next_run_date"]) == due
    assert service.crons.tick(due - timedelta(seconds=1)) == []
    late = due + timedelta(hours=2, minutes=1)  # 24 due times missed: one fire
    [fire] = service.crons.tick(late)
    assert fire.outcome == "queued" and fire.due == due
    assert fire.run_id == fire_id(cron["cron_id"], due)
    assert service.due(cron["cron_id"]) == due + timedelta(hours=2, minutes=5)  # from now on
    assert service.crons.tick(late) == []  # nothing due any more
    [queued] = service.saver.list_runs()
    assert queued.run_id == fire.run_id and queued.created_by == "bob"
    assert queued.input == {"n": 1}
    [entry] = service.audit("run.queued")
    assert entry.actor == "bob" and entry.thread_id == fire.thread_id
    assert entry.detail["cron_id"] == cron["cron_id"] and entry.detail["due"] == due.isoformat()
    assert service.work() == [fire.run_id]
    ran = service.saver.get_run(fire.run_id)
    assert ran.status == "done" and ran.result["values"]["n"] == 2
    # its own thread is gone once the run ended (on_run_completed defaults to delete)
    assert fire.thread_id is not None and service.saver.get_thread(fire.thread_id) is None
    [deleted] = service.audit("thread.deleted")
    assert deleted.thread_id == fire.thread_id and deleted.detail["reason"] == "on_completion"


def test_keep_keeps_a_thread_per_due_time(service: Service) -> None:
    cron = service.cron(
        {
            "assistant_id": "counter",
            "schedule": "0 9 * * *",
            "input": {"n": 10},
            "on_run_completed": "keep",
        }
    )
    first = service.due(cron["cron_id"])
    fires = service.crons.tick(first) + service.crons.tick(first + timedelta(days=1))
    assert [f.outcome for f in fires] == ["queued", "queued"]
    assert len(service.work()) == 2
    threads = [f.thread_id for f in fires]
    assert threads[0] != threads[1]
    for thread_id in threads:
        got = service.http.get(f"/threads/{thread_id}", headers=service.as_("k-bob")).json()
        assert got["values"]["n"] == 11  # each due time starts a new thread
        assert got["metadata"]["cron_id"] == cron["cron_id"]
        assert got["metadata"]["graph_id"] == "counter"
    cy = service.http.post("/threads/search", json={}, headers=service.as_("k-cy")).json()
    assert cy == []  # the fires' threads are bob's


def test_a_thread_cron_skips_while_its_thread_waits_and_goes_on_once_decided(
    service: Service,
) -> None:
    thread = service.post("/threads", {})["thread_id"]
    cron = service.cron(
        {"assistant_id": "orders", "schedule": "0 * * * *", "input": {"item": "book"}}, thread
    )
    first = service.due(cron["cron_id"])
    [fire] = service.crons.tick(first)
    assert fire.outcome == "queued" and fire.thread_id == thread
    service.work()
    state = service.http.get(f"/threads/{thread}", headers=service.as_("k-bob")).json()
    assert state["status"] == "interrupted"
    # the next due time finds the thread waiting for ada: skipped, audited, moved on
    [skip] = service.crons.tick(first + timedelta(hours=1))
    assert skip.outcome == "skipped" and "waiting_for_decision" in (skip.reason or "")
    [audited] = service.audit("cron.skipped")
    assert audited.thread_id == thread and audited.actor == "bob"
    assert audited.detail["reason"] == skip.reason
    assert service.due(cron["cron_id"]) == first + timedelta(hours=2)
    assert len(service.saver.list_runs(thread_id=thread)) == 1
    # bob may not decide his own run's request; ada, the approver, does
    refused = service.http.post(
        f"/threads/{thread}/runs/wait",
        json={"assistant_id": "orders", "command": {"resume": "yes"}},
        headers=service.as_("k-bob"),
    )
    assert refused.status_code == 403
    done = service.post(
        f"/threads/{thread}/runs/wait",
        {"assistant_id": "orders", "command": {"resume": "ship it"}},
        key="k-ada",
    )
    assert done["approved"] == "ship it" and SHIPPED == ["book"]
    [again] = service.crons.tick(first + timedelta(hours=2))
    assert again.outcome == "queued"
    service.work()
    assert service.saver.list_interrupts(status="pending", thread_id=thread).items  # asks again
    # the cron's runs are bob's: he created the cron
    assert {r.created_by for r in service.saver.list_runs(thread_id=thread, limit=10)} >= {"bob"}


def test_end_time_and_disabling_stop_fires(service: Service) -> None:
    now = datetime.now(UTC)
    ending = service.cron(
        {
            "assistant_id": "counter",
            "schedule": "*/10 * * * *",
            "end_time": (now + timedelta(minutes=30)).isoformat(),
        }
    )
    due = service.due(ending["cron_id"])
    [fire] = service.crons.tick(now + timedelta(hours=1))  # past its end
    assert fire.outcome == "ended" and fire.due == due
    stopped = service.saver.get_cron(ending["cron_id"])
    assert stopped.next_run_date is None and service.saver.list_runs() == ()
    assert service.crons.tick(now + timedelta(days=30)) == []
    # an end time moved later lets it fire again, from now
    service.http.patch(
        f"/runs/crons/{ending['cron_id']}",
        json={"end_time": (now + timedelta(days=400)).isoformat()},
        headers=service.as_("k-bob"),
    )
    assert service.due(ending["cron_id"]) > now

    paused = service.cron({"assistant_id": "counter", "schedule": "0 0 * * *"})
    first = service.due(paused["cron_id"])
    off = service.http.patch(
        f"/runs/crons/{paused['cron_id']}", json={"enabled": False}, headers=service.as_("k-bob")
    ).json()
    assert off["enabled"] is False
    fired = service.crons.tick(first + timedelta(days=3))
    assert all(f.cron_id != paused["cron_id"] for f in fired)
    on = service.http.patch(
        f"/runs/crons/{paused['cron_id']}", json={"enabled": True}, headers=service.as_("k-bob")
    ).json()
    # enabled again: its next due time is from now, not the stale one it had
    assert on["enabled"] is True and datetime.fromisoformat(on["next_run_date"]) > now
    assert [e.detail.get("enabled") for e in service.audit("cron.updated")][-2:] == [False, True]


def test_a_fire_carries_the_crons_run_options(service: Service) -> None:
    cron = service.cron(
        {
            "assistant_id": "counter",
            "schedule": "0 0 1 * *",
            "input": {"n": 0},
            "config": {"configurable": {"tone": "warm"}},
            "context": {"user": "ada"},
            "on_run_completed": "keep",
        }
    )
    [fire] = service.crons.tick(service.due(cron["cron_id"]))
    service.work()
    got = service.http.get(f"/threads/{fire.thread_id}/state", headers=service.as_("k-bob"))
    assert got.json()["values"] == {"n": 1, "tone": "warm", "who": "ada"}
    braked = service.cron(
        {
            "assistant_id": "counter",
            "schedule": "0 0 1 * *",
            "interrupt_before": ["step"],
            "on_run_completed": "delete",
        }
    )
    [held] = service.crons.tick(service.due(braked["cron_id"]))
    service.work()
    run = service.saver.get_run(held.run_id)
    assert run.status == "interrupted"  # paused at its breakpoint, before `step`
    assert held.thread_id is not None and service.saver.get_thread(held.thread_id) is not None


def test_a_fire_cut_short_before_its_advance_is_not_repeated(service: Service) -> None:
    cron = service.cron({"assistant_id": "counter", "schedule": "0 12 * * *"})
    due = service.due(cron["cron_id"])
    job = service.saver.get_cron(cron["cron_id"])
    service.crons._queue(job, due, fire_id(job.cron_id, due))  # queued, then the process died
    assert service.due(cron["cron_id"]) == due  # not moved on
    [fire] = service.crons.tick(due + timedelta(minutes=1))
    assert fire.outcome == "done" and len(service.saver.list_runs()) == 1
    assert service.due(cron["cron_id"]) == due + timedelta(days=1)
    assert len(service.audit("run.queued")) == 1


def test_two_schedulers_on_one_store_fire_each_due_time_once(service: Service, saver: Any) -> None:
    other_saver = _second_saver(saver)
    try:
        other = create_app(graphs(other_saver), keys=ApiKeys.parse(KEYS), workers=0)
        schedulers = [service.crons, other.state.crons]
        ids = [
            service.cron({"assistant_id": "counter", "schedule": f"{m} * * * *"})["cron_id"]
            for m in (7, 8, 9)
        ]
        now = max(service.due(i) for i in ids)
        for round_ in range(3):
            barrier = threading.Barrier(len(schedulers) * 2)
            fires: list[Any] = []

            ticking = [
                threading.Thread(target=_tick, args=(s, now, barrier, fires))
                for s in schedulers
                for _ in (1, 2)
            ]
            for t in ticking:
                t.start()
            for t in ticking:
                t.join()
            queued = sorted(f.cron_id for f in fires if f.outcome == "queued")
            assert queued == sorted(ids), (round_, fires)  # each due time queued once
            assert {f.outcome for f in fires} <= {"queued", "done", "stale"}
            now += timedelta(hours=1)
        runs = service.saver.list_runs(limit=100)
        assert len(runs) == 9 and len({r.run_id for r in runs}) == 9
        assert len(service.audit("run.queued")) == 9
        assert len(service.audit("thread.created")) == 9
    finally:
        if other_saver is not saver:
            other_saver.close()


def _tick(
    scheduler: CronScheduler, when: datetime, barrier: threading.Barrier, fires: list[Any]
) -> None:
    barrier.wait()
    fires.extend(scheduler.tick(when))


def _second_saver(saver: Any) -> Any:
    """Another saver on the same store (the same object for the memory store)."""
    from interlock.checkpoint.memory import InMemorySaver
    from interlock.checkpoint.sqlite import SqliteSaver

    if isinstance(saver, InMemorySaver):
        return saver
    if isinstance(saver, SqliteSaver):
        return SqliteSaver(saver.path)
    from interlock.checkpoint.postgres import PostgresSaver
    from tests.pg import DSN

    return PostgresSaver(DSN, schema=saver.schema)


def test_deleting_a_thread_deletes_its_crons(service: Service) -> None:
    thread = service.post("/threads", {})["thread_id"]
    cron = service.cron({"assistant_id": "counter", "schedule": "0 0 * * *"}, thread)
    other = service.cron({"assistant_id": "counter", "schedule": "0 0 * * *"})
    gone = service.http.delete(f"/threads/{thread}", headers=service.as_("k-bob"))
    assert gone.status_code == 204
    assert service.saver.get_cron(cron["cron_id"]) is None
    assert [c.cron_id for c in service.saver.search_crons(CronQuery())] == [other["cron_id"]]
    [entry] = service.audit("cron.deleted")
    assert entry.detail == {"cron_id": cron["cron_id"], "reason": "thread_deleted"}


def test_due_times_follow_the_schedules_time_zone_across_daylight_saving() -> None:
    from zoneinfo import ZoneInfo

    from interlock.server._errors import ApiError
    from interlock.server.agent_server._schedule import next_due

    berlin = ZoneInfo("Europe/Berlin")
    winter = next_due("0 9 * * *", "Europe/Berlin", datetime(2026, 3, 27, 12, tzinfo=UTC))
    summer = next_due("0 9 * * *", "Europe/Berlin", winter)
    assert winter == datetime(2026, 3, 28, 8, tzinfo=UTC)  # 09:00 CET
    assert summer == datetime(2026, 3, 29, 7, tzinfo=UTC)  # 09:00 CEST
    assert summer.astimezone(berlin).hour == 9
    # 02:30 does not exist on the day the clocks skip it: the first time after it
    skipped = next_due("30 2 * * *", "Europe/Berlin", datetime(2026, 3, 28, 12, tzinfo=UTC))
    assert skipped.astimezone(berlin).strftime("%d %H:%M") == "29 03:00"
    # the clocks go back over 01:30 in New York: a daily 01:30 fires once, an hourly :30 twice
    first = next_due("30 1 * * *", "America/New_York", datetime(2026, 10, 31, 12, tzinfo=UTC))
    assert first == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
    after = first + timedelta(seconds=3)  # the tick that fired it
    assert next_due("30 1 * * *", "America/New_York", after) == datetime(
        2026, 11, 2, 6, 30, tzinfo=UTC
    )  # not 06:30 UTC on the 1st: 01:30 EST again
    assert next_due("@daily", "America/New_York", datetime(2026, 11, 1, 4, 1, tzinfo=UTC)) == (
        datetime(2026, 11, 2, 5, tzinfo=UTC)
    )
    assert next_due("30 * * * *", "America/New_York", after) == datetime(
        2026, 11, 1, 6, 30, tzinfo=UTC
    )
    assert next_due("*/5 * * * *", None, datetime(2026, 1, 1, 0, 0, tzinfo=UTC)) == datetime(
        2026, 1, 1, 0, 5, tzinfo=UTC
    )  # strictly after
    for schedule, zone, code in [
        ("61 * * * *", None, "invalid_schedule"),
        ("", None, "invalid_schedule"),
        ("0 0 30 2 *", None, "invalid_schedule"),
        ("* * * * *", "", "invalid_timezone"),
        ("* * * * *", "../etc/passwd", "invalid_timezone"),
        ("* * * * *", "Europe/Nowhere", "invalid_timezone"),
    ]:
        with pytest.raises(ApiError) as refused:
            next_due(schedule, zone, datetime(2026, 1, 1, tzinfo=UTC))
        assert (refused.value.status, refused.value.code) == (422, code)


def test_a_cron_of_a_created_assistant_runs_with_its_configuration(service: Service) -> None:
    made = service.post(
        "/assistants", {"graph_id": "counter", "context": {"user": "ada"}}, key="k-root"
    )
    cron = service.cron(
        {"assistant_id": made["assistant_id"], "schedule": "0 0 1 * *", "on_run_completed": "keep"}
    )
    assert cron["assistant_id"] == made["assistant_id"]  # as LangGraph's Cron names it
    [fire] = service.crons.tick(service.due(cron["cron_id"]))
    assert fire.outcome == "queued"
    service.work()
    got = service.http.get(f"/threads/{fire.thread_id}", headers=service.as_("k-bob")).json()
    assert got["values"]["who"] == "ada"  # the assistant's context, not the graph's default
    assert got["metadata"]["assistant_id"] == made["assistant_id"]
    mine = service.http.post(
        "/runs/crons/search",
        json={"assistant_id": made["assistant_id"]},
        headers=service.as_("k-bob"),
    ).json()
    assert [c["cron_id"] for c in mine] == [cron["cron_id"]]


def test_only_its_creator_changes_what_a_cron_runs(service: Service) -> None:
    cron = service.cron({"assistant_id": "counter", "schedule": "0 0 1 * *", "input": {"n": 1}})
    for change in ({"input": {"n": 99}}, {"context": {"user": "root"}}, {"metadata": {"a": 1}}):
        refused = service.http.patch(
            f"/runs/crons/{cron['cron_id']}", json=change, headers=service.as_("k-root")
        )
        assert refused.status_code == 403, refused.text  # it would run as bob
        assert refused.json()["code"] == "forbidden"
    stored = service.saver.get_cron(cron["cron_id"])
    assert stored.payload == cron["payload"] and stored.metadata == {}
    off = service.http.patch(
        f"/runs/crons/{cron['cron_id']}", json={"enabled": False}, headers=service.as_("k-root")
    )
    assert off.status_code == 200 and off.json()["enabled"] is False
    mine = service.http.patch(
        f"/runs/crons/{cron['cron_id']}", json={"input": {"n": 2}}, headers=service.as_("k-bob")
    )
    assert mine.status_code == 200 and mine.json()["payload"]["input"] == {"n": 2}


def test_a_cron_changed_during_a_tick_is_not_fired_from_the_stale_read(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = {"assistant_id": "counter", "schedule": "0 0 1 * *", "on_run_completed": "keep"}
    deleted, disabled, fired = (service.cron(body)["cron_id"] for _ in range(3))
    due = service.due(fired)
    read_first = service.saver.due_crons(due)  # a tick's read, before the changes below
    assert {c.cron_id for c in read_first} == {deleted, disabled, fired}
    service.http.delete(f"/runs/crons/{deleted}", headers=service.as_("k-bob"))
    service.http.patch(
        f"/runs/crons/{disabled}", json={"enabled": False}, headers=service.as_("k-bob")
    )
    [first] = service.crons.tick(due)  # another process's tick fires the due time
    assert first.cron_id == fired and first.outcome == "queued"
    service.work()
    assert service.saver.delete_run(first.thread_id, first.run_id)  # `runs.delete`
    monkeypatch.setattr(service.saver, "due_crons", lambda now, **_: read_first)
    late = service.crons.tick(due)  # the slow tick goes on with what it read
    assert {f.outcome for f in late} == {"stale"}, late
    assert service.saver.list_runs() == ()  # nothing queued: not deleted, disabled, or twice


def test_crons_of_agents_a_process_does_not_serve_do_not_crowd_out_its_own(
    service: Service, saver: Any
) -> None:
    other_saver = _second_saver(saver)
    try:
        counter_only = create_app(
            {"counter": graphs(other_saver)["counter"]}, keys=ApiKeys.parse(KEYS), workers=0
        )
        scheduler = CronScheduler(counter_only.state.crons.ctx, limit=2)
        for _ in range(2):  # due first, of an agent that process does not serve
            service.cron({"assistant_id": "orders", "schedule": "*/5 * * * *"})
        mine = service.cron({"assistant_id": "counter", "schedule": "0 0 1 1 *"})
        fires = scheduler.tick(service.due(mine["cron_id"]))
        assert [(f.cron_id, f.outcome) for f in fires] == [(mine["cron_id"], "queued")]
    finally:
        if other_saver is not saver:
            other_saver.close()


def test_deleting_an_assistant_deletes_its_crons(service: Service) -> None:
    made = service.post("/assistants", {"graph_id": "counter"}, key="k-root")
    body = {"assistant_id": made["assistant_id"], "schedule": "0 0 1 * *"}
    thread = service.post("/threads", {})["thread_id"]
    crons = [service.cron(body)["cron_id"], service.cron(body, thread)["cron_id"]]
    kept = service.cron({"assistant_id": "counter", "schedule": "0 0 1 * *"})["cron_id"]
    gone = service.http.delete(f"/assistants/{made['assistant_id']}", headers=service.as_("k-root"))
    assert gone.status_code == 204
    assert [service.saver.get_cron(c) for c in crons] == [None, None]
    assert [c.cron_id for c in service.saver.search_crons(CronQuery())] == [kept]
    deleted = service.audit("cron.deleted")
    assert sorted(e.detail["cron_id"] for e in deleted) == sorted(crons)
    assert {e.actor for e in deleted} == {"root"}


def test_a_fire_cut_short_after_making_its_thread_is_completed_once(service: Service) -> None:
    cron = service.cron({"assistant_id": "counter", "schedule": "0 12 * * *", "input": {"n": 4}})
    due = service.due(cron["cron_id"])
    thread_id = fire_id(cron["cron_id"], due, "thread")
    bob = Principal("bob", frozenset({"requester"}))
    meta = {"graph_id": "counter", "cron_id": cron["cron_id"]}
    assert service.crons.ctx.new_thread(bob, thread_id, meta)[1]  # made, then the process died
    [fire] = service.crons.tick(due + timedelta(minutes=1))
    assert (fire.outcome, fire.thread_id) == ("queued", thread_id)
    assert service.crons.tick(due + timedelta(minutes=1)) == []
    assert service.work() == [fire.run_id]
    assert len(service.audit("thread.created")) == 1 and len(service.audit("run.queued")) == 1
