"""The one-statement PostgreSQL writes, `acquire_and_get` on every saver, and `durable_steps`.

PostgreSQL-only tests read the saver's tables with plain SQL to check that a failed
compare-and-swap writes nothing, and spy on the statements sent to check which commits skip
the WAL flush wait.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import enum
import operator
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, TypedDict

import pytest

from interlock import START, Command, StateGraph, interrupt
from interlock.checkpoint.base import CheckpointRecord, InterruptRecord, TaskWrites
from interlock.checkpoint.conformance import make_interrupt, make_record
from interlock.errors import ResumeConflict, ResumeError
from tests.pg import DSN, fresh_postgres_saver, watched_saver

UTC = dt.UTC


class Mood(enum.Enum):
    CALM = "calm"


@dataclass
class Point:
    x: int
    tags: tuple[str, ...] = ()
    seen: set[int] = field(default_factory=set)


NESTED = {
    "ids": {3, 1, 2},
    "frozen": frozenset({"x"}),
    "pair": (1, ("two", 3.5)),
    "when": dt.datetime(2026, 5, 6, 7, 8, 9, 120000, tzinfo=UTC),
    "day": dt.date(2026, 5, 6),
    "span": dt.timedelta(seconds=90),
    "raw": b"\x00\xff",
    "money": decimal.Decimal("1.10"),
    "uid": uuid.UUID(int=7),
    "mood": Mood.CALM,
    "pt": Point(1, ("a", "b"), {5}),
    "keys": {(1, 2): "tuple key", 3: "int key"},
    "escaped": {"__il": "looks like a tag", "v": [1]},
    "inf": float("inf"),
    "text": 'quote " backslash \\ snow ☃',
    "nested": [{"deep": [Point(2)]}, None, True, 0],
}


def _fields(record: Any) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__dataclass_fields__}


def _chain(saver: Any, thread: str, steps: int, **put: Any) -> list[CheckpointRecord]:
    records: list[CheckpointRecord] = []
    parent = None
    for i in range(steps):
        rec = make_record(thread, parent, [("n", i)], {"n": i})
        saver.put_checkpoint(rec, expected_head=parent.checkpoint_id if parent else None, **put)
        records.append(rec)
        parent = rec
    return records


def _without_values(record: CheckpointRecord) -> CheckpointRecord:
    return CheckpointRecord(**{**_fields(record), "values": None})


# ---- PostgreSQL helpers ------------------------------------------------------------------


@pytest.fixture(params=[False, True], ids=["async-steps", "durable-steps"])
def pg(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A `PostgresSaver` in a fresh schema, with `durable_steps` off and on."""
    s = fresh_postgres_saver(durable_steps=request.param)
    try:
        yield s
    finally:
        s.close()


def _sql(saver: Any, query: str, params: Any = ()) -> list[tuple[Any, ...]]:
    """Rows of a query run in the saver's schema on a connection of its own."""
    import psycopg

    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{saver.schema}"')
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description is not None else []


