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

import hashlib
import operator
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from interlock._types import END, START, Command, Escalation, Interrupt, Send
from interlock.checkpoint.base import (
    CheckpointRecord,
    InterruptRecord,
    StoredCheckpoint,
    TaskWrites,
    Write,
)
from interlock.errors import (
    CheckpointerRequired,
    InputRejected,
    InvalidUpdate,
    RecursionLimit,
    ResumeConflict,
    ResumeError,
    RunSuperseded,
)
from interlock.graph._effects import (
    Applied,
    Clock,
    Commit,
    Effect,
    Emit,
    HasDecided,
    Lookup,
    Resolve,
    RunResult,
    RunTasks,
    SaveProgress,
    Start,
    Task,
    TaskOutcome,
)
from interlock.graph._interrupt import interrupt_id, is_expired_answer
from interlock.graph._resume import (
    authorize_decisions,
    looks_like_id_map,
    match_resume,
    validate_decisions,
)
from interlock.graph._spec import GraphSpec

__all__ = ["fold", "pending_of", "run_graph", "split_result", "task_id"]

INPUT = "__input__"
DONE = "__done__"
ERROR = "__error__"
GOTO = "__goto__"
MEMO = "__memo__:"
BREAKPOINT_TASK = "__breakpoint__"
UPDATE_TASK = "__update__"
"""Task id under which `Command(resume=..., update=...)` writes wait while a step is paused."""


# ---- helpers -------------------------------------------------------------------------------


def task_id(checkpoint_id: str, name: str, index: int) -> str:
    """Deterministic id of the `index`-th task of the step after `checkpoint_id`."""
    raw = f"{checkpoint_id}\x00{name}\x00{index}"
    return hashlib.blake2b(raw.encode(), digest_size=16).hexdigest()


def fold(base: Mapping[str, Any], chain: Iterable[Sequence[Write]], spec: GraphSpec) -> dict:
    """Rebuild state values: `base` plus each checkpoint's writes through the reducers.

    List updates to list-concatenating reducers (`operator.add`, `add_messages`) are joined
    and applied once per channel, so folding a long chain stays linear instead of copying
    the whole list at every step.
    """
    values = dict(base)

    def apply(vals: dict[str, Any], writes: Iterable[tuple[str, Any]]) -> None:
        spec.schema.apply(vals, writes, strict=False)  # committed writes were vetted already

    batched: dict[str, list[Any]] = {}
    for writes in chain:
        for w in writes:
            if _batchable(spec, w.channel, w.value):
                batched.setdefault(w.channel, []).extend(
                    w.value if isinstance(w.value, list) else [w.value]
                )
                continue
            if w.channel in batched:
                apply(values, [(w.channel, batched.pop(w.channel))])
            apply(values, [(w.channel, w.value)])
    for channel, updates in batched.items():
        apply(values, [(channel, updates)])
    return values


def _batchable(spec: GraphSpec, channel: str, value: Any) -> bool:
    ch = spec.schema.channels.get(channel)
    if ch is None or ch.reducer is None:
        return False
    if getattr(ch.reducer, "batchable", False):
        return True
    return ch.reducer is operator.add and isinstance(value, list)


def pending_of(stored: StoredCheckpoint | None) -> list[InterruptRecord]:
    """The interrupts still waiting at a checkpoint."""
    if stored is None:
        return []
    return [i for i in stored.interrupts if i.status == "pending"]


def split_result(spec: GraphSpec, name: str, result: Any) -> tuple[list[tuple[str, Any]], list]:
    """A node's return value as (writes, goto targets)."""
    if isinstance(result, Command):
        if result.graph == Command.PARENT:
            raise InvalidUpdate("Command(graph=Command.PARENT) is not supported")
        writes = spec.schema.to_updates(result.update, name)
        return writes, list(result.goto_targets())
    if isinstance(result, (list, tuple)) and result and all(isinstance(r, Command) for r in result):
        writes, gotos = [], []
        for cmd in result:
            w, g = split_result(spec, name, cmd)
            writes += w
            gotos += g
        return writes, gotos
    return spec.schema.to_updates(result, name), []


