"""Every exception interlock raises, as one tree.

```
InterlockError                     base of everything below
├── GraphError                     a graph that cannot be built or run as asked
│   ├── InvalidGraph               compile-time problem: unknown node, dangling edge, no entry
│   ├── InvalidUpdate              a node returned something that is not a state update
│   │                              (alias `InvalidUpdateError`)
│   ├── RecursionLimit             a run took more supersteps than `recursion_limit`
│   │                              (also a `RecursionError`; alias `GraphRecursionError`)
│   ├── CheckpointerRequired       interrupts/breakpoints/threads need a checkpointer
│   ├── CacheRequired              `clear_cache` on a graph compiled without `cache=`
│   │                              (also a `ValueError`, as LangGraph's)
│   └── NonDeterministicTask       an entrypoint's re-run called other tasks than it recorded
├── ResumeError                    a resume that does not match what the thread waits for
│   ├── ResumeConflict             the request was already decided (maybe by someone else)
│   │   ├── AlreadyVoted           this person already voted on a quorum request
│   │   └── ResumeBusy             another run holds the thread (maybe deciding the same request)
│   └── VersionChanged             the thread paused under code that changed incompatibly
├── InputRejected                  new input sent while requests are pending
├── ThreadBusy                     another run holds the thread
├── InvalidResumeValue             a resume value failed the interrupt's `response_schema`
├── SerializationError             a value that cannot be stored (names the key path)
├── StoreError                     a checkpoint store problem
│   ├── StoreUnavailable           the database cannot be reached; nothing was changed
│   │   └── StepNotSaved           ... as a run wrote a finished step: `save()` it later
│   ├── SchemaTooNew               the store was written by a newer interlock; nothing was changed
│   ├── InvalidNamespaceError      a long-term memory namespace that cannot be used (a ValueError)
│   ├── StoreFeatureUnsupported    a long-term memory option the store lacks (a NotImplementedError)
│   └── EmbeddingError             a store's embedding model failed or misfit; nothing was written
└── (agent, model and server families live beside their layers and derive from this base)

GraphInterrupt (BaseException)     control flow: a node paused; never catch it yourself
```

`GraphInterrupt` derives from `BaseException`, not `Exception`, so that user code written
as `try: ... except Exception: ...` around an `interrupt()` call does not swallow the pause.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from interlock._types import Interrupt

__all__ = [
    "AlreadyVoted",
    "CacheRequired",
    "CheckpointerRequired",
    "EmbeddingError",
    "GraphError",
    "GraphInterrupt",
    "GraphRecursionError",
    "InputRejected",
    "InterlockError",
    "InvalidGraph",
    "InvalidNamespaceError",
    "InvalidResumeValue",
    "InvalidUpdate",
    "InvalidUpdateError",
    "NonDeterministicTask",
    "RecursionLimit",
    "ResumeBusy",
    "ResumeConflict",
    "ResumeError",
    "RunStopped",
    "RunSuperseded",
    "SerializationError",
    "StepNotSaved",
    "StoreError",
    "StoreFeatureUnsupported",
    "StoreUnavailable",
    "ThreadBusy",
    "ThreadRequired",
    "VersionChanged",
]


class InterlockError(Exception):
    """Base class of every error interlock raises on purpose."""


class GraphError(InterlockError):
    """A graph that cannot be built or run as asked."""


class InvalidGraph(GraphError):
    """The graph definition is wrong: unknown node, dangling edge, missing entry point."""


class InvalidUpdate(GraphError):
    """A node returned a value that is not a state update (dict, Command or None)."""


class RecursionLimit(GraphError, RecursionError):
    """The run reached `recursion_limit`; raise it in the config if the graph loops on purpose.

    Counted as LangGraph counts it (see `interlock.graph._engine`), and, like LangGraph's
    `GraphRecursionError` (its alias here), a `RecursionError` too:

        >>> issubclass(RecursionLimit, RecursionError) and GraphRecursionError is RecursionLimit
        True
    """


GraphRecursionError = RecursionLimit
"""LangGraph's name (`langgraph.errors.GraphRecursionError`) for `RecursionLimit`."""

