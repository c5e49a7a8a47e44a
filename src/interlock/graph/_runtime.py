"""What a running node may ask for besides its state: `Runtime` (run context, store, stream
writer, execution info), `get_runtime()`, and the per-node `RetryPolicy`.

LangGraph 1.x vocabulary: `StateGraph(State, context_schema=Context)`, then
`graph.invoke(input, config, context=Context(...))`, and a node declared as
`def node(state, runtime: Runtime[Context])` (or calling `get_runtime()`) reads
`runtime.context`. The context is not saved with the thread: pass it on every call, resumes
included, as in LangGraph.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, NamedTuple, TypeVar, cast

from interlock.errors import CheckpointerRequired, GraphError, StepNotSaved
from interlock.graph._interrupt import TaskContext, _current, current_task

__all__ = [
    "Durability",
    "ExecutionInfo",
    "NodeTask",
    "RetryPolicy",
    "Runtime",
    "coerce_context",
    "default_retry_on",
    "get_runtime",
    "get_store",
    "sent_state",
    "stateful_refused",
]

ContextT = TypeVar("ContextT")

Durability = Literal["sync", "async", "exit"]
"""When a run's steps are written (LangGraph's names; see `CompiledStateGraph.invoke`):
`"sync"` each step before the next starts (the default), `"async"` the same here (a step's
commit is what the next step's exactly-once checks stand on), `"exit"` only when the run
stops. A pause, a decision and the run's last step are durable in every mode."""


def _no_writer(_chunk: Any) -> None:
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionInfo:
    """Read-only facts about the node run in progress.

    Example:
        >>> ExecutionInfo(checkpoint_id="c", checkpoint_ns="", task_id="t").node_attempt
        1
    """

    checkpoint_id: str
    """The checkpoint whose next step this task belongs to."""
    checkpoint_ns: str
    """The namespace of that checkpoint ("" for the root graph)."""
    task_id: str
    """The task's deterministic id."""
    thread_id: str | None = None
    """The thread, or None when the graph has no checkpointer."""
    run_id: str | None = None
    """`config["configurable"]["run_id"]`, when given."""
    node_attempt: int = 1
    """Which attempt this is (1 for the first; see `RetryPolicy`)."""
    node_first_attempt_time: float | None = None
    """When the first attempt started (Unix seconds)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Runtime(Generic[ContextT]):
    """Run-scoped dependencies handed to a node that declares a `runtime` parameter.

    Example:
        >>> from dataclasses import dataclass
        >>> from typing import TypedDict
        >>> from interlock import StateGraph, START, Runtime
        >>> @dataclass
        ... class Context:
        ...     user: str
        >>> class State(TypedDict, total=False):
        ...     greeting: str
        >>> def greet(state: State, runtime: Runtime[Context]) -> dict:
        ...     return {"greeting": f"hello {runtime.context.user}"}
        >>> g = StateGraph(State, context_schema=Context)
        >>> _ = g.add_node("greet", greet).add_edge(START, "greet")
        >>> g.compile().invoke({}, context={"user": "ada"})
        {'greeting': 'hello ada'}
    """

    context: ContextT = None  # type: ignore[assignment]
    """What the caller passed as `invoke(..., context=...)` (None when nothing was)."""
    store: Any = None
    """The object given to `compile(store=...)`, or None. interlock has no long-term memory
    store of its own: any object (e.g. a LangGraph `BaseStore`) is handed to nodes as is."""
    stream_writer: Callable[[Any], None] = _no_writer
    """Sends a chunk to `stream(..., stream_mode="custom")` readers (a no-op otherwise)."""
    previous: Any = None
    """In a functional-API entrypoint (`interlock.func`): what its last run on this thread
    returned (or saved with `entrypoint.final`); None in graph nodes."""
    execution_info: ExecutionInfo | None = None
    """The task's checkpoint, namespace, id and attempt number."""


@dataclass(slots=True, kw_only=True)
class NodeTask(TaskContext):
    """The task context of a node run, with the `Runtime` it was given."""

    runtime: Runtime[Any] | None = None
    """The task's `Runtime` once built (`current_runtime()` builds it on first use)."""
    make_runtime: Callable[[], Runtime[Any]] | None = None
    """Builds the `Runtime`: most nodes never ask for it, so it is not built per task."""
    env: Any = None
    """The driver's `Env` of the run the task belongs to (subgraphs run below it)."""
    sink: Callable[[tuple[str, ...], str, Any], None] | None = None
    """Where stream chunks of the task (and of subgraphs it runs) go: `(ns, mode, chunk)`."""
    subgraph_calls: int = 0
    """Subgraphs this task ran so far (the k-th gets its own namespace)."""
    read_state: Callable[[], Any] | None = None
    """A `Send`'s task: reads the graph's state (see `sent_state`)."""
    child_pause: BaseException | None = None
    """A subgraph the node streams paused (its `SubgraphPaused`): the pause stands even
    when the node stops reading the stream and returns (its requests stay answerable)."""

    def call_mark(self) -> str | None:
        """What sets this call apart in the namespace of a subgraph it runs, beside the
        task's name and id: None for a node (a functional-API call says its place)."""
        return None

    def claim_stateful(self, ns: str) -> None:
        """Note that this call runs a subgraph kept by node name (`checkpointer=True`)
        under `ns` (a node's calls each get their own `#k` namespace: nothing to check)."""

    def take_unmarked(self) -> bool:
        """Whether a subgraph this call runs may go on under its namespace without the call's
        mark (a functional-API task call's, paused before the mark existed)."""
        return False

    def current_runtime(self) -> Runtime[Any] | None:
        """The task's `Runtime`, built on first use."""
        if self.runtime is None and self.make_runtime is not None:
            self.runtime = self.make_runtime()
        return self.runtime


def stateful_refused(ns: str) -> GraphError:
    """The error for a second functional-API call running a subgraph kept by node name
    (`checkpointer=True`) in one run of the entrypoint."""
    return GraphError(
        f"a subgraph compiled with checkpointer=True keeps its state under {ns!r} (the "
        "entrypoint's name), and another call of this run already ran one there: run such "
        "subgraphs from one call per run, or compile them without checkpointer=True so "
        "that each call's subgraph keeps its own state"
    )


def get_runtime(context_schema: type[ContextT] | None = None) -> Runtime[ContextT]:
    """The `Runtime` of the node (or tool a node calls) running now.

    `context_schema` only helps type checkers. Raises `GraphError` outside a running node.

    Example:
        >>> def node(state):  # doctest: +SKIP
        ...     user = get_runtime().context.user
    """
    ctx = current_task()
    current = getattr(ctx, "current_runtime", None)
    runtime = current() if current is not None else getattr(ctx, "runtime", None)
    if runtime is None:
        raise GraphError("get_runtime() works only inside a node while the graph runs")
    return runtime  # type: ignore[no-any-return]


def sent_state() -> Any:
    """The graph's state values (a dict of its keys, whatever the state schema's type),
    when a `Send` runs the running node (its input is then the `Send`'s argument): the
    state LangGraph 1.2 gives the tools of a `ToolNode` sent `Send("tools", [tool_call])`.
    None for other nodes and outside a running graph."""
    read = getattr(_current.get(), "read_state", None)
    return read() if read is not None else None


def get_store() -> Any:
    """The long-term memory store of the graph running now (`compile(store=...)` /
    `entrypoint(store=...)`; None if it has none). LangGraph's `langgraph.config.get_store`.
    Raises `GraphError` outside a running node.

    Example:
        >>> def node(state):  # doctest: +SKIP
        ...     memories = get_store().search(("users", state["user"]))
    """
    ctx = current_task()
    current = getattr(ctx, "current_runtime", None)
    runtime = current() if current is not None else getattr(ctx, "runtime", None)
    if runtime is not None:
        return runtime.store
    return getattr(getattr(ctx, "env", None), "store", None)


def coerce_context(schema: Any, context: Any) -> Any:
    """The context as nodes see it: a dict given for a dataclass or pydantic
    `context_schema` is turned into an instance of it (LangGraph's rule); anything else is
    passed unchanged. A dict that does not fit the schema raises `GraphError`."""
    if context is None or schema is None or not isinstance(context, dict):
        return context
    is_model = hasattr(schema, "model_validate") and hasattr(schema, "model_fields")
    if not (is_model or (isinstance(schema, type) and dataclasses.is_dataclass(schema))):
        return context
    try:
        return schema.model_validate(context) if is_model else schema(**context)
    except Exception as exc:  # a TypeError or pydantic's ValidationError
        raise GraphError(
            f"context {context!r} does not fit context_schema {schema.__name__}: {exc}"
        ) from exc


# ---- retries -------------------------------------------------------------------------------


def default_retry_on(exc: Exception) -> bool:
    """LangGraph's default: retry errors that look transient (connection errors, HTTP 5xx
    from httpx or requests, anything not a programming error), not `ValueError`,
    `TypeError`, `LookupError`, `OSError` and the like."""
    if isinstance(exc, ConnectionError):
        return True
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if type(exc).__name__ in ("HTTPStatusError", "HTTPError") and isinstance(status, int):
        return 500 <= status < 600
    return not isinstance(
        exc,
        ValueError
        | TypeError
        | ArithmeticError
        | ImportError
        | LookupError
        | NameError
        | SyntaxError
        | RuntimeError
        | ReferenceError
        | StopIteration
        | StopAsyncIteration
        | OSError,
    )


class RetryPolicy(NamedTuple):
    """How often, and how patiently, a failing node is run again: `add_node(...,
    retry_policy=RetryPolicy(...))` (or a list of policies: the first whose `retry_on`
    matches the error applies).

    The n-th retry waits `min(max_interval, initial_interval * backoff_factor**(n-1))`
    seconds, plus up to one second of random jitter. Each failed attempt is recorded with
    the task, so a run taken over after a crash goes on counting, and `once()` results of a
    failed attempt are not recomputed by the next.

    Example:
        >>> RetryPolicy(max_attempts=5, retry_on=KeyError).max_attempts
        5
    """

    initial_interval: float = 0.5
    backoff_factor: float = 2.0
    max_interval: float = 128.0
    max_attempts: int = 3
    """Attempts in all, the first included."""
    jitter: bool = True
    retry_on: type[Exception] | Sequence[type[Exception]] | Callable[[Exception], bool] = (
        default_retry_on
    )

    def matches(self, exc: BaseException) -> bool:
        """Whether this policy retries `exc`."""
        if not isinstance(exc, Exception):
            return False
        rule = self.retry_on
        if isinstance(rule, type) and issubclass(rule, BaseException):
            return isinstance(exc, rule)
        if isinstance(rule, Sequence):
            return isinstance(exc, tuple(rule))
        return bool(cast(Callable[[Exception], bool], rule)(exc))

    def delay(self, failures: int) -> float:
        """Seconds before the attempt that follows `failures` failures (no jitter)."""
        interval = self.initial_interval * self.backoff_factor ** (failures - 1)
        return float(min(self.max_interval, interval))


def retry_delay(
    policies: Sequence[RetryPolicy], exc: BaseException, attempt: int
) -> tuple[float, bool] | None:
    """After attempt number `attempt` failed with `exc`: `(delay, jitter)` before the next
    attempt, or None when no policy retries it or its attempts are used up."""
    if isinstance(exc, StepNotSaved | CheckpointerRequired):
        # a subgraph's step waits to be saved; a graph without a store cannot pause: the
        # same again, whatever the policy
        return None
    policy = next((p for p in policies if p.matches(exc)), None)
    if policy is None or attempt >= policy.max_attempts:
        return None
    return policy.delay(attempt), policy.jitter


def check_retry_policy(policy: Any) -> tuple[RetryPolicy, ...]:
    """`add_node`'s `retry_policy` as a tuple, or `InvalidGraph`-worthy ValueError."""
    if policy is None:
        return ()
    policies = (policy,) if isinstance(policy, RetryPolicy) else tuple(policy)
    for p in policies:
        if not isinstance(p, RetryPolicy):
            raise ValueError(f"retry_policy takes RetryPolicy(...) values, not {p!r}")
        if p.max_attempts < 1 or p.initial_interval < 0 or p.max_interval < 0:
            raise ValueError(f"{p!r}: max_attempts must be >= 1 and intervals >= 0")
    return policies
