"""The state of one run while the engine drives it: its checkpoint, interrupts and task
writes, the records it builds (checkpoints, interrupt requests), routing after a step and
planning the next one. Pure: ids and time come from the `Clock`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from interlock._types import END, Escalation, Send
from interlock.checkpoint.base import CheckpointRecord, InterruptRecord, TaskWrites, Write
from interlock.errors import CheckpointerRequired, InvalidUpdate
from interlock.graph._binding import bound
from interlock.graph._effects import Clock, Start, Task
from interlock.graph._interrupt import interrupt_id
from interlock.graph._root_state import is_state_channel
from interlock.graph._spec import GraphSpec
from interlock.graph._state import detached
from interlock.graph._writes import task_id

__all__ = [
    "ATTEMPTS",
    "BREAKPOINT_TASK",
    "CHILD",
    "DEFERRED",
    "DONE",
    "ERROR",
    "EXPECTED_HEAD",
    "EXPECTED_PENDING",
    "GOTO",
    "INPUT",
    "MEMO",
    "PART_SEP",
    "PASSABLE",
    "UPDATE_RUNS",
    "UPDATE_TASK",
    "error_text",
    "fold_order",
    "run_order",
]

INPUT = "__input__"
DONE = "__done__"
ERROR = "__error__"
GOTO = "__goto__"
ATTEMPTS = "__attempts__"
"""Failed attempts of a task so far (`RetryPolicy`), recorded before it is tried again."""
MEMO = "__memo__:"


def error_text(exc: BaseException) -> str:
    """A failed task's error as `get_state().tasks[i].error` shows it: its `repr`, as
    LangGraph's (`"RuntimeError('boom')"`); an error whose `repr` does not name its type
    (pydantic's `ValidationError`) as `"ValidationError: ..."`."""
    text = repr(exc)
    name = type(exc).__name__
    return text if text.startswith(name) else f"{name}: {exc}"


BREAKPOINT_TASK = "__breakpoint__"
CHILD = "__subgraph__"
"""A task waiting for a subgraph it ran: `{"ns": child namespace, "interrupts": [ids]}`."""
PART_SEP = ":"
"""`<task id>:<key>`: writes saved apart for part of a task (a functional-API task's result,
saved as it finishes); planning merges their memo entries into the task's."""
UPDATE_TASK = "__update__"
"""Task id under which `Command(resume=..., update=...)` writes wait while a step is paused."""
PASSABLE = "passable_breakpoints"
"""Configurable key: the breakpoint requests (ids) a `Command` without `resume`, or
`invoke(None)`, may pass. The service sets it to those its caller was allowed to decide
when the run was asked (a breakpoint that paused later makes the run wait:
`InputRejected`; a continue of a thread stopped between steps passes none); absent, as in
the library, a Command passes any, as `invoke(None)` does."""
EXPECTED_HEAD = "expected_head"
"""Configurable key of `update_state`: the head its caller worked the update out on (a
service's check of what the update plans); if the thread moved on since, the update raises
`ResumeConflict` and changes nothing."""
EXPECTED_PENDING = "expected_pending"
"""Configurable key of `update_state` and of a run from an older checkpoint (a fork): the
ids of the requests its caller checked that it may cancel (a service's check of who may
decide them); a request waiting that is not among them (asked since) makes it raise
`ResumeConflict` and change nothing."""
UPDATE_RUNS = "__update_runs__"
"""Task id (beside `UPDATE_TASK`) under which the queued runs (ids) whose
`Command(update=...)` waits in `UPDATE_TASK` are kept, as its one write (channel
`UPDATE_RUNS`). Not among `UPDATE_TASK`'s writes: the previous release applies each of
those as a state update (a rolling upgrade would put the ids into the thread's state);
it ignores a task id it does not plan."""
DEFERRED = "__deferred__"
"""The `barriers` entry naming the deferred nodes an edge triggered that wait for their turn
(a join key always holds "->", a node name never does; absent in older checkpoints)."""


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
        defer: bool = False,
        parent_task: str | None = None,
        root_graph: str | None = None,
        task_call: str | None = None,
        stop: Callable[[], bool] | None = None,
        caching: bool = False,
    ) -> None:
        self.spec = spec
        self.caching = caching
        """The graph has a node cache (`compile(cache=...)`): nodes with a `cache_policy`
        look for their results there (`_node_cache`)."""
        self.stop = stop
        """Asked between steps (after the first): True stops the run (`RunStopped`)."""
        self.modes = modes
        self.defer = defer
        """Exit durability: commit the steps of the run as one checkpoint when it stops."""
        self.unsaved: list[CheckpointRecord] = []
        """Records of steps not committed yet (exit durability), oldest first."""
        self.config = config
        self.clock = clock
        self.durable = durable
        self.limit = recursion_limit
        self.spent = 0
        """Steps of `limit` this run's start used up, as LangGraph counts them: 2 for new
        input (LangGraph's input and START steps, which interlock's input checkpoint is), 1
        for a fork's copy, 0 for a resume or a continuation."""
        self.steps = 0
        """Steps this run has committed (the engine's loop counts them)."""
        # as LangGraph's `interrupt_before or compiled`: an empty list keeps the compiled
        # breakpoints (it does not lift the reviews the graph was compiled with)
        self.before = interrupt_before or spec.interrupt_before
        self.after = interrupt_after or spec.interrupt_after
        self.parent_task = parent_task
        self.root_graph = root_graph
        """A subgraph's requests are the root graph's (its name is what the service and
        `expire_due` find them by); None for a root run."""
        """Set when this graph runs as a subgraph: the parent's task (stamped on commits)."""
        self.task_call = task_call
        """The functional-API task call this subgraph runs in (see `run_graph`)."""
        self.child_waits: dict[str, list[InterruptRecord]] = {}
        """Requests of subgraphs that tasks of this step ran and that paused, by task id
        (stored in the subgraphs' namespaces; loaded with `Lookup`)."""
        self.thread_id = start.thread_id
        self.ns = start.checkpoint_ns
        self.values = dict(start.values)
        self.stored = start.stored
        self.record = start.stored.record if start.stored else None
        self.head = start.head_id
        self.fork = self.record is not None and self.record.checkpoint_id != start.head_id
        self.abandons: tuple[str, ...] = start.abandons if self.fork else ()
        """The old head's pending requests a fork cancels before its first commit."""
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
        self.update_runs: list[str] = []
        """Queued runs whose `Command(update=...)` is in `pending_update` (applied: their
        takeover goes on from the step instead of applying it again)."""
        stored_update = self.task_writes.pop(UPDATE_TASK, None)
        if stored_update is not None:
            self.pending_update = list(stored_update.writes)
        stored_runs = self.task_writes.pop(UPDATE_RUNS, None)
        if stored_runs is not None:
            self.update_runs = [r for _, v in stored_runs.writes for r in v]

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
        max_auth_age: float | None = None,
        quorum: int | None = None,
    ) -> InterruptRecord:
        iid = interrupt_id(self.thread_id, self.ns, checkpoint_id, task, index)
        created_at = self.clock.now()
        meta: dict[str, Any] = {"graph": self.root_graph or self.spec.name}
        if self.spec.version is not None:  # the code the question was asked under
            meta["graph_version"] = self.spec.version
        if self.root_graph:
            meta["subgraph"] = self.spec.name
        conf = self.config.get("configurable") or {}
        requester = conf.get("requested_by") or conf.get("user_id")
        if requester is not None:  # who asked: the inbox shows it, approval rules use it
            meta["requested_by"] = str(requester)
        if schema is not None:
            meta["response_schema"] = schema
        if approvers is not None:
            meta["approvers"] = list(approvers)
        if max_auth_age is not None:  # the decider must have signed in this recently
            meta["max_auth_age"] = max_auth_age
        if quorum is not None:  # decided by that many people's votes (`_quorum`)
            meta["quorum"] = quorum
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
            | ({"graph_version": self.spec.version} if self.spec.version else {})
            | ({"run_id": self.run_id} if self.run_id else {})
            | ({"parent_task": self.parent_task} if self.parent_task else {})
            | ({"task_call": self.task_call} if self.task_call is not None else {}),
            values=self.values,  # never mutated after this: each step builds a new dict
        )

    # -- routing ---------------------------------------------------------------------------

    def triggers(
        self,
        finished: Sequence[tuple[str, Sequence[str | Send]]],
        barriers: Mapping[str, tuple[str, ...]],
    ) -> tuple[tuple[str, ...], tuple[tuple[str, Any], ...], dict[str, tuple[str, ...]]]:
        """Next nodes, sends and join progress after `finished` (name, gotos) tasks.

        An edge, branch or goto to a deferred node (`add_node(..., defer=True)`) holds it
        back in `barriers[DEFERRED]`; the held nodes run (in name order) in the first step
        for which no other node is triggered — sends do not hold them back (LangGraph's
        `LastValueAfterFinish` channels, finished when no other trigger fired)."""
        spec = self.spec
        nxt: list[str] = []
        sends: list[tuple[str, Any]] = []
        joins = {k: list(v) for k, v in barriers.items() if k != DEFERRED}
        held = list(barriers.get(DEFERRED, ()))
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
            elif spec.nodes[target].defer:
                if target not in held:
                    held.append(target)
            elif target not in nxt:
                nxt.append(target)

        for name, gotos in finished:
            for edge_target in spec.edges.get(name, ()):
                add(edge_target)
            for branch in spec.branches.get(name, ()):
                if state_view is None:
                    state_view = spec.schema.to_input(self.values, remaining=self.remaining)
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
        if held and not nxt:  # nothing else would run: the deferred nodes' turn
            nxt, held = sorted(held), []
        out = {k: tuple(v) for k, v in joins.items()}
        if held:
            out[DEFERRED] = tuple(held)
        return tuple(nxt), tuple(sends), out

    # -- planning --------------------------------------------------------------------------

    @property
    def remaining(self) -> int:
        """Steps the run may still take, this one included (LangGraph's `RemainingSteps`:
        its `stop - step`)."""
        return self.limit + 1 - (self.spent + self.steps)

    def plan(self) -> list[Task]:
        """Tasks of the step after the current checkpoint."""
        assert self.record is not None
        rec = self.record
        tasks: list[Task] = []
        names = [(n, None) for n in rec.next] + [(n, a) for n, a in rec.sends]
        inputs: dict[int, Any] = {}  # by input schema: nodes reading the same share one
        for i, (name, arg) in enumerate(names):
            send = i - len(rec.next) if i >= len(rec.next) else None
            tid = task_id(rec.checkpoint_id, name, i)
            if arg is None:
                node = self.spec.nodes.get(name)
                schema = (node.input_schema if node else None) or self.spec.schema
                if id(schema) not in inputs:
                    inputs[id(schema)] = schema.node_input(
                        self.step_values(), self.spec.schema.channels, self.remaining
                    )
                node_input = inputs[id(schema)]
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
            memo, attempt = {}, 1
            stored = self.task_writes.get(tid)
            if stored is not None:
                memo = {c[len(MEMO) :]: v for c, v in stored.writes if c.startswith(MEMO)}
                failed = dict(stored.writes)
                if ERROR not in failed:  # a run taken over mid-retries goes on counting
                    attempt += int(failed.get(ATTEMPTS, 0))
            for key, part in self.task_writes.items():  # saved one by one as they finished
                if key.startswith(tid + PART_SEP):  # (the functional API's tasks)
                    memo.update((c[len(MEMO) :], v) for c, v in part.writes if c.startswith(MEMO))
            tasks.append(
                Task(
                    id=tid,
                    name=name,
                    input=node_input,
                    send=send,
                    read_state=None if arg is None else self._state_reader(),
                    resume=[r.resume for r in answered],
                    answers={r.index: r.resume for r in answered},
                    bound={r.index: bound(r) for r in answered if r.status == "resolved"}
                    if answered
                    else {},
                    memo=memo,
                    attempt=attempt,
                )
            )
        return sorted(tasks, key=run_order)

    def _state_reader(self) -> Callable[[], dict[str, Any]]:
        """Reads, when asked, the state's values this step starts from, as a dict of its
        keys (not the schema's type; managed values left out), as LangGraph 1.2's
        `ToolNode` reads them for the calls a `Send` gave it."""
        values = self.step_values()
        return lambda: {k: detached(v) for k, v in values.items()}  # a tool's edits stay its own

    def is_done(self, task: Task) -> bool:
        stored = self.task_writes.get(task.id)
        return stored is not None and any(c == DONE for c, _ in stored.writes)

    def is_waiting(self, task: Task) -> bool:
        return any(r.task_id == task.id and r.status == "pending" for r in self.interrupts) or any(
            r.status == "pending" for r in self.child_waits.get(task.id, ())
        )

    def answerable(self) -> list[InterruptRecord]:
        """This checkpoint's requests and those of its paused subgraphs (as if asked at
        this checkpoint: a resume here answers them)."""
        if not self.child_waits or self.record is None:
            return list(self.interrupts)
        here = self.record.checkpoint_id
        nested = [replace(r, checkpoint_id=here) for rs in self.child_waits.values() for r in rs]
        return [*self.interrupts, *nested]

    def waiting(self) -> list[InterruptRecord]:
        """Pending requests of this checkpoint and of its paused subgraphs."""
        return [r for r in self.answerable() if r.status == "pending"]

    def stored_result(self, task: Task) -> tuple[list[tuple[str, Any]], list]:
        stored = self.task_writes[task.id]
        writes = [(c, v) for c, v in stored.writes if is_state_channel(c)]
        gotos: list[Any] = next((v for c, v in stored.writes if c == GOTO), [])
        return writes, list(gotos)

    # -- input -----------------------------------------------------------------------------

    def apply_decisions(
        self,
        decided: Mapping[str, Any],
        status: str = "resolved",
        bindings: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Mark requests decided as the store did (with each decision's binding)."""

        def apply(r: InterruptRecord) -> InterruptRecord:
            if r.interrupt_id not in decided:
                return r
            meta = r.metadata
            if bindings and r.interrupt_id in bindings:
                meta = {**meta, "decision": dict(bindings[r.interrupt_id])}
            return replace(
                r,
                status=status,  # type: ignore[arg-type]
                resume=decided[r.interrupt_id],
                metadata=meta,
            )

        self.interrupts = [apply(r) for r in self.interrupts]
        for tid, records in self.child_waits.items():
            self.child_waits[tid] = [apply(r) for r in records]


def run_order(task: Task) -> tuple[int, str, int]:
    """The order a step's tasks run and report in (their interrupts, their `updates`):
    sends first, in the order they were sent, then the other nodes by name (LangGraph)."""
    return (0, "", task.send) if task.send is not None else (1, task.name, 0)


def fold_order(task: Task) -> tuple[int, str, int]:
    """The order a step's writes are applied through the reducers and stored in: the
    nodes by name, then the sends in the order they were sent. LangGraph sorts a step's
    tasks by path, `("__pregel_pull", name)` before `("__pregel_push", index)`, so the
    result of an order-sensitive reducer does not depend on which task finished first.
    `fold` replays the stored order, so checkpoints written before keep their values."""
    return (1, "", task.send) if task.send is not None else (0, task.name, 0)
