"""The run-queue part of the store conformance suite (`SaverConformance` includes it).

Leases are checked without sleeping: a claim with `ttl=0` is expired as soon as it is made
(on the store's own clock), so the next claimer may take the run over at once.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from interlock.checkpoint._testkit import StoreTests, make_interrupt, make_record
from interlock.checkpoint.base import BaseSaver
from interlock.errors import SerializationError

__all__ = ["RunQueueConformance"]


class RunQueueConformance(StoreTests):
    """Run-queue tests every store passes. Subclasses provide a `saver` fixture."""

    def test_runs_are_claimed_oldest_first_and_read_back(self, saver: BaseSaver) -> None:
        queued = [
            saver.enqueue_run(
                thread_id=f"t{i}", agent="a", input={"n": i}, created_by="bob", after=f"h{i}"
            )
            for i in range(3)
        ]
        assert [r.status for r in queued] == ["queued"] * 3
        first = saver.claim_run("w1", ttl=60)
        assert first is not None and first.run_id == queued[0].run_id
        assert (first.status, first.owner, first.attempts) == ("running", "w1", 1)
        assert (first.input, first.created_by, first.after) == ({"n": 0}, "bob", "h0")
        second = saver.claim_run("w2", ttl=60)
        assert second is not None and second.run_id == queued[1].run_id
        got = saver.get_run(queued[2].run_id)
        assert got is not None and got.status == "queued" and got.owner is None
        assert saver.get_run("f" * 32) is None
        listed = saver.list_runs()
        assert [r.run_id for r in listed] == [r.run_id for r in reversed(queued)]  # newest first
        assert [r.run_id for r in saver.list_runs(thread_id="t1")] == [queued[1].run_id]
        running = saver.list_runs(status="running", limit=1)
        assert len(running) == 1 and running[0].status == "running"

    def test_runs_of_one_thread_are_claimed_in_order_one_at_a_time(self, saver: BaseSaver) -> None:
        a1 = saver.enqueue_run(thread_id="a", agent="x", input={})
        a2 = saver.enqueue_run(thread_id="a", agent="x", input={})
        b1 = saver.enqueue_run(thread_id="b", agent="x", input={})
        claimed = saver.claim_run("w1", ttl=60)
        assert claimed is not None and claimed.run_id == a1.run_id
        claimed = saver.claim_run("w2", ttl=60)  # a2 waits for a1: b1 is next
        assert claimed is not None and claimed.run_id == b1.run_id
        assert saver.claim_run("w3", ttl=60) is None
        assert saver.finish_run(a1.run_id, "w1", status="done", result={"ok": True})
        claimed = saver.claim_run("w3", ttl=60)
        assert claimed is not None and claimed.run_id == a2.run_id

    def test_a_run_is_finished_only_by_its_owner(self, saver: BaseSaver) -> None:
        run = saver.enqueue_run(thread_id="t", agent="x", input={"q": 1})
        assert not saver.finish_run(run.run_id, "w1", status="done")  # not claimed yet
        assert saver.claim_run("w1", ttl=60) is not None
        assert not saver.finish_run(run.run_id, "w2", status="failed", error="no")
        assert not saver.renew_run(run.run_id, "w2", ttl=60)
        assert not saver.release_run(run.run_id, "w2")
        assert saver.renew_run(run.run_id, "w1", ttl=60)
        result = {"status": "paused", "interrupts": [{"id": "i", "value": {"ship": {"a", "b"}}}]}
        assert saver.finish_run(run.run_id, "w1", status="interrupted", result=result)
        assert not saver.finish_run(run.run_id, "w1", status="done")  # ended: once
        done = saver.get_run(run.run_id)
        assert done is not None and (done.status, done.result, done.error) == (
            "interrupted",
            result,
            None,
        )
        assert saver.claim_run("w3", ttl=60) is None  # a finished run is not claimable
        with pytest.raises(ValueError):
            saver.finish_run(run.run_id, "w1", status="queued")  # type: ignore[arg-type]

    def test_an_expired_lease_is_taken_over_and_the_old_owner_refused(
        self, saver: BaseSaver
    ) -> None:
        run = saver.enqueue_run(thread_id="t", agent="x", input={})
        first = saver.claim_run("dead", ttl=0)  # expired on the store's clock at once
        assert first is not None and first.attempts == 1
        taken = saver.claim_run("alive", ttl=60)
        assert taken is not None and taken.run_id == run.run_id
        assert (taken.owner, taken.attempts, taken.status) == ("alive", 2, "running")
        assert saver.claim_run("third", ttl=60) is None  # the live lease holds
        assert not saver.renew_run(run.run_id, "dead", ttl=60)
        assert not saver.finish_run(run.run_id, "dead", status="failed", error="late")
        assert saver.finish_run(run.run_id, "alive", status="failed", error="boom")
        failed = saver.get_run(run.run_id)
        assert failed is not None and (failed.status, failed.error) == ("failed", "boom")

    def test_a_released_run_waits_for_its_delay(self, saver: BaseSaver) -> None:
        run = saver.enqueue_run(thread_id="t", agent="x", input={})
        assert saver.claim_run("w1", ttl=60) is not None
        assert saver.release_run(run.run_id, "w1", delay=60)
        back = saver.get_run(run.run_id)
        assert back is not None and (back.status, back.owner, back.attempts) == ("queued", None, 0)
        assert saver.claim_run("w2", ttl=60) is None  # held back for a minute
        assert not saver.finish_run(run.run_id, "w1", status="done")  # no longer w1's
        assert saver.claim_run("w2", ttl=0) is None
        other = saver.enqueue_run(thread_id="t2", agent="x", input={})
        claimed = saver.claim_run("w2", ttl=60)
        assert claimed is not None and claimed.run_id == other.run_id
        again = saver.enqueue_run(thread_id="t3", agent="x", input={})
        assert saver.claim_run("w3", ttl=60) is not None
        assert saver.release_run(again.run_id, "w3", delay=0)  # claimable at once
        retried = saver.claim_run("w4", ttl=60)
        assert retried is not None and (retried.run_id, retried.attempts) == (again.run_id, 1)

    def test_racing_claimers_never_share_a_run(self, saver: BaseSaver) -> None:
        ids = {saver.enqueue_run(thread_id=f"t{i}", agent="x", input={}).run_id for i in range(24)}
        barrier = threading.Barrier(8)
        claims: list[tuple[str, str]] = []
        lock = threading.Lock()

        def claimer(name: str) -> None:
            barrier.wait()
            while (run := saver.claim_run(name, ttl=60)) is not None:
                with lock:
                    claims.append((run.run_id, name))

        threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        while (run := saver.claim_run("drain", ttl=60)) is not None:  # skipped-lock misses
            claims.append((run.run_id, "drain"))
        claimed = [run_id for run_id, _ in claims]
        assert sorted(claimed) == sorted(ids)  # every run once, none twice
        for run_id, owner in claims:
            got = saver.get_run(run_id)
            assert got is not None and (got.owner, got.attempts) == (owner, 1)

    def test_run_input_must_be_serialisable(self, saver: BaseSaver) -> None:
        with pytest.raises(SerializationError):
            saver.enqueue_run(thread_id="t", agent="x", input={"f": object()})
        assert saver.list_runs() == ()

    def test_run_queue_async_twins(self, saver: BaseSaver) -> None:
        async def main() -> Any:
            run = await saver.aenqueue_run(thread_id="t", agent="x", input={"a": 1})
            claimed = await saver.aclaim_run("w", ttl=60)
            assert claimed is not None and claimed.run_id == run.run_id
            assert await saver.arenew_run(run.run_id, "w", ttl=60)
            assert await saver.arelease_run(run.run_id, "w")
            assert await saver.aclaim_run("w", ttl=60) is not None
            assert await saver.afinish_run(run.run_id, "w", status="done", result=[1])
            got = await saver.aget_run(run.run_id)
            assert got is not None and got.result == [1]
            assert [r.run_id for r in await saver.alist_runs(thread_id="t")] == [run.run_id]

        asyncio.run(main())

    # ---- runs the service executes at once, cancelling, the sweep's query ----------------

    def test_a_run_queued_claimed_is_held_by_its_owner(self, saver: BaseSaver) -> None:
        options = {"log": {"modes": ["values"]}, "configurable": {"model": "m"}}
        run = saver.enqueue_run(
            thread_id="t",
            agent="x",
            input={"interrupt_ids": ["a" * 32]},
            kind="resume",
            options=options,
            owner="me",
            ttl=60,
        )
        assert (run.status, run.owner, run.attempts) == ("running", "me", 1)
        assert (run.kind, run.options) == ("resume", options)
        assert saver.claim_run("other", ttl=60) is None  # its lease is live
        assert saver.renew_run(run.run_id, "me", ttl=60)
        assert saver.finish_run(run.run_id, "me", status="done", result={"ok": 1})
        plain = saver.enqueue_run(thread_id="t2", agent="x", input={})
        assert (plain.kind, plain.options, plain.status) == ("input", None, "queued")
        with pytest.raises(ValueError):
            saver.enqueue_run(thread_id="t", agent="x", input={}, run_id=run.run_id)

    def test_a_claimed_run_whose_owner_died_is_taken_over(self, saver: BaseSaver) -> None:
        run = saver.enqueue_run(thread_id="t", agent="x", input={}, owner="dead", ttl=0)
        later = saver.enqueue_run(thread_id="t", agent="x", input={})
        taken = saver.claim_run("alive", ttl=60)  # the dead one's, not the later run
        assert taken is not None and taken.run_id == run.run_id
        assert (taken.owner, taken.attempts, taken.kind) == ("alive", 2, "input")
        assert not saver.finish_run(run.run_id, "dead", status="done")
        assert saver.finish_run(run.run_id, "alive", status="done")
        nxt = saver.claim_run("alive", ttl=60)
        assert nxt is not None and nxt.run_id == later.run_id

    def test_only_a_queued_run_is_cancelled(self, saver: BaseSaver) -> None:
        first = saver.enqueue_run(thread_id="t", agent="x", input={"n": 1})
        second = saver.enqueue_run(thread_id="t", agent="x", input={"n": 2})
        cancelled = saver.cancel_run(first.run_id)
        assert cancelled is not None and cancelled.status == "cancelled"
        again = saver.cancel_run(first.run_id)
        assert again is not None and again.status == "cancelled"
        claimed = saver.claim_run("w", ttl=60)  # a cancelled run neither runs nor blocks
        assert claimed is not None and claimed.run_id == second.run_id
        running = saver.cancel_run(second.run_id)
        assert running is not None and (running.status, running.owner) == ("running", "w")
        assert saver.finish_run(second.run_id, "w", status="done")
        done = saver.cancel_run(second.run_id)
        assert done is not None and done.status == "done"
        assert saver.cancel_run("f" * 32) is None
        assert [r.run_id for r in saver.list_runs(status="cancelled")] == [first.run_id]

    def test_only_an_ended_run_is_deleted_with_its_events(self, saver: BaseSaver) -> None:
        queued = saver.enqueue_run(thread_id="d", agent="x", input={"n": 1})
        saver.append_events("d", queued.run_id, [("metadata", {"n": 1})])
        assert not saver.delete_run("d", queued.run_id)  # queued: kept
        claimed = saver.claim_run("w", ttl=60)
        assert claimed is not None and claimed.run_id == queued.run_id
        assert not saver.delete_run("d", queued.run_id)  # running: kept
        assert saver.finish_run(queued.run_id, "w", status="done")
        other = saver.enqueue_run(thread_id="d", agent="x", input={"n": 2})
        saver.append_events("d", other.run_id, [("metadata", {"n": 2})])
        assert not saver.delete_run("elsewhere", queued.run_id)  # another thread's run
        assert saver.delete_run("d", queued.run_id)
        assert saver.get_run(queued.run_id) is None
        assert saver.run_log("d", queued.run_id) is None
        assert saver.run_log("d", other.run_id) is not None  # its neighbour's events stay
        assert not saver.delete_run("d", queued.run_id)  # gone already
        assert [r.run_id for r in saver.list_runs(thread_id="d")] == [other.run_id]

    def test_a_run_is_asked_to_stop_and_ends_cancelled(self, saver: BaseSaver) -> None:
        queued = saver.enqueue_run(thread_id="q", agent="x", input={"n": 1})
        stopped = saver.stop_run(queued.run_id)  # queued: cancelled at once, never claimed
        assert stopped is not None and stopped.status == "cancelled"
        options = {"log": {"modes": ["values"]}}
        run = saver.enqueue_run(
            thread_id="t", agent="x", input={"n": 2}, options=options, owner="w", ttl=60
        )
        assert not run.stop_asked
        asked = saver.stop_run(run.run_id)  # running: marked, still its owner's
        assert asked is not None and asked.stop_asked
        assert (asked.status, asked.owner) == ("running", "w")
        assert asked.options == {**options, "stop": True}  # the run's options are kept
        again = saver.stop_run(run.run_id)
        assert again is not None and again.stop_asked and again.status == "running"
        got = saver.get_run(run.run_id)
        assert got is not None and got.stop_asked
        assert not saver.finish_run(run.run_id, "other", status="cancelled")
        assert saver.finish_run(run.run_id, "w", status="cancelled", result={"values": {}})
        ended = saver.stop_run(run.run_id)  # ended: unchanged
        assert ended is not None and ended.status == "cancelled" and ended.result == {"values": {}}
        done = saver.enqueue_run(thread_id="d", agent="x", input={}, owner="w", ttl=60)
        assert saver.finish_run(done.run_id, "w", status="done")
        untouched = saver.stop_run(done.run_id)
        assert untouched is not None and untouched.status == "done" and not untouched.stop_asked
        assert saver.stop_run("f" * 32) is None
        with pytest.raises(ValueError):
            saver.finish_run(done.run_id, "w", status="running")  # type: ignore[arg-type]

        async def main() -> None:
            bare = await saver.aenqueue_run(thread_id="a", agent="x", input={}, owner="w", ttl=60)
            marked = await saver.astop_run(bare.run_id)  # a run with no options gets some
            assert marked is not None and marked.stop_asked and marked.options == {"stop": True}

        asyncio.run(main())

    def test_a_refused_run_is_discarded_by_its_owner_only(self, saver: BaseSaver) -> None:
        run = saver.enqueue_run(thread_id="t", agent="x", input={}, owner="me", ttl=60)
        assert not saver.discard_run(run.run_id, "other")
        assert saver.discard_run(run.run_id, "me")
        assert saver.get_run(run.run_id) is None
        assert not saver.discard_run(run.run_id, "me")

    def _paused(self, saver: BaseSaver, thread: str) -> tuple[Any, str]:
        """A thread paused on one request: (its head checkpoint, the request's id)."""
        rec = make_record(thread, None, [("n", 1)], {"n": 1})
        pause = make_interrupt(thread, rec.checkpoint_id, metadata={"graph": "g"})
        saver.put_checkpoint(rec, expected_head=None, interrupts=[pause])
        return rec, pause.interrupt_id

    def test_stranded_threads_are_decided_but_not_carried_out(self, saver: BaseSaver) -> None:
        since = datetime.now(UTC) - timedelta(minutes=1)
        head, iid = self._paused(saver, "s")
        assert saver.stranded_threads(since=since) == ()  # pending: waits for a person
        saver.resolve_interrupts("s", {iid: "yes"}, decided_by="ada")
        [found] = saver.stranded_threads(since=since)
        assert (found.thread_id, found.checkpoint_id) == ("s", head.checkpoint_id)
        assert found.interrupt_ids == (iid,)
        assert (found.graph, found.decided_by) == ("g", "ada")
        assert saver.stranded_threads(since=datetime.now(UTC) + timedelta(minutes=1)) == ()
        assert saver.stranded_threads(since=since, limit=0) == ()
        assert saver.acquire_thread("s", "runner", ttl=60)  # a run holds the thread
        assert saver.stranded_threads(since=since) == ()
        saver.release_thread("s", "runner")
        run = saver.enqueue_run(thread_id="s", agent="g", input={})  # a run will carry it out
        assert saver.stranded_threads(since=since) == ()
        assert saver.claim_run("w", ttl=60) is not None
        assert saver.finish_run(run.run_id, "w", status="failed", error="the node failed")
        assert saver.stranded_threads(since=since) == ()  # a run ended on it since: not lost

    def test_a_thread_that_moved_on_or_waits_is_not_stranded(self, saver: BaseSaver) -> None:
        since = datetime.now(UTC) - timedelta(minutes=1)
        old = saver.enqueue_run(thread_id="m", agent="g", input={})  # ended before the pause
        assert saver.claim_run("w", ttl=60) is not None
        assert saver.finish_run(old.run_id, "w", status="interrupted")
        head, iid = self._paused(saver, "m")
        saver.resolve_interrupts("m", {iid: 1})
        assert [s.thread_id for s in saver.stranded_threads(since=since)] == ["m"]
        nxt = make_record("m", head, [("n", 2)], {"n": 2})  # the resume committed a step
        saver.put_checkpoint(nxt, expected_head=head.checkpoint_id)
        assert saver.stranded_threads(since=since) == ()
        head2, first = self._paused(saver, "w2")
        second = make_interrupt("w2", head2.checkpoint_id, 1, metadata={"graph": "g"})
        saver.put_task_writes("w2", "", head2.checkpoint_id, [], [second])
        saver.resolve_interrupts("w2", {first: 1})  # one of two answered: still waits
        assert saver.stranded_threads(since=since) == ()
        saver.resolve_interrupts("w2", {second.interrupt_id: 2})
        [both] = saver.stranded_threads(since=since)
        assert set(both.interrupt_ids) == {first, second.interrupt_id}

    def test_durable_run_methods_async_twins(self, saver: BaseSaver) -> None:
        async def main() -> None:
            run = await saver.aenqueue_run(
                thread_id="t", agent="x", input={}, kind="resume", owner="me", ttl=60
            )
            assert run.kind == "resume" and run.owner == "me"
            assert await saver.adiscard_run(run.run_id, "me")
            queued = await saver.aenqueue_run(thread_id="t", agent="x", input={})
            cancelled = await saver.acancel_run(queued.run_id)
            assert cancelled is not None and cancelled.status == "cancelled"
            since = datetime.now(UTC) - timedelta(minutes=1)
            assert await saver.astranded_threads(since=since) == ()

        asyncio.run(main())
