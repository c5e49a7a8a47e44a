"""Who may see a thread: a requester reads and adds to the threads they created; approvers
and admins see every thread; `shared_threads=True` opens every thread to every requester.
A thread one may not see answers 404, as one that does not exist."""

from __future__ import annotations

from typing import Any, TypedDict

import pytest

import interlock as il
from interlock.server import ApiKeys, create_app
from tests._http import served

KEYS = "k-bob=bob:requester;k-cy=cy:requester;k-ada=ada:approver;k-root=root:admin"


class S(TypedDict, total=False):
    n: int


def counter(saver: Any) -> il.CompiledStateGraph:
    g = il.StateGraph(S)
    g.add_node("add", lambda s: {"n": s.get("n", 0) + 1})
    g.add_edge(il.START, "add")
    return g.compile(checkpointer=saver, name="counter")


def _key(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def _thread_calls(http: Any, key: str, thread_id: str, run_id: str) -> dict[str, int]:
    """The status of every thread endpoint for `key` on `thread_id`."""
    return {
        "get": http.get(f"/v1/threads/{thread_id}", headers=_key(key)).status_code,
        "history": http.get(f"/v1/threads/{thread_id}/history", headers=_key(key)).status_code,
        "run": http.post(
            f"/v1/threads/{thread_id}/runs", json={"input": {"n": 1}}, headers=_key(key)
        ).status_code,
        "stream": http.post(
            f"/v1/threads/{thread_id}/runs/stream", json={"input": {"n": 1}}, headers=_key(key)
        ).status_code,
        "runs": http.get(f"/v1/threads/{thread_id}/runs", headers=_key(key)).status_code,
        "one_run": http.get(f"/v1/runs/{run_id}", headers=_key(key)).status_code,
    }


def test_a_requester_sees_only_their_own_threads(saver: Any) -> None:
    app = create_app({"counter": counter(saver)}, keys=ApiKeys.parse(KEYS), workers=0)
    with served(app) as http:
        created = http.post("/v1/threads", json={"input": {"n": 0}}, headers=_key("k-bob"))
        thread_id = created.json()["thread_id"]
        queued = http.post(
            f"/v1/threads/{thread_id}/runs",
            json={"input": {"n": 5}, "background": True},
            headers=_key("k-bob"),
        )
        assert queued.status_code == 202
        run_id = queued.json()["run_id"]

        cy = _thread_calls(http, "k-cy", thread_id, run_id)
        assert cy == {k: 404 for k in cy}  # as if it did not exist
        refused = http.get(f"/v1/threads/{thread_id}", headers=_key("k-cy")).json()
        assert refused["error"] == "unknown_thread"
        values = http.get(f"/v1/threads/{thread_id}", headers=_key("k-ada")).json()["values"]
        assert values == {"n": 1}  # cy changed nothing

        mine = _thread_calls(http, "k-bob", thread_id, run_id)
        assert mine == {"get": 200, "history": 200, "run": 200, "stream": 200} | {
            "runs": 200,
            "one_run": 200,
        }
        for key in ("k-ada", "k-root"):  # approvers and admins read every thread
            assert http.get(f"/v1/threads/{thread_id}", headers=_key(key)).status_code == 200
            assert http.get(f"/v1/runs/{run_id}", headers=_key(key)).status_code == 200

        http.post("/v1/threads", json={"input": {"n": 0}}, headers=_key("k-cy"))

        def listed(key: str) -> set[str]:
            got = http.get("/v1/threads", headers=_key(key)).json()["threads"]
            return {t["thread_id"] for t in got}

        assert thread_id in listed("k-bob") and thread_id not in listed("k-cy")
        assert len(listed("k-cy")) == 1 and len(listed("k-ada")) == 2


def test_a_thread_made_by_the_library_is_for_approvers(saver: Any) -> None:
    graph = counter(saver)
    graph.invoke({"n": 0}, {"configurable": {"thread_id": "lib"}})
    with served(create_app({"counter": graph}, keys=ApiKeys.parse(KEYS))) as http:
        assert http.get("/v1/threads/lib", headers=_key("k-bob")).status_code == 404
        assert http.get("/v1/threads/lib", headers=_key("k-ada")).status_code == 200


@pytest.mark.parametrize("key", ["k-cy", "k-bob"])
def test_shared_threads_open_every_thread_to_every_requester(saver: Any, key: str) -> None:
    app = create_app({"counter": counter(saver)}, keys=ApiKeys.parse(KEYS), shared_threads=True)
    with served(app) as http:
        created = http.post("/v1/threads", json={"input": {"n": 0}}, headers=_key("k-bob"))
        thread_id = created.json()["thread_id"]
        more = http.post(
            f"/v1/threads/{thread_id}/runs", json={"input": {"n": 3}}, headers=_key(key)
        )
        assert more.status_code == 200 and more.json()["values"] == {"n": 4}


def test_a_requester_pages_to_their_threads(saver: Any) -> None:
    app = create_app({"counter": counter(saver)}, keys=ApiKeys.parse(KEYS), workers=0)
    with served(app) as http:
        mine = http.post("/v1/threads", json={"input": {"n": 0}}, headers=_key("k-bob"))
        for _ in range(3):  # newer threads of someone else
            http.post("/v1/threads", json={"input": {"n": 0}}, headers=_key("k-cy"))
        found: list[str] = []
        offset: int | None = 0
        while offset is not None:
            page = http.get(
                "/v1/threads", params={"limit": 2, "offset": offset}, headers=_key("k-bob")
            ).json()
            found += [t["thread_id"] for t in page["threads"]]
            offset = page["next_offset"]
        assert found == [mine.json()["thread_id"]]


def test_the_id_of_a_deleted_thread_stays_taken(saver: Any) -> None:
    app = create_app({"counter": counter(saver)}, keys=ApiKeys.parse(KEYS), workers=0)
    with served(app) as http:
        made = http.post(
            "/v1/threads", json={"thread_id": "ticket-1", "input": {"n": 0}}, headers=_key("k-bob")
        )
        assert made.status_code == 201
        saver.delete_thread("ticket-1")  # retention: its audit entries are kept
        again = http.post(
            "/v1/threads", json={"thread_id": "ticket-1", "input": {"n": 41}}, headers=_key("k-cy")
        )
        assert again.status_code == 409 and again.json()["error"] == "thread_exists"
        # (otherwise cy's new thread would belong to bob, its first creator)


def test_two_creates_of_one_id_have_one_winner(saver: Any) -> None:
    import threading

    app = create_app({"counter": counter(saver)}, keys=ApiKeys.parse(KEYS), workers=0)
    with served(app) as http:
        for i in range(10):
            gate = threading.Barrier(2)
            codes: dict[str, int] = {}

            def create(
                key: str,
                tid: str = f"race-{i}",
                gate: threading.Barrier = gate,
                codes: dict[str, int] = codes,
            ) -> None:
                gate.wait()
                codes[key] = http.post(
                    "/v1/threads", json={"thread_id": tid}, headers=_key(key)
                ).status_code

            racers = [threading.Thread(target=create, args=(k,)) for k in ("k-bob", "k-cy")]
            for t in racers:
                t.start()
            for t in racers:
                t.join()
            assert sorted(codes.values()) == [201, 409], (i, codes)
            winner = next(k for k, c in codes.items() if c == 201)
            seen = http.get(f"/v1/threads/race-{i}", headers=_key(winner))
            assert seen.status_code == 200  # the winner owns it
