"""`POST /v1/runs/{run_id}/cancel` on every store: a queued run never runs; a run under way
stops between two steps (the request running it answers `stopped`), its steps saved; an
ended run is 409 `cannot_cancel`; someone else's run is 404."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from interlock.server import ApiKeys, create_app
from tests._http import served
from tests.test_agent_server_cancel import ENTERED, GATE, RAN, _jobs

BOB = {"Authorization": "Bearer k-bob"}
EVE = {"Authorization": "Bearer k-eve"}
KEYS = "k-bob=bob:requester;k-eve=eve:requester"


def _start(http: httpx.Client, thread: str, answers: list[httpx.Response]) -> threading.Thread:
    body = {"input": {"item": "v1", "block": True}}
    runner = threading.Thread(
        target=lambda: answers.append(
            http.post(f"/v1/threads/{thread}/runs", json=body, headers=BOB)
        )
    )
    runner.start()
    return runner


def test_v1_cancel_stops_a_run_under_way(saver: Any) -> None:
    ENTERED.clear()
    GATE.clear()
    RAN.clear()
    graph = _jobs(saver)
    app = create_app({"jobs": graph}, keys=ApiKeys.parse(KEYS), workers=0)
    with served(app) as http:
        thread = http.post("/v1/threads", json={"agent": "jobs"}, headers=BOB).json()["thread_id"]
        answers: list[httpx.Response] = []
        runner = _start(http, thread, answers)
        try:
            assert ENTERED.wait(30)
            [running] = [r for r in saver.list_runs(thread_id=thread) if r.status == "running"]
            theirs = http.post(f"/v1/runs/{running.run_id}/cancel", headers=EVE)
            assert theirs.status_code == 404  # not eve's thread: not even seen
            asked = http.post(f"/v1/runs/{running.run_id}/cancel", headers=BOB)
            assert asked.status_code == 200, asked.text
            assert asked.json()["status"] == "running" and asked.json()["stop_asked"] is True
        finally:
            GATE.set()
            runner.join(30)
        [answer] = answers  # the request that ran it answers where it stopped
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "stopped" and answer.json()["values"]["item"] == "v1"
        assert RAN == ["v1"]  # `after` never ran
        run = http.get(f"/v1/runs/{running.run_id}", headers=BOB).json()
        assert run["status"] == "cancelled" and run["result"]["status"] == "stopped"
        again = http.post(f"/v1/runs/{running.run_id}/cancel", headers=BOB)
        assert again.status_code == 200 and again.json()["status"] == "cancelled"
        state = http.get(f"/v1/threads/{thread}", headers=BOB).json()
        assert state["next"] == ["after"] and state["values"]["item"] == "v1"
        actions = [e.action for e in saver.list_audit(thread_id=thread).items]
        assert actions.count("run.cancel_requested") == 1
        refused = http.post(
            f"/v1/threads/{thread}/runs", json={"continue": True, "input": {}}, headers=BOB
        )
        assert refused.status_code == 422  # `continue` takes no input
        went_on = http.post(f"/v1/threads/{thread}/runs", json={"continue": True}, headers=BOB)
        assert went_on.status_code == 200, went_on.text  # the stopped thread's next nodes
        assert went_on.json()["status"] == "finished" and RAN == ["v1", "after:v1"]
        nothing = http.post(f"/v1/threads/{thread}/runs", json={"continue": True}, headers=BOB)
        assert nothing.status_code == 409 and nothing.json()["error"] == "nothing_to_continue"
        assert RAN == ["v1", "after:v1"]

        queued = http.post(
            f"/v1/threads/{thread}/runs",
            json={"input": {"item": "q"}, "background": True},
            headers=BOB,
        ).json()
        cancelled = http.post(f"/v1/runs/{queued['run_id']}/cancel", headers=BOB)
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        assert saver.claim_run("w", ttl=60) is None  # never claimed, so never run

        done = http.post(f"/v1/threads/{thread}/runs", json={"input": {"item": "d"}}, headers=BOB)
        assert done.status_code == 200, done.text
        last = saver.list_runs(thread_id=thread, status="done", limit=1)[0]  # the newest
        ended = http.post(f"/v1/runs/{last.run_id}/cancel", headers=BOB)
        assert ended.status_code == 409 and ended.json()["error"] == "cannot_cancel"
        assert http.post("/v1/runs/nope/cancel", headers=BOB).status_code == 404
        assert RAN == ["v1", "after:v1", "d", "after:d"]
