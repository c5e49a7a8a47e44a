"""Hand-back over HTTP: service instances sharing one store (a SQLite file, a PostgreSQL
schema), each with its own store connection and its own workers, one running v1 of an
agent and one v2 (its paying node renamed).

A decision is recorded under v1 by process A, whose store connection then fails (as if it
died right after recording it): its run is left to its lease. Process C, on v2, takes the
run over: it does not reopen the request but gives the run back for v1, because process B
advertises v1; B's own background worker then carries the decision out, once. With B gone,
C's takeover of another such run returns its request to pending with the reason, as a run
handed to a version whose last process died does once its advert lapses.

C's takeover is driven by the test (`claim_run` + `RunWorkers.execute`, the worker loop's
two steps) so that C, not B, is the one to find the run first; B's workers run on their
own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypedDict

import httpx
import pytest

import interlock as il
from interlock.errors import StoreUnavailable
from interlock.server import ApiKeys, create_app
from tests._http import served
from tests._race import open_saver

KEYS = ApiKeys.parse("k-bob=bob:requester;k-ada=ada:approver")
BOB = {"Authorization": "Bearer k-bob"}
ADA = {"Authorization": "Bearer k-ada"}


class Pay(TypedDict, total=False):
    item: str
    paid: str


def pay_graph(saver: Any, node: str, effects: list[tuple[str, str, str]]) -> Any:
    """v1 pays in node `pay`; v2 renamed it `charge` (a breaking change)."""

    def pay(state: Pay) -> dict[str, Any]:
        answer = il.interrupt({"pay": state["item"]})
        effects.append((node, state["item"], str(answer)))  # the side effect
        return {"paid": f"{answer}:{state['item']}"}

    g = il.StateGraph(Pay)
    g.add_node(node, pay)
    g.add_edge(il.START, node)
    graph = g.compile(checkpointer=saver, name="pay")
    graph.lease_ttl = 0.5  # a dead process's thread lease lapses soon
    return graph


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Any]]:
    """Opens another connection (saver) to one shared store; closes them all at the end."""
    if request.param == "sqlite":
        spec = f"sqlite:{tmp_path / 'shared.db'}"
    else:
        from tests.pg import postgres_spec

        spec = postgres_spec()
    opened: list[Any] = []

    def connect() -> Any:
        opened.append(open_saver(spec))
        return opened[-1]

    yield connect
    for saver in opened:
        saver.close()


def dies_after_deciding(saver: Any) -> Any:
    """A's store connection: each decision is committed, then the connection fails (the
    process is gone before it applies it; its run's lease lapses)."""
    resolve = saver.resolve_interrupts

    def resolve_then_fail(*args: Any, **kwargs: Any) -> Any:
        resolve(*args, **kwargs)
        raise StoreUnavailable("process A lost the store right after deciding")

    saver.resolve_interrupts = resolve_then_fail
    return saver


def app(saver: Any, graph: Any, **kw: Any) -> Any:
    return create_app({"pay": graph}, keys=KEYS, expire_every=None, **kw)