# ---- the run -------------------------------------------------------------------------------


class _Run:
    """State of one invocation while the generator runs."""

    def __init__(
        self,
        spec: GraphSpec,
        start: Start,
        config: Mapping[str, Any],
        clock: Clock,
        *,
        durable: bool,
        recursion_limit: int,
        interrupt_before: frozenset[str] | None,
        interrupt_after: frozenset[str] | None,
        modes: frozenset[str] | None = None,
    ) -> None:
        self.spec = spec
        self.modes = modes
        self.config = config
        self.clock = clock
        self.durable = durable
        self.limit = recursion_limit
        self.before = spec.interrupt_before if interrupt_before is None else interrupt_before
        self.after = spec.interrupt_after if interrupt_after is None else interrupt_after
        self.thread_id = start.thread_id
        self.ns = start.checkpoint_ns
        self.values = dict(start.values)
        self.stored = start.stored
        self.record = start.stored.record if start.stored else None
        self.head = start.head_id
        self.fork = self.record is not None and self.record.checkpoint_id != start.head_id
        self.interrupts: list[InterruptRecord] = (
            [] if self.fork or start.stored is None else list(start.stored.interrupts)
        )
        self.task_writes: dict[str, TaskWrites] = (
            {}
            if self.fork or start.stored is None
            else {t.task_id: t for t in start.stored.task_writes}
        )
        conf = config.get("configurable") or {}
        self.run_id: str | None = str(conf["run_id"]) if conf.get("run_id") else None
        """The queued run this is (stamped on its checkpoints; its input applies once)."""
        self.run_after: str | None = conf.get("run_after")
        self.pending_update: list[tuple[str, Any]] = []
        """`Command(resume=..., update=...)`: writes applied with the resumed step (kept with
        the step's progress while it stays paused)."""
        stored_update = self.task_writes.pop(UPDATE_TASK, None)
        if stored_update is not None:
            self.pending_update = list(stored_update.writes)

    def step_values(self) -> dict[str, Any]:
        """What the next step's nodes see: the committed state plus a pending resume update
        (`self.values` itself stays the state of the current checkpoint)."""
        if not self.pending_update:
            return self.values
        view = dict(self.values)
        self.spec.schema.apply(view, self.pending_update, strict=False)
        return view

    def wants(self, mode: str) -> bool:
        """Whether the caller streams `mode` (None: emit everything)."""
        return self.modes is None or mode in self.modes

    # -- records ---------------------------------------------------------------------------

    def _interrupt_record(
        self,
        *,
        checkpoint_id: str,
        task: str,
        name: str,
        index: int,
        value: Any,
        kind: str = "interrupt",
        schema: dict[str, Any] | None = None,
        deadline: datetime | timedelta | None = None,
        approvers: tuple[str, ...] | None = None,
        escalations: tuple[Escalation, ...] = (),
    ) -> InterruptRecord:
        iid = interrupt_id(self.thread_id, self.ns, checkpoint_id, task, index)
        created_at = self.clock.now()
        meta: dict[str, Any] = {"graph": self.spec.name}
        conf = self.config.get("configurable") or {}
        requester = conf.get("requested_by") or conf.get("user_id")
        if requester is not None:  # who asked: the inbox shows it, approval rules use it
            meta["requested_by"] = str(requester)
        if schema is not None:
            meta["response_schema"] = schema
        if approvers is not None:
            meta["approvers"] = list(approvers)
        if escalations:  # what `expire_due` does when the deadline passes (see `escalate`)
            meta["escalations"] = [{"to": list(e.to), "after": e.deadline} for e in escalations]
        return InterruptRecord(
            interrupt_id=iid,
            thread_id=self.thread_id,
            checkpoint_ns=self.ns,
            checkpoint_id=checkpoint_id,
            task_id=task,
            task_name=name,
            index=index,
            value=value,
            kind=kind,  # type: ignore[arg-type]
            created_at=created_at,
            deadline=created_at + deadline if isinstance(deadline, timedelta) else deadline,
            metadata=meta,
        )

    def _breakpoint(self, checkpoint_id: str, when: str, nodes: list[str]) -> InterruptRecord:
        if not self.durable:
            raise CheckpointerRequired(
                f"interrupt_{when}={nodes} needs a checkpointer to pause: "
                "compile(checkpointer=InMemorySaver())"
            )
        return self._interrupt_record(
            checkpoint_id=checkpoint_id,
            task=BREAKPOINT_TASK,
            name=nodes[0],
            index=0,
            value={"type": "breakpoint", "when": when, "nodes": nodes},
            kind="breakpoint",
        )

    def _commit(
        self,
        *,
        source: str,
        writes: list[Write],
        next_: tuple[str, ...],
        sends: tuple[tuple[str, Any], ...],
        barriers: Mapping[str, tuple[str, ...]],
        step: int,
    ) -> CheckpointRecord:
        parent = self.record.checkpoint_id if self.record else None
        return CheckpointRecord(
            thread_id=self.thread_id,
            checkpoint_ns=self.ns,
            checkpoint_id=self.clock.new_checkpoint_id(
                max(filter(None, (parent, self.head)), default=None)
            ),
            parent_id=parent,
            step=step,
            created_at=self.clock.now(),
            source=source,
            writes=tuple(writes),
            next=next_,
            sends=sends,
            barriers=dict(barriers),
            metadata={"source": source, "step": step, "graph": self.spec.name}
            | ({"run_id": self.run_id} if self.run_id else {}),
            values=self.values,  # never mutated after this: each step builds a new dict
        )

    # -- routing ---------------------------------------------------------------------------

    def triggers(
        self,
        finished: Sequence[tuple[str, Sequence[str | Send]]],
        barriers: Mapping[str, tuple[str, ...]],
    ) -> tuple[tuple[str, ...], tuple[tuple[str, Any], ...], dict[str, tuple[str, ...]]]:
        """Next nodes, sends and join progress after `finished` (name, gotos) tasks."""
        spec = self.spec
        nxt: list[str] = []
        sends: list[tuple[str, Any]] = []
        joins = {k: list(v) for k, v in barriers.items()}
        state_view = None

        def add(target: str | Send) -> None:
            if isinstance(target, Send):
                if target.node not in spec.nodes:
                    raise InvalidUpdate(f"Send to unknown node {target.node!r}")
                sends.append((target.node, target.arg))
            elif target == END:
                return
            elif target not in spec.nodes:
                raise InvalidUpdate(
                    f"routed to unknown node {target!r}; known nodes: {sorted(spec.nodes)}"
                )
            elif target not in nxt:
                nxt.append(target)

        for name, gotos in finished:
            for edge_target in spec.edges.get(name, ()):
                add(edge_target)
            for branch in spec.branches.get(name, ()):
                if state_view is None:
                    state_view = spec.schema.to_input(self.values)
                for branch_target in branch.resolve(state_view, self.config):
                    add(branch_target)
            for sources, join_target in spec.joins:
                if name in sources:
                    key = "|".join(sources) + "->" + join_target
                    seen = joins.setdefault(key, [])
                    if name not in seen:
                        seen.append(name)
                    if set(seen) >= set(sources):
                        add(join_target)
                        joins.pop(key)
            for goto in gotos:
                add(goto)
        return tuple(nxt), tuple(sends), {k: tuple(v) for k, v in joins.items()}

    # -- planning --------------------------------------------------------------------------

    def plan(self) -> list[Task]:
        """Tasks of the step after the current checkpoint."""
        assert self.record is not None
        rec = self.record
        tasks: list[Task] = []
        names = [(n, None) for n in rec.next] + [(n, a) for n, a in rec.sends]
        state_input = None
        for i, (name, arg) in enumerate(names):
            tid = task_id(rec.checkpoint_id, name, i)
            if arg is None:
                if state_input is None:
                    state_input = self.spec.schema.to_input(self.step_values())
                node_input = state_input
            else:
                node_input = arg
            answered = sorted(
                (
                    r
                    for r in self.interrupts
                    if r.task_id == tid and r.status in ("resolved", "expired")
                ),
                key=lambda r: r.index,
            )
            memo = {}
            stored = self.task_writes.get(tid)
            if stored is not None:
                memo = {c[len(MEMO) :]: v for c, v in stored.writes if c.startswith(MEMO)}
            tasks.append(
                Task(
                    id=tid,
                    name=name,
                    input=node_input,
                    resume=[r.resume for r in answered],
                    memo=memo,
                )
            )
        return tasks

    def is_done(self, task: Task) -> bool:
        stored = self.task_writes.get(task.id)
        return stored is not None and any(c == DONE for c, _ in stored.writes)

    def is_waiting(self, task: Task) -> bool:
        return any(r.task_id == task.id and r.status == "pending" for r in self.interrupts)

    def stored_result(self, task: Task) -> tuple[list[tuple[str, Any]], list]:
        stored = self.task_writes[task.id]
        writes = [(c, v) for c, v in stored.writes if not c.startswith("__")]
        gotos: list[Any] = next((v for c, v in stored.writes if c == GOTO), [])
        return writes, list(gotos)

    # -- input -----------------------------------------------------------------------------

    def apply_decisions(self, decided: Mapping[str, Any], status: str = "resolved") -> None:
        self.interrupts = [
            replace(r, status=status, resume=decided[r.interrupt_id])  # type: ignore[arg-type]
            if r.interrupt_id in decided
            else r
            for r in self.interrupts
        ]


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
) -> Generator[Effect, Any, RunResult]:
    """Run the graph from `start` with `input`; see the module docstring. `modes` (stream
    modes the caller consumes) lets the engine skip building chunks nobody reads."""
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
    )
    fresh = input is not None and not (isinstance(input, Command) and input.has_resume)
    if fresh and run.run_id and (yield Applied(run.run_id, run.run_after)):
        rec, pending = run.record, [r for r in run.interrupts if r.status == "pending"]
        assert rec is not None  # a checkpoint of the run exists
        if rec.metadata.get("run_id") != run.run_id:  # another run committed after it
            raise RunSuperseded(
                f"run {run.run_id!r} applied its input on thread {run.thread_id!r}, and the "
                "thread moved on since; its outcome is in the thread's history (the "
                "checkpoints tagged with its run id)"
            )
        if pending or not (rec.next or rec.sends):  # it stopped: say where
            intr = tuple(Interrupt(value=r.value, id=r.interrupt_id) for r in pending)
            return RunResult(values=run.values, interrupts=intr, checkpoint_id=rec.checkpoint_id)
        return (yield from _loop(run, _past_breakpoint(run)))
    skip_before = yield from _start(run, input)
    if skip_before is None:  # input checkpoint committed; emit was done in _start
        skip_before = False
    return (yield from _loop(run, skip_before))