def _tables(saver: Any, thread: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the thread, per table (compared before and after a failing write)."""
    out = {}
    for table, key in (
        ("checkpoints", "checkpoint_ns, checkpoint_id"),
        ("heads", "checkpoint_ns"),
        ("threads", "thread_id"),
        ("task_writes", "checkpoint_ns, checkpoint_id, task_id"),
        ("interrupts", "interrupt_id"),
    ):
        out[table] = _sql(
            saver, f"SELECT * FROM {table} WHERE thread_id = %s ORDER BY {key}", (thread,)
        )
    return out


class _SpyConn:
    """A connection that records the SQL text of every statement it runs."""

    def __init__(self, conn: Any, log: list[str]) -> None:
        self._conn = conn
        self._log = log

    def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
        self._log.append(str(query))
        return self._conn.execute(query, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def _spy(saver: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every statement the saver sends (through `_read` and `_write`)."""
    log: list[str] = []
    read, write = saver._read, saver._write

    @contextmanager
    def spy_read() -> Iterator[Any]:
        with read() as conn:
            yield _SpyConn(conn, log)

    @contextmanager
    def spy_write(**kwargs: Any) -> Iterator[Any]:
        with write(**kwargs) as conn:
            yield _SpyConn(conn, log)

    monkeypatch.setattr(saver, "_read", spy_read)
    monkeypatch.setattr(saver, "_write", spy_write)
    return log


def _no_flush(statement: str) -> bool:
    return "set_config('synchronous_commit', 'off', true)" in statement


# ---- 1. acquire_and_get on every saver ---------------------------------------------------


def test_acquire_and_get_on_a_new_thread_takes_the_lease_and_reads_nothing(saver) -> None:
    assert saver.acquire_and_get("t", "a", ttl=60) == (True, None)
    assert saver.get_thread("t") is None  # a lease alone is not a thread with a checkpoint
    assert saver.acquire_and_get("t", "b", ttl=60) == (False, None)
    assert not saver.acquire_thread("t", "b", ttl=60)  # "a" still holds it
    assert saver.acquire_and_get("t", "a", ttl=60) == (True, None)  # renewing one's own
    saver.release_thread("t", "a")
    assert saver.acquire_and_get("t", "b", ttl=60) == (True, None)


def test_acquire_and_get_returns_the_head_as_get_checkpoint_does(saver) -> None:
    assert saver.acquire_thread("t", "a", ttl=60)
    first, second = _chain(saver, "t", 2, lease_owner="a")
    third = make_record("t", second, [("n", 2)], {"n": 2})
    intr = make_interrupt("t", third.checkpoint_id, value={"q": (1, 2)})
    saver.put_checkpoint(
        third, expected_head=second.checkpoint_id, interrupts=[intr], lease_owner="a"
    )
    saver.put_task_writes(
        "t",
        "",
        third.checkpoint_id,
        [TaskWrites(task_id="w", task_name="node", writes=(("n", 5),))],
        lease_owner="a",
    )

    taken, stored = saver.acquire_and_get("t", "a", ttl=60)  # re-acquiring one's own lease
    assert taken is True
    assert stored is not None
    assert stored.record == _without_values(third)
    assert stored == saver.get_checkpoint("t")
    assert stored.interrupts == (intr,)
    assert [(t.task_id, t.writes) for t in stored.task_writes] == [("w", (("n", 5),))]

    assert saver.acquire_and_get("t", "b", ttl=60) == (False, None)  # "a" holds a live lease
    info = saver.get_thread("t")
    assert info is not None and info.status == "busy"

    saver.release_thread("t", "a")
    taken, incremental = saver.acquire_and_get("t", "b", ttl=60, after=second.checkpoint_id)
    assert taken is True
    assert incremental == saver.get_checkpoint("t", after=second.checkpoint_id)
    assert incremental is not None and incremental.record.checkpoint_id == third.checkpoint_id

    taken, old = saver.acquire_and_get("t", "b", ttl=60, checkpoint_id=first.checkpoint_id)
    assert taken is True
    assert old == saver.get_checkpoint("t", "", first.checkpoint_id)
    assert old is not None and old.record == _without_values(first)
    assert saver.acquire_and_get("t", "a", ttl=60, checkpoint_id=first.checkpoint_id) == (
        False,
        None,
    )


def test_acquire_and_get_takes_an_expired_lease_and_has_an_async_twin(saver) -> None:
    [rec] = _chain(saver, "t", 1)
    taken, stored = saver.acquire_and_get("t", "a", ttl=0.0)  # taken, and already expired
    assert taken is True and stored is not None

    async def main() -> tuple[bool, Any]:
        return await saver.aacquire_and_get("t", "b", ttl=60)

    taken, stored = asyncio.run(main())
    assert taken is True
    assert stored is not None and stored.record == _without_values(rec)
    assert saver.acquire_and_get("t", "a", ttl=60) == (False, None)


# ---- 2. the PostgreSQL stale-read branch -------------------------------------------------


class S(TypedDict, total=False):
    log: Annotated[list[str], operator.add]


def _steps_graph(saver: Any) -> Any:
    g = StateGraph(S)
    g.add_node("one", lambda s: {"log": ["one"]})
    g.add_node("two", lambda s: {"log": ["two"]})
    g.add_edge(START, "one")
    g.add_edge("one", "two")
    return g.compile(checkpointer=saver)


@pytest.mark.postgres
def test_pg_acquire_and_get_reads_the_head_from_heads_not_the_thread_row(pg, monkeypatch) -> None:
    graph = _steps_graph(pg)
    config = {"configurable": {"thread_id": "t"}}
    assert graph.invoke({"log": []}, config) == {"log": ["one", "two"]}
    head = pg.get_checkpoint("t")
    assert head is not None
    _sql(pg, "UPDATE threads SET head_id = 'something-else' WHERE thread_id = 't'")

    reads: list[Any] = []
    get_checkpoint = pg.get_checkpoint

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(args)
        return get_checkpoint(*args, **kwargs)

    monkeypatch.setattr(pg, "get_checkpoint", counted)
    taken, stored = pg.acquire_and_get("t", "me", ttl=60)
    assert taken is True
    assert reads == []  # the thread row was not written meanwhile: no second read
    assert stored == head  # the head comes from `heads`, not from threads.head_id
    assert _sql(pg, "SELECT lease_owner FROM threads WHERE thread_id = 't'") == [("me",)]

    # and the graph, which starts every run with acquire_and_get, still works from it
    monkeypatch.undo()
    pg.release_thread("t", "me")
    again = graph.invoke({"log": ["again"]}, config)  # a new turn, on top of the true head
    assert again == {"log": ["one", "two", "again", "one", "two"]}


def _race_behind_a_commit(
    saver: Any, app: str, thread: str, commit: Callable[[], None], acquire: Callable[[], Any]
) -> Any:
    """Run `commit` while another connection holds the thread's row, then `acquire` (which
    queues behind it on that row); let both go and return what `acquire` returned.

    Ordering is made certain by watching the two statements wait on the row lock."""
    import psycopg

    def wait_for(count: int) -> None:
        deadline = time.monotonic() + 10
        while True:
            (n,) = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                "AND wait_event_type = 'Lock'",
                (app,),
            ).fetchone()
            if n >= count:
                return
            assert time.monotonic() < deadline, f"expected {count} statements waiting"

    with (
        psycopg.connect(DSN, autocommit=True) as admin,
        psycopg.connect(DSN) as locker,
        ThreadPoolExecutor(2) as pool,
    ):
        locker.execute(f'SET search_path TO "{saver.schema}"')
        locker.execute("SELECT 1 FROM threads WHERE thread_id = %s FOR UPDATE", (thread,))
        try:
            committing = pool.submit(commit)
            wait_for(1)
            acquiring = pool.submit(acquire)
            wait_for(2)
        finally:
            locker.commit()
        committing.result(timeout=10)
        return acquiring.result(timeout=10)