def until(check: Callable[[], Any], what: str, limit: float = 30.0) -> Any:
    """Poll `check()` until it is truthy (a lease's time at most); fail after `limit` s."""
    deadline = time.monotonic() + limit
    while not (got := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return got


def pause(http: httpx.Client, thread_id: str, item: str) -> str:
    started = http.post(
        "/v1/threads", json={"thread_id": thread_id, "input": {"item": item}}, headers=BOB
    )
    assert started.status_code == 201, started.text
    [request] = started.json()["run"]["interrupts"]
    return str(request["id"])


def decide_and_die(a: httpx.Client, iid: str) -> None:
    failed = a.post(f"/v1/approvals/{iid}/decision", json={"value": "yes"}, headers=ADA)
    assert failed.status_code == 503, failed.text  # recorded, then A was gone


def take_over(workers: Any, saver: Any) -> Any:
    """C's worker: claim the run once A's lease lapsed, and execute it."""
    run = until(
        lambda: saver.claim_run("c-worker", ttl=30, versions=workers.versions),
        "A's run lease to lapse",
    )
    workers.execute(run, "c-worker")
    return run


@pytest.mark.parametrize("drain", [False, True], ids=["serving", "draining"])
def test_a_decision_under_v1_taken_over_by_v2_is_carried_out_by_v1_once(
    store: Callable[[], Any], drain: bool
) -> None:
    """(B may drain v1, as in a deploy: it starts no new runs, but carries decisions out.)"""
    effects: list[tuple[str, str, str]] = []
    a_saver, b_saver, c_saver = dies_after_deciding(store()), store(), store()
    a = app(a_saver, pay_graph(a_saver, "pay", effects), workers=0, run_lease=0.2)
    b_graph = pay_graph(b_saver, "pay", effects)
    b = app(b_saver, b_graph, workers=1, run_lease=30, drain=["pay"] if drain else ())
    v2 = pay_graph(c_saver, "charge", effects)
    c = app(c_saver, v2, workers=0)
    c_workers = c.state.runner
    v1_version = b.state.registry["pay"].version
    assert v1_version != v2.version

    with served(a) as http_a, served(c) as http_c:
        iid = pause(http_a, "t1", "inv-1")
        decide_and_die(http_a, iid)
        b.state.runner.advertise()  # B is up (not yet claiming): it runs v1
        rows = http_c.get("/v1/versions", headers=ADA).json()["agents"]["pay"]["versions"]
        live = {row["version"]: row["live_processes"] for row in rows}
        assert live == {v1_version: 1, v2.version: 0}  # C has no workers running
        run = take_over(c_workers, c_saver)

        # C did not apply it under v2, nor reopen it: it gave the run back for v1
        approval = http_c.get(f"/v1/approvals/{iid}", headers=ADA).json()
        assert (approval["status"], approval["decided_by"]) == ("resolved", "ada")
        handed = http_c.get(f"/v1/runs/{run.run_id}", headers=BOB).json()
        assert (handed["status"], handed["for_version"]) == ("queued", v1_version)
        [entry] = [
            e for e in c_saver.list_audit(thread_id="t1").items if e.action == "run.handed_back"
        ]
        assert entry.detail["to_version"] == v1_version
        assert entry.detail["version"] == v2.version
        assert "node `pay` was removed (and `charge` added)" in entry.detail["reason"]
        assert entry.detail["processes"] == [b.state.runner.owner]
        assert c_saver.claim_run("c-again", ttl=30, versions=c_workers.versions) is None
        assert effects == []

        with served(b) as http_b:  # B's worker claims what was handed to v1 and runs it
            done = until(
                lambda: (
                    (r := http_b.get(f"/v1/runs/{run.run_id}", headers=BOB).json())["status"]
                    not in ("queued", "running")
                    and r
                ),
                "B to carry the decision out",
            )
            assert done["status"] == "done", done
            thread = http_b.get("/v1/threads/t1", headers=BOB).json()
            assert thread["values"] == {"item": "inv-1", "paid": "yes:inv-1"}
            assert thread["next"] == []
        # a second thread, decided under v1 by A, which dies again
        iid2 = pause(http_a, "t2", "inv-2")
        assert effects == [("pay", "inv-1", "yes")]  # once, by v1

        # B is gone (its adverts withdrawn): C's takeover reopens, with the reason
        decide_and_die(http_a, iid2)
        assert c_saver.list_worker_versions("pay") == ()
        run2 = take_over(c_workers, c_saver)
        failed = http_c.get(f"/v1/runs/{run2.run_id}", headers=BOB).json()
        assert failed["status"] == "failed" and "VersionChanged" in failed["error"]
        approval = http_c.get(f"/v1/approvals/{iid2}", headers=ADA).json()
        assert approval["status"] == "pending"
        reopened = c_saver.get_interrupt(iid2).metadata["reopened"]
        assert (reopened["decision"], reopened["decided_by"]) == ("yes", "ada")
        assert "node `pay` was removed (and `charge` added)" in reopened["reason"]
        refused = http_c.post(f"/v1/approvals/{iid2}/decision", json={"value": "y"}, headers=ADA)
        assert refused.status_code == 409 and refused.json()["error"] == "version_changed"
    assert effects == [("pay", "inv-1", "yes")]  # nothing ran under v2
    runs = sorted((r.kind, r.status, r.attempts) for r in c_saver.list_runs(thread_id="t1"))
    # the resume: A's attempt, then B's (C gave it back: not counted)
    assert runs == [("input", "interrupted", 1), ("resume", "done", 2)]


def test_a_run_handed_to_a_version_whose_last_process_died_is_reopened(
    store: Callable[[], Any],
) -> None:
    effects: list[tuple[str, str, str]] = []
    a_saver, b_saver, c_saver = dies_after_deciding(store()), store(), store()
    a = app(a_saver, pay_graph(a_saver, "pay", effects), workers=0, run_lease=0.2)
    b = app(b_saver, pay_graph(b_saver, "pay", effects), workers=1, run_lease=30)
    c = app(c_saver, pay_graph(c_saver, "charge", effects), workers=0)
    with served(a) as http_a, served(c) as http_c:
        iid = pause(http_a, "t", "inv")
        decide_and_die(http_a, iid)
        b.state.runner.advertise()  # B runs v1...
        run = take_over(c.state.runner, c_saver)
        assert c_saver.get_run(run.run_id).for_version == b.state.registry["pay"].version
        assert c_saver.claim_run("c-again", ttl=30, versions=c.state.runner.versions) is None
        # ... then dies without a word: its adverts are not renewed and lapse
        b_saver.advertise_versions(b_saver.list_worker_versions(), ttl=0)
        again = take_over(c.state.runner, c_saver)  # claimable by v2 now
        assert again.run_id == run.run_id
        failed = http_c.get(f"/v1/runs/{run.run_id}", headers=BOB).json()
        assert failed["status"] == "failed" and "node `pay` was removed" in failed["error"]
        approval = http_c.get(f"/v1/approvals/{iid}", headers=ADA).json()
        assert approval["status"] == "pending"
        reason = c_saver.get_interrupt(iid).metadata["reopened"]["reason"]
        assert "node `pay` was removed" in reason
    assert effects == []


def test_a_draining_agents_workers_carry_decisions_out_but_not_new_input(saver: Any) -> None:
    effects: list[tuple[str, str, str]] = []
    graph = pay_graph(saver, "pay", effects)
    (pending,) = graph.invoke({"item": "cup"}, {"configurable": {"thread_id": "t"}})[
        "__interrupt__"
    ]
    saver.resolve_interrupts("t", {pending.id: "yes"}, decided_by="ada")  # then it died
    draining = app(saver, graph, workers=1, drain=["pay"]).state.runner
    resume = saver.enqueue_run(
        thread_id="t", agent="pay", input={"interrupt_ids": [pending.id]}, kind="resume"
    )
    fresh = saver.enqueue_run(thread_id="u", agent="pay", input={"item": "pen"})
    for _ in range(2):
        run = saver.claim_run("w", ttl=30, versions=draining.versions)
        assert run is not None
        draining.execute(run, "w")
    assert saver.get_run(resume.run_id).status == "done"  # a decision: carried out here
    assert saver.get_run(fresh.run_id).status == "queued"  # new input: left to others
    assert effects == [("pay", "cup", "yes")]


def test_a_compatible_version_carries_the_decision_out_itself(saver: Any) -> None:
    effects: list[tuple[str, str, str]] = []
    v1 = pay_graph(saver, "pay", effects)
    (pending,) = v1.invoke({"item": "cup"}, {"configurable": {"thread_id": "t"}})["__interrupt__"]
    saver.resolve_interrupts("t", {pending.id: "yes"}, decided_by="ada")  # then it died
    app(saver, v1, workers=1).state.runner.advertise()  # a live process runs v1
    g = il.StateGraph(Pay)  # v2 adds a node elsewhere: a compatible change
    g.add_node("pay", v1.spec.nodes["pay"].fn)
    g.add_node("audit", lambda s: {})
    g.add_edge(il.START, "pay")
    v2 = g.compile(checkpointer=saver, name="pay")
    assert v2.version != v1.version
    workers = app(saver, v2, workers=1).state.runner
    run = saver.enqueue_run(
        thread_id="t", agent="pay", input={"interrupt_ids": [pending.id]}, kind="resume"
    )
    claimed = saver.claim_run("w", ttl=30, versions=workers.versions)
    assert claimed is not None
    workers.execute(claimed, "w")
    assert saver.get_run(run.run_id).status == "done"
    assert effects == [("pay", "cup", "yes")]
    assert "run.handed_back" not in {e.action for e in saver.list_audit(thread_id="t").items}
