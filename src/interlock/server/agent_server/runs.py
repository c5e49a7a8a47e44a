"""Agent Server runs: in the request (`/runs/wait`, `/runs/stream`) or in the background
(`/runs`), on a thread or thread-less; listed, read, joined and streamed again from the
run event log by any server process.

New input in the background is queued in the store (`queue_run`) and executed by the
workers of any process sharing it (`interlock.server.runs`), which log its stream with every
mode. A background answer or command runs in this process once its decision is recorded
(the response waits for that, so a refused answer is a 4xx, not a failed run). Every run is
in the store's run queue before it starts (`interlock.server._durable`): a run whose
process died is taken over by another, which logs on under the same run id. A queued run
may be cancelled, and a run under way stopped between two steps (`_stops`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.responses import StreamingResponse

from interlock.errors import RunStopped
from interlock.server._durable import current
from interlock.server._errors import ApiError
from interlock.server._operations import MAX_OFFSET, record_made, run_config
from interlock.server._stops import cancel_once, wait_ended, will_step
from interlock.server.agent_server._context import METADATA_RUN, Context
from interlock.server.agent_server._launch import Launcher
from interlock.server.agent_server._log import ALL_MODES, EventWriter, follow, wire_modes
from interlock.server.agent_server._lost import settle_lost
from interlock.server.agent_server._plan import RunBody, carry_out, result_values
from interlock.server.agent_server._wire import AgentRoute, assistant_id_of, run_view
from interlock.server.auth import Principal

__all__ = ["run_routes"]


def _not_cancelled(run_id: str, status: str) -> ApiError:
    return ApiError(
        409, "cannot_cancel", f"run {run_id} is {status}: only a queued or running run is cancelled"
    )


_WAIT_MODES = frozenset({"values"})
_STREAM_MODES = frozenset({"values"})


def run_routes(ctx: Context, principal: Any) -> APIRouter:
    """The run routes of the Agent Server API."""
    router = APIRouter(route_class=AgentRoute, tags=["agent server: runs"])
    saver = ctx.saver

    # ---- starting runs -------------------------------------------------------------------

    launch = Launcher(ctx)

    def headers(thread_id: str, run_id: str, tail: str) -> dict[str, str]:
        base = f"/threads/{thread_id}/runs/{run_id}"
        return {"Content-Location": base, "Location": base + tail}

    def stream(thread_id: str | None, body: RunBody, who: Principal) -> StreamingResponse:
        plan, writer, delete = launch.start(thread_id, body, who, _STREAM_MODES)
        followed = threading.Event()  # a thread-less run's thread goes after its end is sent
        launch.in_background(plan, writer, delete, followed=followed)

        def frames() -> Iterator[str]:
            try:
                yield from follow(
                    saver, plan.thread_id, writer.run_id, modes=plan.modes, subgraphs=plan.subgraphs
                )
            finally:
                followed.set()

        return StreamingResponse(
            frames(),
            media_type="text/event-stream",
            headers=headers(plan.thread_id, writer.run_id, "/stream"),
        )

    def wait(thread_id: str | None, body: RunBody, who: Principal, response: Response) -> Any:
        plan, writer, delete = launch.start(thread_id, body, who, _WAIT_MODES)
        result: dict[str, Any] | None = None
        failure: BaseException | None = None
        try:
            result = carry_out(ctx, plan, writer)
        except RunStopped as exc:  # cancelled under way: the values it stopped at
            failure = exc
            result = current(plan.graph, plan.thread_id)
        except BaseException as exc:
            failure = exc
        finally:
            launch.finish(writer, None if failure else result, failure)
            launch.cleanup(plan, writer.run_id, delete, isinstance(failure, RunStopped))
        response.headers.update(headers(plan.thread_id, writer.run_id, "/join"))
        if isinstance(failure, RunStopped):
            failure = None
        if failure is not None:
            if not writer.started:
                raise failure
            message = getattr(failure, "message", None) or str(failure)
            return {"__error__": {"error": type(failure).__name__, "message": message}}
        assert result is not None
        return result_values(result, ctx.formats.get(plan.name), saver)

    def background(thread_id: str | None, body: RunBody, who: Principal, response: Response):
        plan, writer = launch.background(thread_id, body, who)
        response.headers.update(headers(plan.thread_id, writer.run_id, ""))
        return view(plan.thread_id, writer.run_id)

    @router.post("/threads/{thread_id}/runs/stream")
    def stream_run(
        thread_id: str, body: RunBody, who: Principal = Depends(principal)
    ) -> StreamingResponse:
        return stream(thread_id, body, who)

    @router.post("/runs/stream")
    def stream_threadless(body: RunBody, who: Principal = Depends(principal)) -> StreamingResponse:
        return stream(None, body, who)

    @router.post("/threads/{thread_id}/runs/wait")
    def wait_run(
        thread_id: str, body: RunBody, response: Response, who: Principal = Depends(principal)
    ) -> Any:
        return wait(thread_id, body, who, response)

    @router.post("/runs/wait")
    def wait_threadless(
        body: RunBody, response: Response, who: Principal = Depends(principal)
    ) -> Any:
        return wait(None, body, who, response)

    @router.post("/threads/{thread_id}/runs")
    def create_run(
        thread_id: str, body: RunBody, response: Response, who: Principal = Depends(principal)
    ) -> dict[str, Any]:
        return background(thread_id, body, who, response)

    @router.post("/runs")
    def create_threadless(
        body: RunBody, response: Response, who: Principal = Depends(principal)
    ) -> dict[str, Any]:
        return background(None, body, who, response)

    # ---- reading runs --------------------------------------------------------------------

    def view(thread_id: str, run_id: str) -> dict[str, Any]:
        record = saver.get_run(run_id)
        if record is not None and record.thread_id != thread_id:
            record = None
        log = saver.run_log(thread_id, run_id)
        if (record is None and log is None) or run_id == METADATA_RUN:
            raise ApiError(404, "not_found", f"run {run_id!r} not found")
        info: dict[str, Any] = {}
        if log is not None:  # a background run's `run` event may follow its worker's start
            first = saver.read_events(thread_id, run_id=run_id, limit=4)
            info = next((dict(e.data) for e in first if e.event == "run"), {})
        out = run_view(run_id, thread_id, log, record, info)
        if record is not None and not out["assistant_id"]:
            out["assistant_id"] = assistant_id_of(record.agent)
        return out

    @router.get("/threads/{thread_id}/runs")
    def list_runs(
        thread_id: str,
        limit: int = Query(10, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=MAX_OFFSET),
        status: str | None = None,
        who: Principal = Depends(principal),
    ) -> list[dict[str, Any]]:
        ctx.need(who, "requester", "approver")
        ctx.visible(who, thread_id)
        ids = {
            log.run_id: log.first.at for log in saver.run_logs(thread_id, limit=offset + limit + 1)
        }
        ids.pop(METADATA_RUN, None)
        for record in saver.list_runs(thread_id=thread_id, limit=offset + limit):
            ids.setdefault(record.run_id, record.created_at)
        order = sorted(ids, key=lambda r: (ids[r], r), reverse=True)
        runs = [view(thread_id, r) for r in order]
        if status is not None:
            runs = [r for r in runs if r["status"] == status]
        return runs[offset : offset + limit]

    @router.get("/threads/{thread_id}/runs/{run_id}")
    def get_run(thread_id: str, run_id: str, who: Principal = Depends(principal)) -> dict[str, Any]:
        ctx.need(who, "requester", "approver")
        ctx.visible(who, thread_id)
        return view(thread_id, run_id)

    def gone(thread_id: str, run_id: str) -> Any:
        """Settles a run whose writer is gone (`_lost`): its followers then read its end."""
        return lambda: settle_lost(saver, thread_id, run_id)

    @router.get("/threads/{thread_id}/runs/{run_id}/stream")
    def join_stream(
        thread_id: str,
        run_id: str,
        stream_mode: list[str] | None = Query(None),
        last_event_id: str | None = Header(None),
        who: Principal = Depends(principal),
    ) -> StreamingResponse:
        ctx.need(who, "requester", "approver")
        ctx.visible(who, thread_id)
        view(thread_id, run_id)
        asked = [m for m in stream_mode or () if m]  # the SDK sends `stream_mode=` for none
        try:
            modes = wire_modes(asked, ALL_MODES) if asked else None
        except ValueError as exc:
            raise ApiError(422, "invalid_stream_mode", str(exc)) from exc
        after = _seq(last_event_id)
        return StreamingResponse(
            follow(
                saver, thread_id, run_id, after=after, modes=modes, gone=gone(thread_id, run_id)
            ),
            media_type="text/event-stream",
            headers={"Location": f"/threads/{thread_id}/runs/{run_id}/stream"},
        )

    @router.get("/threads/{thread_id}/runs/{run_id}/join")
    def join(thread_id: str, run_id: str, who: Principal = Depends(principal)) -> Any:
        """Wait for the run's end; the thread's values then (with `__interrupt__`)."""
        ctx.need(who, "requester", "approver")
        ctx.visible(who, thread_id)
        view(thread_id, run_id)
        for _ in follow(saver, thread_id, run_id, modes=(), gone=gone(thread_id, run_id)):
            pass
        found = ctx.graph(thread_id)
        if found is None:
            return {}
        snapshot = found[1].get_state(run_config(thread_id))
        result = {**snapshot.values, "__interrupt__": list(snapshot.interrupts)}
        return result_values(result, ctx.formats.get(found[0]), saver)

    @router.post("/threads/{thread_id}/runs/{run_id}/cancel", status_code=204)
    def cancel(
        thread_id: str,
        run_id: str,
        wait: bool = Query(False),
        action: Literal["interrupt", "rollback"] = Query("interrupt"),
        who: Principal = Depends(principal),
    ) -> Response:
        """Cancel a run. A queued run never runs (its status is then `interrupted`). A run
        under way is asked to stop (`_stops`): it stops between two of its steps, after
        its first, and ends `interrupted`; its finished steps are saved and the thread's
        next nodes run when it is run again. `wait`: answer once it ended. `rollback` (drop
        the run's steps) is refused for a run under way (422); an ended run is 409."""
        ctx.need(who, "requester")
        ctx.visible(who, thread_id)
        current_view = view(thread_id, run_id)
        record = saver.get_run(run_id)
        if record is None or record.thread_id != thread_id:
            raise _not_cancelled(run_id, current_view["status"])
        if will_step(record) and action == "rollback":
            raise ApiError(
                422,
                "not_supported",
                f"run {run_id} is under way: interlock does not roll back a run's steps; "
                "cancel it with action=interrupt (it stops between two steps)",
            )
        detail = {"run_id": run_id, "action": action}

        def audit(what: str) -> None:
            if what == "run.cancelled":  # it was queued: it never runs; end its stream
                EventWriter(saver, thread_id, run_id).end("interrupted", cancelled=True)
            record_made(saver, who, what, thread_id, detail=detail)

        record = cancel_once(saver, record, audit)
        if record.status in ("queued", "running") and record.stop_asked:
            if wait and saver.run_log(thread_id, run_id) is not None:
                gone_ = gone(thread_id, run_id)
                for _ in follow(saver, thread_id, run_id, modes=(), gone=gone_):
                    pass
            elif wait:  # a run of /v1 or a library call: no event log, only its record
                wait_ended(saver, run_id)
            return Response(status_code=204)
        if record.status == "cancelled":
            return Response(status_code=204)
        raise _not_cancelled(run_id, view(thread_id, run_id)["status"])

    @router.get("/threads/{thread_id}/stream")
    def thread_stream(
        thread_id: str,
        stream_mode: list[str] | None = Query(None),
        last_event_id: str | None = Header(None),
        who: Principal = Depends(principal),
    ) -> StreamingResponse:
        """The thread's current run as it goes (from its start, or after Last-Event-ID);
        ends at once when no run is under way."""
        ctx.need(who, "requester", "approver")
        ctx.visible(who, thread_id)
        after = _seq(last_event_id)
        logs = [log for log in saver.run_logs(thread_id, limit=5) if log.run_id != METADATA_RUN]
        if after:
            logs = [log for log in logs if log.last.seq > after] or logs[:0]
            logs = logs[-1:]  # the oldest run with events after the id
        else:
            live = ("pending", "running")
            logs = [log for log in logs[:1] if view(thread_id, log.run_id)["status"] in live]

        def frames() -> Iterator[str]:
            for log in logs:
                yield from follow(
                    saver, thread_id, log.run_id, after=after, gone=gone(thread_id, log.run_id)
                )

        return StreamingResponse(frames(), media_type="text/event-stream")

    return router


def _seq(last_event_id: str | None) -> int:
    if not last_event_id:
        return 0
    try:
        return max(0, int(last_event_id))
    except ValueError:
        raise ApiError(422, "invalid_request", "Last-Event-ID must be an event number") from None