InvalidUpdateError = InvalidUpdate
"""LangGraph's name (`langgraph.errors.InvalidUpdateError`) for `InvalidUpdate`."""


class CheckpointerRequired(GraphError):
    """Interrupts, breakpoints and thread ids need `compile(checkpointer=...)`."""


class ThreadRequired(GraphError, ValueError):
    """A call to a graph with a checkpointer without `configurable.thread_id` (LangGraph
    raises a ValueError there, so this is one too)."""


class CacheRequired(GraphError, ValueError):
    """`clear_cache()` on a graph compiled without `cache=` (LangGraph raises a ValueError
    there, so this is one too)."""


class NonDeterministicTask(GraphError):
    """A functional-API entrypoint, run again after a pause, called a different task (or
    the same task with different arguments) at a place where its earlier run recorded
    another: its control flow must not depend on anything but its input, `previous`, its
    tasks' results and `interrupt()` answers."""


class ResumeError(InterlockError, RuntimeError):
    """A resume that does not match what the thread is waiting for.

    Raised for a thread with nothing pending, an unknown interrupt id, a thread that does not
    exist, or a malformed resume value. Nothing is changed; the thread stays as it was.
    A `RuntimeError`, as LangGraph's for a resume without ids when several wait.
    """


class ResumeConflict(ResumeError):
    """The interrupt was already answered, by this caller or a concurrent one.

    Exactly one resume of a pending interrupt succeeds; every other one gets this error.
    """


class AlreadyVoted(ResumeConflict):
    """This person already voted on what a quorum request is deciding (one vote per
    person; an edit by someone else restarts the count). Nothing was recorded."""


class ResumeBusy(ResumeConflict):
    """A resume found its thread held by another run, which may be deciding the same request
    (then this one has nothing to do) or, on a quorum request, counting another vote (then
    this one may be sent again once the thread is free: the service does that itself)."""


class RunSuperseded(ResumeConflict):
    """A run retried with its run id (`configurable.run_id`) had applied its input, and the
    thread has moved on since (another run committed after it): retrying cannot continue it.
    Its outcome is in the thread's history, in the checkpoints tagged with its run id."""