@pytest.mark.postgres
def test_pg_acquire_and_get_queued_behind_a_commit_returns_the_committed_head() -> None:
    with watched_saver("il_race") as (saver, app):
        assert saver.acquire_thread("t", "a", ttl=60)
        [first] = _chain(saver, "t", 1, lease_owner="a")
        second = make_record("t", first, [("n", 1)], {"n": 1}, next_=())

        def commit() -> None:  # the run's last write: gives the lease back
            saver.put_checkpoint(
                second, expected_head=first.checkpoint_id, lease_owner="a", release_lease=True
            )

        taken, stored = _race_behind_a_commit(
            saver, app, "t", commit, lambda: saver.acquire_and_get("t", "b", ttl=60)
        )
        assert taken is True  # the lease was re-checked against the committed row
        assert stored is not None
        assert stored.record == _without_values(second)
        assert stored == saver.get_checkpoint("t")


@pytest.mark.postgres
def test_pg_acquire_and_get_queued_behind_a_pause_sees_its_interrupts() -> None:
    with watched_saver("il_race") as (saver, app):
        assert saver.acquire_thread("t", "a", ttl=60)
        [head] = _chain(saver, "t", 1, lease_owner="a")
        intr = make_interrupt("t", head.checkpoint_id)
        done = TaskWrites(task_id="quiet", task_name="quiet", writes=(("n", 7),))

        def pause() -> None:  # a run pausing: finished sibling, new interrupt, lease back
            saver.put_task_writes(
                "t", "", head.checkpoint_id, [done], [intr], lease_owner="a", release_lease=True
            )

        taken, stored = _race_behind_a_commit(
            saver, app, "t", pause, lambda: saver.acquire_and_get("t", "b", ttl=60)
        )
        assert taken is True
        assert stored is not None and stored.record.checkpoint_id == head.checkpoint_id
        fresh = saver.get_checkpoint("t")
        assert fresh is not None and fresh.interrupts == (intr,)
        # what a run that starts now must see: the pending request and the finished task
        assert stored.interrupts == (intr,)
        assert stored.task_writes == fresh.task_writes


