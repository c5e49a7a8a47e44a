"""The run-event-log part of the store conformance suite (`SaverConformance` includes it)."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from interlock.checkpoint._testkit import StoreTests, make_record
from interlock.checkpoint.base import BaseSaver
from interlock.errors import SerializationError

__all__ = ["EventLogConformance"]


class EventLogConformance(StoreTests):
    """Event-log tests every store passes. Subclasses provide a `saver` fixture."""

    def test_events_are_numbered_per_thread_and_read_back_in_order(self, saver: BaseSaver) -> None:
        assert saver.append_events("t", "r1", [("metadata", {"run_id": "r1"})]) == (1,)
        seqs = saver.append_events("t", "r1", [("values", {"n": 1}), ("values", {"n": [2, "x"]})])
        assert seqs == (2, 3)
        assert saver.append_events("other", "r9", [("metadata", None)]) == (1,)  # its own count
        assert saver.append_events("t", "r2", [("metadata", {"run_id": "r2"}), ("end", None)]) == (
            4,
            5,
        )
        assert saver.append_events("t", "r1", []) == ()
        events = saver.read_events("t")
        assert [(e.seq, e.run_id, e.event, e.data) for e in events] == [
            (1, "r1", "metadata", {"run_id": "r1"}),
            (2, "r1", "values", {"n": 1}),
            (3, "r1", "values", {"n": [2, "x"]}),
            (4, "r2", "metadata", {"run_id": "r2"}),
            (5, "r2", "end", None),
        ]
        assert all(e.thread_id == "t" and e.at.tzinfo is not None for e in events)
        assert [e.seq for e in saver.read_events("t", after=2, limit=2)] == [3, 4]
        assert [e.seq for e in saver.read_events("t", run_id="r1", after=1)] == [2, 3]
        assert [e.seq for e in saver.read_events("t", run_id="r2")] == [4, 5]
        assert saver.read_events("t", after=5) == ()
        assert saver.read_events("nobody") == ()

    def test_run_summaries(self, saver: BaseSaver) -> None:
        saver.append_events("t", "a", [("metadata", {"k": 1}), ("values", {}), ("end", None)])
        saver.append_events("t", "b", [("metadata", {"k": 2}), ("values", {"v": 1})])
        logs = saver.run_logs("t")
        assert [(s.run_id, s.count, s.first.event, s.last.event) for s in logs] == [
            ("b", 2, "metadata", "values"),
            ("a", 3, "metadata", "end"),
        ]
        assert [s.ended for s in logs] == [False, True]
        assert [s.run_id for s in saver.run_logs("t", limit=1)] == ["b"]
        one = saver.run_log("t", "a")
        assert one is not None and (one.first.data, one.last.seq) == ({"k": 1}, 3)
        assert saver.run_log("t", "zzz") is None
        assert saver.run_log("nobody", "a") is None

    def test_event_data_must_be_serialisable(self, saver: BaseSaver) -> None:
        with pytest.raises(SerializationError):
            saver.append_events("t", "r", [("values", {"ok": 1}), ("values", {"f": object()})])
        assert saver.read_events("t") == ()  # nothing of the batch was written

    def test_racing_appenders_never_share_a_number(self, saver: BaseSaver) -> None:
        barrier = threading.Barrier(6)

        def appender(i: int) -> None:
            barrier.wait()
            for j in range(5):
                saver.append_events("t", f"r{i}", [("values", {"i": i, "j": j})] * 2)

        threads = [threading.Thread(target=appender, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        events = saver.read_events("t")
        assert [e.seq for e in events] == list(range(1, 61))
        for i in range(6):  # each run's events in the order it appended them
            mine = [e.data["j"] for e in events if e.run_id == f"r{i}"]
            assert mine == sorted(mine) and len(mine) == 10

    def test_delete_thread_drops_its_events(self, saver: BaseSaver) -> None:
        saver.put_checkpoint(make_record("t", None, [("n", 1)], {"n": 1}), expected_head=None)
        saver.append_events("t", "r", [("metadata", None), ("end", None)])
        saver.append_events("keep", "k", [("metadata", None)])
        saver.delete_thread("t")
        assert saver.read_events("t") == ()
        assert saver.run_logs("t") == ()
        assert len(saver.read_events("keep")) == 1

    def test_prune_drops_the_events_of_runs_that_ended_before(self, saver: BaseSaver) -> None:
        saver.append_events("t", "ended", [("metadata", None), ("end", None)])
        saver.append_events("t", "failed", [("metadata", None), ("error", {"message": "x"})])
        saver.append_events("t", "open", [("metadata", None), ("values", {})])
        saver.prune(finished_before=datetime.now(UTC) - timedelta(hours=1))
        assert {s.run_id for s in saver.run_logs("t")} == {"ended", "failed", "open"}
        saver.prune(finished_before=datetime.now(UTC) + timedelta(seconds=5))
        assert [s.run_id for s in saver.run_logs("t")] == ["open"]  # still streaming: kept

    def test_prune_drops_events_with_the_run_record(self, saver: BaseSaver) -> None:
        run = saver.enqueue_run(thread_id="t", agent="x", input={})
        saver.append_events("t", run.run_id, [("metadata", None), ("values", {"a": 1})])
        claimed = saver.claim_run("w", ttl=60)
        assert claimed is not None
        saver.prune(finished_before=datetime.now(UTC) + timedelta(seconds=5))
        assert len(saver.read_events("t")) == 2  # the run is open: record and events stay
        assert saver.finish_run(run.run_id, "w", status="failed", error="gone")
        saver.prune(finished_before=datetime.now(UTC) + timedelta(seconds=5))
        assert saver.get_run(run.run_id) is None
        assert saver.read_events("t") == ()  # no terminal event, but its record ended

    def test_event_log_async_twins(self, saver: BaseSaver) -> None:
        async def main() -> Any:
            assert await saver.aappend_events("t", "r", [("metadata", 1), ("end", 2)]) == (1, 2)
            events = await saver.aread_events("t", run_id="r", after=1)
            assert [(e.event, e.data) for e in events] == [("end", 2)]
            assert [s.run_id for s in await saver.arun_logs("t")] == ["r"]
            log = await saver.arun_log("t", "r")
            assert log is not None and log.ended

        asyncio.run(main())
