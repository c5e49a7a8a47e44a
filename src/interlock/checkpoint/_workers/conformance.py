"""The worker-versions part of the store conformance suite (`SaverConformance` includes it),
with the run queue's hand-back: a run given back for a version is claimed by that version's
workers while a live process advertises it, and by any worker once none does.

Leases are checked without sleeping: an advert made with `ttl=0` has lapsed as soon as it
is made (on the store's own clock).
"""

from __future__ import annotations

import asyncio

from interlock.checkpoint._testkit import StoreTests
from interlock.checkpoint._workers.protocol import WorkerVersion
from interlock.checkpoint.base import BaseSaver

__all__ = ["WorkerVersionsConformance"]

V1, V2 = ("pay", "v1"), ("pay", "v2")


def _advert(owner: str, graph: str = "pay", version: str = "v1") -> WorkerVersion:
    return WorkerVersion(
        owner=owner, agent="payer", graph=graph, version_id=version, fingerprint="f" * 64
    )


class WorkerVersionsConformance(StoreTests):
    """Worker-version tests every store passes. Subclasses provide a `saver` fixture."""

    def test_adverts_are_listed_while_their_lease_lives(self, saver: BaseSaver) -> None:
        assert saver.list_worker_versions() == ()
        saver.advertise_versions([_advert("p1"), _advert("p1", "ship", "s1")], ttl=60)
        saver.advertise_versions([_advert("p2", version="v2")], ttl=60)
        live = saver.list_worker_versions()
        assert [(v.graph, v.version_id, v.owner) for v in live] == [
            ("pay", "v1", "p1"),
            ("pay", "v2", "p2"),
            ("ship", "s1", "p1"),
        ]
        first = live[0]
        assert (first.agent, first.fingerprint) == ("payer", "f" * 64)
        assert first.expires_at is not None
        assert [v.version_id for v in saver.list_worker_versions("ship")] == ["s1"]
        saver.advertise_versions([_advert("p3", version="v3")], ttl=0)  # lapsed at once
        assert "v3" not in {v.version_id for v in saver.list_worker_versions("pay")}
        assert saver.withdraw_versions("p1") == 2
        assert saver.withdraw_versions("p1") == 0
        assert [v.owner for v in saver.list_worker_versions()] == ["p2"]

    def test_renewing_an_advert_keeps_one_row_and_a_lapsed_one_can_come_back(
        self, saver: BaseSaver
    ) -> None:
        saver.advertise_versions([_advert("p1")], ttl=0)
        assert saver.list_worker_versions() == ()
        saver.advertise_versions([_advert("p1")], ttl=60)
        saver.advertise_versions([_advert("p1")], ttl=60)
        assert len(saver.list_worker_versions()) == 1
        saver.advertise_versions([_advert("p1")], ttl=0)  # renewed to lapse: gone
        assert saver.list_worker_versions() == ()

    def test_a_run_given_back_for_a_version_is_claimed_by_its_workers_only(
        self, saver: BaseSaver
    ) -> None:
        saver.advertise_versions([_advert("old-process")], ttl=60)
        run = saver.enqueue_run(thread_id="t", agent="payer", input={}, kind="resume")
        later = saver.enqueue_run(thread_id="t", agent="payer", input={"x": 1})
        other = saver.enqueue_run(thread_id="u", agent="payer", input={})
        taken = saver.claim_run("new-1", ttl=60, versions=[V2])
        assert taken is not None and taken.run_id == run.run_id
        assert (taken.for_graph, taken.for_version) == (None, None)
        assert saver.release_run(run.run_id, "new-1", for_version=V1)
        back = saver.get_run(run.run_id)
        assert back is not None and (back.status, back.owner, back.attempts) == ("queued", None, 0)
        assert (back.for_graph, back.for_version) == V1
        # the new version's worker skips it (and the thread's later run waits behind it)
        claimed = saver.claim_run("new-2", ttl=60, versions=[V2])
        assert claimed is not None and claimed.run_id == other.run_id
        assert saver.claim_run("new-3", ttl=60, versions=[V2]) is None
        assert saver.claim_run("anyone", ttl=60) is None
        mine = saver.claim_run("old-1", ttl=60, versions=[("ship", "s1"), V1])
        assert mine is not None and mine.run_id == run.run_id and mine.attempts == 1
        assert (mine.for_graph, mine.for_version) == V1
        assert saver.release_run(run.run_id, "old-1", delay=0)  # busy: the mark is kept
        kept = saver.get_run(run.run_id)
        assert kept is not None and (kept.for_graph, kept.for_version) == V1
        again = saver.claim_run("old-2", ttl=60, versions=[V1])
        assert again is not None and again.run_id == run.run_id
        assert saver.finish_run(run.run_id, "old-2", status="done")
        after = saver.claim_run("new-4", ttl=60, versions=[V2])
        assert after is not None and after.run_id == later.run_id

    def test_a_run_for_a_version_no_live_process_runs_is_claimed_by_anyone(
        self, saver: BaseSaver
    ) -> None:
        saver.advertise_versions([_advert("old-process")], ttl=60)
        run = saver.enqueue_run(thread_id="t", agent="payer", input={}, kind="resume")
        assert saver.claim_run("new-1", ttl=60, versions=[V2]) is not None
        assert saver.release_run(run.run_id, "new-1", for_version=V1)
        assert saver.claim_run("new-2", ttl=60, versions=[V2]) is None
        saver.withdraw_versions("old-process")  # the old version's last process stopped
        taken = saver.claim_run("new-2", ttl=60, versions=[V2])
        assert taken is not None and taken.run_id == run.run_id
        assert saver.release_run(run.run_id, "new-2", for_version=V1)
        saver.advertise_versions([_advert("dying")], ttl=0)  # died: its advert lapsed
        taken = saver.claim_run("new-3", ttl=60)
        assert taken is not None and taken.run_id == run.run_id

    def test_worker_versions_async_twins(self, saver: BaseSaver) -> None:
        async def go() -> None:
            await saver.aadvertise_versions([_advert("p")], ttl=60)
            assert [v.owner for v in await saver.alist_worker_versions("pay")] == ["p"]
            run = await saver.aenqueue_run(thread_id="t", agent="payer", input={})
            assert await saver.aclaim_run("w", ttl=60, versions=[V2]) is not None
            assert await saver.arelease_run(run.run_id, "w", for_version=V1)
            assert await saver.aclaim_run("w", ttl=60, versions=[V2]) is None
            got = await saver.aclaim_run("w", ttl=60, versions=[V1])
            assert got is not None and got.run_id == run.run_id
            assert await saver.awithdraw_versions("p") == 1

        asyncio.run(go())
