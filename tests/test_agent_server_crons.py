"""`client.crons` — `create`, `create_for_thread`, `update`, `delete`, `search`, `count` —
driven by the real `langgraph-sdk` (sync and async) over loopback, on SQLite and
PostgreSQL, against `interlock serve`'s app with a background worker.

The wire shapes are the SDK's (`Cron`: `cron_id`, `assistant_id` as the assistant's UUID,
`thread_id`, `payload`, `user_id`, `next_run_date`, `enabled`, `on_run_completed`, ...);
bad input is a 4xx with the JSON body the SDK reads (`err.code`). The scheduler is ticked
by the test with the due time it is (`app.state.crons.tick(now)`); the schedules used are
far from the wall clock (`0 0 1 1 *`), so the scheduler the app runs itself never fires
them, and the test waits for a fired run with `runs.join` (no sleeps).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

import httpx
import pytest
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.errors import NotFoundError, PermissionDeniedError, UnprocessableEntityError
from langgraph_sdk.schema import Cron

import interlock as il
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.server import ApiKeys, create_app
from interlock.server.agent_server._wire import assistant_id_of
from tests._http import served

KEYS = "k-bob=bob:requester;k-cy=cy:requester;k-ada=ada:approver;k-root=root:admin"
YEARLY = "0 0 1 1 *"


class Order(TypedDict, total=False):
    item: str
    approved: Any


def ask(state: Order) -> dict[str, Any]:
    return {"approved": il.interrupt({"ship": state["item"]}, approvers=["ada"])}


class Count(TypedDict, total=False):
    n: int


def _graphs(saver: Any) -> dict[str, Any]:
    orders = il.StateGraph(Order).add_node("ask", ask).add_edge(il.START, "ask")
    counter = il.StateGraph(Count)
    counter.add_node("step", lambda s: {"n": s.get("n", 0) + 1})
    counter.add_edge(il.START, "step")
    return {
        "orders": orders.compile(checkpointer=saver, name="orders"),
        "counter": counter.compile(checkpointer=saver, name="counter"),
    }


@dataclass
class Served:
    url: str
    app: Any
    saver: Any

    def client(self, key: str) -> Any:
        return get_sync_client(url=self.url, api_key=key)


@pytest.fixture(params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    if request.param == "sqlite":
        saver: Any = SqliteSaver(tmp_path / "crons.db")
    else:
        from tests.pg import fresh_postgres_saver

        saver = fresh_postgres_saver()
    app = create_app(_graphs(saver), keys=ApiKeys.parse(KEYS), workers=1)
    try:
        with served(app) as http:
            yield Served(str(http.base_url).rstrip("/"), app, saver)
    finally:
        saver.close()


def _due(cron: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(cron["next_run_date"])


def test_crons_are_created_searched_counted_changed_and_deleted(server: Served) -> None:
    with server.client("k-bob") as bob:
        end = datetime(2031, 1, 1, tzinfo=UTC)
        made = bob.crons.create(
            "counter",
            schedule="30 8 * * 1-5",
            input={"n": 1},
            metadata={"team": "ops"},
            config={"configurable": {"tone": "warm"}},
            end_time=end,
            timezone=ZoneInfo("Europe/Berlin"),
        )
        assert set(made) == set(Cron.__annotations__)
        assert made["assistant_id"] == assistant_id_of("counter")
        assert made["thread_id"] is None and made["user_id"] == "bob"
        assert made["on_run_completed"] == "delete" and made["enabled"] is True
        assert made["timezone"] == "Europe/Berlin" and made["metadata"] == {"team": "ops"}
        assert datetime.fromisoformat(made["end_time"]) == end
        assert made["payload"]["input"] == {"n": 1}
        assert made["payload"]["config"] == {"configurable": {"tone": "warm"}}
        local = _due(made).astimezone(ZoneInfo("Europe/Berlin"))
        assert (local.hour, local.minute) == (8, 30) and local.weekday() < 5
        assert _due(made) > datetime.now(UTC)
        thread = bob.threads.create()["thread_id"]
        on_thread = bob.crons.create_for_thread(
            thread, "orders", schedule=YEARLY, input={"item": "book"}
        )
        assert on_thread["thread_id"] == thread and on_thread["on_run_completed"] is None
        assert bob.crons.count() == 2
        assert bob.crons.count(thread_id=thread) == 1
        assert bob.crons.count(assistant_id="counter") == 1
        assert bob.crons.count(assistant_id=assistant_id_of("orders")) == 1
        assert bob.crons.count(metadata={"team": "ops"}) == 1
        found = bob.crons.search(assistant_id="orders")
        assert [c["cron_id"] for c in found] == [on_thread["cron_id"]]
        newest = bob.crons.search()
        assert [c["cron_id"] for c in newest] == [on_thread["cron_id"], made["cron_id"]]
        soonest = bob.crons.search(sort_by="next_run_date", sort_order="asc", limit=1)
        assert [c["cron_id"] for c in soonest] == [made["cron_id"]]
        picked = bob.crons.search(thread_id=thread, select=["cron_id", "schedule", "now"])
        assert set(picked[0]) == {"cron_id", "schedule", "now"}
        assert bob.crons.search(assistant_id="no-such-agent") == []

        changed = bob.crons.update(
            made["cron_id"], schedule="0 12 * * *", timezone="UTC", end_time=None, enabled=False
        )
        assert changed["schedule"] == "0 12 * * *" and changed["end_time"] is None
        assert changed["enabled"] is False and changed["timezone"] == "UTC"
        assert _due(changed).hour == 12 and _due(changed).minute == 0
        assert bob.crons.search(enabled=False)[0]["cron_id"] == made["cron_id"]
        kept = bob.crons.update(made["cron_id"], input={"n": 5}, metadata={"team": "web"})
        assert kept["payload"]["input"] == {"n": 5} and kept["metadata"] == {"team": "web"}
        assert kept["payload"]["config"] == {"configurable": {"tone": "warm"}}  # unsent: kept
        assert kept["schedule"] == "0 12 * * *"

        bob.crons.delete(made["cron_id"])
        assert [c["cron_id"] for c in bob.crons.search()] == [on_thread["cron_id"]]
        with pytest.raises(NotFoundError):
            bob.crons.delete(made["cron_id"])
    entries = httpx.get(
        f"{server.url}/v1/audit", params={"limit": 100}, headers={"x-api-key": "k-root"}
    ).json()["entries"]
    actions = [(e["action"], e["actor"]) for e in entries if e["action"].startswith("cron.")]
    assert sorted(actions) == sorted(
        [("cron.created", "bob")] * 2 + [("cron.updated", "bob")] * 2 + [("cron.deleted", "bob")]
    )


def test_the_async_client_manages_crons(server: Served) -> None:
    async def main() -> None:
        bob = get_client(url=server.url, api_key="k-bob")
        try:
            thread = (await bob.threads.create())["thread_id"]
            made = await bob.crons.create_for_thread(
                thread, "counter", schedule=YEARLY, input={"n": 0}, enabled=False
            )
            assert made["enabled"] is False and made["thread_id"] == thread
            assert await bob.crons.count(thread_id=thread) == 1
            again = await bob.crons.update(made["cron_id"], enabled=True)
            assert again["enabled"] is True
            assert [c["cron_id"] for c in await bob.crons.search(enabled=True)] == [made["cron_id"]]
            free = await bob.crons.create("counter", schedule=YEARLY, on_run_completed="keep")
            assert free["on_run_completed"] == "keep"
            await bob.crons.delete(made["cron_id"])
            assert await bob.crons.count() == 1
            with pytest.raises(UnprocessableEntityError):
                await bob.crons.create("counter", schedule="every day")
        finally:
            await bob.aclose()

    asyncio.run(main())


def test_bad_input_is_refused_and_leaves_a_waiting_run_intact(server: Served) -> None:
    with server.client("k-bob") as bob, server.client("k-ada") as ada:
        thread = bob.threads.create()["thread_id"]
        paused = bob.runs.wait(thread, "orders", input={"item": "vase"})
        [request] = paused["__interrupt__"]
        refusals: list[tuple[dict[str, Any], str]] = [
            ({"schedule": "61 * * * *"}, "invalid_schedule"),
            ({"schedule": "0 0 31 2 *"}, "invalid_schedule"),  # never comes due
            ({"schedule": YEARLY, "timezone": "Mars/Olympus"}, "invalid_timezone"),
            ({"schedule": YEARLY, "webhook": "https://example.com/hook"}, "not_supported"),
            ({"schedule": YEARLY, "multitask_strategy": "interrupt"}, "not_supported"),
            ({"schedule": YEARLY, "interrupt_before": ["sihp"]}, "invalid_request"),
            ({"schedule": YEARLY, "input": {"itme": "x"}}, "invalid_input"),
            ({"schedule": YEARLY, "config": {"callbacks": []}}, "not_supported"),
        ]
        for extra, code in refusals:
            body = {"assistant_id": "orders", **extra}
            got = httpx.post(
                f"{server.url}/threads/{thread}/runs/crons",
                json=body,
                headers={"x-api-key": "k-bob"},
            )
            assert got.status_code == 422, (extra, got.text)
            assert got.json()["code"] == code, (extra, got.json())
        keep = httpx.post(  # a cron's thread is never deleted for it
            f"{server.url}/threads/{thread}/runs/crons",
            json={"assistant_id": "orders", "schedule": YEARLY, "on_run_completed": "keep"},
            headers={"x-api-key": "k-bob"},
        )
        assert keep.status_code == 422 and keep.json()["code"] == "invalid_request"
        with pytest.raises(UnprocessableEntityError):
            bob.crons.create("orders", schedule="* * * * *", timezone="")
        with pytest.raises(NotFoundError):
            bob.crons.create("nobody", schedule=YEARLY)
        bad_time = httpx.post(
            f"{server.url}/runs/crons",
            json={"assistant_id": "orders", "schedule": YEARLY, "end_time": "soon"},
            headers={"x-api-key": "k-bob"},
        )
        assert bad_time.status_code == 422 and bad_time.json()["code"] == "invalid_request"
        for body in ({"sort_by": "owner"}, {"select": ["password"]}, {"limit": 0}):
            got = httpx.post(
                f"{server.url}/runs/crons/search", json=body, headers={"x-api-key": "k-bob"}
            )
            assert got.status_code == 422, body
        for path in ("/runs/crons/search", "/runs/crons/count"):  # no thread has such an id
            got = httpx.post(
                f"{server.url}{path}", json={"thread_id": "a\x00b"}, headers={"x-api-key": "k-bob"}
            )
            assert got.status_code == 200 and got.json() in ([], 0), got.text
        assert bob.crons.count() == 0  # nothing was kept
        cron = bob.crons.create_for_thread(thread, "orders", schedule=YEARLY, input={"item": "a"})
        for change in (
            {"schedule": "* * *"},
            {"timezone": "Nowhere/Land"},
            {"on_run_completed": "keep"},  # a cron's thread is never deleted for it
            {"interrupt_after": ["nope"]},
        ):
            with pytest.raises(UnprocessableEntityError):
                bob.crons.update(cron["cron_id"], **change)
        assert bob.crons.search()[0] == cron  # unchanged
        bob.crons.delete(cron["cron_id"])
        # the waiting run is intact and resumable
        assert bob.threads.get(thread)["status"] == "interrupted"
        done = ada.runs.wait(thread, "orders", command={"resume": {request["id"]: "ok"}})
        assert done["approved"] == "ok"


def test_who_may_change_and_see_crons(server: Served) -> None:
    with (
        server.client("k-bob") as bob,
        server.client("k-cy") as cy,
        server.client("k-ada") as ada,
        server.client("k-root") as root,
    ):
        assert httpx.get(f"{server.url}/info").json()["flags"]["crons"] is True
        mine = bob.threads.create()["thread_id"]
        cron = bob.crons.create_for_thread(mine, "counter", schedule=YEARLY)
        with pytest.raises(PermissionDeniedError):
            ada.crons.create("counter", schedule=YEARLY)  # an approver, not a requester
        with pytest.raises(NotFoundError):
            cy.crons.create_for_thread(mine, "counter", schedule=YEARLY)  # not cy's thread
        assert cy.crons.search() == [] and cy.crons.count() == 0
        with pytest.raises(NotFoundError):
            cy.crons.update(cron["cron_id"], enabled=False)
        with pytest.raises(NotFoundError):
            cy.crons.delete(cron["cron_id"])
        assert [c["cron_id"] for c in ada.crons.search()] == [cron["cron_id"]]  # sees all
        with pytest.raises(PermissionDeniedError):
            ada.crons.delete(cron["cron_id"])
        assert root.crons.update(cron["cron_id"], enabled=False)["enabled"] is False
        root.crons.delete(cron["cron_id"])
        assert bob.crons.count() == 0


def test_a_thread_crons_fire_pauses_and_an_approver_decides(server: Served) -> None:
    crons = server.app.state.crons
    with server.client("k-bob") as bob, server.client("k-ada") as ada:
        thread = bob.threads.create()["thread_id"]
        cron = bob.crons.create_for_thread(
            thread, "orders", schedule=YEARLY, input={"item": "lamp"}, metadata={"by": "cron"}
        )
        [fire] = crons.tick(_due(cron))
        assert fire.outcome == "queued" and fire.thread_id == thread
        ended = bob.runs.join(thread, fire.run_id)  # the worker ran it: it paused
        [request] = ended["__interrupt__"]
        assert request["value"] == {"ship": "lamp"}
        run = bob.runs.get(thread, fire.run_id)
        assert run["status"] == "interrupted" and run["metadata"] == {"by": "cron"}
        [skipped] = crons.tick(_due(cron) + timedelta(days=366))
        assert skipped.outcome == "skipped"
        assert bob.crons.search()[0]["next_run_date"] > cron["next_run_date"]
        done = ada.runs.wait(thread, "orders", command={"resume": "approved"})
        assert done["approved"] == "approved"
        assert bob.threads.get(thread)["status"] == "idle"


def test_a_crons_own_thread_is_made_and_kept(server: Served) -> None:
    crons = server.app.state.crons
    with server.client("k-bob") as bob:
        cron = bob.crons.create(
            "counter", schedule=YEARLY, input={"n": 41}, on_run_completed="keep"
        )
        [fire] = crons.tick(_due(cron))
        assert fire.thread_id is not None and fire.run_id is not None
        assert bob.runs.join(fire.thread_id, fire.run_id)["n"] == 42
        found = bob.threads.search(metadata={"cron_id": cron["cron_id"]})
        assert [t["thread_id"] for t in found] == [fire.thread_id]
        assert found[0]["metadata"]["assistant_id"] == assistant_id_of("counter")


def _after_read(monkeypatch: pytest.MonkeyPatch, saver: Any, then: Any) -> None:
    """`then()` once, right after the scheduler's stale check read the cron (the saver's
    first `get_cron` call from here on) and before it queues the run."""
    original = saver.get_cron
    done: list[bool] = []

    def hooked(cron_id: str) -> Any:
        got = original(cron_id)
        if not done:
            done.append(True)
            then(cron_id)
        return got

    monkeypatch.setattr(saver, "get_cron", hooked)


def test_a_cron_deleted_while_a_tick_fires_it_does_not_fire(
    server: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    crons = server.app.state.crons
    with server.client("k-bob") as bob:
        thread = bob.threads.create()["thread_id"]
        cron = bob.crons.create_for_thread(thread, "counter", schedule=YEARLY, input={"n": 1})
        _after_read(monkeypatch, server.saver, bob.crons.delete)  # the SDK's delete, 204
        [fire] = crons.tick(_due(cron))
        assert fire.outcome == "stale"
        assert bob.crons.search() == [] and bob.runs.list(thread) == []


def test_a_cron_changed_while_a_tick_fires_it_fires_the_change(
    server: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    crons = server.app.state.crons
    with server.client("k-bob") as bob:
        # (kept: a run that ended before the join would have taken its thread with it)
        cron = bob.crons.create("counter", schedule=YEARLY, input={"n": 1}, on_run_completed="keep")
        due = _due(cron)
        _after_read(monkeypatch, server.saver, lambda c: bob.crons.update(c, input={"n": 10}))
        [stale] = crons.tick(due)
        assert stale.outcome == "stale"
        assert server.saver.list_runs() == ()
        monkeypatch.undo()
        [fire] = crons.tick(due)  # still due: fired with the changed input
        assert fire.outcome == "queued" and fire.thread_id is not None
        assert bob.runs.join(fire.thread_id, fire.run_id)["n"] == 11