class VersionChanged(ResumeError):
    """The thread paused under another version of the graph, and what changed breaks it:
    the resume is refused before its decision is recorded (the request stays pending), or a
    decision recorded under the old code is returned to pending (`reopen_interrupt`).
    `changes` names each breaking change; roll back, register a migration
    (`@graph.migrate(from_version=...)`) or opt in with `on_version_change="resume"`."""

    def __init__(
        self,
        message: str,
        *,
        graph: str = "",
        from_version: str | None = None,
        to_version: str | None = None,
        changes: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.graph = graph
        self.from_version = from_version
        self.to_version = to_version
        self.changes = tuple(changes)


class InputRejected(InterlockError):
    """New input was sent to a thread that waits for a decision.

    Answer the pending interrupts with `Command(resume=...)` first, or pass
    `Command(update=..., goto=...)` explicitly.
    """


class ThreadBusy(InterlockError):
    """Another run (in this or another process) holds the thread's lease right now."""


class RunStopped(InterlockError):
    """The run was asked to stop (the service's run cancel) and stopped between two steps:
    every step it finished is saved, the lease is given back, and the thread goes on from
    there with `invoke(None, config)` (its next nodes are still to run). A run stops only
    after its first step, so a decision it carries out is never left recorded but unapplied.
    """


class InvalidResumeValue(ResumeError):
    """A resume value failed validation against the interrupt's `response_schema`.

    The request stays pending; answer again with a valid value.
    """


class RequestExpired(InterlockError):
    """Raised inside a node by `interrupt(..., deadline=...)` when nobody answered in time
    and the call gave no `on_expiry` value. Catch it to decide what an unanswered request
    means; uncaught, it fails the run like any error."""


class SerializationError(InterlockError, TypeError):
    """A value cannot be stored. The message names its key path and type.

    Raised at write time, before anything is saved, so the thread stays as it was.
    """

    def __init__(self, message: str, *, path: str = "", type_name: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.type_name = type_name


class StoreError(InterlockError):
    """A checkpoint store failed."""


class StoreUnavailable(StoreError):
    """The store's database cannot be reached. The operation changed nothing; retry later."""


class StepNotSaved(StoreUnavailable):
    """The store went away as a run wrote a step whose nodes had finished. The store holds
    nothing of the step, but the nodes ran (their side effects happened): whoever goes on
    with the thread would run them again. A caller still alive calls `save()` once the store
    answers, and the thread goes on from the saved step instead (`invoke(None, config)`).

    `save()` writes only under the failed run's own thread lease (taken again if it lapsed
    and nobody took it meanwhile) and only on the head the step was built on, so it never
    writes over a run that went on without it: True once written (again True, writing
    nothing, if called once more); False if it never will be
    (another run holds the thread or moved it on, or the write had reached the store before
    its reply was lost); `StoreUnavailable` while the store is still away (call again
    later). What it holds: the step, the writes the run made right after it without running
    anything (exit durability: the flushed steps and the stopped step's progress), and the
    steps of subgraphs that failed the same way (written first).

    The thread's lease is given back as after any failure — the caller may never call
    `save()` — unless the run's config says its owner saves held steps
    (`configurable["hold_unsaved_steps"]`: the service's runs): then the lease stays held,
    so nobody runs the thread meanwhile. The service does this by itself for every run it
    starts."""

    def __init__(
        self,
        message: str,
        *,
        thread_id: str,
        save: Callable[[], bool],
        held: Sequence[object] = (),
        nested: bool = False,
    ) -> None:
        super().__init__(message)
        self.thread_id = thread_id
        self._save = save
        self.held = tuple(held)
        """The writes it holds, in order (internal: a run whose subgraph failed this way
        writes the subgraph's step with its own)."""
        self.nested = nested
        """Raised by a subgraph (its parent holds its step)."""

    def save(self) -> bool:
        """Write the step now (see the class docstring)."""
        return self._save()


class SchemaTooNew(StoreError):
    """The store's schema has migrations this interlock does not know: a newer interlock
    wrote it. This one refuses to use it (it could corrupt it) and changed nothing; upgrade
    interlock."""


class InvalidNamespaceError(StoreError, ValueError):
    """A long-term memory namespace that cannot be used: empty, a label that is not a
    non-empty string or holds NUL, or (for a write) a first label `langgraph`. Nothing was
    read or written. LangGraph's name; also a `ValueError`, as there."""


class StoreFeatureUnsupported(StoreError, NotImplementedError):
    """A long-term memory option the store was not made with or interlock does not have
    (`query=` / `index=` on a store without an index, a distance other than cosine, an async
    embedder called from sync code): nothing was read or written. Also a
    `NotImplementedError`, as LangGraph raises for options a store lacks."""


class EmbeddingError(StoreError):
    """A long-term memory store's embedding model raised (the cause is chained), or returned
    vectors that do not fit the index (not one per text, not `dims` numbers, NaN), or a
    query met vectors stored under another `dims` (write those items again): nothing was
    read or written."""


class GraphInterrupt(BaseException):
    """Control flow: the running task paused at `interrupt()` (or a breakpoint).

    Derives from BaseException so `except Exception` in user code does not swallow it.
    """

    def __init__(self, interrupts: Sequence[Interrupt] = ()) -> None:
        super().__init__(interrupts)
        self.interrupts: tuple[Interrupt, ...] = tuple(interrupts)

    def __repr__(self) -> str:
        return f"GraphInterrupt({list(self.interrupts)!r})"
