"""The vocabulary shared by every layer: `Interrupt`, `Command`, `Send`, `Overwrite`,
`StateSnapshot`.

Public as `interlock.types` (LangGraph's `langgraph.types`), which adds `interrupt`; this
module sits below everything (it imports nothing of interlock), so the engine, the stores'
serialiser and the errors import it without tying themselves to the graph.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, NamedTuple, TypeVar

__all__ = [
    "END",
    "START",
    "Command",
    "Escalation",
    "Interrupt",
    "Overwrite",
    "PregelTask",
    "RunnableConfig",
    "Send",
    "StateSnapshot",
    "StreamMode",
    "StreamWriter",
    "check_approvers",
    "overwritten",
]

START = "__start__"
"""The virtual node a graph starts from."""
END = "__end__"
"""The virtual node a graph finishes at."""

RunnableConfig = dict[str, Any]
"""`{"configurable": {"thread_id": ..., "checkpoint_id": ..., "checkpoint_ns": ...}, ...}`."""

_UNSET: Any = object()

StreamMode = Literal["values", "updates", "custom", "messages", "debug", "checkpoints", "tasks"]

StreamWriter = Callable[[Any], None]
"""What `get_stream_writer()` returns, and a node's `writer` parameter: sends a `custom`
stream chunk."""


@dataclass(frozen=True, slots=True)
class Interrupt:
    """A pause request: what a node asked a person, and the id to answer it by.

    Example:
        >>> Interrupt(value={"action": "send_email"}, id="abc").value
        {'action': 'send_email'}
    """

    value: Any
    """The JSON-serialisable payload given to `interrupt()`."""
    id: str = ""
    """Stable, unique per (thread, checkpoint, task, call index). Answer by it."""


@dataclass(frozen=True, slots=True)
class Escalation:
    """A step of a request's escalation: when its deadline passes unanswered, the request
    goes to `to` (who may now decide it) with a new deadline `deadline` (seconds or a
    timedelta from then), instead of expiring.

    `to` entries name people (`"ada"`), roles (`"role:admin"`) or groups (`"group:finance"`),
    as `interrupt(approvers=...)` does.

    Example:
        >>> from datetime import timedelta
        >>> Escalation(to=("role:admin",), deadline=timedelta(hours=1)).to
        ('role:admin',)
    """

    to: tuple[str, ...]
    deadline: float | Any
    """Seconds, or a `datetime.timedelta`, from the escalation."""

    def __post_init__(self) -> None:
        to = (self.to,) if isinstance(self.to, str) else self.to
        object.__setattr__(self, "to", check_approvers(to, "Escalation.to"))
        seconds = getattr(self.deadline, "total_seconds", lambda: self.deadline)()
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not 0 < seconds <= MAX_ESCALATION_SECONDS  # also refuses nan and inf
        ):
            raise ValueError(
                "Escalation.deadline must be seconds or a timedelta, more than 0 and at most "
                f"10 years, not {self.deadline!r}"
            )
        object.__setattr__(self, "deadline", float(seconds))


MAX_ESCALATION_SECONDS = 10 * 366 * 86400.0
"""The longest an escalation step may wait (ten years)."""

APPROVER_ROLES = ("requester", "approver", "admin")
"""The roles an approver rule may name (`role:<role>`); the service's roles."""


def check_approvers(approvers: Any, where: str) -> tuple[str, ...]:
    """`approvers` as a tuple of people (`"ada"`), roles (`"role:admin"`) and groups
    (`"group:finance"`): a list, tuple or set of strings. Raises ValueError otherwise,
    including for rules nobody could match (an unknown role, an unknown `kind:` prefix)."""
    if not isinstance(approvers, list | tuple | set | frozenset):
        raise ValueError(f"{where} must be a list of names, not {approvers!r}")
    out = tuple(sorted(approvers, key=str) if isinstance(approvers, set | frozenset) else approvers)
    for entry in out:
        if type(entry) is not str or not entry.strip() or entry != entry.strip():
            raise ValueError(f"{where}: {entry!r} is not a name, 'role:<role>' or 'group:<g>'")
        kind, colon, name = entry.partition(":")
        if not colon:
            continue  # a person
        if kind not in ("role", "group") or not name:
            raise ValueError(f"{where}: {entry!r} is not a name, 'role:<role>' or 'group:<group>'")
        if kind == "role" and name not in APPROVER_ROLES:
            raise ValueError(f"{where}: unknown role {name!r}; roles are {APPROVER_ROLES}")
    if not out:
        raise ValueError(f"{where} is empty: nobody could decide the request")
    return out


@dataclass(frozen=True, slots=True)
class Send:
    """Run `node` with `arg` as its input in the next step (map-reduce fan-out).

    Example:
        >>> Send("grade", {"doc": "a"}).node
        'grade'
    """

    node: str
    arg: Any