# ---- 3. PostgreSQL compare-and-swap: a stale head writes nothing -------------------------


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("with_interrupts", "release"),
    [(False, False), (True, False), (False, True), (True, True)],
    ids=["plain", "interrupts", "release", "interrupts+release"],
)
def test_pg_stale_expected_head_raises_and_writes_nothing(pg, with_interrupts, release) -> None:
    assert pg.acquire_thread("t", "a", ttl=60)
    first, second = _chain(pg, "t", 2, lease_owner="a")
    pg.put_task_writes(
        "t", "", second.checkpoint_id, [TaskWrites(task_id="k", task_name="n", writes=())]
    )
    before = _tables(pg, "t")
    assert len(before["checkpoints"]) == 2 and len(before["threads"]) == 1

    stale = make_record("t", first, [("n", 99)], {"n": 99})
    intrs = (
        [make_interrupt("t", stale.checkpoint_id, i) for i in range(2)] if with_interrupts else []
    )
    put = {"interrupts": intrs, "lease_owner": "a", "release_lease": release}
    with pytest.raises(ResumeConflict, match="moved on"):
        pg.put_checkpoint(stale, expected_head=first.checkpoint_id, **put)
    with pytest.raises(ResumeConflict):
        pg.put_checkpoint(stale, expected_head=None, **put)  # "no head yet": there is one
    assert _tables(pg, "t") == before
    assert _sql(pg, "SELECT count(*) FROM interrupts") == [(0,)]
    assert not pg.acquire_thread("t", "b", ttl=60)  # the lease was not given back either

    # a thread that does not exist: no head to swap, and no thread row is created
    ghost = make_record("ghost", None, [("n", 1)], {"n": 1})
    ghost_intrs = [make_interrupt("ghost", ghost.checkpoint_id)] if with_interrupts else []
    with pytest.raises(ResumeConflict):
        pg.put_checkpoint(ghost, expected_head="f" * 32, interrupts=ghost_intrs, lease_owner="a")
    assert all(rows == [] for rows in _tables(pg, "ghost").values())

    # the right head still commits, with its interrupts
    nxt = make_record("t", second, [("n", 2)], {"n": 2})
    intrs = [make_interrupt("t", nxt.checkpoint_id, i) for i in range(2)] if with_interrupts else []
    pg.put_checkpoint(nxt, expected_head=second.checkpoint_id, **{**put, "interrupts": intrs})
    after = _tables(pg, "t")
    assert len(after["checkpoints"]) == 3
    assert after["heads"] == [("t", "", nxt.checkpoint_id)]
    assert len(after["interrupts"]) == len(intrs)
    assert _sql(pg, "SELECT head_id, lease_owner FROM threads WHERE thread_id = 't'") == [
        (nxt.checkpoint_id, None if release else "a")
    ]


# ---- 4. task writes replace per task ----------------------------------------------------


def test_put_task_writes_replaces_per_task_and_the_last_duplicate_wins(saver) -> None:
    [rec] = _chain(saver, "t", 1)
    cid = rec.checkpoint_id
    i1 = make_interrupt("t", cid, 0, task_id="b")
    i2 = make_interrupt("t", cid, 0, task_id="c", value={"deep": {1, 2}})

    saver.put_task_writes(
        "t", "", cid, [TaskWrites(task_id="a", task_name="n1", writes=(("x", 1),))]
    )
    saver.put_task_writes(
        "t", "", cid, [TaskWrites(task_id="a", task_name="n2", writes=(("x", 2), ("y", 3)))], [i1]
    )
    saver.put_task_writes(
        "t",
        "",
        cid,
        [
            TaskWrites(task_id="b", task_name="first", writes=(("x", "lost"),)),
            TaskWrites(task_id="c", task_name="c", writes=(("z", (1, 2)),)),
            TaskWrites(task_id="b", task_name="last", writes=(("x", "kept"),)),
        ],
        [i2],
    )
    stored = saver.get_checkpoint("t")
    assert stored is not None
    assert [(t.task_id, t.task_name, t.writes) for t in stored.task_writes] == [
        ("a", "n2", (("x", 2), ("y", 3))),
        ("b", "last", (("x", "kept"),)),
        ("c", "c", (("z", (1, 2)),)),
    ]
    assert stored.interrupts == (i1, i2)

    saver.put_task_writes(  # replacing with no writes, and an interrupt sent again
        "t", "", cid, [TaskWrites(task_id="c", task_name="c", writes=())], [replace(i1, value=0)]
    )
    stored = saver.get_checkpoint("t")
    assert stored is not None
    assert [(t.task_id, t.writes) for t in stored.task_writes] == [
        ("a", (("x", 2), ("y", 3))),
        ("b", (("x", "kept"),)),
        ("c", ()),
    ]
    assert stored.interrupts == (i1, i2)  # an interrupt is inserted once, never replaced


