"""The superstep engine, written once and free of I/O.

`run_graph` is a generator: it decides what happens and *yields effects* (run these tasks,
commit this checkpoint, resolve these interrupts, emit this stream chunk); a driver (sync or
async, `_drivers.py`) performs each effect and sends the result back. No clock, no database,
no threads here: ids and time come from the `Clock` the driver passes in.

One run:
1. `_start` interprets the input against the loaded checkpoint: new input (an "input"
   checkpoint), a resume (match answers to pending interrupts, claim them exactly once), or a
   continuation (`None`) — and refuses anything ambiguous with `ResumeError`/`InputRejected`.
   With `configurable.run_id` (a queued run) the input applies once per run id: the id is
   stamped on the run's checkpoints, and if one exists already (`Applied`, asked under the
   thread's lease) the run continues from the head as `invoke(None)` would instead.
2. Each superstep plans tasks for the checkpoint's `next`, reuses what finished tasks already
   wrote, runs the rest, and either commits a checkpoint (all tasks done) or saves the progress
   of an incomplete step (a task paused or failed) and stops.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import replace
from typing import Any, cast

from interlock._types import END, START, Command, Interrupt
from interlock.checkpoint.base import (
    CheckpointRecord,
    InterruptRecord,
    TaskWrites,
    Write,
)
from interlock.checkpoint.serde import ensure_serializable
from interlock.errors import (
    InputRejected,
    InvalidUpdate,
    RecursionLimit,
    ResumeConflict,
    ResumeError,
    RunStopped,
    RunSuperseded,
)
from interlock.graph._abandon import take_abandons
from interlock.graph._effects import (
    Applied,
    Clock,
    Commit,
    Effect,
    Emit,
    HasDecided,
    Lookup,
    Reopen,
    Resolve,
    RunResult,
    RunTasks,
    SaveProgress,
    Start,
    Task,
    TaskOutcome,
)
from interlock.graph._events import checkpoint_events, task_result_events, task_start_events
from interlock.graph._interrupt import PendingInterrupt, is_expired_answer
from interlock.graph._migrate import carry_over, migration_record
from interlock.graph._node_cache import NO_LOOKUPS, lookup
from interlock.graph._pause import is_breakpoint, pause_groups, paused_values
from interlock.graph._quorum import bindings_for, cast_votes
from interlock.graph._resume import (
    authorize_decisions,
    looks_like_id_map,
    match_resume,
    refuse_old_branch,
    validate_decisions,
)
from interlock.graph._run import (
    ATTEMPTS,
    BREAKPOINT_TASK,
    CHILD,
    DONE,
    ERROR,
    GOTO,
    INPUT,
    MEMO,
    PASSABLE,
    UPDATE_RUNS,
    UPDATE_TASK,
    _Run,
    error_text,
    fold_order,
    run_order,
)
from interlock.graph._runtime import retry_delay
from interlock.graph._spec import GraphSpec
from interlock.graph._writes import fold, pending_of, split_result, task_id, update_view

__all__ = [
    "BREAKPOINT_TASK",
    "ERROR",
    "UPDATE_TASK",
    "fold",
    "pending_of",
    "run_graph",
    "split_result",
    "task_id",
]


# ---- the run -------------------------------------------------------------------------------


def run_graph(
    spec: GraphSpec,
    start: Start,
    input: Any,
    config: Mapping[str, Any],
    clock: Clock,
    *,
    durable: bool,
    recursion_limit: int = 25,
    interrupt_before: frozenset[str] | None = None,
    interrupt_after: frozenset[str] | None = None,
    modes: frozenset[str] | None = None,
    defer: bool = False,
    parent_task: str | None = None,
    root_graph: str | None = None,
    task_call: str | None = None,
    stop: Callable[[], bool] | None = None,
    caching: bool = False,
) -> Generator[Effect, Any, RunResult]:
    """Run the graph from `start` with `input`; see the module docstring. `modes` (stream
    modes the caller consumes) lets the engine skip building chunks nobody reads; `defer`
    (exit durability) commits the run's steps as one checkpoint where it stops.

    `parent_task`: the graph runs as a subgraph inside that task of its parent, in its own
    namespace. Its input is then `None` to continue where it paused (its requests were
    answered through the parent: they are resolved already), and `Command.PARENT` results
    go up to the parent's task. `task_call`: the functional-API call it runs in (its mark;
    "" for the entrypoint's own), stamped on its checkpoints. `stop`: asked before each
    step after the run's first; True ends the run there with `RunStopped` (its steps are
    saved). `caching`: the graph has a node cache (`CacheGet` / `CacheSet` effects)."""
    run = _Run(
        spec,
        start,
        config,
        clock,
        durable=durable,
        recursion_limit=recursion_limit,
        interrupt_before=interrupt_before,
        interrupt_after=interrupt_after,
        modes=modes,
        defer=defer,
        parent_task=parent_task,
        root_graph=root_graph,
        task_call=task_call,
        stop=stop,
        caching=caching,
    )
    yield from _child_waits(run)
    if parent_task is not None and input is None:  # a subgraph goes on where it paused
        yield from _resumed_values(run)
        return (yield from _loop(run, True))
    fresh = input is not None and not (isinstance(input, Command) and input.has_resume)
    # a queued Command's update waits in the step's progress: it was applied
    mine = run.run_id is not None and run.run_id in run.update_runs
    if fresh and run.run_id and (mine or (yield Applied(run.run_id, run.run_after))):
        rec, pending = run.record, run.waiting()
        assert rec is not None  # a checkpoint of the run exists
        if not mine and run.run_id not in _applied_by(rec):  # another run committed after it
            raise RunSuperseded(
                f"run {run.run_id!r} applied its input on thread {run.thread_id!r}, and the "
                "thread moved on since; its outcome is in the thread's history (the "
                "checkpoints tagged with its run id)"
            )
        if pending or not (rec.next or rec.sends):  # it stopped: say where
            intr = tuple(Interrupt(value=r.value, id=r.interrupt_id) for r in pending)
            return RunResult(values=run.values, interrupts=intr, checkpoint_id=rec.checkpoint_id)
        yield from _migrate(run, start.migration)
        return (yield from _loop(run, _past_breakpoint(run)))
    skip_before = yield from _start(run, input)
    if isinstance(skip_before, RunResult):  # a vote that did not decide its request
        return skip_before
    if skip_before is None:  # input checkpoint committed; emit was done in _start
        skip_before = False
    yield from _migrate(run, start.migration)
    return (yield from _loop(run, skip_before))


def _applied_by(rec: CheckpointRecord) -> list[str]:
    """The queued runs whose input (or `Command` update, folded into its step) `rec` holds."""
    return [rec.metadata.get("run_id"), *(rec.metadata.get("updates_of") or ())]


def _migrate(run: _Run, plan: Any) -> Generator[Effect, Any, None]:
    """Commit a version migration (after the decision is recorded), once: see `_migrate`."""
    if plan is None or run.record is None:
        return
    old, interrupts, task_writes = run.record, run.interrupts, run.task_writes
    yield from _commit(run, migration_record(run, plan), ())
    carry_over(run, old, interrupts, task_writes)


def _child_waits(run: _Run) -> Generator[Effect, Any, None]:
    """Load the requests of the subgraphs that this step's tasks ran and that paused."""
    marks: dict[str, list[str]] = {}  # task id -> its subgraphs' request ids
    for tid, tw in run.task_writes.items():
        for c, v in tw.writes:
            if c == CHILD:
                marks.setdefault(tid, []).extend(v["interrupts"])
    ids = tuple(i for mark in marks.values() for i in mark)
    if not ids:
        return
    found: Mapping[str, InterruptRecord | None] = yield Lookup(ids)
    for tid, mark in marks.items():
        run.child_waits[tid] = [r for i in mark if (r := found.get(i)) is not None]


