"""The Agent Server routes `runs.delete`, `runs.cancel_many`, `runs.create_batch`,
`threads.copy` and `threads.prune`, driven by the real `langgraph-sdk` (sync and async)
over loopback, on SQLite and PostgreSQL.

The wire shapes (paths, bodies, `{"pruned_count": n}`, 204s) are the SDK's; the semantics
asserted (a run under way is not deleted: 409; cancel_many by ids or status; a copy holds
the source's checkpoints, with the same checkpoint ids, and its metadata) are LangGraph's
as its API reference states them (langgraph-api is not installed here to run). Where
interlock is stricter (a copied request is a new request, decided once in its own thread;
batches are checked whole before anything is queued; pruning is refused past a review the
caller may not decide) the tests say so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

import httpx
import pytest
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    UnprocessableEntityError,
)

import interlock as il
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.server import ApiKeys, create_app
from tests._http import served

KEYS = "k-bob=bob:requester;k-cy=cy:requester;k-ada=ada:approver;k-root=root:admin"
SHIPPED: list[str] = []


class Order(TypedDict, total=False):
    item: str
    approved: Any


def ask(state: Order) -> dict[str, Any]:
    answer = il.interrupt({"ship": state["item"]}, approvers=["ada", "role:admin"])
    SHIPPED.append(state["item"])
    return {"approved": answer}


def _orders(saver: Any) -> Any:
    g = il.StateGraph(Order)
    g.add_node("ask", ask)
    g.add_edge(il.START, "ask")
    return g.compile(checkpointer=saver, name="orders")


PAID: list[Any] = []


def pay_once_then_crash(state: Order) -> dict[str, Any]:
    answer = il.interrupt({"pay": state["item"]}, approvers=["ada"])
    PAID.append(answer)  # the side effect, then a crash on the first try
    if len(PAID) == 1:
        raise RuntimeError("crashed after paying")
    return {"approved": answer}


def _subpay(saver: Any) -> Any:
    """The pause sits inside a subgraph (its own checkpoint namespace)."""
    inner = il.StateGraph(Order).add_node("pay", pay_once_then_crash)
    inner = inner.add_edge(il.START, "pay").compile()
    g = il.StateGraph(Order).add_node("sub", inner).add_edge(il.START, "sub")
    return g.compile(checkpointer=saver, name="subpay")


_OPEN: list[Any] = []


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The app on each SQL store, with no background workers: a background run of new
    input stays queued (pending) until the test cancels it."""
    SHIPPED.clear()
    PAID.clear()
    if request.param == "sqlite":
        saver: Any = SqliteSaver(tmp_path / "as.db")
    else:
        from tests.pg import fresh_postgres_saver

        saver = fresh_postgres_saver()
    graphs = {"orders": _orders(saver), "subpay": _subpay(saver)}
    app = create_app(graphs, keys=ApiKeys.parse(KEYS), workers=0)
    try:
        with served(app) as http:
            yield str(http.base_url).rstrip("/")
    finally:
        while _OPEN:
            _OPEN.pop().close()
        saver.close()


def client(url: str, key: str | None) -> Any:
    made = get_sync_client(url=url, api_key=key)
    _OPEN.append(made)
    return made


def audit(url: str, thread_id: str) -> list[dict[str, Any]]:
    got = httpx.get(
        f"{url}/v1/audit", params={"thread_id": thread_id}, headers={"x-api-key": "k-root"}
    )
    assert got.status_code == 200, got.text
    return list(got.json()["entries"])


def paused(bob: Any, item: str = "book") -> str:
    """A thread of bob's waiting for ada's decision."""
    thread = bob.threads.create()
    out = bob.runs.wait(thread["thread_id"], "orders", input={"item": item})
    assert out["__interrupt__"], out
    return str(thread["thread_id"])