@pytest.mark.postgres
def test_pg_put_task_writes_keeps_one_row_per_task_and_renews_the_lease(pg) -> None:
    assert pg.acquire_thread("t", "a", ttl=60)
    [rec] = _chain(pg, "t", 1, lease_owner="a")
    cid = rec.checkpoint_id
    [(until, updated)] = _sql(pg, "SELECT lease_until, updated_at FROM threads")

    pg.put_task_writes(  # mid-run progress: no interrupts, lease kept (the no-flush path)
        "t",
        "",
        cid,
        [TaskWrites(task_id=t, task_name=t, writes=(("x", n),)) for n, t in enumerate("abab")],
        lease_owner="a",
    )
    assert _sql(pg, "SELECT task_id, task_name, writes FROM task_writes ORDER BY task_id") == [
        ("a", "a", [["x", 2]]),
        ("b", "b", [["x", 3]]),
    ]
    [(until2, updated2, owner)] = _sql(
        pg, "SELECT lease_until, updated_at, lease_owner FROM threads"
    )
    assert owner == "a" and until2 > until and updated2 > updated

    pg.put_task_writes("t", "", cid, [], [make_interrupt("t", cid)], lease_owner="a")
    assert _sql(pg, "SELECT count(*) FROM task_writes") == [(2,)]
    assert _sql(pg, "SELECT count(*) FROM interrupts WHERE status = 'pending'") == [(1,)]
    pg.put_task_writes("t", "", cid, [], lease_owner="a", release_lease=True)
    assert _sql(pg, "SELECT lease_owner, lease_until FROM threads") == [(None, None)]


# ---- 5. resolve_interrupts: the one-statement path ---------------------------------------


@pytest.mark.postgres
def test_pg_resolve_one_decision_has_exactly_one_winner(pg) -> None:
    [rec] = _chain(pg, "t", 1)
    [other] = _chain(pg, "other", 1)
    a = make_interrupt("t", rec.checkpoint_id, 0, metadata={"who": "ops"})
    b = make_interrupt("t", rec.checkpoint_id, 1)
    elsewhere = make_interrupt("other", other.checkpoint_id)
    pg.put_task_writes("t", "", rec.checkpoint_id, [], [a, b])
    pg.put_task_writes("other", "", other.checkpoint_id, [], [elsewhere])

    def updated() -> Any:
        return _sql(pg, "SELECT updated_at FROM threads WHERE thread_id = 't'")[0][0]

    start = updated()
    before = dt.datetime.now(UTC)
    [won] = pg.resolve_interrupts("t", {a.interrupt_id: {"ok": {1, 2}}}, decided_by="ada")
    assert won == replace(
        a, status="resolved", resume={"ok": {1, 2}}, decided_by="ada", decided_at=won.decided_at
    )
    assert won.decided_at is not None and won.decided_at.utcoffset() == dt.timedelta(0)
    assert before <= won.decided_at <= dt.datetime.now(UTC)
    assert pg.get_interrupt(a.interrupt_id) == won
    stored = pg.get_checkpoint("t")
    assert stored is not None and stored.interrupts == (won, b)  # the JSON-aggregate read
    decided = updated()
    assert decided > start  # the decision touched the thread

    with pytest.raises(ResumeConflict, match="already resolved by ada"):
        pg.resolve_interrupts("t", {a.interrupt_id: "again"}, decided_by="bob")
    with pytest.raises(ResumeError) as unknown:
        pg.resolve_interrupts("t", {"no-such-id": 1})
    assert type(unknown.value) is ResumeError
    with pytest.raises(ResumeError) as foreign:
        pg.resolve_interrupts("t", {elsewhere.interrupt_id: 1})  # another thread's request
    assert type(foreign.value) is ResumeError
    assert pg.get_interrupt(a.interrupt_id) == won  # the losers changed nothing
    assert pg.get_interrupt(elsewhere.interrupt_id) == elsewhere
    assert updated() == decided

    [expired] = pg.resolve_interrupts("t", {b.interrupt_id: None}, status="expired")
    assert (expired.status, expired.resume, expired.decided_by) == ("expired", None, None)
    with pytest.raises(ResumeConflict) as late:
        pg.resolve_interrupts("t", {b.interrupt_id: 1})
    assert str(late.value).endswith("was already expired")


