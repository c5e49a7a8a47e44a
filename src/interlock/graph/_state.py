"""State schemas: which channels a graph has, how each one folds updates, how nodes see it.

A schema is a TypedDict, a dataclass or a pydantic model. Each key is a channel; a key declared
as `Annotated[T, reducer]` folds updates with `reducer(old, new)`, any other key keeps the last
value written. Two writes to a last-value key in one superstep are an error (the order of
parallel branches is not meaningful).
"""

from __future__ import annotations

import dataclasses
import typing
from collections import abc
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, get_type_hints

from interlock._types import Overwrite, overwritten
from interlock.errors import InvalidGraph, InvalidUpdate
from interlock.graph._managed import ManagedValue, managed_of

__all__ = ["Channel", "StateSchema"]

Reducer = Callable[[Any, Any], Any]
_MISSING: Any = object()


@dataclass(frozen=True, slots=True, kw_only=True)
class Channel:
    """One state key."""

    name: str
    reducer: Reducer | None
    """Folds `(current, update) -> new`; None keeps the last value."""
    default: Any = _MISSING
    """Initial value for a dataclass/pydantic field default (copied per thread)."""
    empty: Callable[[], Any] | None = None
    """Makes the value a reducer folds its first update into (`list` for `list[...]`)."""

    def initial(self) -> Any:
        """The value before any write: the schema default, or a reducer key's empty start
        (`[]` for `Annotated[list, operator.add]`, as LangGraph's channel starts)."""
        if self.default is not _MISSING:
            return _copy_default(self.default)
        if self.reducer is not None and self.empty is not None:
            return self.empty()
        return _MISSING


def _copy_default(value: Any) -> Any:
    if isinstance(value, (list, dict, set)):
        return type(value)(value)
    return value


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


class StateSchema:
    """The channels of a state type, and the conversions between stored values and node input."""

    __slots__ = ("_from_values", "channels", "kind", "managed", "type")

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
        else:
            raise InvalidGraph(
                f"state schema {schema!r} must be a TypedDict, a dataclass or a pydantic model"
            )
        if self.kind != "dict":
            hints = get_type_hints(schema, include_extras=True)
            defaults = self._defaults(schema)
            for name, hint in hints.items():
                if name.startswith("__"):
                    continue
                manager = managed_of(hint)
                if manager is not None:
                    self.managed[name] = manager
                    continue
                reducer, empty = _reducer_of(hint)
                self.channels[name] = Channel(
                    name=name, reducer=reducer, empty=empty, default=defaults.get(name, _MISSING)
                )

    @staticmethod
    def _defaults(schema: Any) -> dict[str, Any]:
        if dataclasses.is_dataclass(schema):
            out: dict[str, Any] = {}
            for f in dataclasses.fields(schema):
                if f.default is not dataclasses.MISSING:
                    out[f.name] = f.default
                elif f.default_factory is not dataclasses.MISSING:
                    out[f.name] = f.default_factory()
            return out
        if hasattr(schema, "model_fields"):
            out = {}
            for name, field in schema.model_fields.items():
                if not field.is_required():
                    out[name] = field.get_default(call_default_factory=True)
            return out
        return {}

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
            make = ch.empty if ch.reducer is not None and ch.default is _MISSING else None
            if make is not None and name not in values:
                values[name] = make()
        return values

    def initial_values(self) -> dict[str, Any]:
        """Defaults of the schema's fields (dataclass/pydantic), before any write."""
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
        if isinstance(value, Mapping):
            items: Iterable[tuple[str, Any]] = value.items()
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            items = ((f.name, getattr(value, f.name)) for f in dataclasses.fields(value))
        elif hasattr(value, "model_dump") and hasattr(type(value), "model_fields"):
            items = ((k, getattr(value, k)) for k in type(value).model_fields)
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
    ) -> set[str]:
        """Fold `writes` into `values` in place; return the channels that changed.

        With `strict`, a last-value channel written twice in the same call raises
        `InvalidUpdate` (parallel branches disagreeing); replaying stored writes is not strict.
        An `Overwrite` sets its key as it is; the key's later writes in the call (one step's)
        are ignored, as in LangGraph. `overwrites` carries that across calls of one step.
        """
        touched: set[str] = set()
        done = set() if overwrites is None else overwrites
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
                values[key] = ch.reducer(current, update)
            else:
                if strict and key in touched:
                    raise InvalidUpdate(
                        f"state key {key!r} received several values in one step; "
                        "declare a reducer with Annotated[type, reducer] to combine them"
                    )
                values[key] = update
            touched.add(key)
        return touched

    def to_input(self, values: Mapping[str, Any], remaining: int | None = None) -> Any:
        """The state as a node receives it: a dict, or an instance of the schema type; with
        `remaining` (steps the run may still take), the managed keys filled in."""
        copied = {k: detached(v) for k, v in values.items()}
        if self.managed and remaining is not None:
            for name, manager in self.managed.items():
                copied[name] = manager.get(remaining)
        if self.kind in ("dict", "typeddict"):
            return copied
        if self.kind == "dataclass":
            names = {f.name for f in dataclasses.fields(self.type) if f.init}
            return self.type(**{k: v for k, v in copied.items() if k in names})
        return self.type.model_construct(**copied)


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
