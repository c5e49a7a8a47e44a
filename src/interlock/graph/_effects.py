"""What the engine and its drivers exchange: tasks, their outcomes, and the effects the
engine asks a driver to perform (run tasks, commit, save progress, resolve, emit)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from interlock._types import Command, Interrupt
from interlock.checkpoint.base import (
    CheckpointRecord,
    InterruptRecord,
    StoredCheckpoint,
    TaskWrites,
)
from interlock.errors import GraphInterrupt
from interlock.graph._interrupt import PendingInterrupt

__all__ = [
    "NS_SEP",
    "Applied",
    "CacheGet",
    "CacheSet",
    "Clock",
    "Commit",
    "Effect",
    "Emit",
    "HasDecided",
    "Lookup",
    "ParentCommand",
    "Reopen",
    "Resolve",
    "RunResult",
    "RunTasks",
    "SaveProgress",
    "Start",
    "SubgraphPaused",
    "Task",
    "TaskOutcome",
    "Vote",
]


NS_SEP = "|"
"""Separates the levels of a checkpoint namespace: `outer:<task id>|inner:<task id>`."""


class SubgraphPaused(GraphInterrupt):
    """Control flow: a subgraph run inside a task paused; its pending requests (stored in
    its own namespace `ns`) make the parent's task wait."""

    def __init__(
        self,
        interrupts: Sequence[Interrupt],
        ns: str,
        parts: Sequence[tuple[str, Sequence[Interrupt]]] = (),
    ) -> None:
        super().__init__(interrupts)
        self.ns = ns
        self.parts: tuple[tuple[str, tuple[Interrupt, ...]], ...] = tuple(
            (n, tuple(i)) for n, i in parts
        ) or ((ns, tuple(interrupts)),)
        """Each paused subgraph's namespace and requests: several when a task ran several
        subgraphs side by side (functional-API task calls) and more than one paused."""

    @classmethod
    def joined(cls, pauses: Sequence[SubgraphPaused]) -> SubgraphPaused:
        """One pause for the subgraphs of `pauses` (the first's namespace leads)."""
        if len(pauses) == 1:
            return pauses[0]
        parts: dict[str, tuple[Interrupt, ...]] = {}
        for p in pauses:
            for ns, items in p.parts:
                parts.setdefault(ns, items)
        return cls(
            [i for items in parts.values() for i in items], pauses[0].ns, list(parts.items())
        )


class ParentCommand(GraphInterrupt):
    """Control flow: a subgraph's node returned `Command(graph=Command.PARENT, ...)`; the
    parent's task that ran the subgraph returns `command` (without `graph`) instead."""

    def __init__(self, command: Command) -> None:
        super().__init__()
        self.command = command


@dataclass(frozen=True, slots=True, kw_only=True)
class Clock:
    """Time and ids, injected so the engine stays deterministic under test."""

    now: Callable[[], datetime]
    new_checkpoint_id: Callable[[str | None], str]
    """Returns an id that sorts after the given parent id."""


@dataclass(slots=True, kw_only=True)
class Task:
    """One node execution planned for a superstep."""

    id: str
    name: str
    input: Any
    """What the node function receives (state, or a Send's argument)."""
    send: int | None = None
    """Which of the step's sends it runs (a `Send`'s task), or None: a node an edge, a
    branch or a goto triggered. Orders the step's writes (`_run.fold_order`)."""
    resume: list[Any] = field(default_factory=list)
    answers: dict[int, Any] = field(default_factory=dict)
    """The same answers by the index of the `interrupt()` call they answer (the functional
    API's tasks number their calls apart from the entrypoint's)."""
    memo: dict[str, Any] = field(default_factory=dict)
    bound: dict[int, dict[str, Any]] = field(default_factory=dict)
    """What each answered call's decision was bound to, by call index (`_binding`)."""
    attempt: int = 1
    """Which attempt this is (`RetryPolicy`): 1, or more after recorded failures."""
    delay: float = 0.0
    """Seconds the driver waits before running it (a retry's backoff)."""
    jitter: bool = False
    """Add up to one random second to `delay` (the driver draws it)."""
    started: float | None = None
    """When its first attempt in this run started (Unix seconds; set by the driver)."""
    read_state: Callable[[], Any] | None = None
    """A `Send`'s task: reads the graph's state values (what LangGraph injects into the
    tools of a `ToolNode` sent tool calls); None for other tasks (their input is it)."""


@dataclass(slots=True, kw_only=True)
class TaskOutcome:
    """What running a task produced: a result, an error, or a pause (its own requests,
    subgraphs waiting, or both: a functional entrypoint whose task calls paused so)."""

    task: Task
    result: Any = None
    """The node's return value (a state update, a Command, or None)."""
    interrupt: PendingInterrupt | None = None
    more_interrupts: tuple[PendingInterrupt, ...] = ()
    """Further requests of the same task (parallel functional-API tasks that paused)."""
    error: BaseException | None = None
    memo: dict[str, Any] = field(default_factory=dict)
    """`once()` results recorded in this attempt."""
    waiting: SubgraphPaused | None = None
    """A subgraph the task ran paused: the task waits for its requests."""
    cached: tuple[list[tuple[str, Any]], list[Any]] | None = None
    """Its node's writes and gotos, from the node cache: the node did not run."""


@dataclass(frozen=True, slots=True)
class RunTasks:
    """Effect: run these tasks (concurrently when more than one); reply list[TaskOutcome]."""

    tasks: tuple[Task, ...]
    checkpoint_id: str
    step: int