@pytest.mark.postgres
def test_pg_resolve_several_decisions_is_all_or_nothing(pg) -> None:
    [rec] = _chain(pg, "t", 1)
    a, b, c = (make_interrupt("t", rec.checkpoint_id, i) for i in range(3))
    pg.put_task_writes("t", "", rec.checkpoint_id, [], [a, b, c])
    pg.resolve_interrupts("t", {a.interrupt_id: "first"}, decided_by="ada")
    before = _tables(pg, "t")

    with pytest.raises(ResumeConflict, match="by ada"):
        pg.resolve_interrupts("t", {b.interrupt_id: 1, a.interrupt_id: 2}, decided_by="bob")
    with pytest.raises(ResumeError):
        pg.resolve_interrupts("t", {b.interrupt_id: 1, "no-such-id": 2})
    assert _tables(pg, "t") == before
    assert pg.get_interrupt(b.interrupt_id) == b  # still pending

    both = pg.resolve_interrupts("t", {b.interrupt_id: (1,), c.interrupt_id: None}, decided_by="cy")
    assert [(r.interrupt_id, r.status, r.resume, r.decided_by) for r in both] == [
        (b.interrupt_id, "resolved", (1,), "cy"),
        (c.interrupt_id, "resolved", None, "cy"),
    ]


# ---- 6. graph level: durable_steps off and on give what the memory saver gives ---------


class G(TypedDict, total=False):
    log: Annotated[list[str], operator.add]


WHEN = dt.datetime(2026, 3, 4, 5, 6, 7, 120000, tzinfo=UTC)


def _pause_graph(saver: Any) -> Any:
    def left(state: G) -> dict:
        answer = interrupt({"side": "left", "ids": {2, 1}, "pt": Point(1, ("a",)), "at": WHEN})
        return {"log": [f"left={answer}"]}

    def right(state: G) -> dict:
        return {"log": [f"right={interrupt('right?', response_schema={'type': 'string'})}"]}

    g = StateGraph(G)
    g.add_node("prep", lambda s: {"log": ["prep"]})
    g.add_node("left", left)
    g.add_node("right", right)
    g.add_node("quiet", lambda s: {"log": ["quiet"]})
    g.add_node("join", lambda s: {"log": ["join"]})
    g.add_edge(START, "prep")
    for name in ("left", "right", "quiet"):
        g.add_edge("prep", name)
    g.add_edge(["left", "right", "quiet"], "join")
    return g.compile(checkpointer=saver)


def _record_view(r: InterruptRecord) -> tuple[Any, ...]:
    """An interrupt record without what derives from random checkpoint ids."""
    return (r.task_name, r.index, r.kind, r.status, r.value, r.created_at, r.metadata, r.resume)


def _play(saver: Any, run: Any) -> dict[str, Any]:
    """Pause on two parallel interrupts, answer them one at a time; everything observed."""
    graph = _pause_graph(saver)
    config = {"configurable": {"thread_id": "t"}}
    seen: dict[str, Any] = {}
    first = run.invoke(graph, {"log": []}, config)
    seen["first"] = (first["log"], [i.value for i in first["__interrupt__"]])
    state = run.get_state(graph, config)
    seen["tasks"] = [(t.name, [i.value for i in t.interrupts]) for t in state.tasks]
    by_name = {t.name: t.interrupts for t in state.tasks}
    assert sorted(i.id for i in state.interrupts) == sorted(
        i.id for i in by_name["left"] + by_name["right"]
    )
    stored = saver.get_checkpoint("t")
    seen["records"] = sorted(_record_view(r) for r in stored.interrupts)
    for r in stored.interrupts:
        assert r.created_at.utcoffset() == dt.timedelta(0)
        assert saver.get_interrupt(r.interrupt_id) == r

    second = run.invoke(graph, Command(resume={by_name["left"][0].id: "L"}), config)
    seen["second"] = (second["log"], [i.value for i in second["__interrupt__"]])
    final = run.invoke(graph, Command(resume={by_name["right"][0].id: "R"}), config)
    seen["final"] = final
    history = run.history(graph, config)
    seen["history"] = [(s.values, s.next, s.metadata, s.created_at) for s in history]
    decided = saver.list_interrupts(status="resolved", thread_id="t").items
    seen["decided"] = sorted(_record_view(r) for r in decided)
    assert all(r.decided_at is not None and r.decided_at.tzinfo is not None for r in decided)
    assert saver.list_interrupts(status="pending").items == ()
    return seen