def test_delete_run_of_an_ended_run_only(url: str) -> None:
    bob, cy, ada = client(url, "k-bob"), client(url, "k-cy"), client(url, "k-ada")
    thread_id = paused(bob)
    [ended] = bob.runs.list(thread_id)
    assert ended["status"] == "interrupted"
    other = bob.threads.create()
    queued = bob.runs.create(other["thread_id"], "orders", input={"item": "pen"})
    assert bob.runs.get(other["thread_id"], queued["run_id"])["status"] == "pending"
    with pytest.raises(ConflictError):  # pending: cancel it first
        bob.runs.delete(other["thread_id"], queued["run_id"])
    with pytest.raises(NotFoundError):  # someone else's thread
        cy.runs.delete(thread_id, ended["run_id"])
    with pytest.raises(PermissionDeniedError):  # an approver does not delete runs
        ada.runs.delete(thread_id, ended["run_id"])
    with pytest.raises(NotFoundError):  # the run is not the other thread's
        bob.runs.delete(other["thread_id"], ended["run_id"])
    anonymous = httpx.delete(f"{url}/threads/{thread_id}/runs/{ended['run_id']}")
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "unauthenticated"
    assert bob.runs.get(thread_id, ended["run_id"])["status"] == "interrupted"

    bob.runs.delete(thread_id, ended["run_id"])
    with pytest.raises(NotFoundError):
        bob.runs.get(thread_id, ended["run_id"])
    assert bob.runs.list(thread_id) == []
    with pytest.raises(NotFoundError):  # deleted already
        bob.runs.delete(thread_id, ended["run_id"])
    # the thread's state and its request are untouched: ada decides it once
    state = bob.threads.get_state(thread_id)
    assert state["values"] == {"item": "book"} and len(state["interrupts"]) == 1
    done = ada.runs.wait(thread_id, "orders", command={"resume": "yes"})
    assert done["approved"] == "yes" and SHIPPED == ["book"]
    bob.runs.cancel(other["thread_id"], queued["run_id"])
    bob.runs.delete(other["thread_id"], queued["run_id"])  # cancelled: ended
    assert bob.runs.list(other["thread_id"]) == []


def test_a_decision_not_carried_out_in_a_subgraph_keeps_its_runs(url: str) -> None:
    """The decision was recorded, the run failed after its side effect: the thread waits
    (in the subgraph's namespace) to carry the decision out. Deleting the run that tried,
    or copying the thread, would let it be carried out again without a decision."""
    bob, ada = client(url, "k-bob"), client(url, "k-ada")
    thread = bob.threads.create()["thread_id"]
    out = bob.runs.wait(thread, "subpay", input={"item": "rent"})
    assert out["__interrupt__"], out
    with pytest.raises(Exception, match="the decision was recorded, then the run failed"):
        ada.runs.wait(thread, "subpay", command={"resume": "yes"})
    assert PAID == ["yes"]
    runs = bob.runs.list(thread)
    assert runs and all(r["status"] not in ("pending", "running") for r in runs)
    for run in runs:
        with pytest.raises(ConflictError, match="carry out a recorded decision"):
            bob.runs.delete(thread, run["run_id"])
    with pytest.raises(ConflictError, match="carry out a recorded decision"):
        bob.threads.copy(thread)
    assert len(bob.runs.list(thread)) == len(runs)
    assert PAID == ["yes"]


def test_cancel_many_by_ids_and_by_status(url: str) -> None:
    bob, cy = client(url, "k-bob"), client(url, "k-cy")
    a, b = bob.threads.create()["thread_id"], bob.threads.create()["thread_id"]
    r1 = bob.runs.create(a, "orders", input={"item": "one"})["run_id"]
    r2 = bob.runs.create(a, "orders", input={"item": "two"})["run_id"]
    r3 = bob.runs.create(b, "orders", input={"item": "three"})["run_id"]
    mine = cy.runs.create(cy.threads.create()["thread_id"], "orders", input={"item": "cy"})

    def status(thread_id: str, run_id: str) -> str:
        return str(bob.runs.get(thread_id, run_id)["status"])

    with pytest.raises(UnprocessableEntityError):  # neither ids nor a status
        bob.runs.cancel_many()
    with pytest.raises(UnprocessableEntityError):  # interlock does not roll back
        bob.runs.cancel_many(thread_id=a, run_ids=[r1], action="rollback")
    with pytest.raises(NotFoundError):  # one unknown id: nothing is cancelled
        bob.runs.cancel_many(thread_id=a, run_ids=[r1, "f" * 32])
    with pytest.raises(NotFoundError):  # another thread's run
        bob.runs.cancel_many(thread_id=a, run_ids=[r3])
    with pytest.raises(NotFoundError):  # a thread bob may not see
        cy.runs.cancel_many(thread_id=a, run_ids=[r1])
    assert status(a, r1) == "pending"

    bob.runs.cancel_many(thread_id=a, run_ids=[r1])
    assert (status(a, r1), status(a, r2), status(b, r3)) == ("interrupted", "pending", "pending")
    bob.runs.cancel_many(status="pending")  # every pending run bob may see
    assert (status(a, r2), status(b, r3)) == ("interrupted", "interrupted")
    assert cy.runs.get(mine["thread_id"], mine["run_id"])["status"] == "pending"
    cy.runs.cancel_many(status="all")
    assert cy.runs.get(mine["thread_id"], mine["run_id"])["status"] == "interrupted"
    anonymous = httpx.post(f"{url}/runs/cancel", json={"status": "all"})
    assert anonymous.status_code == 401