@dataclass(frozen=True, slots=True)
class Commit:
    """Effect: `saver.put_checkpoint(record, expected_head=..., interrupts=...)`."""

    record: CheckpointRecord
    expected_head: str | None
    interrupts: tuple[InterruptRecord, ...] = ()
    final: bool = False
    """The run ends with this write: the store may give the thread's lease back in it."""
    cancels: tuple[str, ...] = ()
    """Requests this write leaves behind (a fork's old head, an update's pending ones): the
    driver cancels them just before the write, and gives them back (pending again) if the
    write then fails, so a write that does not happen cancels nothing (`_abandon.py`)."""


@dataclass(frozen=True, slots=True)
class SaveProgress:
    """Effect: `saver.put_task_writes(...)` for a step that did not complete."""

    checkpoint_id: str
    task_writes: tuple[TaskWrites, ...]
    interrupts: tuple[InterruptRecord, ...]
    final: bool = True
    """A step that did not complete always ends the run."""


@dataclass(frozen=True, slots=True)
class Resolve:
    """Effect: `saver.resolve_interrupts(thread, decisions)` (exactly once; may raise)."""

    decisions: Mapping[str, Any]
    status: str = "resolved"
    bindings: Mapping[str, Mapping[str, Any]] | None = None
    """By id: what each decision answered (`metadata["decision"]`)."""


@dataclass(frozen=True, slots=True)
class Vote:
    """Effect: `saver.cast_vote(thread, id, answer, voter=..., vote=...)`; reply the
    `VoteOutcome` (may raise)."""

    interrupt_id: str
    answer: Any
    voter: str
    vote: str
    binding: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Reopen:
    """Effect: `saver.reopen_interrupt(id, reason=..., value=...)`: an answered call asked
    something else this time (or its decision expired); reply the reopened record or None."""

    interrupt_id: str
    reason: str
    value: Any


@dataclass(frozen=True, slots=True)
class HasDecided:
    """Effect: does the thread have any decided interrupt? reply bool (for error messages)."""


@dataclass(frozen=True, slots=True)
class Lookup:
    """Effect: fetch interrupts by id from the whole store; reply {id: InterruptRecord}."""

    ids: tuple[str, ...]


CacheKey = tuple[tuple[str, ...], str]
"""A node cache entry's address: its namespace and key (`interlock.cache.FullKey`)."""


@dataclass(frozen=True, slots=True)
class CacheGet:
    """Effect: `cache.get(keys)` (`compile(cache=...)`); reply {key: cached value}."""

    keys: tuple[CacheKey, ...]


@dataclass(frozen=True, slots=True)
class CacheSet:
    """Effect: `cache.set(pairs)`: node results to keep, each with its time to live."""

    pairs: Mapping[CacheKey, tuple[Any, float | None]]


@dataclass(frozen=True, slots=True)
class Emit:
    """Effect: pass a stream chunk to the caller."""

    mode: str
    payload: Any


@dataclass(frozen=True, slots=True)
class Applied:
    """Effect: was the input of run `run_id` already committed on this thread? reply bool.

    A worker that applied a queued run's input and died leaves a checkpoint stamped with the
    run id; the worker that takes the run over must continue it, not apply the input again.
    Asked under the thread's lease, so no other run commits meanwhile (a stale worker whose
    lease lapsed still loses the head compare-and-swap of the input commit). The driver
    reads the thread's checkpoints newest first, a page at a time, and asks `seen(page)`
    whether that settles it."""

    run_id: str
    after: str | None = None
    """The thread's head when the run was queued: the run's checkpoints come after it."""

    def seen(self, page: Sequence[CheckpointRecord], size: int) -> bool | None:
        """True: a checkpoint of the run is in `page`; False: the search reached `after` (or
        the thread's first checkpoint) without one; None: read the next, older page."""
        for record in page:
            if self.after is not None and record.checkpoint_id <= self.after:
                return False
            if record.metadata.get("run_id") == self.run_id:
                return True
            if self.run_id in (record.metadata.get("updates_of") or ()):
                return True  # its Command's update went with another run's step
        return None if len(page) == size else False


Effect = (
    RunTasks
    | Commit
    | SaveProgress
    | Resolve
    | Vote
    | Reopen
    | HasDecided
    | Lookup
    | Applied
    | CacheGet
    | CacheSet
    | Emit
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """Where a run stopped."""

    values: dict[str, Any]
    interrupts: tuple[Interrupt, ...]
    checkpoint_id: str | None
    shown: dict[str, Any] | None = None
    """A paused step's state with its finished tasks' writes folded in (not committed):
    what `invoke` returns, as LangGraph's; None: `values`."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Start:
    """The checkpoint a run begins at, already folded."""

    thread_id: str
    checkpoint_ns: str
    stored: StoredCheckpoint | None
    values: dict[str, Any]
    head_id: str | None
    """The thread's actual head (compare-and-swap target); differs from stored on a fork."""
    migration: Any = None
    """A version migration to commit before the run goes on (`_versions.MigrationPlan`)."""
    abandons: tuple[str, ...] = ()
    """On a fork (a start older than the head): the requests pending on the old head,
    which the fork cancels before its first commit."""

    def as_result(self) -> RunResult:
        """Where a finished run stopped: this checkpoint, nothing pending."""
        checkpoint_id = self.stored.record.checkpoint_id if self.stored else None
        return RunResult(values=self.values, interrupts=(), checkpoint_id=checkpoint_id)