@pytest.mark.postgres
def test_graph_gives_the_same_results_with_durable_steps_off_and_on(run, monkeypatch) -> None:
    from interlock.checkpoint.memory import InMemorySaver
    from interlock.graph import _compiled
    from interlock.graph._effects import Clock
    from interlock.graph._ids import new_checkpoint_id

    # one fixed instant for every record, so that stored times can be compared across stores
    monkeypatch.setattr(
        _compiled, "_CLOCK", Clock(now=lambda: WHEN, new_checkpoint_id=new_checkpoint_id)
    )
    memory = InMemorySaver()
    expected = _play(memory, run)
    assert expected["final"]["log"][-1] == "join"
    assert expected["records"][0][5] == WHEN
    assert expected["records"][1][6] == {
        "graph": "LangGraph",
        "graph_version": _pause_graph(None).version,
        "response_schema": {"type": "string"},
    }
    for durable in (False, True):
        saver = fresh_postgres_saver(durable_steps=durable)
        try:
            assert _play(saver, run) == expected, f"durable_steps={durable}"
        finally:
            saver.close()


@pytest.mark.postgres
def test_graph_waits_for_the_flush_on_pauses_decisions_and_last_writes(pg, monkeypatch) -> None:
    log = _spy(pg, monkeypatch)
    graph = _pause_graph(pg)
    config = {"configurable": {"thread_id": "t"}}
    runs: list[list[str]] = []

    def invoke(input: Any) -> Any:
        start = len(log)
        out = graph.invoke(input, config)
        runs.append(log[start:])
        return out

    first = invoke({"log": []})
    ids = {i.value if isinstance(i.value, str) else "left": i.id for i in first["__interrupt__"]}
    invoke(Command(resume={ids["left"]: "L"}))
    assert invoke(Command(resume={ids["right?"]: "R"}))["log"][-1] == "join"

    for n, run_statements in enumerate(runs):
        # the graph's manifest is written once per store, before its first run's lease
        statements = [s for s in run_statements if "graph_versions" not in s]
        lease = [s for s in statements if "RETURNING updated_at" in s]
        writes = [
            s
            for s in statements
            if s not in lease and any(w in s for w in ("INSERT INTO", "UPDATE "))
        ]
        assert len(lease) == 1 and statements[0] == lease[0]
        # no lease waits for the flush (unless every step does): the run's first write that
        # waits makes it durable too — a resume's decision, its very next statement; a new
        # run's pause or last write, before anything is shown or returned
        assert _no_flush(lease[0]) != pg.durable_steps
        if n > 0:
            assert "UPDATE interrupts" in writes[0] and not _no_flush(writes[0])
            assert statements.index(writes[0]) == statements.index(lease[0]) + 1
        assert writes and not _no_flush(writes[-1])  # the run's last write waits
        for s in writes:
            if "INSERT INTO interrupts" in s or "UPDATE interrupts" in s:
                assert not _no_flush(s)  # pauses and decisions wait
            if pg.durable_steps:
                assert not _no_flush(s)
    commits = [s for s in runs[0] if "heads" in s and "INSERT INTO checkpoints" in s]
    assert len(commits) == 2  # the input, then prep's step; then the pause
    assert all(_no_flush(s) != pg.durable_steps for s in commits)


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("call", "mid_run"),
    [
        ("checkpoint", True),
        ("checkpoint+interrupts", False),
        ("checkpoint+release", False),
        ("task_writes", True),
        ("task_writes+interrupts", False),
        ("task_writes+release", False),
        ("resolve", False),
        ("checkpoint-outside-a-run", False),
        ("task_writes-outside-a-run", False),
    ],
)
def test_pg_which_writes_skip_the_flush_wait(pg, monkeypatch, call, mid_run) -> None:
    [rec] = _chain(pg, "t", 1, lease_owner="a")
    intr = make_interrupt("t", rec.checkpoint_id)
    if call == "resolve":
        pg.put_task_writes("t", "", rec.checkpoint_id, [], [intr])
    log = _spy(pg, monkeypatch)
    interrupts = [intr] if call.endswith("+interrupts") else []
    release = call.endswith("+release")
    owner = None if call.endswith("outside-a-run") else "a"  # a direct caller of the store
    if call.startswith("checkpoint"):
        nxt = make_record("t", rec, [("n", 1)], {"n": 1})
        interrupts = [make_interrupt("t", nxt.checkpoint_id)] if interrupts else []
        pg.put_checkpoint(
            nxt,
            expected_head=rec.checkpoint_id,
            interrupts=interrupts,
            lease_owner=owner,
            release_lease=release,
        )
    elif call.startswith("task_writes"):
        tw = [TaskWrites(task_id="x", task_name="x", writes=(("n", 1),))]
        pg.put_task_writes(
            "t", "", rec.checkpoint_id, tw, interrupts, lease_owner=owner, release_lease=release
        )
    else:
        pg.resolve_interrupts("t", {intr.interrupt_id: 1})
    writes = [s for s in log if "INSERT INTO" in s or "UPDATE " in s]
    assert len(writes) == 1  # one statement per write
    assert _no_flush(writes[0]) == (mid_run and not pg.durable_steps)


