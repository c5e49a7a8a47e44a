"""The run-queue part of the store conformance suite (`SaverConformance` includes it).

Leases are checked without sleeping: a claim with `ttl=0` is expired as soon as it is made
(on the store's own clock), so the next claimer may take the run over at once.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from interlock.checkpoint._testkit import StoreTests
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