def _start(run: _Run, input: Any) -> Generator[Effect, Any, bool | RunResult | None]:
    """Interpret the input. Returns whether to skip breakpoints-before for the first step
    (or, for a vote that leaves its request pending or a Command with nothing to run, the
    result to stop with)."""
    pending = run.waiting()
    answerable = run.answerable() if run.record is not None else []
    is_resume = isinstance(input, Command) and input.has_resume
    update: list[tuple[str, Any]] = []
    gotos: list[Any] = []
    if isinstance(input, Command):  # checked before anything is decided or committed
        update, gotos = _checked_command(run, input)
        if gotos and is_resume:
            raise InvalidUpdate(
                "Command(resume=..., goto=...) is not supported: the goto would run beside "
                "the resumed step (LangGraph) and interlock does not plan extra tasks into "
                "a paused step; resume first, then send Command(goto=...)"
            )
        if not is_resume and run.record is not None:  # a Command on a thread
            return (yield from _command_on_thread(run, update, gotos, pending))
    bindings = None
    if is_resume or input is None:
        if run.record is None:
            raise ResumeError(
                f"thread {run.thread_id!r} has no checkpoint: there is nothing to resume; "
                "start it with input first"
            )
        if is_resume:
            elsewhere: Mapping[str, InterruptRecord | None] = {}
            if looks_like_id_map(input.resume):
                here = {r.interrupt_id for r in answerable}
                missing = tuple(k for k in input.resume if k not in here)
                if missing:
                    elsewhere = yield Lookup(missing)
            elif not pending:
                refuse_old_branch(run.thread_id, run.record, run.head)
                decided = yield HasDecided()
                if decided:
                    raise ResumeConflict(
                        f"thread {run.thread_id!r} has nothing pending: its request was "
                        "already decided"
                    )
            current = run.record.checkpoint_id if run.record else None
            decisions = match_resume(run.thread_id, answerable, current, input, elsewhere)
            validate_decisions(answerable, decisions)
            authorize_decisions(run.config, answerable, decisions)
            stop = yield from cast_votes(run, answerable, decisions, input)
            if stop is not None:
                return stop
            bindings = bindings_for(run, answerable, decisions, input)
        else:
            real = [r for r in pending if r.kind != "breakpoint"]
            if real:
                raise ResumeError(
                    f"thread {run.thread_id!r} waits for {len(real)} decision(s); resume with "
                    f"Command(resume=...) (pending ids: {[r.interrupt_id for r in real]})"
                )
            allowed = (run.config.get("configurable") or {}).get(PASSABLE)
            unseen = [r for r in pending if allowed is not None and r.interrupt_id not in allowed]
            if unseen:  # it paused after this run was asked (and allowed): not passed
                raise InputRejected(
                    f"thread {run.thread_id!r} paused at a breakpoint ({unseen[0].interrupt_id}) "
                    "after this run was asked; it waits for a decision"
                )
            decisions = {r.interrupt_id: None for r in pending}
            if not decisions and not run.record.next and not run.record.sends:
                raise ResumeError(
                    f"thread {run.thread_id!r} has finished; there is nothing to resume. "
                    "Send new input to start another turn."
                )
        if decisions:
            status = "expired" if all(map(is_expired_answer, decisions.values())) else "resolved"
            yield Resolve(decisions, status, bindings or None)
            run.apply_decisions(decisions, status, bindings)
        run.pending_update = [*run.pending_update, *update]
        if run.fork:  # a replay: it goes on from a copy of the old checkpoint, the new head
            old = run.record
            fork = run._commit(
                source="fork",
                writes=[],
                next_=old.next,
                sends=old.sends,
                barriers=old.barriers,
                step=old.step,
            )
            yield from _commit(run, fork, ())
            run.spent = 1
        yield from _resumed_values(run)
        return _past_breakpoint(run)

    if pending:
        raise InputRejected(
            f"thread {run.thread_id!r} waits for {len(pending)} decision(s) "
            f"({[r.interrupt_id for r in pending]}); answer with Command(resume=...) before "
            "sending new input"
        )
    if isinstance(input, Command):  # a new thread: the update is the run's input
        writes = update
    else:
        keys = run.spec.input_keys
        writes = [
            w for w in run.spec.schema.to_updates(input, INPUT) if keys is None or w[0] in keys
        ]
        writes = run.spec.schema.prepared(writes)
    if run.record is None:
        run.values = {**run.spec.schema.initial_values(), **run.values}
    touched = run.spec.schema.apply(run.values, writes)
    # START's nodes run, with a Command's goto targets beside them (LangGraph)
    nxt, sends, barriers = run.triggers([(START, []), ("__goto__", gotos)], {})
    step = run.record.step + 1 if run.record else -1
    rec = run._commit(
        source="input",
        writes=[Write(node=INPUT, channel=c, value=v) for c, v in writes],
        next_=nxt,
        sends=sends,
        barriers=barriers,
        step=step,
    )
    yield from _commit(run, rec, ())
    run.spent = 2
    if run.wants("values") and touched:  # LangGraph: input that wrote nothing, no chunk
        yield Emit("values", dict(run.values))
    assert run.record is not None
    yield from checkpoint_events(run.modes, run.record, run.values)
    return None


