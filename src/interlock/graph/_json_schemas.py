"""JSON schemas of a graph's input, output, state and context, built as LangGraph builds
them: a pydantic model's own schema, a TypedDict's or a dataclass's through pydantic.

Before Python 3.12 pydantic refuses a `typing.TypedDict` anywhere in a type (LangGraph's
graphs meet that only with their own `typing_extensions` types); interlock's message and
state types use `typing`'s, so `pydantic_safe` rebuilds a type with each `typing.TypedDict`
inside it — also in a dataclass's fields, a union, an `Annotated` or a generic — made again
with `typing_extensions`. pydantic is imported when a schema is asked for, never before.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, get_args, get_origin, get_type_hints

from interlock.graph._root_state import is_root_type

__all__ = [
    "annotation_json_schema",
    "context_json_schema",
    "json_schema",
    "pydantic_safe",
    "state_json_schema",
]


def json_schema(typ: Any, title: str) -> dict[str, Any]:
    """The schema of `typ` as LangGraph's `get_input_jsonschema` gives it: a pydantic
    model's own, a TypedDict's through pydantic, else a model of the fields (a dataclass's,
    or none) titled `title`."""
    from pydantic import BaseModel, TypeAdapter, create_model

    if isinstance(typ, type) and issubclass(typ, BaseModel):
        return typ.model_json_schema()
    if _is_typeddict(typ):
        return TypeAdapter(pydantic_safe(typ)).json_schema()
    if is_root_type(typ):
        return _root_json_schema(typ, title)
    fields: dict[str, Any] = {}
    if dataclasses.is_dataclass(typ):
        hints = get_type_hints(typ, include_extras=True)
        for f in dataclasses.fields(typ):
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = ...
            fields[f.name] = (pydantic_safe(hints.get(f.name, Any)), default)
    return create_model(title, **fields).model_json_schema()  # type: ignore[call-overload,no-any-return]


def _root_json_schema(typ: Any, title: str) -> dict[str, Any]:
    """A root state schema's (one value: `Annotated[list, operator.add]`, `int`), as
    LangGraph's: the value's type's schema, `None` by default (no schema for a type
    pydantic cannot describe)."""
    from pydantic import TypeAdapter

    base = get_args(typ)[0] if get_origin(typ) is typing.Annotated else typ
    try:
        schema: dict[str, Any] = TypeAdapter(pydantic_safe(base)).json_schema()
    except Exception:  # pydantic has no schema for it: any value
        schema = {}
    return {"default": None, **schema, "title": title}


def state_json_schema(typ: Any, graph_name: str) -> dict[str, Any]:
    """The state's schema as LangGraph's server gives it (`/assistants/{id}/schemas`): a
    model of every state key, each optional (`None` by default) and of its declared type
    (`Any` when that type has no schema), titled as LangChain names a graph's state."""
    from pydantic import BaseModel, TypeAdapter, create_model

    if isinstance(typ, type) and issubclass(typ, BaseModel):
        hints = {k: f.annotation for k, f in typ.model_fields.items()}
    else:
        try:
            hints = get_type_hints(typ, include_extras=True) if isinstance(typ, type) else {}
        except (NameError, TypeError):
            hints = {}
    fields: dict[str, Any] = {}
    for key, hint in hints.items():
        if get_origin(hint) is typing.Annotated:  # a reducer's annotation
            hint = get_args(hint)[0]
        safe = pydantic_safe(hint)
        try:
            TypeAdapter(safe).json_schema()
        except Exception:  # as LangGraph's server: a type without a schema is `Any`
            safe = Any
        fields[key] = (safe, None)
    title = f"{graph_name}State" if graph_name[:1].isupper() else f"{graph_name}_state"
    return create_model(title, **fields).model_json_schema()  # type: ignore[call-overload,no-any-return]


def annotation_json_schema(tp: Any, title: str) -> dict[str, Any]:
    """The schema of one annotated type (an entrypoint's argument or result), titled as
    LangGraph titles it (`LangGraphInput` / `LangGraphOutput`)."""
    from pydantic import TypeAdapter

    schema: dict[str, Any] = TypeAdapter(pydantic_safe(tp)).json_schema()
    return schema if "title" in schema else {**schema, "title": title}


