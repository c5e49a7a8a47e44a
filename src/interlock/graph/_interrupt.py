"""The ambient task context, and what nodes and tools call through it: `interrupt`, `once`,
`get_stream_writer`, `get_config`.

This is the one ambient lookup in interlock: a `ContextVar` holding the `TaskContext` of the
task running in this thread or asyncio task. Drivers set it around each node call.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from interlock._types import Escalation, Interrupt, check_approvers
from interlock.checkpoint.serde import ensure_serializable
from interlock.errors import CheckpointerRequired, GraphError, GraphInterrupt, RequestExpired
from interlock.graph._binding import Bound, stale_reason

__all__ = [
    "EXPIRED",
    "TaskContext",
    "get_config",
    "get_message_writer",
    "get_stream_writer",
    "interrupt",
    "interrupt_id",
    "is_expired_answer",
    "once",
]

T = TypeVar("T")

_current: ContextVar[TaskContext | None] = ContextVar("interlock_task", default=None)


def interrupt_id(thread_id: str, ns: str, checkpoint_id: str, task_id: str, index: int) -> str:
    """The stable id of the `index`-th `interrupt()` call of a task at a checkpoint."""
    raw = f"{thread_id}\x00{ns}\x00{checkpoint_id}\x00{task_id}\x00{index}"
    return hashlib.blake2b(raw.encode(), digest_size=16).hexdigest()


EXPIRED: dict[str, Any] = {"__interlock__": "expired"}
"""The answer stored for a request whose deadline passed (`CompiledStateGraph.expire_due`)."""

_RAISE: Any = object()


def is_expired_answer(value: Any) -> bool:
    """Whether `value` is the answer recorded for an expired request."""
    return isinstance(value, dict) and value == EXPIRED


@dataclass(slots=True, kw_only=True)
class PendingInterrupt:
    """What `interrupt()` raised: the interrupt plus what the runtime stores with it."""

    interrupt: Interrupt
    index: int
    response_schema: dict[str, Any] | None = None
    deadline: datetime | timedelta | None = None
    """When the request expires: an instant, or a delay from when it is asked."""
    approvers: tuple[str, ...] | None = None
    """Who may decide it (people, `role:<r>`, `group:<g>`); None: any approver."""
    escalations: tuple[Escalation, ...] = ()
    """Where it goes, in turn, when its deadline passes unanswered."""
    task_name: str | None = None
    """The functional-API task that asked (the request shows it instead of the node's)."""
    max_auth_age: float | None = None
    """Seconds within which the decider must have signed in (a step-up); None: any time."""
    quorum: int | None = None
    """How many distinct people must approve (`interrupt(quorum=N)`); None: one."""
    reopen: str | None = None
    """Set when this call was answered already but the answer no longer holds (the
    question changed, or the decision's `valid_for` passed): why the request reopens."""


class NodeInterrupt(GraphInterrupt):
    """Raised by `interrupt()` inside a task; carries the call index and schema."""

    def __init__(self, pending: PendingInterrupt, more: Sequence[PendingInterrupt] = ()) -> None:
        super().__init__([pending.interrupt, *(p.interrupt for p in more)])
        self.pending = pending
        self.more = tuple(more)
        """Further requests raised together (parallel functional-API tasks that paused)."""
        self.waiting: Any = None
        """Subgraphs that paused beside them (a `SubgraphPaused`: other task calls')."""


@dataclass(slots=True, kw_only=True)
class TaskContext:
    """Everything a running task may reach ambiently."""

    thread_id: str
    checkpoint_ns: str
    checkpoint_id: str
    task_id: str
    task_name: str
    config: dict[str, Any]
    durable: bool
    """False when the graph has no checkpointer: pausing is then an error."""
    resume: list[Any] = field(default_factory=list)
    """Answers to this task's `interrupt()` calls so far, in call order."""
    memo: dict[str, Any] = field(default_factory=dict)
    """Results of `once()` steps recorded in earlier attempts."""
    new_memo: dict[str, Any] = field(default_factory=dict)
    """Results of `once()` steps recorded in this attempt."""
    emit: Callable[[str, Any], None] | None = None
    """Sends a stream chunk `(mode, payload)` to the caller, if it streams."""
    calls: int = 0
    once_calls: int = 0
    answers: dict[int, Any] = field(default_factory=dict)
    """Answers by call index (see `Task.answers`)."""
    index_base: int = 0
    """Added to this context's call numbers to give its requests' indices (a functional
    task's calls are numbered apart from its entrypoint's)."""
    task_label: str | None = None
    """The functional-API task running in this context, if any (named on its requests)."""
    bound: dict[int, Bound] = field(default_factory=dict)
    """What each answered call's decision was bound to, by call index (`_binding`)."""

    def next_interrupt(
        self,
        value: Any,
        response_schema: Any,
        deadline: datetime | timedelta | float | None = None,
        on_expiry: Any = _RAISE,
        approvers: Sequence[str] | None = None,
        escalate: Escalation | Sequence[Escalation] | None = (),
        max_auth_age: timedelta | float | None = None,
        quorum: int | None = None,
    ) -> Any:
        call = self.calls
        index = self.index_base + call
        self.calls += 1
        reopen = None
        if call < len(self.resume) or index in self.answers:
            # by index past the run of answers: a node's question after a ToolNode batch
            # it ran itself (`_side_by_side`), whose calls took the numbers between
            answer = self.resume[call] if call < len(self.resume) else self.answers[index]
            if is_expired_answer(answer):
                if on_expiry is _RAISE:
                    raise RequestExpired(
                        f"nobody answered {value!r} before its deadline; pass "
                        "interrupt(..., on_expiry=value) to continue with a default instead"
                    )
                return on_expiry
            reopen = stale_reason(self.bound.get(index), value, _now)
            if reopen is None:
                return _coerce(answer, response_schema)
        if not self.durable:
            raise CheckpointerRequired(
                "interrupt() needs a checkpointer to save the paused run: "
                "compile(checkpointer=InMemorySaver()) or SqliteSaver(...)"
            )
        ensure_serializable(value, "interrupt value")
        try:
            who = None if approvers is None else check_approvers(approvers, "approvers")
        except ValueError as exc:
            raise GraphError(str(exc)) from None
        if escalate is None:
            escalate = ()
        if not isinstance(escalate, Escalation | list | tuple):
            raise GraphError(f"escalate takes Escalation(to=..., deadline=...) steps: {escalate!r}")
        steps = (escalate,) if isinstance(escalate, Escalation) else tuple(escalate)
        if any(not isinstance(step, Escalation) for step in steps):
            raise GraphError(f"escalate takes Escalation(to=..., deadline=...) steps: {escalate!r}")
        if steps and deadline is None:
            raise GraphError("escalate needs a deadline: it says when the first step happens")
        fresh = _auth_age(max_auth_age)
        need = _quorum(quorum, who, self.config)
        if on_expiry is not _RAISE:  # it becomes state when the request expires
            ensure_serializable(on_expiry, "interrupt on_expiry")
        iid = interrupt_id(
            self.thread_id, self.checkpoint_ns, self.checkpoint_id, self.task_id, index
        )
        raise NodeInterrupt(
            PendingInterrupt(
                interrupt=Interrupt(value=value, id=iid),
                index=index,
                response_schema=_schema_json(response_schema),
                deadline=_deadline(deadline),
                approvers=who,
                escalations=steps,
                task_name=self.task_label,
                max_auth_age=fresh,
                quorum=need,
                reopen=reopen,
            )
        )


def _quorum(
    quorum: int | None, approvers: tuple[str, ...] | None, config: dict[str, Any]
) -> int | None:
    """`quorum` checked: a positive int; a rule naming only people must name at least that
    many who may approve (the requester does not count unless `allow_self_approval`)."""
    if quorum is None:
        return None
    if type(quorum) is not int or quorum < 1:
        raise GraphError(f"quorum must be a positive int (how many people approve), not {quorum!r}")
    if quorum == 1:
        return None
    if approvers is not None and all(":" not in a for a in approvers):
        conf = config.get("configurable") or {}
        requester = conf.get("requested_by") or conf.get("user_id")
        people = set(approvers)
        if requester is not None and not conf.get("allow_self_approval"):
            people.discard(str(requester))
        if len(people) < quorum:
            raise GraphError(
                f"quorum={quorum} needs {quorum} people who may approve, but the rule names "
                f"{len(people)} ({sorted(people)}"
                + (f"; {requester} asked and does not count" if requester in approvers else "")
                + "): name more approvers, a role or a group, or lower the quorum"
            )
    return quorum


def _now() -> datetime:
    """The time a re-run checks a decision's validity window against (a seam for tests)."""
    return datetime.now(UTC)


def _auth_age(value: timedelta | float | None) -> float | None:
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
        raise GraphError(f"max_auth_age must be a positive timedelta or seconds, not {value!r}")
    return float(seconds)


def _deadline(value: datetime | timedelta | float | None) -> datetime | timedelta | None:
    if value is None or isinstance(value, timedelta):
        return value
    if isinstance(value, datetime):
        return value if value.tzinfo else value.astimezone()  # naive: local time
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=float(value))
    raise GraphError(f"deadline must be a datetime, a timedelta or seconds, not {value!r}")


