"""A cron deleted, disabled or changed while a tick fires it, on every store: the change
lands exactly between the tick's second read of the cron (its stale check) and the queuing
of its run — the saver's `get_cron` is wrapped so that, once it has answered the tick, the
cron is changed over HTTP as a client changes it — or exactly after the run was queued
(wrapping `advance_cron`, the step after). No sleeps: each interleaving is forced.

What is pinned: a delete or disable that returned before the run was queued means no run
(the fire is `stale`); one that lands after the queuing leaves the run queued. A change of
the run request (PATCH) is fired with the new request at the next tick, never the old one
after the change returned; a new schedule never fires the due time it replaced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from interlock.server import ApiKeys, create_app
from tests.test_crons_scheduler import KEYS, Service, graphs


@pytest.fixture
def service(saver: Any) -> Iterator[Service]:
    registry = graphs(saver)
    app = create_app(registry, keys=ApiKeys.parse(KEYS), workers=0)
    with TestClient(app) as http:
        yield Service(saver, registry, app.state.crons, http)


def _after(
    monkeypatch: pytest.MonkeyPatch, saver: Any, name: str, then: Callable[[], None]
) -> list[str]:
    """Wrap `saver.<name>` so that `then()` runs once, right after its first call answered;
    the id of the cron that first call was for."""
    original = getattr(saver, name)
    seen: list[str] = []

    def hooked(cron_id: str, *args: Any, **kw: Any) -> Any:
        got = original(cron_id, *args, **kw)
        if not seen:
            seen.append(cron_id)
            then()
        return got

    monkeypatch.setattr(saver, name, hooked)
    return seen


def _delete(service: Service, cron_id: str) -> Callable[[], None]:
    def go() -> None:
        got = service.http.delete(f"/runs/crons/{cron_id}", headers=service.as_("k-bob"))
        assert got.status_code == 204, got.text

    return go


def _patch(service: Service, cron_id: str, body: dict[str, Any]) -> Callable[[], None]:
    def go() -> None:
        got = service.http.patch(f"/runs/crons/{cron_id}", json=body, headers=service.as_("k-bob"))
        assert got.status_code == 200, got.text

    return go


def _cron(service: Service, thread: bool, **body: Any) -> tuple[str, datetime]:
    base = {"assistant_id": "counter", "schedule": "0 0 1 * *", "input": {"n": 1}}
    thread_id = service.post("/threads", {})["thread_id"] if thread else None
    cron_id = service.cron({**base, **body}, thread_id)["cron_id"]
    return cron_id, service.due(cron_id)


@pytest.mark.parametrize("thread", [False, True], ids=["own-thread", "on-thread"])
def test_a_cron_deleted_after_the_stale_check_does_not_fire(
    service: Service, monkeypatch: pytest.MonkeyPatch, thread: bool
) -> None:
    cron_id, due = _cron(service, thread)
    threads_before = {t.thread_id for t in service.saver.search_threads(_all(), limit=100)}
    seen = _after(monkeypatch, service.saver, "get_cron", _delete(service, cron_id))
    [fire] = service.crons.tick(due)
    assert seen == [cron_id]  # the delete landed after the tick's stale check
    assert (fire.cron_id, fire.outcome) == (cron_id, "stale")
    assert service.saver.list_runs() == ()  # the deleted cron did not fire
    assert service.audit("run.queued") == []
    assert len(service.audit("thread.created")) == (1 if thread else 0)
    threads_after = {t.thread_id for t in service.saver.search_threads(_all(), limit=100)}
    assert threads_after == threads_before  # no thread made for a fire that did not happen


@pytest.mark.parametrize("thread", [False, True], ids=["own-thread", "on-thread"])
def test_a_cron_disabled_after_the_stale_check_does_not_fire(
    service: Service, monkeypatch: pytest.MonkeyPatch, thread: bool
) -> None:
    cron_id, due = _cron(service, thread)
    _after(monkeypatch, service.saver, "get_cron", _patch(service, cron_id, {"enabled": False}))
    [fire] = service.crons.tick(due)
    assert fire.outcome == "stale"
    assert service.saver.list_runs() == ()
    monkeypatch.undo()
    assert service.crons.tick(due + timedelta(days=400)) == []  # disabled: never due


@pytest.mark.parametrize("thread", [False, True], ids=["own-thread", "on-thread"])
def test_a_cron_deleted_after_its_run_was_queued_keeps_the_run(
    service: Service, monkeypatch: pytest.MonkeyPatch, thread: bool
) -> None:
    cron_id, due = _cron(service, thread)
    _after(monkeypatch, service.saver, "advance_cron", _delete(service, cron_id))
    [fire] = service.crons.tick(due)
    assert fire.outcome == "queued"
    [run] = service.saver.list_runs()
    assert run.run_id == fire.run_id and run.status == "queued"
    assert service.saver.get_cron(cron_id) is None
    assert service.work() == [run.run_id]  # it runs, as queued before the delete returned


def test_a_run_request_changed_after_the_stale_check_fires_the_new_one_next_tick(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    cron_id, due = _cron(service, True)
    patched = _patch(service, cron_id, {"input": {"n": 40}})
    _after(monkeypatch, service.saver, "get_cron", patched)
    [fire] = service.crons.tick(due)
    assert fire.outcome == "stale" and service.saver.list_runs() == ()
    monkeypatch.undo()
    assert service.due(cron_id) == due  # still due: the next tick fires it, as changed
    [fire] = service.crons.tick(due + timedelta(seconds=5))
    assert fire.outcome == "queued"
    [run] = service.saver.list_runs()
    assert run.input == {"n": 40}
    assert service.due(cron_id) > due


def test_a_new_schedule_set_after_the_stale_check_never_fires_the_old_due_time(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    cron_id, due = _cron(service, False)
    moved = _patch(service, cron_id, {"schedule": "30 12 * * *"})
    _after(monkeypatch, service.saver, "get_cron", moved)
    [fire] = service.crons.tick(due)
    assert fire.outcome == "stale" and service.saver.list_runs() == ()
    new_due = service.due(cron_id)
    assert new_due != due and new_due.minute == 30
    monkeypatch.undo()
    [later] = service.crons.tick(due)  # the new schedule's due time fires, not the old
    assert (later.outcome, later.due) == ("queued", new_due)


def _all() -> Any:
    from interlock.checkpoint.base import ThreadQuery

    return ThreadQuery()
