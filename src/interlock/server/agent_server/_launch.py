"""Starting Agent Server runs, shared by the runs API and the thread protocol's commands:
the run's thread (made when asked), its plan, and where it runs — in the request, in a
thread of this process, or queued in the store for the workers of any process.

A background answer or command runs in this process once its decision is recorded (the
caller waits for that, so a refused answer is a 4xx, not a failed run); new input in the
background is queued (`queue_run`) with what the run was asked (`queued_options`:
`config.configurable`, `context`, `interrupt_before` / `interrupt_after`, `durability`,
`config.recursion_limit`) and executed by the workers of any process, which log every mode.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from interlock.errors import RunStopped, StepNotSaved
from interlock.server._audit_later import delete_thread_audited
from interlock.server._durable import RunLogOptions
from interlock.server._operations import queue_run
from interlock.server.agent_server._context import Context
from interlock.server.agent_server._log import ALL_MODES, EventWriter
from interlock.server.agent_server._plan import Plan, RunBody, carry_out, plan_run
from interlock.server.agent_server._wire import new_run_id
from interlock.server.auth import Principal

__all__ = ["FOLLOW_GRACE", "Launcher", "queued_options"]

FOLLOW_GRACE = 60.0
"""Seconds a streamed run's thread, to be deleted once the run ended, waits for its stream
to send the end (a client that went away does not hold it longer)."""


def queued_options(plan: Plan, run_id: str, fmt: str | None) -> dict[str, Any]:
    """The options a queued run of new input carries in its record, so that the worker of
    any process runs it as it was asked and logs every mode under `run_id` (the same
    options a run started in the request keeps for its takeover)."""
    log = RunLogOptions(
        run_id=run_id,
        modes=sorted(ALL_MODES),
        configurable=plan.configurable,
        kwargs=plan.kwargs,
        info=plan.info,
        fmt=fmt,
    )
    return {"log": log.to_json()}


class Launcher:
    """Starts runs for the routes of one app (see the module docstring)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def thread_for(self, who: Principal, thread_id: str | None, body: RunBody) -> tuple[str, bool]:
        """The run's thread (made for a thread-less run, or `if_not_exists="create"`), and
        whether this request made it."""
        ctx = self.ctx
        if thread_id is None:
            ctx.need(who, "requester")
            found = ctx.assistant(body.assistant_id)
            meta = {"graph_id": found.name, "assistant_id": found.assistant_id}
            return ctx.new_thread(who, None, meta)[0], True
        if not ctx.exists(thread_id) and body.if_not_exists == "create":
            ctx.need(who, "requester")
            found = ctx.assistant(body.assistant_id)
            meta = {"graph_id": found.name, "assistant_id": found.assistant_id}
            return ctx.new_thread(who, thread_id, meta, if_exists="do_nothing")[0], True
        ctx.visible(who, thread_id)
        return thread_id, False

    def tag_thread(self, plan: Plan) -> None:
        """Threads carry `metadata.graph_id` / `assistant_id` of their latest run's
        assistant (the UIs filter on them)."""
        meta = self.ctx.metadata(plan.thread_id)
        assistant_id = plan.info["assistant_id"]
        if meta.get("graph_id") != plan.name or meta.get("assistant_id") != assistant_id:
            tags = {"graph_id": plan.name, "assistant_id": assistant_id}
            self.ctx.set_metadata(plan.who, plan.thread_id, {**meta, **tags})

    @staticmethod
    def finish(
        writer: EventWriter, result: dict[str, Any] | None, exc: BaseException | None
    ) -> None:
        """Log the run's end (`end` with its status, or `error` for a run that started). A
        run whose step the store could not take has not ended: its process writes the step
        once the store is back and the workers log on under the same run id. A run stopped
        as asked (`RunStopped`) ends `interrupted`, as LangGraph's cancelled runs do."""
        if isinstance(exc, RunStopped):  # cancelled under way: stopped between two steps
            writer.end("interrupted", cancelled=True)
            return
        if exc is not None:
            held = isinstance(exc, StepNotSaved) or isinstance(exc.__cause__, StepNotSaved)
            if writer.started and not held:
                writer.error(exc)
            return
        assert result is not None
        writer.end("interrupted" if result.get("__interrupt__") else "success")

    def cleanup(self, plan: Plan, run_id: str, delete: bool, stopped: bool = False) -> None:
        """`on_completion="delete"`: drop the thread once the run ended, unless it waits for
        a person (deleting would drop the request) or was `stopped` between steps (a
        cancelled run: its next nodes are still to run)."""
        saver = self.ctx.saver
        if (
            delete
            and not stopped
            and not saver.list_interrupts(status="pending", thread_id=plan.thread_id, limit=1).items
        ):
            detail = {"reason": "on_completion", "run_id": run_id}
            delete_thread_audited(saver, plan.who, plan.thread_id, detail)

    def start(
        self, thread_id: str | None, body: RunBody, who: Principal, modes: frozenset[str]
    ) -> tuple[Plan, EventWriter, bool]:
        """Check the request and make its thread: the plan, its log writer, and whether the
        thread goes once the run ended."""
        if thread_id is None or (body.if_not_exists == "create" and not self.ctx.exists(thread_id)):
            # checked first on the thread to be: a refused run leaves no thread behind
            self.ctx.need(who, "requester")
            plan_run(self.ctx, who, thread_id or str(uuid.uuid4()), body, default_modes=modes)
        thread_id, made = self.thread_for(who, thread_id, body)
        plan = plan_run(self.ctx, who, thread_id, body, default_modes=modes)
        self.tag_thread(plan)
        delete = (
            body.on_completion or ("delete" if made and body.if_not_exists != "create" else "keep")
        ) == "delete"
        return plan, EventWriter(self.ctx.saver, thread_id, new_run_id()), delete

    def in_background(
        self,
        plan: Plan,
        writer: EventWriter,
        delete: bool,
        *,
        followed: threading.Event | None = None,
    ) -> None:
        """Carry the plan out in a thread; return once it started (or was refused).
        `followed`: set once the request's own stream has sent the run's end; a thread to
        delete once the run ended (`on_completion`) is deleted only then (or after
        `FOLLOW_GRACE` seconds), so that its stream reads its end before it goes."""
        started = threading.Event()
        failure: list[BaseException] = []

        def work() -> None:
            result = None
            try:
                result = carry_out(self.ctx, plan, writer, on_started=started.set)
            except BaseException as exc:  # the run's end is logged; the caller is told
                failure.append(exc)
            finally:
                self.finish(writer, result, failure[0] if failure else None)
                started.set()
                stopped = bool(failure) and isinstance(failure[0], RunStopped)
                if delete and followed is not None:
                    followed.wait(FOLLOW_GRACE)
                self.cleanup(plan, writer.run_id, delete, stopped)

        threading.Thread(target=work, name=f"interlock-as-run-{writer.run_id}", daemon=True).start()
        started.wait()
        if failure and not writer.started:
            raise failure[0]

    def background(
        self, thread_id: str | None, body: RunBody, who: Principal
    ) -> tuple[Plan, EventWriter]:
        """Start a background run: new input is queued in the store, an answer or command
        runs in this process (the call returns once it started, or raises its refusal)."""
        plan, writer, delete = self.start(thread_id, body, who, ALL_MODES)
        if plan.kind == "input":
            plan.modes = ALL_MODES
            queue_run(  # refused: nothing queued, nothing logged
                self.ctx.saver,
                plan.graph,
                plan.name,
                plan.thread_id,
                plan.input,
                who,
                run_id=writer.run_id,
                options=queued_options(plan, writer.run_id, self.ctx.formats.get(plan.name)),
            )
            writer.write("run", plan.info)  # (the worker may have logged its start already)
            self.ctx.wake_workers()
        else:
            self.in_background(plan, writer, delete)
        return plan, writer
