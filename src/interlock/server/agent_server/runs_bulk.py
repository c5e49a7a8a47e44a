"""Agent Server runs in bulk and run records: `runs.delete`, `runs.cancel_many` and
`runs.create_batch` of `langgraph-sdk`.

    DELETE /threads/{id}/runs/{run_id}   an ended run's record and its event log (204);
                                         a queued or running run: 409
    POST   /runs/cancel                  cancel runs by `thread_id` + `run_ids`, or by
                                         `status` (pending | running | all), as one
                                         `runs.cancel` each (204)
    POST   /runs/batch                   background runs, each as `runs.create` makes it:
                                         every payload is checked first, then all are queued

Who may: a requester (the role that starts and cancels runs), on threads it may see; an
unseen thread or run is 404, as for the single-run routes. A run record whose deletion
would let the service carry a recorded decision out again is kept (409, see `delete_run`).
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from interlock.checkpoint.base import RunRecord
from interlock.errors import InvalidUpdate
from interlock.server._errors import ApiError
from interlock.server._operations import check_input, check_storable, record_made
from interlock.server._stops import cancel_once
from interlock.server.agent_server._context import METADATA_RUN, Context
from interlock.server.agent_server._copy import decision_waits
from interlock.server.agent_server._launch import Launcher
from interlock.server.agent_server._log import ALL_MODES, EventWriter
from interlock.server.agent_server._plan import RunBody, plan_run
from interlock.server.agent_server._wire import AgentRoute, run_view
from interlock.server.auth import Principal

__all__ = ["bulk_run_routes"]

MAX_BATCH = 100
"""The most runs one `create_batch` queues."""

MAX_CANCEL = 1000
"""The most runs one `cancel_many` cancels."""

_STATUSES: dict[str, tuple[Literal["queued", "running"], ...]] = {
    "pending": ("queued",),
    "running": ("running",),
    "all": ("queued", "running"),
}


class CancelMany(BaseModel):
    model_config = ConfigDict(extra="ignore")

    thread_id: str | None = Field(None, max_length=200)
    run_ids: list[str] | None = Field(None, max_length=MAX_CANCEL)
    status: Literal["pending", "running", "all"] | None = None


class BatchItem(RunBody):
    thread_id: str | None = Field(None, max_length=200)


def bulk_run_routes(ctx: Context, principal: Any) -> APIRouter:
    """The bulk run routes of the Agent Server API (see the module docstring)."""
    router = APIRouter(route_class=AgentRoute, tags=["agent server: runs"])
    saver = ctx.saver
    launch = Launcher(ctx)

    def record_of(thread_id: str, run_id: str) -> RunRecord:
        record = saver.get_run(run_id)
        if record is None or record.thread_id != thread_id or run_id == METADATA_RUN:
            if saver.run_log(thread_id, run_id) is None or run_id == METADATA_RUN:
                raise ApiError(404, "not_found", f"run {run_id!r} not found")
            raise ApiError(409, "run_not_ended", f"run {run_id} has no ended record to delete")
        return record

    @router.delete("/threads/{thread_id}/runs/{run_id}", status_code=204)
    def delete_run(thread_id: str, run_id: str, who: Principal = Depends(principal)) -> Response:
        """Delete an ended run's record and its streamed events (audited `run.deleted`); the
        thread's state is untouched. A queued or running run is 409 (cancel it first), and
        so is the last run tried on a decision the thread's head still waits to carry out
        (without its record the service would carry the decision out again)."""
        ctx.need(who, "requester")
        ctx.visible(who, thread_id)
        record = record_of(thread_id, run_id)
        if record.status in ("queued", "running"):
            raise ApiError(
                409,
                "run_in_progress",
                f"run {run_id} is {'pending' if record.status == 'queued' else 'running'}: "
                "cancel it, then delete it once it ended",
            )
        if decision_waits(saver, thread_id):
            raise ApiError(
                409,
                "decision_not_carried_out",
                f"thread {thread_id!r} waits to carry out a recorded decision; its runs are "
                "kept until it moved on",
            )
        if not saver.delete_run(thread_id, run_id):  # it was deleted meanwhile
            raise ApiError(404, "not_found", f"run {run_id!r} not found")
        detail = {"run_id": run_id, "status": record.status}
        record_made(saver, who, "run.deleted", thread_id, detail=detail)
        return Response(status_code=204)

    @router.post("/runs/cancel", status_code=204)
    def cancel_many(
        body: CancelMany,
        action: Literal["interrupt", "rollback"] = Query("interrupt"),
        who: Principal = Depends(principal),
    ) -> Response:
        """Cancel runs as `runs.cancel` cancels one (a queued run never runs; a running one
        stops between two steps). Name them by `thread_id` and `run_ids`, or by `status`
        (with `thread_id`: that thread's). Every run is found before any is cancelled: an
        unknown or unseen one is 404 and nothing is cancelled. `action=rollback` is 422, as
        for a run under way: interlock does not roll back a run's steps."""
        ctx.need(who, "requester")
        if action == "rollback":
            raise ApiError(
                422,
                "not_supported",
                "interlock does not roll back a run's steps; cancel with action=interrupt",
            )
        if body.status is None and not (body.thread_id and body.run_ids):
            raise ApiError(
                422, "invalid_request", "send thread_id and run_ids, or a status to cancel by"
            )
        if body.thread_id is not None:
            ctx.visible(who, body.thread_id)
        runs = _chosen(ctx, who, body)
        for record in runs:
            thread_id, run_id = record.thread_id, record.run_id
            detail = {"run_id": run_id, "action": action, "bulk": True}

            def audit(what: str, thread_id: str = thread_id, detail: Any = detail) -> None:
                if what == "run.cancelled":  # it was queued: it never runs; end its stream
                    EventWriter(saver, thread_id, detail["run_id"]).end(
                        "interrupted", cancelled=True
                    )
                record_made(saver, who, what, thread_id, detail=detail)

            cancel_once(saver, record, audit)
        return Response(status_code=204)

    @router.post("/runs/batch")
    def create_batch(
        response: Response,
        payloads: list[dict[str, Any]] = Body(..., max_length=MAX_BATCH),
        who: Principal = Depends(principal),
    ) -> list[dict[str, Any]]:
        """Queue background runs of new input, each as `runs.create` queues one (on its
        `thread_id`, or on a new thread). Every payload is checked before any is queued: a
        bad one is the 4xx it deserves (its index in the message) and nothing is queued."""
        ctx.need(who, "requester")
        items = [_item(i, p) for i, p in enumerate(payloads)]
        for i, item in enumerate(items):
            try:
                _check(ctx, launch, who, item)
            except ApiError as exc:
                raise ApiError(exc.status, exc.code, f"payload {i}: {exc.message}") from exc
            except InvalidUpdate as exc:
                raise ApiError(422, "invalid_input", f"payload {i}: {exc}") from exc
        out: list[dict[str, Any]] = []
        for item in items:
            plan, writer = launch.background(item.thread_id, item, who)
            out.append(_view(ctx, plan.thread_id, writer.run_id))
        return out

    return router


def _view(ctx: Context, thread_id: str, run_id: str) -> dict[str, Any]:
    record = ctx.saver.get_run(run_id)
    log = ctx.saver.run_log(thread_id, run_id)
    first = ctx.saver.read_events(thread_id, run_id=run_id, limit=4) if log else ()
    info = next((dict(e.data) for e in first if e.event == "run"), {})
    return run_view(run_id, thread_id, log, record, info)


def _item(index: int, payload: dict[str, Any]) -> BatchItem:
    try:
        return BatchItem.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ApiError(
            422, "invalid_request", f"payload {index}: {where}: {first['msg']}"
        ) from None


def _check(ctx: Context, launch: Launcher, who: Principal, item: BatchItem) -> None:
    """The refusals `runs.create` would give this payload, made without a side effect: no
    thread made, nothing queued or audited."""
    if item.command is not None:
        raise ApiError(
            422,
            "not_supported",
            "create_batch queues new input; send a command (an answer) with runs.create",
        )
    if item.input is None:
        raise ApiError(422, "invalid_request", "send `input`")
    configurable = (item.config or {}).get("configurable") or {}
    if item.checkpoint is not None or item.checkpoint_id or configurable.get("checkpoint_id"):
        raise ApiError(
            422,
            "not_supported",
            "create_batch queues new input on a thread's head; fork from a checkpoint with "
            "runs.create, runs.wait or runs.stream",
        )
    thread_id = item.thread_id
    if thread_id is None or (not ctx.exists(thread_id) and item.if_not_exists == "create"):
        thread_id = thread_id or str(uuid.uuid4())  # a thread not made yet: nothing on it
    else:
        ctx.visible(who, thread_id)
    plan = plan_run(ctx, who, thread_id, item, default_modes=ALL_MODES)
    check_input(plan.graph, plan.input)
    asked = {"input": plan.input, "config": plan.configurable, "metadata": item.metadata}
    check_storable(ctx.saver, {**asked, "kwargs": plan.kwargs}, "payload")
    pending = ctx.saver.list_interrupts(status="pending", thread_id=thread_id, limit=1).items
    if pending:
        raise ApiError(
            409,
            "waiting_for_decision",
            f"thread {thread_id!r} waits for a decision ({pending[0].interrupt_id})",
        )


def _chosen(ctx: Context, who: Principal, body: CancelMany) -> list[RunRecord]:
    saver = ctx.saver
    if body.run_ids:
        runs: list[RunRecord] = []
        for run_id in dict.fromkeys(body.run_ids):
            record = saver.get_run(run_id)
            if (
                record is None
                or (body.thread_id is not None and record.thread_id != body.thread_id)
                or not ctx.may_see(who, record.thread_id)
            ):
                raise ApiError(404, "not_found", f"run {run_id!r} not found")
            runs.append(record)
        if body.status is not None:
            runs = [r for r in runs if r.status in _STATUSES[body.status]]
        return runs
    assert body.status is not None
    found: list[RunRecord] = []
    for status in _STATUSES[body.status]:
        for record in saver.list_runs(thread_id=body.thread_id, status=status, limit=MAX_CANCEL):
            if ctx.may_see(who, record.thread_id):
                found.append(record)
    return found[:MAX_CANCEL]