def _schema_json(schema: Any) -> dict[str, Any] | None:
    if schema is None:
        return None
    if isinstance(schema, dict):
        return schema
    if hasattr(schema, "model_json_schema"):
        return dict(schema.model_json_schema())
    raise GraphError(
        f"response_schema must be a pydantic model class or a JSON schema dict, not {schema!r}"
    )


def _coerce(value: Any, schema: Any) -> Any:
    if schema is not None and hasattr(schema, "model_validate"):
        return schema.model_validate(value)
    return value


def current_task() -> TaskContext:
    """The running task's context; a clear error outside a graph node."""
    ctx = _current.get()
    if ctx is None:
        raise GraphError(
            "this function only works inside a graph node (or a tool a node calls) "
            "while the graph runs"
        )
    return ctx


def interrupt(
    value: Any,
    *,
    response_schema: Any = None,
    approvers: Sequence[str] | None = None,
    deadline: datetime | timedelta | float | None = None,
    escalate: Escalation | Sequence[Escalation] | None = (),
    on_expiry: Any = _RAISE,
    max_auth_age: timedelta | float | None = None,
    quorum: int | None = None,
) -> Any:
    """Pause the run and ask a person; return their answer when the run is resumed.

    The first time it is reached, the task stops and the thread waits with an
    `Interrupt(value, id)`. Resume with `graph.invoke(Command(resume=answer), config)`: the node
    runs again from its top and this call returns `answer`. The k-th call in a node returns the
    k-th answer. Code before the call runs again on resume; wrap side effects in `once()`.

    `value` must be JSON-serialisable. `response_schema` (a pydantic model or a JSON schema)
    validates the answer before it is accepted; with a pydantic model the call returns an
    instance of it.

    `deadline` (a datetime, a timedelta or seconds from when the request is made) limits the
    wait: once `graph.expire_due()` (or the HTTP server's sweep) finds it passed, the request
    is marked expired — exactly once, like a decision — and the run resumes: this call then
    returns `on_expiry`, or raises `RequestExpired` if no `on_expiry` was given.

    `approvers` says who may decide it: people by name (`"ada"`), roles (`"role:admin"`) and
    groups (`"group:finance"`); the HTTP API and the web inbox refuse anyone else (admins
    may always decide). The library records it; `graph.invoke(Command(resume=...))` called
    directly is trusted. `escalate` (one `Escalation` or several, in turn) keeps the request
    open when its deadline passes: it goes to the escalation's `to` with a new deadline, and
    expires only after the last step's deadline. `max_auth_age` (a timedelta or seconds)
    makes it a risky decision: the HTTP API and the inbox accept it only from a person who
    signed in with the identity provider within that time (the inbox sends them through the
    provider again; the API answers an older token with 401).

    `quorum=N` makes it a decision of N distinct people: each answer is a vote (the library
    votes as `config["configurable"]["user_id"]`), the request is decided by the N-th
    approval of one same answer, and any reject vetoes it (see the quorum docs page). A rule
    naming only people must name at least N who may approve, or this call raises
    `GraphError`. An answer is returned only to the question it answered: if this call now
    asks something else, the request is reopened with the new question.

    Example:
        >>> def send_email(state):  # doctest: +SKIP
        ...     answer = interrupt({"to": state["to"], "question": "Send it?"})
        ...     return {"sent": bool(answer.get("approved"))}
    """
    return current_task().next_interrupt(
        value, response_schema, deadline, on_expiry, approvers, escalate, max_auth_age, quorum
    )


