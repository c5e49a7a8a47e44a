"""Quorum votes racing across real processes (SQLite file, Postgres): with one approval in,
three people vote at once from their own processes; exactly one vote completes the quorum
and the run resumes exactly once per request."""

from __future__ import annotations

import multiprocessing as mp
from collections import Counter
from pathlib import Path

import pytest

from interlock import Command
from tests._quorum_race import build_graph, voter
from tests._race import open_saver

pytestmark = pytest.mark.slow

VOTERS = ["bob", "cy", "dan"]


def race(spec: str, effects: Path, rounds: int) -> None:
    saver = open_saver(spec)
    graph = build_graph(saver, str(effects))
    for r in range(rounds):
        thread = {"configurable": {"thread_id": f"round-{r}", "user_id": "req"}}
        assert "__interrupt__" in graph.invoke({}, thread)
        ada = {"configurable": {"thread_id": f"round-{r}", "user_id": "ada"}}
        assert "__interrupt__" in graph.invoke(Command(resume="approve"), ada)  # 1 of 2
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(VOTERS))
    results = ctx.Queue()
    procs = [
        ctx.Process(target=voter, args=(spec, str(effects), name, rounds, barrier, results))
        for name in VOTERS
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in range(len(VOTERS) * rounds)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert not [o for o in outcomes if o[2].startswith("error")], outcomes
    resumed = Counter(r for r, _, o in outcomes if o == "resumed")
    assert all(resumed[r] == 1 for r in range(rounds)), resumed  # one vote completed each
    assert not [o for o in outcomes if o[2] == "waiting"]  # ada's + the winner's = 2
    assert len(effects.read_text().splitlines()) == rounds  # the side effect ran once each
    for r in range(rounds):
        [request] = saver.list_interrupts(status="resolved", thread_id=f"round-{r}").items
        votes = saver.list_votes(request.interrupt_id)
        winner = next(n for rr, n, o in outcomes if rr == r and o == "resumed")
        assert [v.voter for v in votes] == ["ada", winner] and request.decided_by == winner
    saver.close()


def test_quorum_votes_racing_on_one_sqlite_file(tmp_path: Path) -> None:
    race(f"sqlite:{tmp_path / 'race.db'}", tmp_path / "effects.log", rounds=8)


@pytest.mark.postgres
def test_quorum_votes_racing_on_postgres(tmp_path: Path) -> None:
    from tests.pg import postgres_spec

    race(postgres_spec(), tmp_path / "effects.log", rounds=8)