@dataclass(frozen=True, slots=True)
class Overwrite:
    """Write `value` to a key as it is, bypassing the key's reducer (LangGraph's
    `Overwrite`). Writes to the same key after it in the same step are ignored; two in one
    step raise `InvalidUpdate`. Over HTTP, `{"__overwrite__": value}` says the same.

    Example:
        >>> Overwrite(["only this"]).value
        ['only this']
    """

    value: Any


def overwritten(update: Any) -> tuple[bool, Any]:
    """`(True, value)` if `update` is an `Overwrite` (or its JSON forms
    `{"__overwrite__": value}` and `{"type": "__overwrite__", "value": value}`), else
    `(False, update)`."""
    if type(update) is Overwrite:
        return True, update.value
    if type(update) is dict and len(update) <= 2:
        if len(update) == 1 and "__overwrite__" in update:
            return True, update["__overwrite__"]
        if update.get("type") == "__overwrite__" and "value" in update and len(update) == 2:
            return True, update["value"]
    return False, update


N = TypeVar("N")


class Command(Generic[N]):
    """Resume a paused thread and/or update state and route.

    `Command(resume=v)` answers the one pending interrupt (`None` is a valid answer);
    `Command(resume={interrupt_id: v, ...})` answers several by id. A node may declare where
    its Command can go with a return annotation, `-> Command[Literal["b", "c"]]`; the
    drawing (`get_graph()`) shows those routes as dotted edges, as LangGraph does.

    Example:
        >>> Command(resume={"approved": True}).resume
        {'approved': True}
    """

    __slots__ = ("goto", "graph", "has_resume", "resume", "update")
    PARENT = "__parent__"

    def __init__(
        self,
        *,
        resume: Any = _UNSET,
        update: Any = None,
        goto: str | Send | Sequence[str | Send] = (),
        graph: str | None = None,
    ) -> None:
        self.has_resume: bool = resume is not _UNSET
        """Whether a resume value was given (so `resume=None` is an answer)."""
        self.resume: Any = None if resume is _UNSET else resume
        self.update: Any = update
        self.goto: str | Send | Sequence[str | Send] = goto
        self.graph: str | None = graph

    def goto_targets(self) -> tuple[str | Send, ...]:
        """The goto value as a tuple."""
        if isinstance(self.goto, (str, Send)):
            return (self.goto,)
        return tuple(self.goto)

    def __repr__(self) -> str:
        parts = []
        if self.has_resume:
            parts.append(f"resume={self.resume!r}")
        if self.update is not None:
            parts.append(f"update={self.update!r}")
        if self.goto:
            parts.append(f"goto={self.goto!r}")
        return f"Command({', '.join(parts)})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Command):
            return NotImplemented
        return (self.has_resume, self.resume, self.update, self.goto, self.graph) == (
            other.has_resume,
            other.resume,
            other.update,
            other.goto,
            other.graph,
        )

    __hash__ = None  # type: ignore[assignment]


class PregelTask(NamedTuple):
    """A task of a checkpoint: the node that runs (or ran) next.

    A named tuple, as LangGraph's (same fields, same order): `interrupts` holds its pending
    interrupts; `error` the repr of an exception it raised.

        >>> task = PregelTask(id="1", name="review")
        >>> task._replace(name="send").name, len(task)
        ('send', 7)
    """

    id: str
    name: str
    path: tuple[Any, ...] = ()
    """LangGraph's: `("__pregel_pull", name)` for a node the edges planned,
    `("__pregel_push", index, False)` for the index-th `Send` (`()` when not known)."""
    error: str | None = None
    interrupts: tuple[Interrupt, ...] = ()
    state: Any = None
    """A paused subgraph's config, or its `StateSnapshot` with `get_state(subgraphs=True)`."""
    result: Any = None


class StateSnapshot(NamedTuple):
    """The state of a thread at one checkpoint, as `get_state` returns it.

    A named tuple, as LangGraph's (same fields, same order): `snapshot._replace(values=...)`,
    `snapshot._asdict()` and unpacking work as there.
    """

    values: dict[str, Any]
    """Channel values of the state."""
    next: tuple[str, ...]
    """Names of the nodes that run next; empty when the run finished."""
    config: RunnableConfig
    """The config addressing this checkpoint (thread_id, checkpoint_ns, checkpoint_id)."""
    metadata: Mapping[str, Any] | None
    """`{"source": "input"|"loop"|"update"|"fork", "step": int, "writes": {...}}`."""
    created_at: str | None
    """ISO-8601 UTC timestamp of the checkpoint."""
    parent_config: RunnableConfig | None
    """The config of the parent checkpoint, if any."""
    tasks: tuple[PregelTask, ...] = ()
    """The tasks of `next`, with their pending interrupts and errors."""
    interrupts: tuple[Interrupt, ...] = ()
    """All pending interrupts of this checkpoint."""