def _start(run: _Run, input: Any) -> Generator[Effect, Any, bool | None]:
    """Interpret the input. Returns whether to skip breakpoints-before for the first step."""
    pending = [r for r in run.interrupts if r.status == "pending"]
    is_resume = isinstance(input, Command) and input.has_resume
    if is_resume or input is None:
        if run.record is None:
            raise ResumeError(
                f"thread {run.thread_id!r} has no checkpoint: there is nothing to resume; "
                "start it with input first"
            )
        if is_resume:
            elsewhere: Mapping[str, InterruptRecord | None] = {}
            if looks_like_id_map(input.resume):
                here = {r.interrupt_id for r in run.interrupts}
                missing = tuple(k for k in input.resume if k not in here)
                if missing:
                    elsewhere = yield Lookup(missing)
            elif not pending:
                decided = yield HasDecided()
                if decided:
                    raise ResumeConflict(
                        f"thread {run.thread_id!r} has nothing pending: its request was "
                        "already decided"
                    )
            current = run.record.checkpoint_id if run.record else None
            decisions = match_resume(run.thread_id, run.interrupts, current, input, elsewhere)
            validate_decisions(run.interrupts, decisions)
            authorize_decisions(run.config, run.interrupts, decisions)
        else:
            real = [r for r in pending if r.kind != "breakpoint"]
            if real:
                raise ResumeError(
                    f"thread {run.thread_id!r} waits for {len(real)} decision(s); resume with "
                    f"Command(resume=...) (pending ids: {[r.interrupt_id for r in real]})"
                )
            decisions = {r.interrupt_id: None for r in pending}
            if not decisions and not run.record.next and not run.record.sends:
                raise ResumeError(
                    f"thread {run.thread_id!r} has finished; there is nothing to resume. "
                    "Send new input to start another turn."
                )
        if decisions:
            status = "expired" if all(map(is_expired_answer, decisions.values())) else "resolved"
            yield Resolve(decisions, status)
            run.apply_decisions(decisions, status)
        if isinstance(input, Command) and input.update is not None:
            writes = run.spec.schema.to_updates(input.update, INPUT)
            run.pending_update = [*run.pending_update, *writes]
        return _past_breakpoint(run)

    if pending:
        raise InputRejected(
            f"thread {run.thread_id!r} waits for {len(pending)} decision(s) "
            f"({[r.interrupt_id for r in pending]}); answer with Command(resume=...) before "
            "sending new input"
        )
    if isinstance(input, Command):
        writes = run.spec.schema.to_updates(input.update, INPUT)
        gotos = list(input.goto_targets())
    else:
        writes = run.spec.schema.to_updates(input, INPUT)
        gotos = []
    if run.record is None:
        run.values = {**run.spec.schema.initial_values(), **run.values}
    run.spec.schema.apply(run.values, writes)
    if gotos:
        nxt, sends, _ = run.triggers([("__goto__", gotos)], {})
        barriers = dict(run.record.barriers) if run.record else {}
    else:
        nxt, sends, barriers = run.triggers([(START, [])], {})
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
    if run.wants("values"):
        yield Emit("values", dict(run.values))
    return None


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
        final = bool(interrupts) or not (rec.next or rec.sends)
        yield Commit(rec, run.head, interrupts, final)
    run.record = rec
    run.head = rec.checkpoint_id
    run.fork = False
    run.interrupts = list(interrupts)
    run.task_writes = {}