# ---- 7. nested serde types through the JSON-aggregate read path -------------------------


def test_interrupts_and_task_writes_round_trip_nested_types(saver) -> None:
    [rec] = _chain(saver, "t", 1)
    nxt = make_record("t", rec, [("n", 1)], {"n": 1})
    times = [
        dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),  # no fraction
        dt.datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC),  # trailing zeros
        dt.datetime(2026, 1, 2, 3, 4, 5, 7, tzinfo=UTC),  # leading zeros
        dt.datetime(
            2026, 1, 2, 8, 49, 5, 999999, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=45))
        ),
    ]
    intrs = [
        make_interrupt(
            "t",
            nxt.checkpoint_id,
            i,
            task_id="task",
            value={**NESTED, "i": i},
            created_at=at,
            deadline=times[(i + 1) % len(times)] if i % 2 else None,
            metadata={"graph": "g", "tags": {"a", "b"}, "since": at, "pt": Point(i)},
        )
        for i, at in enumerate(times)
    ]
    saver.put_checkpoint(nxt, expected_head=rec.checkpoint_id, interrupts=intrs[:2])
    saver.put_task_writes(
        "t",
        "",
        nxt.checkpoint_id,
        [
            TaskWrites(task_id="z", task_name="z", writes=(("nested", NESTED), ("none", None))),
            TaskWrites(task_id="y", task_name="y", writes=(("__done__", True),)),
        ],
        intrs[2:],
    )
    [decided] = saver.resolve_interrupts(
        "t", {intrs[1].interrupt_id: {"answer": NESTED}}, decided_by="ada"
    )

    stored = saver.get_checkpoint("t")
    assert stored is not None
    expected = (intrs[0], decided, intrs[2], intrs[3])
    assert stored.interrupts == expected
    for got, want in zip(stored.interrupts, expected, strict=True):
        assert got.value == want.value and got.metadata == want.metadata
        assert got.created_at == want.created_at and got.created_at.tzinfo is not None
        assert got.deadline == want.deadline
        assert saver.get_interrupt(got.interrupt_id) == got  # the per-row read agrees
    assert stored.interrupts[1].resume == {"answer": NESTED}
    assert stored.interrupts[1].decided_at == decided.decided_at
    assert stored.interrupts[0].value["pt"] == Point(1, ("a", "b"), {5})
    assert isinstance(stored.interrupts[0].value["ids"], set)
    assert sorted((t.task_id, t.writes) for t in stored.task_writes) == [
        ("y", (("__done__", True),)),
        ("z", (("nested", NESTED), ("none", None))),
    ]
    taken, via_lease = saver.acquire_and_get("t", "me", ttl=60)
    assert taken is True and via_lease == stored
    listed = saver.list_interrupts(status=None, thread_id="t").items
    assert sorted(listed, key=lambda r: r.index) == list(expected)
