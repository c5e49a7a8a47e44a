"""Crons: the part of the store conformance suite for their room (`SaverConformance`
includes every part)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from interlock.checkpoint._crons.protocol import CronFire, CronJob, CronQuery
from interlock.checkpoint._testkit import StoreTests
from interlock.checkpoint.base import BaseSaver, ThreadQuery
from interlock.errors import SerializationError

__all__ = ["CronsConformance"]

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _cron(cron_id: str, **kw: Any) -> CronJob:
    return CronJob(
        cron_id=cron_id,
        agent=str(kw.pop("agent", "orders")),
        schedule=str(kw.pop("schedule", "*/5 * * * *")),
        created_at=kw.pop("created_at", T0),
        updated_at=kw.pop("updated_at", T0),
        **kw,
    )


def _fire(cron: CronJob, n: int = 0, **kw: Any) -> CronFire:
    """A fire of `cron` as read, on a thread of its own (`new_thread`) unless it has one."""
    assert cron.next_run_date is not None
    meta = None if cron.thread_id else {"graph_id": cron.agent, "cron_id": cron.cron_id}
    values: dict[str, Any] = {
        "cron_id": cron.cron_id,
        "due": cron.next_run_date,
        "updated_at": cron.updated_at,
        "run_id": f"run-{cron.cron_id}-{n}",
        "thread_id": cron.thread_id or f"thread-{cron.cron_id}-{n}",
        "agent": cron.agent,
        "input": {"n": n},
        "created_by": cron.owner,
        "options": {"cron_id": cron.cron_id},
        "queued": {"cron_id": cron.cron_id, "n": n},
        "new_thread": meta,
        "thread_created": {"metadata": meta},
    }
    return CronFire(**{**values, **kw})


class CronsConformance(StoreTests):
    """Cron tests every store passes. Subclasses provide a `saver` fixture."""

    def test_a_cron_is_kept_changed_and_deleted_with_its_audit(self, saver: BaseSaver) -> None:
        cron = _cron(
            "c1",
            thread_id="t1",
            owner="bob",
            payload={"input": {"item": "book"}, "when": T0},
            metadata={"team": "ops"},
            next_run_date=T0 + timedelta(minutes=5),
            end_time=datetime(2026, 4, 1),  # naive: taken as UTC
        )
        stored = saver.add_cron(cron, actor="bob")
        assert stored.end_time == datetime(2026, 4, 1, tzinfo=UTC)
        assert saver.get_cron("c1") == stored
        assert stored.payload == {"input": {"item": "book"}, "when": T0}  # typed values too
        with pytest.raises(ValueError):
            saver.add_cron(_cron("c1"), actor="bob")
        changed = saver.update_cron(
            "c1", {"enabled": False, "metadata": {"team": "web"}, "end_time": None}, actor="ada"
        )
        assert changed is not None and not changed.enabled and changed.end_time is None
        assert changed.metadata == {"team": "web"} and changed.schedule == "*/5 * * * *"
        assert changed.next_run_date == T0 + timedelta(minutes=5)  # untouched
        assert changed.updated_at > stored.updated_at
        with pytest.raises(ValueError):
            saver.update_cron("c1", {"owner": "eve"}, actor="eve")
        assert saver.update_cron("nope", {"enabled": True}, actor="ada") is None
        assert saver.delete_cron("c1", actor="ada") == changed
        assert saver.get_cron("c1") is None and saver.delete_cron("c1", actor="ada") is None
        entries = saver.list_audit(thread_id="t1", after="").items
        assert [(e.action, e.actor) for e in entries] == [
            ("cron.created", "bob"),
            ("cron.updated", "ada"),
            ("cron.deleted", "ada"),
        ]
        assert entries[0].detail["schedule"] == "*/5 * * * *"
        assert entries[1].detail == {
            "cron_id": "c1",
            "enabled": False,
            "end_time": None,
            "metadata": {"team": "web"},
        }

    def test_an_unstorable_payload_stores_nothing(self, saver: BaseSaver) -> None:
        with pytest.raises(SerializationError):
            saver.add_cron(_cron("bad", payload={"input": object()}), actor="bob")
        assert saver.get_cron("bad") is None
        assert saver.list_audit(after="").items == ()

    def test_searches_filter_sort_and_count(self, saver: BaseSaver) -> None:
        for i, (agent, thread, owner, enabled) in enumerate(
            [
                ("orders", "t1", "bob", True),
                ("orders", None, "bob", False),
                ("refunds", "t2", "cy", True),
                ("orders", None, "cy", True),
            ]
        ):
            saver.add_cron(
                _cron(
                    f"c{i}",
                    agent=agent,
                    thread_id=thread,
                    owner=owner,
                    enabled=enabled,
                    metadata={"n": i, "even": i % 2 == 0},
                    payload={"assistant_id": "a-odd" if i % 2 else "a-even"},
                    created_at=T0 + timedelta(seconds=i),
                    next_run_date=None if i == 1 else T0 + timedelta(minutes=10 - i),
                ),
                actor=owner,
            )

        def ids(query: CronQuery, **kw: Any) -> list[str]:
            return [c.cron_id for c in saver.search_crons(query, **kw)]

        assert ids(CronQuery()) == ["c3", "c2", "c1", "c0"]  # newest first
        assert ids(CronQuery(agent="orders", sort_order="asc")) == ["c0", "c1", "c3"]
        assert ids(CronQuery(thread_id="t2")) == ["c2"]
        assert ids(CronQuery(owner="bob")) == ["c1", "c0"]
        assert ids(CronQuery(enabled=False)) == ["c1"]
        assert ids(CronQuery(metadata={"even": True})) == ["c2", "c0"]
        assert ids(CronQuery(metadata={"even": True, "n": 2})) == ["c2"]
        assert ids(CronQuery(metadata={"missing": None})) == []
        # by due time, the cron that never fires again last whichever the order
        assert ids(CronQuery(sort_by="next_run_date", sort_order="asc")) == [
            "c3",
            "c2",
            "c0",
            "c1",
        ]
        assert ids(CronQuery(sort_by="next_run_date"))[-1] == "c1"
        assert ids(CronQuery(sort_by="thread_id", sort_order="asc"))[:2] == ["c0", "c2"]
        assert ids(CronQuery(), limit=2, offset=1) == ["c2", "c1"]
        assert ids(CronQuery(metadata={"even": False}), limit=1, offset=1) == ["c1"]
        assert ids(CronQuery(assistant_id="a-odd")) == ["c3", "c1"]
        assert ids(CronQuery(agent="orders", assistant_id="a-even")) == ["c0"]
        assert ids(CronQuery(assistant_id="a-odd"), limit=1, offset=1) == ["c1"]
        assert ids(CronQuery(), limit=-1) == []
        assert saver.count_crons(CronQuery(assistant_id="a-even", owner="cy")) == 1
        assert saver.count_crons(CronQuery()) == 4
        assert saver.count_crons(CronQuery(agent="orders", owner="cy")) == 1
        assert saver.count_crons(CronQuery(metadata={"even": False})) == 2

    def test_due_crons_are_enabled_and_advanced_once(self, saver: BaseSaver) -> None:
        saver.add_cron(_cron("early", next_run_date=T0), actor="bob")
        saver.add_cron(_cron("later", next_run_date=T0 + timedelta(minutes=1)), actor="bob")
        saver.add_cron(_cron("off", next_run_date=T0, enabled=False), actor="bob")
        saver.add_cron(_cron("never"), actor="bob")
        assert [c.cron_id for c in saver.due_crons(T0 - timedelta(seconds=1))] == []
        assert [c.cron_id for c in saver.due_crons(T0)] == ["early"]
        now = T0 + timedelta(minutes=2)
        assert [c.cron_id for c in saver.due_crons(now)] == ["early", "later"]
        assert [c.cron_id for c in saver.due_crons(now, limit=1)] == ["early"]
        saver.add_cron(_cron("refund", agent="refunds", next_run_date=T0), actor="bob")
        assert [c.cron_id for c in saver.due_crons(now, limit=1, agents={"refunds"})] == ["refund"]
        assert [c.cron_id for c in saver.due_crons(now, agents=["orders", "x"])] == [
            "early",
            "later",
        ]
        assert saver.due_crons(now, agents=()) == ()
        saver.delete_cron("refund", actor="bob")
        nxt = T0 + timedelta(minutes=5)
        assert saver.advance_cron("early", due=T0, next_run=nxt)
        assert not saver.advance_cron("early", due=T0, next_run=nxt)  # already moved on
        got = saver.get_cron("early")
        assert got is not None and got.next_run_date == nxt
        assert saver.advance_cron("later", due=T0 + timedelta(minutes=1), next_run=None)
        assert [c.cron_id for c in saver.due_crons(now)] == []
        assert not saver.advance_cron("gone", due=T0, next_run=nxt)
        saver.update_cron("off", {"enabled": True}, actor="bob")
        assert [c.cron_id for c in saver.due_crons(now)] == ["off"]

    def test_racing_advances_of_one_due_time_have_one_winner(self, saver: BaseSaver) -> None:
        saver.add_cron(_cron("race", next_run_date=T0), actor="bob")
        barrier = threading.Barrier(6)
        won: list[bool] = []

        def advance() -> None:
            barrier.wait()
            won.append(saver.advance_cron("race", due=T0, next_run=T0 + timedelta(hours=1)))

        threads = [threading.Thread(target=advance) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(won) == [False] * 5 + [True]

    def test_deleting_a_thread_deletes_its_crons(self, saver: BaseSaver) -> None:
        self._chain(saver, "t1", 1)
        saver.add_cron(_cron("mine", thread_id="t1"), actor="bob")
        saver.add_cron(_cron("other", thread_id="t2"), actor="bob")
        saver.add_cron(_cron("threadless"), actor="bob")
        saver.delete_thread("t1")
        assert saver.get_cron("mine") is None
        assert {c.cron_id for c in saver.search_crons(CronQuery())} == {"other", "threadless"}
        last = saver.list_audit(thread_id="t1").items[0]
        assert last.action == "cron.deleted"
        assert last.detail == {"cron_id": "mine", "reason": "thread_deleted"}

    def _written(self, saver: BaseSaver, fire: CronFire) -> list[str]:
        """What the store holds of `fire`: its run, its thread's owner, its audit."""
        out = []
        if saver.get_run(fire.run_id) is not None:
            out.append("run")
        if saver.thread_owner(fire.thread_id) is not None:
            out.append("owner")
        out += [e.action for e in saver.list_audit(thread_id=fire.thread_id, after="").items]
        return out

    def test_a_fire_queues_its_run_and_thread_only_while_the_cron_is_as_read(
        self, saver: BaseSaver
    ) -> None:
        read = saver.add_cron(_cron("c", owner="bob", next_run_date=T0), actor="bob")
        later = T0 + timedelta(minutes=5)
        for stale in (
            _fire(read, due=later),  # moved on since (another process fired it)
            _fire(read, updated_at=read.updated_at - timedelta(seconds=1)),  # changed since
        ):
            assert saver.queue_cron_run(stale) is None
            assert self._written(saver, stale) == []  # nothing, not even its thread
        fire = _fire(read)
        run = saver.queue_cron_run(fire)
        assert run is not None and saver.get_run(fire.run_id) == run
        assert (run.thread_id, run.agent, run.created_by) == (fire.thread_id, "orders", "bob")
        assert (run.status, run.input, run.options) == ("queued", {"n": 0}, {"cron_id": "c"})
        assert self._written(saver, fire) == ["run", "owner", "thread.created", "run.queued"]
        assert saver.thread_owner(fire.thread_id) == "bob"
        [made] = saver.search_threads(ThreadQuery(metadata={"cron_id": "c"}))
        assert made.thread_id == fire.thread_id
        queued = saver.list_audit(thread_id=fire.thread_id, after="").items[-1]
        assert (queued.actor, queued.detail) == ("bob", {"cron_id": "c", "n": 0})
        with pytest.raises(ValueError):  # the same due time again: refused, nothing written
            saver.queue_cron_run(fire)
        assert self._written(saver, fire) == ["run", "owner", "thread.created", "run.queued"]
        # a thread that has an owner already is not made again
        again = _fire(read, 1, thread_id=fire.thread_id)
        assert saver.queue_cron_run(again) is not None
        assert [e.action for e in saver.list_audit(thread_id=fire.thread_id, after="").items] == [
            "thread.created",
            "run.queued",
            "run.queued",
        ]
        changed = saver.update_cron("c", {"metadata": {"x": 1}}, actor="bob")
        assert changed is not None
        assert saver.queue_cron_run(_fire(read, 2)) is None  # read before the change
        assert saver.queue_cron_run(_fire(changed, 2)) is not None  # read after it
        saver.update_cron("c", {"enabled": False}, actor="bob")
        off = saver.get_cron("c")
        assert off is not None and saver.queue_cron_run(_fire(off, 3)) is None  # disabled
        saver.delete_cron("c", actor="bob")
        assert saver.queue_cron_run(_fire(changed, 4)) is None  # deleted
        assert [saver.get_run(f"run-c-{n}") is None for n in range(5)] == [False] * 3 + [True] * 2

    def test_a_fire_on_a_thread_makes_no_thread(self, saver: BaseSaver) -> None:
        self._chain(saver, "t1", 1)
        cron = _cron("c", thread_id="t1", owner="bob", next_run_date=T0)
        read = saver.add_cron(cron, actor="bob")
        run = saver.queue_cron_run(_fire(read, after="x"))
        assert run is not None and (run.thread_id, run.after) == ("t1", "x")
        assert saver.thread_owner("t1") is None
        actions = [e.action for e in saver.list_audit(thread_id="t1", after="").items]
        assert actions == ["cron.created", "run.queued"]

    def test_a_fire_that_cannot_be_stored_writes_nothing(self, saver: BaseSaver) -> None:
        read = saver.add_cron(_cron("c", owner="bob", next_run_date=T0), actor="bob")
        for bad in (
            _fire(read, input={"x": object()}),
            _fire(read, options={"x": object()}),
            _fire(read, new_thread={"x": object()}),
            _fire(read, queued={"x": object()}),
        ):
            with pytest.raises(SerializationError):
                saver.queue_cron_run(bad)
            assert self._written(saver, bad) == []

    @pytest.mark.parametrize("change", ["delete", "update"])
    def test_a_change_racing_a_fire_is_ordered_with_it(self, saver: BaseSaver, change: str) -> None:
        # each round: a delete (or an update) and a fire of the same cron at once; the fire
        # queues its run only if it committed first, so its `run.queued` comes before the
        # change's audit entry; a fire that came second queues nothing
        for n in range(8):
            read = saver.add_cron(_cron(f"c{n}", owner="bob", next_run_date=T0), actor="bob")
            fire = _fire(read)
            queued = _race(saver, fire, change)
            entries = saver.list_audit(after="", limit=1000).items
            order = [
                e.action
                for e in entries
                if e.action in ("run.queued", f"cron.{change}d")
                and e.detail.get("cron_id") == read.cron_id
            ]
            if queued is None:
                assert order == [f"cron.{change}d"] and saver.get_run(fire.run_id) is None
            else:
                assert order == ["run.queued", f"cron.{change}d"], order
                assert saver.get_run(fire.run_id) == queued


def _race(saver: BaseSaver, fire: CronFire, change: str) -> Any:
    """Fire and delete (or update) the cron at once; what the fire returned."""
    barrier = threading.Barrier(2)
    got: list[Any] = []

    def firing() -> None:
        barrier.wait()
        got.append(saver.queue_cron_run(fire))

    def changing() -> None:
        barrier.wait()
        if change == "delete":
            saver.delete_cron(fire.cron_id, actor="bob")
        else:
            saver.update_cron(fire.cron_id, {"payload": {"input": {"n": 1}}}, actor="bob")

    threads = [threading.Thread(target=firing), threading.Thread(target=changing)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    [queued] = got
    return queued
