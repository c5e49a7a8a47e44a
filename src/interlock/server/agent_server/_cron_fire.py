"""Firing crons: every tick, each enabled cron whose due time has come queues one run, as
`runs.create` queues one — exactly once per due time, whichever process ticks.

The scheduler (`CronScheduler.tick`) runs where the background workers run: a thread of
`RunWorkers` (`RunWorkers.every`) in every `interlock serve` process with workers, every
`TICK` seconds. A tick reads the due crons (`saver.due_crons`: an index range) and for each:

0. reads it again, and leaves it if it was deleted, disabled or moved on since (`stale`);
1. queues its run, unless a run for this due time exists: the run's id is derived from the
   cron and the due time (`fire_id`), so a second process firing the same due time fails
   to queue it (the store refuses an id it has) and a process that died between queuing
   and step 2 is not repeated by the next tick. The run is queued by one store operation
   (`saver.queue_cron_run`, one transaction) that first checks the cron is still as step 0
   read it — there, enabled, due at that time, its `updated_at` unchanged — and queues
   nothing otherwise (`stale`): a delete, disable or change that returned before the run
   was queued is never overridden by a fire that read the cron before it, and one racing
   the fire returns only after the run was queued (the run stays);
2. moves the cron's `next_run_date` on to its next due time after now, if it is still the
   due time it read (`saver.advance_cron`: a conditional update one caller wins).

A change of a cron's run request (PATCH) landing between step 0 and step 1 makes the fire
stale; the cron is still due, so the next tick fires the due time with the new request: a
fire uses the run request as it stood when its run was queued, never an older one. A new
schedule or time zone, or enabling a cron, sets its `next_run_date` anew: the due time it
replaced never fires.

A cron on a thread queues its run on that thread; a cron without one makes a thread for
each due time (its id derived as the run's), in the same store operation as its run:
owned by the cron's creator, audited `thread.created`, tagged with the graph and `cron_id`
in its metadata; and, unless `on_run_completed="keep"`, the worker that
ran it deletes it once the run ended (`options["on_completion"]`; a thread whose run paused
on a request is kept: deleting it would drop the request). The run is queued as the cron's
creator (audited `run.queued` by them, with the `cron_id` and the due time, in the same
transaction), with its
`config.configurable`, `context`, breakpoints, `durability` and recursion limit, as a
background run carries them (`queued_options`).

Missed due times (no process ran, or a tick came late) fire once, at the next tick, and
the cron then goes on from now: one run, not one per missed due time (LangGraph's
scheduler does the same). A due time whose run is refused — the thread waits for a
decision (409 `waiting_for_decision`, as any queued input), the thread is gone, the graph
no longer has a breakpoint's node — is skipped: the cron moves on, and the skip is audited
(`cron.skipped`, with the reason) and logged. A cron past its `end_time` stops (its
`next_run_date` becomes null); a disabled cron is not due. A cron of an agent this process
does not serve is left to a process that does.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from interlock.checkpoint._time import as_utc, utc_now
from interlock.checkpoint.base import CronFire, CronJob
from interlock.errors import InterlockError, StoreUnavailable
from interlock.server._audit_later import AuditLater, record_all
from interlock.server._errors import ApiError
from interlock.server._operations import check_input, queue_after, queued_detail
from interlock.server.agent_server._context import Context
from interlock.server.agent_server._launch import Launcher, queued_options
from interlock.server.agent_server._log import ALL_MODES, EventWriter
from interlock.server.agent_server._plan import RunBody, plan_run
from interlock.server.agent_server._schedule import next_due
from interlock.server.auth import Principal

__all__ = ["TICK", "CronScheduler", "Fire", "check_cron_run", "fire_id"]

_log = logging.getLogger("interlock.server.crons")

TICK = 5.0
"""Seconds between a process's scheduler ticks: a cron fires at most this late."""

_NAMESPACE = uuid.UUID("6f0c5a3e-9a52-4c1e-8f3c-3b7e0b7d2c11")
"""Where the ids of a fire's run and thread are derived (uuid5)."""


