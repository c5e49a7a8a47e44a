"""State schemas: which channels a graph has, how each one folds updates, how nodes see it.

A schema is a TypedDict, a dataclass or a pydantic model. Each key is a channel; a key declared
as `Annotated[T, reducer]` folds updates with `reducer(old, new)`, any other key keeps the last
value written. Two writes to a last-value key in one superstep are an error (the order of
parallel branches is not meaningful). A type without keys (`Annotated[list, operator.add]`,
`int`) is a root schema: the state is one value, kept under one internal key (`_root_state`).
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections import abc
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, get_type_hints

from interlock._types import Overwrite, overwritten
from interlock.errors import InvalidGraph, InvalidUpdate
from interlock.graph._managed import ManagedValue, managed_of
from interlock.graph._root_state import ROOT, command_update, is_root_type, not_a_command

__all__ = ["BadInput", "Channel", "StateSchema", "node_schema"]

Reducer = Callable[[Any, Any], Any]
_MISSING: Any = object()


@dataclass(frozen=True, slots=True, kw_only=True)
class Channel:
    """One state key."""

    name: str
    reducer: Reducer | None
    """Folds `(current, update) -> new`; None keeps the last value."""
    empty: Callable[[], Any] | None = None
    """Makes the value a reducer folds its first update into (`list` for `list[...]`).
    A reducer key starts there whatever default its field declares, as LangGraph's
    channel starts with `type()`; the default of any other field is not a value of the
    state: the node sees it because its input is built with the schema type."""

    def initial(self) -> Any:
        """The value before any write: a reducer key's empty start (`[]` for
        `Annotated[list, operator.add]`), else nothing (`_MISSING`)."""
        if self.reducer is not None and self.empty is not None:
            return self.empty()
        return _MISSING


_ABSTRACT: dict[Any, type] = {
    abc.Sequence: list,
    abc.MutableSequence: list,
    abc.Set: set,
    abc.MutableSet: set,
    abc.Mapping: dict,
    abc.MutableMapping: dict,
}
"""Abstract collection types a reducer key may be declared with, and the type its empty
start is made of (as LangGraph's channels make it)."""


def _reducer_of(hint: Any) -> tuple[Reducer | None, Callable[[], Any] | None]:
    if typing.get_origin(hint) is typing.Annotated:
        for meta in reversed(hint.__metadata__):
            if callable(meta):
                base = typing.get_origin(hint.__origin__) or hint.__origin__
                return typing.cast(Reducer, meta), _empty_maker(_ABSTRACT.get(base, base))
    return None, None


def _empty_maker(base: Any) -> Callable[[], Any] | None:
    """`base` when calling it with no arguments makes a value (`list`, `int`, `Counter`,
    a list subclass...), as LangGraph starts a reducer's channel with `typ()`; None for
    what cannot (`Optional[...]`, a class with required arguments)."""
    if not isinstance(base, type):
        return None
    try:
        base()
    except Exception:
        return None
    return base


def _refuse_dunder_key(kind: str, schema: Any, name: str, hint: Any) -> None:
    """Refuse a TypedDict or dataclass key named `__x__` (`__root__` above all, a root
    schema's internal key): such names are the runtime's own, and the key's writes would be
    dropped with no word. LangGraph keeps it as any key. A pydantic model's (and a
    `ClassVar`'s) dunder names are class attributes, not keys, and stay skipped."""
    if kind not in ("typeddict", "dataclass") or typing.get_origin(hint) is typing.ClassVar:
        return
    raise InvalidGraph(
        f"state schema {schema.__name__} declares key {name!r}: keys starting with '__' "
        f"are the runtime's own (a root state schema keeps its value under {ROOT!r}); "
        "rename the key"
    )


class StateSchema:
    """The channels of a state type, and the conversions between stored values and node input."""

    __slots__ = ("channels", "fields", "kind", "managed", "type")

    def __init__(self, schema: Any) -> None:
        self.type = schema
        self.channels: dict[str, Channel] = {}
        self.managed: dict[str, type[ManagedValue]] = {}
        """Keys the run fills in for each step (`RemainingSteps`, `IsLastStep`)."""
        if schema is dict or schema is None:
            self.kind = "dict"
        elif dataclasses.is_dataclass(schema) and isinstance(schema, type):
            self.kind = "dataclass"
        elif hasattr(schema, "model_fields") and hasattr(schema, "model_validate"):
            self.kind = "pydantic"
        elif isinstance(schema, type) and issubclass(schema, dict):
            self.kind = "typeddict"
        elif is_root_type(schema):
            self.kind = "root"
            reducer, empty = _reducer_of(schema)
            self.channels[ROOT] = Channel(name=ROOT, reducer=reducer, empty=empty)
        else:
            raise InvalidGraph(
                f"state schema {schema!r} must be a TypedDict, a dataclass, a pydantic model "
                "or a type without keys (one value: Annotated[list, operator.add], int)"
            )
        if self.kind not in ("dict", "root"):
            hints = get_type_hints(schema, include_extras=True)
            for name, hint in hints.items():
                if name.startswith("__"):
                    _refuse_dunder_key(self.kind, schema, name, hint)
                    continue
                manager = managed_of(hint)
                if manager is not None:
                    self.managed[name] = manager
                    continue
                reducer, empty = _reducer_of(hint)
                self.channels[name] = Channel(name=name, reducer=reducer, empty=empty)
        self.fields: frozenset[str] = frozenset(self.channels)
        """The schema's own keys (`merge` adds channels, not fields): what a node reading
        with this schema receives."""

    @property
    def open(self) -> bool:
        """A plain-dict schema accepts any key (last value wins)."""
        return self.kind == "dict"

    def merge(self, other: StateSchema) -> None:
        """Add the channels of an input/output schema that this one lacks."""
        for name, ch in other.channels.items():
            self.channels.setdefault(name, ch)
        for name, manager in other.managed.items():
            self.managed.setdefault(name, manager)

    def with_empties(self, values: dict[str, Any]) -> dict[str, Any]:
        """`values` (changed in place) with each reducer key it lacks at its empty start: a
        state stored before the key existed, or before keys started empty, reads as a new
        one does."""
        for name, ch in self.channels.items():
            make = ch.empty if ch.reducer is not None else None
            if make is not None and name not in values:
                values[name] = make()
        return values

    def initial_values(self) -> dict[str, Any]:
        """The values before any write: each reducer key at its empty start."""
        out: dict[str, Any] = {}
        for name, ch in self.channels.items():
            value = ch.initial()
            if value is not _MISSING:
                out[name] = value
        return out

    def to_updates(self, value: Any, node: str, *, strict: bool = False) -> list[tuple[str, Any]]:
        """A node's returned update as `(channel, value)` pairs, in order. A key the schema
        does not have is left out, as LangGraph leaves it (a subgraph's own keys, extra
        input); with `strict` it raises `InvalidUpdate` (the HTTP API refuses such input)."""
        if value is None:
            return []
        if self.kind == "root":  # the value itself, whatever its type (as LangGraph's)
            not_a_command(value, node)
            return [(ROOT, value)]
        if isinstance(value, Mapping):
            items: Iterable[tuple[str, Any]] = value.items()
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            items = ((f.name, getattr(value, f.name)) for f in dataclasses.fields(value))
        elif hasattr(value, "model_dump") and hasattr(type(value), "model_fields"):
            items = _model_items(value)
        else:
            raise InvalidUpdate(
                f"node {node!r} returned {type(value).__name__}; return a dict of state keys, "
                "a Command, or None"
            )
        out = []
        for key, val in items:
            if not self.open and key not in self.channels:
                if not strict:
                    continue
                raise InvalidUpdate(
                    f"node {node!r} wrote unknown state key {key!r}; "
                    f"known keys: {sorted(self.channels)}"
                )
            out.append((key, val))
        return out

    def command_updates(self, update: Any, node: str) -> list[tuple[str, Any]]:
        """A `Command`'s `update` as writes (`to_updates`). A root schema refuses a dict:
        a Command's dict writes keys, and such a graph has none (`command_update`)."""
        if self.kind == "root":
            command_update(update, node)
        return self.to_updates(update, node)

    def prepared(self, writes: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
        """`writes` as they are stored and folded: a value whose channel's reducer has a
        `prepare` function goes through it first (`add_messages` makes dicts, tuples and
        strings messages with ids), so that folding the stored write again, in any process,
        gives the same state. Streams keep showing the writes as the node returned them."""
        out = writes
        for i, (key, update) in enumerate(writes):
            ch = self.channels.get(key)
            prepare = getattr(ch.reducer, "prepare", None) if ch is not None else None
            if prepare is not None:
                if out is writes:
                    out = list(writes)
                whole, value = overwritten(update)
                out[i] = (key, Overwrite(prepare(value)) if whole else prepare(update))
        return out

    def apply(
        self,
        values: dict[str, Any],
        writes: Iterable[tuple[str, Any]],
        *,
        strict: bool = True,
        overwrites: set[str] | None = None,
        replaying: bool = False,
    ) -> set[str]:
        """Fold `writes` into `values` in place; return the channels that changed.

        With `strict`, a last-value channel written twice in the same call raises
        `InvalidUpdate` (parallel branches disagreeing); replaying stored writes is not strict.
        An `Overwrite` sets its key as it is; the key's later writes in the call (one step's)
        are ignored, as in LangGraph. `overwrites` carries that across calls of one step.
        `replaying` stored writes, a reducer's `replay` variant is used if it has one
        (`add_messages` then skips a removal of an id no message has, so a thread stays
        readable).
        """
        touched: set[str] = set()
        done = set() if overwrites is None else overwrites
        added = set(self.channels).difference(values)
        for key, update in writes:
            ch = self.channels.get(key)
            whole, value = overwritten(update)
            if whole:
                if key in done and strict:
                    raise InvalidUpdate(
                        f"state key {key!r} received several Overwrite values in one step; "
                        "only one may replace it"
                    )
                done.add(key)
                values[key] = value
                touched.add(key)
                continue
            if key in done:
                continue  # after an Overwrite in the same step: ignored, as in LangGraph
            if ch is not None and ch.reducer is not None:
                current = values.get(key, _MISSING)
                if current is _MISSING:
                    current = ch.empty() if ch.empty else _empty_for(ch.reducer, update)
                reduce = (getattr(ch.reducer, "replay", None) if replaying else None) or ch.reducer
                values[key] = reduce(current, update)
            else:
                if strict and key in touched:
                    raise InvalidUpdate(
                        f"state key {key!r} received several values in one step; "
                        "declare a reducer with Annotated[type, reducer] to combine them"
                    )
                values[key] = update
            touched.add(key)
        if not self.open and not added.isdisjoint(touched):
            self._reorder(values)
        return touched

    def _reorder(self, values: dict[str, Any]) -> None:
        """Put `values` (in place) in the order of the schema's keys, as LangGraph lists
        its channels (what invoke, `values` chunks and `get_state` show)."""
        ordered = {k: values[k] for k in self.channels if k in values}
        ordered.update(values)
        values.clear()
        values.update(ordered)

    def to_input(
        self,
        values: Mapping[str, Any],
        known: Mapping[str, Any] | None = None,
        remaining: int | None = None,
    ) -> Any:
        """The state as a node receives it: a dict of the schema's keys that have a value,
        or an instance of the schema type built from them, as LangGraph builds it
        (`Schema(**values)`: a pydantic model validates, so a value that does not fit
        raises pydantic's `ValidationError`, and fields without a value get their
        defaults).

        A TypedDict reader also gets a stored key that is none of `known` (the graph's
        keys; this schema's by default): a key an older version of the graph wrote, which a
        trusted version change keeps in the state. With `remaining` (steps the run may still
        take), the managed keys (`RemainingSteps`, `IsLastStep`) are filled in. A root
        schema's reader gets the value itself."""
        if self.kind == "root":
            return detached(values.get(ROOT))
        if self.kind == "dict":
            copied = {k: detached(v) for k, v in values.items()}
        elif self.kind == "typeddict":
            graph = self.channels if known is None else known
            copied = {
                k: detached(v) for k, v in values.items() if k in self.fields or k not in graph
            }
        else:
            copied = {k: detached(v) for k, v in values.items() if k in self.fields}
        if self.managed and remaining is not None:
            for name, manager in self.managed.items():
                copied[name] = manager.get(remaining)
        if self.kind in ("dict", "typeddict"):
            return copied
        if self.kind == "dataclass":
            names = {f.name for f in dataclasses.fields(self.type) if f.init}
            return self.type(**{k: v for k, v in copied.items() if k in names})
        return self.type(**copied)

    def node_input(
        self, values: Mapping[str, Any], known: Mapping[str, Any], remaining: int | None = None
    ) -> Any:
        """`to_input`, or `BadInput` holding what it raised: the node's task fails with it
        when it runs (the thread keeps its checkpoint, `get_state` still reads)."""
        try:
            return self.to_input(values, known, remaining)
        except Exception as exc:  # pydantic's ValidationError, a dataclass's TypeError
            return BadInput(exc)


@dataclass(frozen=True, slots=True)
class BadInput:
    """A node's input that could not be built from the state (see `StateSchema.node_input`)."""

    error: Exception


def _model_items(value: Any) -> list[tuple[str, Any]]:
    """The update a pydantic model instance returned by a node (or given as input) writes:
    every field, except one that is None, was not set explicitly and defaults to None (as
    LangGraph reads a model: such a field does not overwrite the state)."""
    fields = type(value).model_fields
    given = value.model_fields_set
    out = []
    for key, info in fields.items():
        v = getattr(value, key)
        if v is None and info.default is None and key not in given:
            continue
        out.append((key, v))
    return out


def detached(value: Any) -> Any:
    """A shallow copy of a list or dict, so callers cannot mutate state the runtime keeps."""
    if type(value) is list:
        return list(value)
    if type(value) is dict:
        return dict(value)
    return value


def _empty_for(reducer: Reducer, update: Any) -> Any:
    """The start value a reducer folds the first update into."""
    if isinstance(update, (list, tuple)) or getattr(reducer, "__name__", "") == "add_messages":
        return []
    if isinstance(update, dict):
        return {}
    if isinstance(update, str):
        return ""
    if isinstance(update, (int, float)):
        return type(update)()
    if isinstance(update, (set, frozenset)):
        return set()
    return None


def node_schema(fn: Any, declared: Any = None) -> StateSchema | None:
    """The schema a node reads the state with: `declared` (`add_node(input_schema=)`), else
    the class its first parameter is annotated with when that class declares keys, as
    LangGraph infers it; None for a subgraph, no annotation or another type."""
    if declared is not None:
        return StateSchema(declared)
    if hasattr(fn, "_run_as_child"):
        return None
    target = fn
    if not (inspect.isfunction(fn) or inspect.ismethod(fn)) and callable(fn):
        target = getattr(fn, "__call__", fn)  # noqa: B004
    try:
        first = next(iter(inspect.signature(target).parameters))
        hint = get_type_hints(target).get(first)
        if not (isinstance(hint, type) and get_type_hints(hint)):
            return None
        return StateSchema(hint)
    except (NameError, TypeError, ValueError, StopIteration, InvalidGraph):
        return None  # unresolvable names, odd callables, a class that is not a schema