def test_create_batch_is_checked_whole_then_queued(url: str) -> None:
    bob, ada = client(url, "k-bob"), client(url, "k-ada")
    waiting = paused(bob, "lamp")
    own = bob.threads.create()["thread_id"]
    before = bob.threads.count()
    bad = [
        [{"assistant_id": "orders", "input": {"item": "a"}}, {"assistant_id": "nope", "input": {}}],
        [{"assistant_id": "orders", "input": {"item": "a"}}, {"assistant_id": "orders"}],
        [{"assistant_id": "orders", "command": {"resume": "yes"}, "thread_id": waiting}],
        [{"assistant_id": "orders", "input": {"colour": "red"}}],  # no such state key
        [{"assistant_id": "orders", "input": {"item": "a"}, "thread_id": waiting}],
    ]
    for payloads in bad:
        with pytest.raises(httpx.HTTPStatusError) as refused:
            bob.runs.create_batch(payloads)
        assert refused.value.response.status_code in (404, 409, 422)
        assert "payload" in refused.value.response.json()["message"]
    assert bob.threads.count() == before and bob.runs.list(own) == []
    # a fork from an older checkpoint is not queued in a batch, and nothing is audited
    older = bob.threads.get_history(waiting, limit=5)[-1]["checkpoint"]["checkpoint_id"]
    for fork in ({"checkpoint_id": older}, {"checkpoint": {"checkpoint_id": older}}):
        with pytest.raises(UnprocessableEntityError, match="payload 1"):
            bob.runs.create_batch(
                [
                    {"assistant_id": "orders", "input": {"item": "a"}},
                    {"assistant_id": "orders", "input": {"item": "b"}, "thread_id": own, **fork},
                ]
            )
    actions = {e["action"] for t in (waiting, own) for e in audit(url, t)}
    assert "run.forked" not in actions and bob.runs.list(own) == []
    with pytest.raises(PermissionDeniedError):
        ada.runs.create_batch([{"assistant_id": "orders", "input": {"item": "a"}}])

    runs = bob.runs.create_batch(
        [
            {"assistant_id": "orders", "input": {"item": "x"}},
            {"assistant_id": "orders", "input": {"item": "y"}, "thread_id": own},
        ]
    )
    assert [r["status"] for r in runs] == ["pending", "pending"]
    assert runs[1]["thread_id"] == own and runs[0]["thread_id"] != own
    assert [r["run_id"] for r in bob.runs.list(own)] == [runs[1]["run_id"]]
    assert bob.runs.get(runs[0]["thread_id"], runs[0]["run_id"])["status"] == "pending"
    assert bob.threads.count() == before + 1


def test_copy_asks_pending_requests_again_once_in_the_copy(url: str) -> None:
    bob, cy, ada = client(url, "k-bob"), client(url, "k-cy"), client(url, "k-ada")
    source = paused(bob, "book")
    bob.threads.update(source, metadata={"topic": "books"})
    copy = bob.threads.copy(source)
    copied = copy["thread_id"]
    assert copied != source and copy["status"] == "interrupted"
    assert copy["metadata"]["topic"] == "books" and copy["values"] == {"item": "book"}
    old, new = bob.threads.get_state(source), bob.threads.get_state(copied)
    assert new["values"] == old["values"] and new["next"] == old["next"] == ["ask"]
    history = [s["checkpoint"]["checkpoint_id"] for s in bob.threads.get_history(source)]
    assert [s["checkpoint"]["checkpoint_id"] for s in bob.threads.get_history(copied)] == history
    [asked], [was] = new["interrupts"], old["interrupts"]
    assert asked["id"] != was["id"] and asked["value"] == was["value"]
    with pytest.raises(NotFoundError):  # cy may not see bob's thread
        cy.threads.copy(source)
    with pytest.raises(httpx.HTTPStatusError) as foreign:  # the source's request
        ada.runs.wait(copied, "orders", command={"resume": {was["id"]: "no"}})
    assert foreign.value.response.status_code == 404

    done = ada.runs.wait(copied, "orders", command={"resume": "yes, copy"})
    assert done["approved"] == "yes, copy" and SHIPPED == ["book"]
    with pytest.raises(httpx.HTTPStatusError) as twice:  # decided once in the copy
        ada.runs.wait(copied, "orders", command={"resume": "again"})
    assert twice.value.response.status_code == 409
    assert bob.threads.get_state(source)["interrupts"][0]["id"] == was["id"]  # still pending
    assert ada.runs.wait(source, "orders", command={"resume": "yes"})["approved"] == "yes"
    assert SHIPPED == ["book", "book"]  # once per thread, each decided by ada

    bob.runs.create(copied, "orders", input={"item": "more"})  # queued: no worker
    with pytest.raises(ConflictError):  # a run queued on it: copied after it ran
        bob.threads.copy(copied)
    with pytest.raises(NotFoundError):
        bob.threads.copy("no-such-thread")
    with pytest.raises(PermissionDeniedError):
        ada.threads.copy(source)