def once(fn: Callable[..., T], *args: Any, key: str | None = None, **kwargs: Any) -> T:
    """Run `fn(*args, **kwargs)` once per task, even when the node re-runs after a resume.

    The result is recorded with the task (it must be JSON-serialisable) and returned again,
    without calling `fn`, when the node runs again after `interrupt()`. Calls are matched by
    their order in the node (or by `key`), like durable steps.

    Example:
        >>> def node(state):  # doctest: +SKIP
        ...     ticket = once(create_ticket, state["title"])  # runs once
        ...     answer = interrupt({"ticket": ticket})
        ...     return {"ticket": ticket, "approved": answer}
    """
    ctx = current_task()
    slot = _memo_key(ctx, fn, key)
    if slot in ctx.memo:
        return cast(T, ctx.memo[slot])
    result = fn(*args, **kwargs)
    if inspect.isawaitable(result):
        raise GraphError("once() got a coroutine function; use `await aonce(...)`")
    ensure_serializable(result, f"once({slot})")
    ctx.new_memo[slot] = result
    ctx.memo[slot] = result
    return result


async def aonce(
    fn: Callable[..., Awaitable[T]], *args: Any, key: str | None = None, **kwargs: Any
) -> T:
    """Async twin of `once` for coroutine functions."""
    ctx = current_task()
    slot = _memo_key(ctx, fn, key)
    if slot in ctx.memo:
        return cast(T, ctx.memo[slot])
    result = await fn(*args, **kwargs)
    ensure_serializable(result, f"aonce({slot})")
    ctx.new_memo[slot] = result
    ctx.memo[slot] = result
    return result


