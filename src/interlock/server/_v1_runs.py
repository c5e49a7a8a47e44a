"""The `/v1` run routes: a thread's runs, one run, and cancelling a run (`_stops`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI, Query

from interlock.checkpoint.base import BaseSaver
from interlock.server._errors import ApiError, error_responses
from interlock.server._operations import plausible_id, record_made, run_record_view
from interlock.server._stops import cancel_once
from interlock.server.auth import Principal

__all__ = ["mount_runs"]


def mount_runs(
    app: FastAPI,
    *,
    saver: BaseSaver,
    principal: Callable[..., Principal],
    need: Callable[..., None],
    may_see: Callable[[Principal, str], bool],
    own_thread: Callable[[Principal, str], None],
) -> None:
    """Add `GET /v1/threads/{thread_id}/runs`, `GET /v1/runs/{run_id}` and
    `POST /v1/runs/{run_id}/cancel`."""

    @app.get(
        "/v1/threads/{thread_id}/runs",
        tags=["runs"],
        responses=error_responses(401, 403, 404, 422, 503),
    )
    def thread_runs(
        thread_id: str,
        status: str | None = Query(
            None, pattern="^(queued|running|done|interrupted|failed|cancelled)$"
        ),
        limit: int = Query(50, ge=1, le=500),
        who: Principal = Depends(principal),
    ) -> dict[str, Any]:
        """The thread's runs (every run the service started on it), newest first."""
        need(who, "requester", "approver")
        own_thread(who, thread_id)
        runs = saver.list_runs(thread_id=thread_id, status=status, limit=limit)  # type: ignore[arg-type]
        return {"runs": [run_record_view(r) for r in runs]}

    @app.get("/v1/runs/{run_id}", tags=["runs"], responses=error_responses(401, 403, 404, 422, 503))
    def get_run(run_id: str, who: Principal = Depends(principal)) -> dict[str, Any]:
        """One background run: `queued`, `running`, `done`, `interrupted` (its `result`
        lists the pending requests) or `failed` (with `error`)."""
        need(who, "requester", "approver")
        run = saver.get_run(run_id) if plausible_id(run_id) else None
        if run is None or not may_see(who, run.thread_id):
            raise ApiError(404, "unknown_run", f"no run {run_id!r}")
        return run_record_view(run)

    @app.post(
        "/v1/runs/{run_id}/cancel",
        tags=["runs"],
        responses=error_responses(401, 403, 404, 409, 422, 503),
    )
    def cancel_run(run_id: str, who: Principal = Depends(principal)) -> dict[str, Any]:
        """Cancel a run: a queued run never runs (`cancelled`); a running one (or a queued
        one carrying out a decision) is asked to stop (`stop_asked`) and stops between two
        of its steps, after its first, then reads `cancelled` (its steps are saved; the
        thread's next nodes are still to run) unless that step paused or ended the run. An
        ended run is 409 `cannot_cancel`."""
        need(who, "requester")
        run = saver.get_run(run_id) if plausible_id(run_id) else None
        if run is None or not may_see(who, run.thread_id):
            raise ApiError(404, "unknown_run", f"no run {run_id!r}")
        thread_id = run.thread_id
        run = cancel_once(
            saver,
            run,
            lambda what: record_made(saver, who, what, thread_id, detail={"run_id": run_id}),
        )
        if run.status not in ("queued", "running", "cancelled"):
            raise ApiError(409, "cannot_cancel", f"run {run_id} is {run.status}: it ended")
        return run_record_view(run)