def _checked_command(run: _Run, command: Command) -> tuple[list[tuple[str, Any]], list[Any]]:
    """A Command's update writes and goto targets (END left out), checked — unknown keys
    or nodes, values that cannot be stored raise here — before anything is decided or
    committed, so that a refused Command changes nothing (a breakpoint it would pass stays
    unreviewed)."""
    update = run.spec.schema.prepared(run.spec.schema.command_updates(command.update, INPUT))
    if run.durable:
        for channel, value in update:
            ensure_serializable(value, f"update.{channel}")
    gotos = [g for g in command.goto_targets() if g != END]
    run.triggers([("__goto__", gotos)], {})  # an unknown node raises InvalidUpdate
    if update and run.record is not None:  # its reducers fold it in on a copy, here
        try:
            run.spec.schema.apply(dict(run.step_values()), update, strict=False)
        except InvalidUpdate:
            raise
        except Exception as exc:
            keys = sorted({c for c, _ in update})
            raise InvalidUpdate(
                f"Command(update=...) cannot be folded into the state (keys {keys}): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    return update, gotos


def _command_on_thread(
    run: _Run,
    update: list[tuple[str, Any]],
    gotos: list[Any],
    pending: list[InterruptRecord],
) -> Generator[Effect, Any, bool | RunResult]:
    """`Command(update=..., goto=...)` without `resume` on a thread that has a checkpoint
    goes on from that checkpoint, as in LangGraph:

    - an older checkpoint (`checkpoint_id`): a fork, `source="fork"`, with the update, its
      next nodes and the goto targets;
    - a finished thread: the update is committed as a checkpoint of its own
      (`source="update"`) whose next nodes are the goto targets; nothing runs without goto;
    - nodes still to run (a breakpoint, a failed or stopped step, a decision recorded and
      not carried out yet): a pending breakpoint is passed as `invoke(None)` passes it, and
      the update goes with the step as a resume's does (the step keeps its checkpoint, so
      its finished tasks and recorded decisions stay its own). A goto there is refused:
      it would plan a new step, in which a decided node would ask again.

    A request waiting for a person is never passed, nor a breakpoint that
    `configurable[PASSABLE]` leaves out: `InputRejected`."""
    old = run.record
    assert old is not None
    real = [r for r in pending if r.kind != "breakpoint"]
    if real:
        raise InputRejected(
            f"thread {run.thread_id!r} waits for {len(real)} decision(s) "
            f"({[r.interrupt_id for r in real]}); answer with Command(resume=...) before "
            "sending a Command without one"
        )
    allowed = (run.config.get("configurable") or {}).get(PASSABLE)
    unseen = [r for r in pending if allowed is not None and r.interrupt_id not in allowed]
    if unseen:  # it paused after the Command was asked (and allowed)
        raise InputRejected(
            f"thread {run.thread_id!r} paused at a breakpoint ({unseen[0].interrupt_id}) "
            "after this Command was sent; it waits for a decision"
        )
    busy = bool(old.next or old.sends) and not run.fork
    if busy and gotos:
        raise InvalidUpdate(
            f"thread {run.thread_id!r} has nodes still to run ({list(old.next)}): a Command "
            "with goto there is not supported (it would plan a new step, in which a node "
            "already answered would ask again); send Command(update=...) or invoke(None) "
            "first, then the goto"
        )
    passed = {r.interrupt_id: None for r in pending}  # breakpoints, as invoke(None) does
    if passed:
        yield Resolve(passed, "resolved")
        run.apply_decisions(passed, "resolved")
    if busy:
        run.pending_update = [*run.pending_update, *update]
        if run.run_id is not None and update:
            run.update_runs = [*run.update_runs, run.run_id]
        yield from _resumed_values(run)
        return _past_breakpoint(run)
    if not run.fork and not update and not gotos:  # nothing to record, nothing to run
        yield from _resumed_values(run)
        return RunResult(values=run.values, interrupts=(), checkpoint_id=old.checkpoint_id)
    nxt, sends, barriers = old.next, old.sends, old.barriers
    if gotos:
        more, more_sends, barriers = run.triggers([("__goto__", gotos)], old.barriers)
        nxt = (*nxt, *(n for n in more if n not in nxt))
        sends = (*sends, *more_sends)
    values = dict(run.values)
    run.spec.schema.apply(values, update, strict=False)
    run.values = values
    rec = run._commit(
        source="fork" if run.fork else "update",
        writes=[Write(node=INPUT, channel=c, value=v) for c, v in update],
        next_=nxt,
        sends=sends,
        barriers=barriers,
        step=old.step + 1,
    )
    run.spent = 1 if run.fork else 0  # as LangGraph counts them
    yield from _commit(run, rec, ())
    yield from _resumed_values(run)
    yield from checkpoint_events(run.modes, rec, run.values)
    return False  # the targets' breakpoints stop them: a Command does not skip a review


def _reopen(run: _Run, pi: PendingInterrupt) -> Generator[Effect, Any, InterruptRecord | None]:
    """Return an answered request to pending with the question the node asks now (the
    store audits it): the stale answer is not applied, the run pauses on it again. None
    when the call's request is not in the store under this step's id — the step moved to a
    version migration's checkpoint, where requests get new ids: the caller then raises the
    new question as a new request (the old one keeps its decision, never carried out)."""
    iid = pi.interrupt.id
    assert pi.reopen is not None
    reopened = yield Reopen(iid, pi.reopen, pi.interrupt.value)
    if reopened is None:
        found = (yield Lookup((iid,))).get(iid)
        if found is None:
            return None
        raise ResumeConflict(f"request {iid} changed while it was being reopened; run again")
    run.interrupts = [r for r in run.interrupts if r.interrupt_id != iid]
    return cast(InterruptRecord, reopened)


def _resumed_values(run: _Run) -> Generator[Effect, Any, None]:
    """A resumed or continued run's first `values` chunk: the state it goes on from (with
    a resume's `update`), as LangGraph sends it before the run's first step."""
    if run.wants("values"):
        yield Emit("values", dict(run.step_values()))


def _past_breakpoint(run: _Run) -> bool:
    """Whether a continued run's first step skips its breakpoint-before: that breakpoint was
    answered, or the step already started (a task paused inside it)."""
    return any(
        r.kind != "breakpoint" or (r.status == "resolved" and r.value.get("when") == "before")
        for r in run.interrupts
    )


def _commit(
    run: _Run, rec: CheckpointRecord, interrupts: tuple[InterruptRecord, ...]
) -> Generator[Effect, Any, None]:
    if run.durable:
        run.unsaved.append(rec)
        final = bool(interrupts) or not (rec.next or rec.sends)
        if final or not run.defer:
            rec = yield from _flush(run, interrupts, final)
    run.record = rec
    run.fork = False
    run.interrupts = list(interrupts)
    run.task_writes = {}


def _flush(
    run: _Run, interrupts: tuple[InterruptRecord, ...] = (), final: bool = False
) -> Generator[Effect, Any, CheckpointRecord]:
    """Commit the records not committed yet as one (several only under exit durability:
    the last one, on the parent of the first, with all their writes in order)."""
    chain, run.unsaved = run.unsaved, []
    rec = chain[-1]
    if len(chain) > 1:
        writes = tuple(w for r in chain for w in r.writes)
        rec = replace(rec, parent_id=chain[0].parent_id, writes=writes)
        folded = [u for r in chain for u in r.metadata.get("updates_of") or ()]
        if folded:  # the queued Commands whose update one of the steps folded in
            rec = replace(rec, metadata={**rec.metadata, "updates_of": folded})
    yield Commit(rec, run.head, interrupts, final, take_abandons(run))
    run.head = rec.checkpoint_id
    return rec


def _settle(run: _Run) -> Generator[Effect, Any, None]:
    """Before saving a stopped step's progress: its checkpoint must be stored."""
    if run.unsaved:
        run.record = yield from _flush(run)


def _attempts(
    run: _Run, tasks: list[Task], rec: CheckpointRecord, announce: list[Task]
) -> Generator[Effect, Any, list[TaskOutcome]]:
    """Run `tasks`, running again those that fail while their node's `RetryPolicy` allows;
    each failure is recorded (when the step's checkpoint is stored) before the retry.
    `announce`: the step's tasks that started without running (cache hits): their `tasks`
    start events go with the first attempt's."""
    outcomes: list[TaskOutcome] = []
    if announce and not tasks and (run.wants("tasks") or run.wants("debug")):
        yield from task_start_events(run.modes, announce, rec.step + 1, run.clock.now())
    while tasks:
        if run.wants("tasks") or run.wants("debug"):
            started = sorted([*announce, *tasks], key=run_order)
            yield from task_start_events(run.modes, started, rec.step + 1, run.clock.now())
            announce = []
        got: list[TaskOutcome] = yield RunTasks(tuple(tasks), rec.checkpoint_id, rec.step + 1)
        tasks, failed = [], []
        for outcome in got:
            task, exc = outcome.task, outcome.error
            policies = run.spec.nodes[task.name].retry
            again = retry_delay(policies, exc, task.attempt) if exc and policies else None
            if again is None:
                outcomes.append(outcome)
                continue
            memo = {**task.memo, **outcome.memo}
            tasks.append(
                replace(task, attempt=task.attempt + 1, memo=memo, delay=again[0], jitter=again[1])
            )
            writes = (*((MEMO + k, v) for k, v in memo.items()), (ATTEMPTS, task.attempt))
            failed.append(TaskWrites(task_id=task.id, task_name=task.name, writes=writes))
        if failed and run.durable and not run.unsaved:
            yield SaveProgress(rec.checkpoint_id, tuple(failed), (), final=False)
    return outcomes


def _updates(
    finished: list[tuple[Task, list[tuple[str, Any]], list]],
    returned: Mapping[str, list[tuple[str, Any]]],
    by_id: Mapping[str, TaskOutcome],
) -> Generator[Effect, Any, None]:
    """A step's `updates` chunks, as LangGraph sends them: first those of the tasks that
    did not run in this attempt — their writes were restored from the step's saved
    progress, or came from the node cache — marked `"__metadata__": {"cached": True}`, then
    those of the tasks that ran."""
    ran = {i for i, o in by_id.items() if o.cached is None}
    for task, writes, _ in sorted(finished, key=lambda f: f[0].id in ran):
        chunk: dict[str, Any] = {task.name: update_view(returned.get(task.id, writes))}
        if task.id not in ran:
            chunk["__metadata__"] = {"cached": True}
        yield Emit("updates", chunk)


def _loop(run: _Run, skip_before: bool) -> Generator[Effect, Any, RunResult]:
    spec = run.spec
    steps = 0
    extra = run.pending_update
    while True:
        rec = run.record
        assert rec is not None
        names = list(rec.next) + [n for n, _ in rec.sends]
        # LangGraph's rule: a run stops at its first step past recursion_limit + 1, counted
        # from the checkpoint it starts at and checked before it looks for the end; new input
        # takes two of them (its input and START steps: one input checkpoint here), a fork's
        # copy one (`run.spent`)
        if run.spent + steps > run.limit + 1:
            yield from _settle(run)
            raise RecursionLimit(
                f"recursion_limit={run.limit} reached after {steps} supersteps (counted as "
                "LangGraph counts them: new input takes two, the check for the end one); raise "
                "config['recursion_limit'] if the graph loops on purpose"
            )
        if not names:
            return RunResult(values=run.values, interrupts=(), checkpoint_id=rec.checkpoint_id)
        if steps and run.stop is not None and run.stop():
            yield from _settle(run)
            raise RunStopped(
                f"run on thread {run.thread_id!r} stopped after {steps} step(s), as asked; "
                f"its steps are saved and {', '.join(names)} still to run: continue with "
                "invoke(None, config)"
            )
        hit = spec.hits(run.before, names)
        if hit and not skip_before:
            bp = run._breakpoint(rec.checkpoint_id, "before", hit)
            yield from _settle(run)
            yield SaveProgress(rec.checkpoint_id, (), (bp,))
            run.interrupts.append(bp)
            intr: tuple[Interrupt, ...] = (Interrupt(value=bp.value, id=bp.interrupt_id),)
            yield Emit("updates", {"__interrupt__": intr})
            return RunResult(values=run.values, interrupts=intr, checkpoint_id=rec.checkpoint_id)
        skip_before = False

        tasks = run.plan()
        to_run = [t for t in tasks if not run.is_done(t) and not run.is_waiting(t)]
        cache = (yield from lookup(run, to_run)) if run.caching else NO_LOOKUPS
        to_run, skipped = cache.split(to_run)  # skipped: cache hits, bad keys
        outcomes = yield from _attempts(run, to_run, rec, skipped)
        if skipped:
            outcomes = [*(cache.outcomes[t.id] for t in skipped), *outcomes]
        by_id = {o.task.id: o for o in outcomes}

        finished: list[tuple[Task, list[tuple[str, Any]], list]] = []  # writes as stored
        returned: dict[str, list[tuple[str, Any]]] = {}  # as the nodes returned them (streams)
        progress: list[TaskWrites] = []
        new_interrupts: list[InterruptRecord] = []
        nested: list[Interrupt] = []  # requests of subgraphs that paused in this attempt
        nested_by_task: list[tuple[Interrupt, ...]] = []
        first_error: BaseException | None = None
        for task in tasks:
            outcome = by_id.get(task.id)
            if outcome is None:
                if run.is_done(task):
                    writes, gotos = run.stored_result(task)
                    finished.append((task, writes, gotos))
                continue
            memo = [(MEMO + k, v) for k, v in {**outcome.task.memo, **outcome.memo}.items()]
            if outcome.error is not None:
                first_error = first_error or outcome.error
                progress.append(
                    TaskWrites(
                        task_id=task.id,
                        task_name=task.name,
                        writes=(*memo, (ERROR, error_text(outcome.error))),
                    )
                )
            elif outcome.interrupt is not None or outcome.waiting is not None:
                cache.asked(run, task)  # a node that asks people is not cached from now on
                pauses = (outcome.interrupt, *outcome.more_interrupts) if outcome.interrupt else ()
                for pi in pauses:
                    if pi.reopen is not None:  # answered, but the answer no longer holds
                        reopened = yield from _reopen(run, pi)
                        if reopened is not None:
                            new_interrupts.append(reopened)
                            continue
                    new_interrupts.append(
                        run._interrupt_record(
                            checkpoint_id=rec.checkpoint_id,
                            task=task.id,
                            name=pi.task_name or task.name,
                            index=pi.index,
                            value=pi.interrupt.value,
                            schema=pi.response_schema,
                            deadline=pi.deadline,
                            approvers=pi.approvers,
                            escalations=pi.escalations,
                            max_auth_age=pi.max_auth_age,
                            quorum=pi.quorum,
                        )
                    )
                marks = []
                if (sub := outcome.waiting) is not None:
                    nested.extend(sub.interrupts)
                    nested_by_task.append(tuple(sub.interrupts))
                    marks = [
                        (CHILD, {"ns": ns, "interrupts": [i.id for i in items]})
                        for ns, items in sub.parts
                    ]
                if memo or marks:
                    progress.append(
                        TaskWrites(task_id=task.id, task_name=task.name, writes=(*memo, *marks))
                    )
            else:
                try:
                    writes, gotos = outcome.cached or split_result(
                        spec, task.name, outcome.result, child=run.parent_task is not None
                    )
                except InvalidUpdate as exc:
                    first_error = first_error or exc
                    continue
                cache.keep(run, task, writes, gotos)
                returned[task.id] = writes
                writes = spec.schema.prepared(writes)
                finished.append((task, writes, gotos))
                done_writes = [*writes, *memo, (DONE, True)]
                if gotos:
                    done_writes.append((GOTO, list(gotos)))
                progress.append(
                    TaskWrites(task_id=task.id, task_name=task.name, writes=tuple(done_writes))
                )

        if run.wants("tasks") or run.wants("debug"):
            now, done = run.clock.now(), {t.id: returned.get(t.id, ws) for t, ws, _ in finished}
            for o in outcomes:
                if o.cached is not None:  # LangGraph: a cache hit has no result event
                    continue
                yield from task_result_events(
                    run.modes,
                    o.task,
                    rec.step + 1,
                    now,
                    writes=done.get(o.task.id, ()),
                    error=o.error,
                    interrupts=[r for r in new_interrupts if r.task_id == o.task.id],
                    nested=o.waiting.interrupts if o.waiting is not None else (),
                )
        for tid in by_id:  # a task that ran again reports its subgraph's requests anew
            run.child_waits.pop(tid, None)
        waiting = run.waiting() + new_interrupts
        if first_error is not None or waiting or nested:
            if run.pending_update:
                progress.append(
                    TaskWrites(
                        task_id=UPDATE_TASK, task_name=INPUT, writes=tuple(run.pending_update)
                    )
                )
                if run.update_runs:  # beside it: the previous release reads it as state
                    runs = ((UPDATE_RUNS, list(run.update_runs)),)
                    progress.append(TaskWrites(task_id=UPDATE_RUNS, task_name=INPUT, writes=runs))
            yield from _settle(run)
            if run.durable and (progress or new_interrupts):
                yield SaveProgress(rec.checkpoint_id, tuple(progress), tuple(new_interrupts))
            if cache.pairs:  # kept once the step's progress is saved
                yield cache.flush()
            for t in progress:
                run.task_writes[t.task_id] = t
            run.interrupts.extend(new_interrupts)
            if run.wants("updates"):
                yield from _updates(finished, returned, by_id)
            if first_error is not None:
                raise first_error
            intr = (*(Interrupt(value=r.value, id=r.interrupt_id) for r in waiting), *nested)
            for asked in pause_groups(waiting, nested_by_task):  # LangGraph: one per task
                yield Emit("updates", {"__interrupt__": asked})
                if run.wants("values") and not all(map(is_breakpoint, asked)):
                    # LangGraph: the state the step started from, and what it asks
                    yield Emit("values", {**run.values, "__interrupt__": asked})
            shown = paused_values(spec.schema, run.values, finished)
            if shown is not None and run.wants("values"):
                yield Emit("values", shown)
            cid = rec.checkpoint_id
            return RunResult(values=run.values, interrupts=intr, checkpoint_id=cid, shown=shown)

        # every task finished: fold the step's writes in LangGraph's order and commit
        folded = sorted(finished, key=lambda f: fold_order(f[0]))
        all_writes = [Write(node=t.name, channel=c, value=v) for t, ws, _ in folded for c, v in ws]
        if extra:
            all_writes = [Write(node=INPUT, channel=c, value=v) for c, v in extra] + all_writes
            extra = []
        new_values = dict(run.values)
        touched = spec.schema.apply(
            new_values, ((w.channel, w.value) for w in all_writes if w.node == INPUT), strict=False
        )
        touched |= spec.schema.apply(
            new_values, ((w.channel, w.value) for w in all_writes if w.node != INPUT)
        )
        run.values = new_values
        run.pending_update = []
        nxt, sends, barriers = run.triggers(
            [(t.name, gotos) for t, _, gotos in folded], rec.barriers
        )
        new = run._commit(
            source="loop",
            writes=all_writes,
            next_=nxt,
            sends=sends,
            barriers=barriers,
            step=rec.step + 1,
        )
        if run.update_runs:  # queued Commands whose update this step folds in (`Applied`)
            new = replace(new, metadata={**new.metadata, "updates_of": run.update_runs})
            run.update_runs = []
        ran = [t.name for t, _, _ in finished]
        hit_after = spec.hits(run.after, ran)
        bps = (run._breakpoint(new.checkpoint_id, "after", hit_after),) if hit_after else ()
        yield from _commit(run, new, bps)
        if cache.pairs:  # kept once the step is committed
            yield cache.flush()
        if run.wants("updates"):
            yield from _updates(finished, returned, by_id)
        if run.wants("values") and touched:  # LangGraph: a step that wrote nothing, none
            yield Emit("values", dict(run.values))
        assert run.record is not None
        yield from checkpoint_events(run.modes, run.record, run.values, bps)
        steps += 1
        run.steps = steps
        if bps:
            intr = (Interrupt(value=bps[0].value, id=bps[0].interrupt_id),)
            yield Emit("updates", {"__interrupt__": intr})
            return RunResult(values=run.values, interrupts=intr, checkpoint_id=new.checkpoint_id)