def _loop(run: _Run, skip_before: bool) -> Generator[Effect, Any, RunResult]:
    spec = run.spec
    steps = 0
    extra = run.pending_update
    while True:
        rec = run.record
        assert rec is not None
        names = list(rec.next) + [n for n, _ in rec.sends]
        if not names:
            return RunResult(values=run.values, interrupts=(), checkpoint_id=rec.checkpoint_id)
        if steps >= run.limit:
            raise RecursionLimit(
                f"the run took {steps} supersteps without finishing (recursion_limit="
                f"{run.limit}); raise config['recursion_limit'] if the graph loops on purpose"
            )
        hit = spec.hits(run.before, names)
        if hit and not skip_before:
            bp = run._breakpoint(rec.checkpoint_id, "before", hit)
            yield SaveProgress(rec.checkpoint_id, (), (bp,))
            run.interrupts.append(bp)
            intr: tuple[Interrupt, ...] = (Interrupt(value=bp.value, id=bp.interrupt_id),)
            yield Emit("updates", {"__interrupt__": intr})
            return RunResult(values=run.values, interrupts=intr, checkpoint_id=rec.checkpoint_id)
        skip_before = False

        tasks = run.plan()
        to_run = [t for t in tasks if not run.is_done(t) and not run.is_waiting(t)]
        outcomes: list[TaskOutcome] = []
        if to_run:
            outcomes = yield RunTasks(tuple(to_run), rec.checkpoint_id, rec.step + 1)
        by_id = {o.task.id: o for o in outcomes}

        finished: list[tuple[Task, list[tuple[str, Any]], list]] = []
        progress: list[TaskWrites] = []
        new_interrupts: list[InterruptRecord] = []
        first_error: BaseException | None = None
        for task in tasks:
            outcome = by_id.get(task.id)
            if outcome is None:
                if run.is_done(task):
                    writes, gotos = run.stored_result(task)
                    finished.append((task, writes, gotos))
                continue
            memo = [(MEMO + k, v) for k, v in {**task.memo, **outcome.memo}.items()]
            if outcome.error is not None:
                first_error = first_error or outcome.error
                progress.append(
                    TaskWrites(
                        task_id=task.id,
                        task_name=task.name,
                        writes=(*memo, (ERROR, f"{type(outcome.error).__name__}: {outcome.error}")),
                    )
                )
            elif outcome.interrupt is not None:
                pi = outcome.interrupt
                new_interrupts.append(
                    run._interrupt_record(
                        checkpoint_id=rec.checkpoint_id,
                        task=task.id,
                        name=task.name,
                        index=pi.index,
                        value=pi.interrupt.value,
                        schema=pi.response_schema,
                        deadline=pi.deadline,
                        approvers=pi.approvers,
                        escalations=pi.escalations,
                    )
                )
                if memo:
                    progress.append(
                        TaskWrites(task_id=task.id, task_name=task.name, writes=tuple(memo))
                    )
            else:
                try:
                    writes, gotos = split_result(spec, task.name, outcome.result)
                except InvalidUpdate as exc:
                    first_error = first_error or exc
                    continue
                finished.append((task, writes, gotos))
                done_writes = [*writes, *memo, (DONE, True)]
                if gotos:
                    done_writes.append((GOTO, list(gotos)))
                progress.append(
                    TaskWrites(task_id=task.id, task_name=task.name, writes=tuple(done_writes))
                )

        waiting = [r for r in run.interrupts if r.status == "pending"] + new_interrupts
        if first_error is not None or waiting:
            if run.pending_update:
                progress.append(
                    TaskWrites(
                        task_id=UPDATE_TASK, task_name=INPUT, writes=tuple(run.pending_update)
                    )
                )
            if run.durable and (progress or new_interrupts):
                yield SaveProgress(rec.checkpoint_id, tuple(progress), tuple(new_interrupts))
            for t in progress:
                run.task_writes[t.task_id] = t
            run.interrupts.extend(new_interrupts)
            for task, writes, _ in finished:
                if task.id in by_id and run.wants("updates"):
                    yield Emit("updates", {task.name: _update_view(writes)})
            if first_error is not None:
                raise first_error
            intr = tuple(Interrupt(value=r.value, id=r.interrupt_id) for r in waiting)
            yield Emit("updates", {"__interrupt__": intr})
            return RunResult(values=run.values, interrupts=intr, checkpoint_id=rec.checkpoint_id)

        # every task finished: fold the step's writes in task order and commit
        all_writes = [
            Write(node=t.name, channel=c, value=v) for t, ws, _ in finished for c, v in ws
        ]
        if extra:
            all_writes = [Write(node=INPUT, channel=c, value=v) for c, v in extra] + all_writes
            extra = []
        new_values = dict(run.values)
        spec.schema.apply(
            new_values, ((w.channel, w.value) for w in all_writes if w.node == INPUT), strict=False
        )
        spec.schema.apply(new_values, ((w.channel, w.value) for w in all_writes if w.node != INPUT))
        run.values = new_values
        run.pending_update = []
        nxt, sends, barriers = run.triggers(
            [(t.name, gotos) for t, _, gotos in finished], rec.barriers
        )
        new = run._commit(
            source="loop",
            writes=all_writes,
            next_=nxt,
            sends=sends,
            barriers=barriers,
            step=rec.step + 1,
        )
        ran = [t.name for t, _, _ in finished]
        hit_after = spec.hits(run.after, ran)
        bps = (run._breakpoint(new.checkpoint_id, "after", hit_after),) if hit_after else ()
        yield from _commit(run, new, bps)
        if run.wants("updates"):
            for task, writes, _ in finished:
                yield Emit("updates", {task.name: _update_view(writes)})
        if run.wants("values"):
            yield Emit("values", dict(run.values))
        steps += 1
        if bps:
            intr = (Interrupt(value=bps[0].value, id=bps[0].interrupt_id),)
            yield Emit("updates", {"__interrupt__": intr})
            return RunResult(values=run.values, interrupts=intr, checkpoint_id=new.checkpoint_id)


def _update_view(writes: list[tuple[str, Any]]) -> dict[str, Any] | None:
    if not writes:
        return None
    out: dict[str, Any] = {}
    for c, v in writes:
        out[c] = v
    return out
