"""Functional-API pauses get what graph pauses get: stable ids, inbox entries with the
graph's metadata, approver rules, deadlines, and exactly-once decisions."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from interlock import Command, ResumeConflict, interrupt
from interlock.func import entrypoint, task


def cfg(thread: str = "t1", **extra: Any) -> dict:
    return {"configurable": {"thread_id": thread, **extra}}


def test_request_metadata_approvers_and_requester(saver: Any) -> None:
    @task
    def pay(amount: int) -> str:
        return interrupt({"pay": amount}, approvers=["ada", "group:finance"])

    @entrypoint(checkpointer=saver)
    def invoice(amount: int) -> str:
        return pay(amount).result()

    paused = invoice.invoke(120, cfg(user_id="bob"))
    (intr,) = paused["__interrupt__"]
    record = saver.get_interrupt(intr.id)
    assert record.metadata["graph"] == "invoice"
    assert record.metadata["approvers"] == ["ada", "group:finance"]
    assert record.metadata["requested_by"] == "bob"
    assert record.task_name == "pay"
    assert record.value == {"pay": 120}
    # the id is the one a re-read of the thread shows, whichever way it is read
    assert [i.id for i in invoice.get_state(cfg()).interrupts] == [intr.id]
    assert invoice.invoke(Command(resume="approved"), cfg(user_id="ada")) == "approved"
    assert saver.get_interrupt(intr.id).decided_by == "ada"


def test_deadline_in_a_task_expires_into_its_default(saver: Any) -> None:
    ran: list[str] = []

    @task
    def confirm() -> str:
        answer = interrupt("confirm?", deadline=timedelta(minutes=5), on_expiry="timeout")
        ran.append(answer)
        return answer

    @entrypoint(checkpointer=saver)
    def flow(_: Any) -> str:
        return "result: " + confirm().result()

    (intr,) = flow.invoke({}, cfg())["__interrupt__"]
    record = saver.get_interrupt(intr.id)
    assert record.deadline is not None
    assert flow.expire_due(now=datetime.now(UTC)) == []  # not due yet
    later = datetime.now(UTC) + timedelta(minutes=6)
    assert flow.expire_due(now=later) == [intr.id]
    assert saver.get_interrupt(intr.id).status == "expired"
    assert flow.get_state(cfg()).values == "result: timeout"
    assert ran == ["timeout"]


def test_two_concurrent_resumes_of_one_request_continue_once(saver: Any) -> None:
    effects: list[str] = []
    lock = threading.Lock()

    @task
    def ship(order: str) -> str:
        with lock:
            effects.append(order)
        return f"shipped {order}"

    @entrypoint(checkpointer=saver)
    def flow(order: str) -> str:
        if interrupt({"ship": order}) != "yes":
            return "cancelled"
        return ship(order).result()

    (intr,) = flow.invoke("o-1", cfg())["__interrupt__"]
    barrier = threading.Barrier(2)
    outcomes: list[Any] = []

    def resume() -> None:
        barrier.wait()
        try:
            outcomes.append(flow.invoke(Command(resume={intr.id: "yes"}), cfg()))
        except ResumeConflict as exc:
            outcomes.append(exc)

    workers = [threading.Thread(target=resume) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(outcomes) == 2 and "shipped o-1" in outcomes
    [lost] = [o for o in outcomes if o != "shipped o-1"]
    assert isinstance(lost, ResumeConflict)  # (ResumeBusy when it found the thread held)
    assert effects == ["o-1"]


def test_interrupt_ids_are_stable_while_a_task_waits(saver: Any) -> None:
    @task
    def ask(q: str) -> str:
        return interrupt(q)

    @entrypoint(checkpointer=saver)
    def flow(_: Any) -> list[str]:
        a, b = ask("first"), ask("second")
        return [a.result(), b.result()]

    first = {i.value: i.id for i in flow.invoke({}, cfg())["__interrupt__"]}
    # answering one leaves the other waiting under the same id
    rest = flow.invoke(Command(resume={first["first"]: 1}), cfg())["__interrupt__"]
    assert [(i.value, i.id) for i in rest] == [("second", first["second"])]
    pending = saver.list_interrupts(status="pending", thread_id="t1").items
    assert [r.interrupt_id for r in pending] == [first["second"]]
