"""The run queue's fronts (migration 18): `run_fronts` holds each thread's oldest open run,
whichever write changes the runs, and a claim on SQLite and PostgreSQL takes the run the
in-memory store takes (it sorts every open run and skips each thread's later ones).

A seeded sequence of queue operations runs on an SQL store and on an `InMemorySaver` side
by side: every answer must agree, and after each operation `run_fronts` must be the fronts
computed from `runs`. On PostgreSQL, a run queued while its thread's front ends (and the
other way round) is ordered for certain by holding one transaction open and watching the
other wait for it; then writers in several threads race on a few threads' queues: the
fronts must still be exact, and no claim may start a thread's run while another of its
runs is running.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from interlock.checkpoint.base import WorkerVersion
from interlock.checkpoint.memory import InMemorySaver
from tests._run_fronts import check_fronts
from tests.conftest import make_saver
from tests.pg import watched_saver


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Any]:
    s = make_saver(request.param, tmp_path)
    try:
        yield s
    finally:
        s.close()


class Both:
    """The same calls on the SQL store and on the in-memory one; their answers compared."""

    def __init__(self, store: Any) -> None:
        self.stores = (store, InMemorySaver())
        self.made = 0
        self.holders: dict[str, str] = {}  # run -> the owner of its last claim

    def same(self, method: str, *args: Any, **kwargs: Any) -> Any:
        sql, memory = (getattr(s, method)(*args, **kwargs) for s in self.stores)
        assert _key(sql) == _key(memory), (method, args, kwargs)
        return sql

    def enqueue(self, thread: str, owner: str | None) -> None:
        self.made += 1
        run_id = f"{self.made:032x}"  # ids in creation order: ties of time break alike
        ttl = 60 if owner else None
        self.same(
            "enqueue_run",
            thread_id=thread,
            agent="g",
            input={},
            run_id=run_id,
            owner=owner,
            ttl=ttl,
        )
        if owner:
            self.holders[run_id] = owner

    def claim(self, owner: str, ttl: float, versions: tuple[tuple[str, str], ...]) -> None:
        run = self.same("claim_run", owner, ttl=ttl, versions=versions)
        if run is not None:
            self.holders[run.run_id] = owner


def _key(value: Any) -> Any:
    """What must agree: a run's id, status, owner and attempts; other answers whole."""
    if hasattr(value, "run_id"):
        return (value.run_id, value.status, value.owner, value.attempts)
    if isinstance(value, tuple | list):
        return [_key(v) for v in value]
    return value


def test_fronts_and_claims_agree_with_the_in_memory_store(store: Any) -> None:
    both = Both(store)
    advert = WorkerVersion(owner="p2", agent="g", graph="g", version_id="v2")
    for s in both.stores:
        s.advertise_versions([advert], ttl=3600)
    rng = random.Random(18)
    threads = [f"t{n}" for n in range(5)]
    for step in range(400):
        op = rng.choices(
            ["enqueue", "claim", "finish", "cancel", "release", "discard", "delete"],
            weights=[30, 25, 12, 8, 12, 3, 2],
        )[0]
        held = sorted(both.holders.items())
        run_id, owner = rng.choice(held) if held else ("f" * 32, "nobody")
        if op == "enqueue":
            both.enqueue(rng.choice(threads), "direct" if rng.random() < 0.1 else None)
        elif op == "claim":
            versions = rng.choice([(), (("g", "v2"),)])
            both.claim(f"w{step}", rng.choice([60.0, 60.0, 0.0]), versions)
        elif op == "finish":
            both.same("finish_run", run_id, owner, status=rng.choice(["done", "failed"]))
        elif op == "cancel":
            both.same("cancel_run", f"{rng.randint(1, max(1, both.made)):032x}")
        elif op == "release":
            delay, mark = rng.choice(
                [(0.0, None), (3600.0, None), (0.0, ("g", "v2")), (0.0, ("g", "v-gone"))]
            )
            both.same("release_run", run_id, owner, delay=delay, for_version=mark)
        elif op == "discard":
            both.same("discard_run", run_id, owner)
        else:
            gone = rng.choice(threads)
            for s in both.stores:
                s.delete_thread(gone)
        check_fronts(store)
    assert both.same("list_runs", limit=1000)  # the same runs in the same states


def test_a_thread_s_queue_moves_through_every_way_a_run_ends(store: Any) -> None:
    runs = [store.enqueue_run(thread_id="t", agent="g", input={"n": n}) for n in range(5)]
    assert check_fronts(store) == [("t", runs[0].run_id)]
    assert store.cancel_run(runs[1].run_id) is not None  # not the front: it stays
    assert check_fronts(store) == [("t", runs[0].run_id)]
    assert store.claim_run("w", ttl=60).run_id == runs[0].run_id
    assert store.finish_run(runs[0].run_id, "w", status="done")
    assert check_fronts(store) == [("t", runs[2].run_id)]  # the cancelled one is skipped
    assert store.claim_run("w", ttl=60).run_id == runs[2].run_id
    assert store.discard_run(runs[2].run_id, "w")
    assert check_fronts(store) == [("t", runs[3].run_id)]
    store.delete_thread("t")  # its open runs fail
    assert check_fronts(store) == [] and store.claim_run("w", ttl=60) is None