def test_prune_deletes_only_past_reviews_the_caller_may_decide(url: str) -> None:
    bob, cy, root = client(url, "k-bob"), client(url, "k-cy"), client(url, "k-root")
    finished = paused(bob, "done")
    root.runs.wait(finished, "orders", command={"resume": "ok"})
    waiting = paused(bob, "waits")
    with pytest.raises(PermissionDeniedError):  # bob may not decide ada's review
        bob.threads.prune([finished, waiting])
    assert bob.threads.get(finished)["status"] == "idle"  # nothing was pruned
    assert "state.refused" in [e["action"] for e in audit(url, waiting)]
    assert "thread.deleted" not in [e["action"] for e in audit(url, finished)]
    before = bob.threads.get_history(finished, limit=100)
    assert len(before) == 2
    pending = bob.threads.get_state(waiting)["interrupts"]
    kept = bob.threads.prune([finished, waiting], strategy="keep_latest")  # no review skipped
    assert kept == {"pruned_count": 2}
    after = bob.threads.get_history(finished, limit=100)
    # what the latest needs to be read stays (here its snapshot, the input checkpoint); how
    # much older history goes is the store's `prune(keep_last=1, thread_ids=...)`'s test
    assert after[0]["checkpoint"] == before[0]["checkpoint"] and len(after) <= len(before)
    assert bob.threads.get_state(finished)["values"] == {"item": "done", "approved": "ok"}
    assert bob.threads.get_state(waiting)["interrupts"] == pending and len(pending) == 1
    with pytest.raises(UnprocessableEntityError):
        bob.threads.prune([finished], strategy="all")  # type: ignore[arg-type]
    with pytest.raises(UnprocessableEntityError):
        bob.threads.prune("not-a-list")  # type: ignore[arg-type]
    assert cy.threads.prune([finished]) == {"pruned_count": 0}  # not cy's to see
    assert bob.threads.prune([finished, "no-such-thread"]) == {"pruned_count": 1}
    with pytest.raises(NotFoundError):
        bob.threads.get(finished)
    assert root.threads.prune([waiting, waiting]) == {"pruned_count": 1}
    with pytest.raises(NotFoundError):
        bob.threads.get(waiting)


def test_the_async_client_drives_the_same_routes(url: str) -> None:
    async def main() -> None:
        bob = get_client(url=url, api_key="k-bob")
        ada = get_client(url=url, api_key="k-ada")
        thread = await bob.threads.create()
        await bob.runs.wait(thread["thread_id"], "orders", input={"item": "cup"})
        copy = await bob.threads.copy(thread["thread_id"])
        assert copy["values"] == {"item": "cup"}
        out = await ada.runs.wait(copy["thread_id"], "orders", command={"resume": "y"})
        assert out["approved"] == "y"
        [run] = await bob.runs.list(copy["thread_id"])
        await bob.runs.delete(copy["thread_id"], run["run_id"])
        queued = await bob.runs.create_batch([{"assistant_id": "orders", "input": {"item": "z"}}])
        await bob.runs.cancel_many(thread_id=queued[0]["thread_id"], run_ids=[queued[0]["run_id"]])
        got = await bob.runs.get(queued[0]["thread_id"], queued[0]["run_id"])
        assert got["status"] == "interrupted"
        pruned = await bob.threads.prune([copy["thread_id"], queued[0]["thread_id"]])
        assert pruned == {"pruned_count": 2}
        await bob.aclose()
        await ada.aclose()

    asyncio.run(main())
