"""Exactly-once resume across real processes sharing one SQLite file."""

from __future__ import annotations

import multiprocessing as mp
from collections import Counter
from pathlib import Path

import pytest

from tests._race import build_graph, open_saver, worker

pytestmark = pytest.mark.slow


def race(spec: str, effects: Path, processes: int, rounds: int) -> Counter:
    saver = open_saver(spec)
    graph = build_graph(saver, str(effects))
    for r in range(rounds):
        paused = graph.invoke({}, {"configurable": {"thread_id": f"round-{r}"}})
        assert "__interrupt__" in paused
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(processes)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=worker, args=(spec, str(effects), rounds, barrier, results))
        for _ in range(processes)
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in range(processes * rounds)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    errors = [o for o in outcomes if o[1].startswith("error")]
    assert not errors, errors
    per_round = Counter(r for r, o in outcomes if o == "ok")
    assert all(per_round[r] == 1 for r in range(rounds)), per_round
    assert sum(1 for _, o in outcomes if o == "conflict") == (processes - 1) * rounds
    lines = effects.read_text().splitlines()
    assert len(lines) == rounds  # the side effect after the interrupt ran once per round
    for r in range(rounds):
        state = graph.get_state({"configurable": {"thread_id": f"round-{r}"}})
        assert state.next == () and state.values["answer"]
    saver.close()
    return per_round


def test_processes_racing_on_one_sqlite_file_resume_exactly_once(tmp_path: Path) -> None:
    race(f"sqlite:{tmp_path / 'race.db'}", tmp_path / "effects.log", processes=6, rounds=15)