def test_a_run_older_than_its_thread_s_front_becomes_the_front(store: Any) -> None:
    """A run stamped before the front (a clock that went back) goes first, as it always
    did: the younger front gives way."""
    front = store.enqueue_run(thread_id="t", agent="g", input={})
    earlier = store.dialect.ts(front.created_at - timedelta(seconds=5))
    with store._write() as conn:
        store._x(
            conn,
            "INSERT INTO runs (run_id, thread_id, agent, input, status, created_at, updated_at, "
            "attempts) VALUES ('early', 't', 'g', '{}', 'queued', ?, ?, 0)",
            (earlier, earlier),
        )
    assert check_fronts(store) == [("t", "early")]
    assert store.claim_run("w", ttl=60).run_id == "early"
    assert store.claim_run("w", ttl=60) is None  # the other waits behind it
    assert store.finish_run("early", "w", status="done")
    assert check_fronts(store) == [("t", front.run_id)]


def _behind(saver: Any, app: str, first: str, then: Callable[[], Any]) -> Any:
    """Run the SQL `first` in a transaction left open, then `then()` through the saver, which
    must wait for that transaction (watched in pg_stat_activity); commit, and return what
    `then()` returned."""
    import psycopg

    from tests.pg import DSN

    with (
        psycopg.connect(DSN, autocommit=True) as admin,
        psycopg.connect(DSN) as holder,
        ThreadPoolExecutor(1) as pool,
    ):
        holder.execute(f'SET search_path TO "{saver.schema}"')
        holder.execute(first)
        try:
            waiting = pool.submit(then)
            deadline = time.monotonic() + 10
            while not admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                "AND wait_event_type = 'Lock'",
                (app,),
            ).fetchone()[0]:
                assert time.monotonic() < deadline, "the second writer did not wait"
                assert not waiting.done(), "the second writer did not wait"
        finally:
            holder.commit()
        return waiting.result(timeout=10)


@pytest.mark.postgres
def test_a_run_queued_while_its_thread_s_front_ends_becomes_the_front() -> None:
    with watched_saver("il_fronts") as (saver, app):
        front = saver.enqueue_run(thread_id="t", agent="g", input={}, owner="w", ttl=60)
        ended = f"UPDATE runs SET status = 'done' WHERE run_id = '{front.run_id}'"
        queued = _behind(
            saver, app, ended, lambda: saver.enqueue_run(thread_id="t", agent="g", input={})
        )
        assert check_fronts(saver) == [("t", queued.run_id)]
        assert saver.claim_run("w2", ttl=60).run_id == queued.run_id


@pytest.mark.postgres
def test_a_front_that_ends_while_a_run_is_queued_behind_it_hands_over() -> None:
    with watched_saver("il_fronts") as (saver, app):
        front = saver.enqueue_run(thread_id="t", agent="g", input={}, owner="w", ttl=60)
        queue = (
            "INSERT INTO runs (run_id, thread_id, agent, input, status, created_at, "
            "updated_at) VALUES ('next', 't', 'g', '{}', 'queued', clock_timestamp(), "
            "clock_timestamp())"
        )
        assert _behind(
            saver, app, queue, lambda: saver.finish_run(front.run_id, "w", status="done")
        )
        assert check_fronts(saver) == [("t", "next")]
        assert saver.claim_run("w2", ttl=60).run_id == "next"


@pytest.mark.postgres
def test_racing_writers_keep_the_fronts_exact() -> None:
    from tests.pg import fresh_postgres_saver

    store = fresh_postgres_saver(max_size=8)
    queues = [f"q{n}" for n in range(3)]
    running: dict[str, str] = {}  # thread -> the run a worker of this test runs on it
    lock = threading.Lock()
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        rng = random.Random(n)
        owner = f"w{n}"
        try:
            barrier.wait()
            for _ in range(100):
                thread = rng.choice(queues)
                queued = store.enqueue_run(thread_id=thread, agent="g", input={})
                if rng.random() < 0.2:
                    store.cancel_run(queued.run_id)
                run = store.claim_run(owner, ttl=60)
                if run is None:
                    continue
                with lock:
                    assert run.thread_id not in running, "two runs of one thread at once"
                    running[run.thread_id] = run.run_id
                assert store.renew_run(run.run_id, owner, ttl=60)  # it runs a while
                with lock:  # before it ends: the thread's next run is claimable after
                    del running[run.thread_id]
                if rng.random() < 0.2:
                    assert store.release_run(run.run_id, owner)
                else:
                    assert store.finish_run(run.run_id, owner, status="done")
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    try:
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert not errors, errors
        assert {t for t, _ in check_fronts(store)} <= set(queues)
        while (run := store.claim_run("drain", ttl=60)) is not None:  # every run is reachable
            assert store.finish_run(run.run_id, "drain", status="done")
        assert check_fronts(store) == []
        assert store.list_runs(status="queued") == ()
    finally:
        store.close()