def context_json_schema(typ: Any) -> dict[str, Any] | None:
    """The schema of a graph's `context_schema` (None without one), as LangGraph's
    `get_context_jsonschema`: a pydantic model, a TypedDict or a dataclass."""
    if typ is None:
        return None
    from pydantic import BaseModel, TypeAdapter

    if isinstance(typ, type) and issubclass(typ, BaseModel):
        return typ.model_json_schema()
    if _is_typeddict(typ) or dataclasses.is_dataclass(typ):
        return TypeAdapter(pydantic_safe(typ)).json_schema()  # type: ignore[no-any-return]
    raise ValueError(
        f"invalid context schema {typ!r}: it must be a pydantic model, a TypedDict or a dataclass"
    )


def pydantic_safe(tp: Any, _made: dict[int, tuple[Any, Any]] | None = None) -> Any:
    """`tp` with every `typing.TypedDict` inside it made again with `typing_extensions`
    (see the module docstring); `tp` itself when nothing inside needs it."""
    made = {} if _made is None else _made
    key = id(tp)
    if key in made:
        return made[key][1]
    # keyed by id, holding `tp` itself: `get_type_hints` makes types that die once read, and
    # a type made later at the same address must not find this one's answer
    made[key] = (tp, tp)  # a type that refers to itself stops here
    if _is_typeddict(tp):
        out = _typeddict(tp, made)
    elif isinstance(tp, type) and dataclasses.is_dataclass(tp):
        out = _dataclass(tp, made)
    else:
        out = _generic(tp, made)
    made[key] = (tp, out)
    return out


def _is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__total__")


def _typeddict(tp: Any, made: dict[int, tuple[Any, Any]]) -> Any:
    import typing_extensions as te

    hints = get_type_hints(tp, include_extras=True)
    required = getattr(tp, "__required_keys__", frozenset(hints))
    shaped = {
        name: (te.Required if name in required else te.NotRequired)[pydantic_safe(hint, made)]
        for name, hint in hints.items()
    }
    out = te.TypedDict(tp.__name__, shaped)  # type: ignore[misc]
    out.__doc__ = tp.__doc__
    out.__module__ = tp.__module__
    return out


def _dataclass(tp: type, made: dict[int, tuple[Any, Any]]) -> Any:
    """The dataclass again with its fields' types made safe; itself if none changes."""
    hints = get_type_hints(tp, include_extras=True)
    fields = [f for f in dataclasses.fields(tp) if f.init]
    safe = {f.name: pydantic_safe(hints.get(f.name, Any), made) for f in fields}
    if all(safe[f.name] is hints.get(f.name, Any) for f in fields):
        return tp
    specs: list[tuple[str, Any, Any]] = []
    for f in fields:
        if f.default is not dataclasses.MISSING:
            spec = dataclasses.field(default=f.default)
        elif f.default_factory is not dataclasses.MISSING:
            spec = dataclasses.field(default_factory=f.default_factory)
        else:
            spec = dataclasses.field()
        specs.append((f.name, safe[f.name], spec))
    out = dataclasses.make_dataclass(tp.__name__, specs, kw_only=True)  # any field order
    out.__doc__ = tp.__doc__
    out.__module__ = tp.__module__
    return out


def _generic(tp: Any, made: dict[int, tuple[Any, Any]]) -> Any:
    """A union, `Annotated`, `list[...]`, `dict[...]` ... with its arguments made safe."""
    origin, args = get_origin(tp), get_args(tp)
    if origin is None or not args or origin is typing.Literal:
        return tp
    if origin is typing.Annotated:
        base = pydantic_safe(args[0], made)
        return tp if base is args[0] else typing.Annotated[(base, *tp.__metadata__)]
    if any(isinstance(a, list) or a is Ellipsis for a in args):  # Callable[[...], R], tuple[X, ...]
        return tp
    safe = tuple(pydantic_safe(a, made) for a in args)
    if all(s is a for s, a in zip(safe, args, strict=True)):
        return tp
    if origin is typing.Union or origin is types.UnionType:
        return typing.Union[safe]  # noqa: UP007 (a tuple of types, not an expression)
    if isinstance(tp, types.GenericAlias):
        return types.GenericAlias(origin, safe)
    copy_with = getattr(tp, "copy_with", None)
    return copy_with(safe) if copy_with is not None else tp