def _memo_key(ctx: TaskContext, fn: Callable[..., Any], key: str | None) -> str:
    index = ctx.once_calls
    ctx.once_calls += 1
    if key is not None:
        return f"key:{key}"
    return f"{index}:{getattr(fn, '__qualname__', type(fn).__name__)}"


def get_stream_writer() -> Callable[[Any], None]:
    """A function that sends a chunk to `stream(..., stream_mode="custom")` consumers.

    Outside a streaming run it does nothing.
    """
    ctx = _current.get()
    emit = ctx.emit if ctx is not None else None
    if emit is None:
        return _discard
    return lambda chunk: emit("custom", chunk)


def get_message_writer() -> Callable[[Any, dict[str, Any]], None] | None:
    """For model nodes: a function sending `(chunk, metadata)` to `stream_mode="messages"`
    consumers, or None when nobody listens (then call the model without streaming)."""
    ctx = _current.get()
    emit = ctx.emit if ctx is not None else None
    if emit is None:
        return None
    node = ctx.task_name if ctx is not None else ""
    thread = ctx.thread_id if ctx is not None else ""
    env = getattr(ctx, "env", None)
    said: set[str] | None = getattr(env, "said", None)

    def write(chunk: Any, metadata: dict[str, Any]) -> None:
        if said is not None and isinstance(getattr(chunk, "id", None), str):
            said.add(chunk.id)  # the node's reply of that id is not sent again whole
        emit("messages", (chunk, {"langgraph_node": node, "thread_id": thread, **metadata}))

    return write


def get_config() -> dict[str, Any]:
    """The config of the running graph call (thread_id etc.)."""
    return current_task().config


def _discard(_chunk: Any) -> None:
    return None