def fire_id(cron_id: str, due: datetime, what: str = "run") -> str:
    """The id of the run (or, `what="thread"`, of the thread) a cron fires at `due`: the
    same in every process, so a due time is queued once."""
    return str(uuid.uuid5(_NAMESPACE, f"{cron_id}|{as_utc(due).isoformat()}|{what}"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Fire:
    """What a tick did with one due cron."""

    cron_id: str
    due: datetime
    outcome: Literal["queued", "done", "stale", "skipped", "ended", "elsewhere", "error"]
    """`queued`: this tick queued its run; `done`: a run for this due time was queued
    already (another process's tick, or this one before a crash); `stale`: the cron was
    deleted, disabled, changed or moved on (fired by another process) since this tick read
    it: nothing queued (a changed cron still due fires at the next tick); `skipped`: the run was
    refused (`reason`); `ended`: the cron is past its `end_time`; `elsewhere`: this process
    does not serve its agent; `error`: firing failed unexpectedly (`reason`; it stays due)."""
    run_id: str | None = None
    thread_id: str | None = None
    reason: str | None = None


class _Skip(Exception):
    """Internal: the due time's run is refused (its reason)."""


class _Queued(Exception):
    """Internal: the due time's run is queued already."""


class _Stale(Exception):
    """Internal: the cron was deleted, disabled or changed since it was read."""


def _body(agent: str, payload: Mapping[str, Any]) -> RunBody:
    """The run request a cron's fire sends: with the assistant its payload names (a created
    assistant's configuration under the run's), else the agent's default one (a cron
    without `input` sends `{}`: a run from the start)."""
    assistant_id = payload.get("assistant_id") or agent
    try:
        return RunBody.model_validate(
            {**payload, "assistant_id": assistant_id, "input": payload.get("input") or {}}
        )
    except ValidationError as exc:
        raise ApiError(422, "invalid_request", f"the cron's run request: {exc}") from None


def check_cron_run(
    ctx: Context, who: Principal, agent: str, thread_id: str | None, payload: Mapping[str, Any]
) -> None:
    """Check a cron's run request as `runs.create` checks one, raising the 4xx it would get
    (fields not supported, unknown breakpoint nodes, bad config or stream modes, state keys
    the graph lacks: 422; a thread of another graph: 409) — on its thread, or on a thread
    that does not exist yet."""
    probe = thread_id or f"cron-check-{uuid.uuid4()}"
    plan = plan_run(ctx, who, probe, _body(agent, payload), default_modes=ALL_MODES)
    check_input(plan.graph, plan.input)


class CronScheduler:
    """Fires the due crons of the agents of `ctx` (see the module docstring)."""

    def __init__(self, ctx: Context, *, limit: int = 100) -> None:
        self.ctx = ctx
        self.limit = limit
        self._launcher = Launcher(ctx)

    def tick(self, now: datetime | None = None) -> list[Fire]:
        """Fire every cron due at `now` (default: the clock's now), at most `limit` of them,
        earliest first; what was done with each. A cron whose fire fails unexpectedly is
        logged and left due (the next tick tries again); the store failing ends the tick."""
        now = as_utc(now) if now is not None else utc_now()
        fires = []
        agents = list(self.ctx.registry)  # (others' crons would crowd its own out)
        for cron in self.ctx.saver.due_crons(now, limit=self.limit, agents=agents):
            try:
                fires.append(self._one(cron, now))
            except StoreUnavailable:
                raise
            except Exception as exc:
                _log.exception("cron %s could not be fired; trying again", cron.cron_id)
                due = cron.next_run_date or now
                reason = f"{type(exc).__name__}: {exc}"
                fires.append(Fire(cron_id=cron.cron_id, due=due, outcome="error", reason=reason))
        return fires

    def _one(self, read: CronJob, now: datetime) -> Fire:
        saver = self.ctx.saver
        due = read.next_run_date
        assert due is not None
        # read again: a tick works through its list in turn, and meanwhile the cron may have
        # been deleted or disabled, or fired by another process (whose run may even have
        # been deleted since: its id would not stop a second one)
        cron = saver.get_cron(read.cron_id)
        if cron is None or not cron.enabled or cron.next_run_date != due:
            return Fire(cron_id=read.cron_id, due=due, outcome="stale")
        if cron.agent not in self.ctx.registry:
            return Fire(cron_id=cron.cron_id, due=due, outcome="elsewhere")
        if cron.end_time is not None and cron.end_time < now:
            saver.advance_cron(cron.cron_id, due=due, next_run=None)
            return Fire(cron_id=cron.cron_id, due=due, outcome="ended")
        try:
            following: datetime | None = next_due(cron.schedule, cron.timezone, now)
        except ApiError:  # (checked when it was set: a schedule that stopped coming due)
            following = None
        run_id = fire_id(cron.cron_id, due)
        outcome: Literal["queued", "done"] = "done"
        thread_id = cron.thread_id
        try:
            if saver.get_run(run_id) is None:
                thread_id = self._queue(cron, due, run_id)
                outcome = "queued"
        except _Skip as skip:
            reason = str(skip)
            if saver.advance_cron(cron.cron_id, due=due, next_run=following):
                who = Principal(cron.owner or "system", frozenset())
                detail = {"cron_id": cron.cron_id, "due": due.isoformat(), "reason": reason}
                skipped = AuditLater(
                    who=who, action="cron.skipped", thread_id=cron.thread_id, detail=detail
                )
                record_all(saver, [skipped])  # the cron moved on: the skip happened
                _log.warning("cron %s: due %s skipped: %s", cron.cron_id, due.isoformat(), reason)
            return Fire(
                cron_id=cron.cron_id, due=due, outcome="skipped", thread_id=thread_id, reason=reason
            )
        except _Queued:  # another process queued this due time's run first
            pass
        except _Stale:  # deleted, disabled or changed since read: the change stands
            return Fire(cron_id=cron.cron_id, due=due, outcome="stale")
        saver.advance_cron(cron.cron_id, due=due, next_run=following)
        return Fire(
            cron_id=cron.cron_id, due=due, outcome=outcome, run_id=run_id, thread_id=thread_id
        )

    def _queue(self, cron: CronJob, due: datetime, run_id: str) -> str:
        """Queue the due time's run (as `Launcher.background` queues new input); its thread.
        The run (and a cron without a thread's thread) is written by one store operation
        that first checks the cron is still as read (`saver.queue_cron_run`): `_Stale` when
        it is not; `_Skip` when the run is refused; `_Queued` when it is queued already."""
        ctx = self.ctx
        who = Principal(cron.owner or "system", frozenset({"requester"}))
        thread_id = cron.thread_id or fire_id(cron.cron_id, due, "thread")
        if cron.thread_id is not None and not ctx.exists(thread_id):
            raise _Skip(f"thread {thread_id!r} does not exist")
        try:
            plan = plan_run(
                ctx, who, thread_id, _body(cron.agent, cron.payload), default_modes=ALL_MODES
            )
            plan.modes = ALL_MODES
            options = queued_options(plan, run_id, ctx.formats.get(plan.name))
            options["cron_id"] = cron.cron_id
            meta = None
            if cron.thread_id is None:  # made with its run: owner, metadata, audit
                meta = {
                    "graph_id": plan.name,
                    "assistant_id": plan.info["assistant_id"],
                    "cron_id": cron.cron_id,
                }
                if cron.on_run_completed != "keep":
                    options["on_completion"] = "delete"
            detail = {"cron_id": cron.cron_id, "due": due.isoformat()}
            fire = CronFire(
                cron_id=cron.cron_id,
                due=due,
                updated_at=cron.updated_at,
                run_id=run_id,
                thread_id=thread_id,
                agent=plan.name,
                input=plan.input,
                created_by=who.name,
                after=queue_after(ctx.saver, plan.graph, thread_id, plan.input),
                options=options,
                queued=queued_detail(plan.name, plan.input, run_id, options, detail),
                new_thread=meta,
                thread_created={"agent": plan.name, "metadata": meta, "via": "agent_server"},
            )
            try:
                queued = ctx.saver.queue_cron_run(fire)
            except ValueError as exc:
                if ctx.saver.get_run(run_id) is None:
                    raise
                raise _Queued from exc  # (its id: another process queued it first)
            if queued is None:
                raise _Stale
            if cron.thread_id is not None:
                self._launcher.tag_thread(plan)
        except ApiError as exc:
            raise _Skip(f"{exc.code}: {exc.message}") from exc
        except StoreUnavailable:
            raise  # the due time stays: the next tick fires it
        except InterlockError as exc:  # refused input (a state key the graph lacks, ...)
            raise _Skip(f"{type(exc).__name__}: {exc}") from exc
        EventWriter(ctx.saver, thread_id, run_id).write("run", {**plan.info, **detail})
        ctx.wake_workers()
        _log.info("cron %s: due %s queued run %s", cron.cron_id, due.isoformat(), run_id)
        return thread_id
