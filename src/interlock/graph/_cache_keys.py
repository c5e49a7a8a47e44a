"""The keys of node caching (`_node_cache`): the default key of a node's input, and the
namespace that says whose entries they are.

A key is a digest of `CachePolicy.key_func(input)`; the default one pickles the input with
its dicts and sets put in order, so that processes sharing a cache file make one key of
one input. A namespace is LangGraph's `("__pregel_ns_writes", "<module>.<qualname>",
"<node>")`, except that what a bare qualname does not tell apart is told apart here: the
same function made by a factory with other constants, partials, compiled subgraphs and
callable objects.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import inspect
import operator
import weakref
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from interlock.cache.base import Namespace

__all__ = ["CACHE_NS", "cache_namespace", "default_cache_key"]

CACHE_NS = "__pregel_ns_writes"
"""The first label of every node's namespace (LangGraph's)."""


def _sorted(items: list[Any], key: Callable[[Any], Any] | None = None) -> list[Any]:
    """`items` in an order that does not depend on how they were made: by value, or by
    the pickle of the value for values that do not compare (an int beside a str)."""
    if len(items) < 2:
        return items
    pick = key or (lambda x: x)
    try:
        return sorted(items, key=pick)
    except TypeError:
        import pickle

        return sorted(items, key=lambda x: pickle.dumps(pick(x), protocol=5))


_SCALAR, _MAP, _SEQ, _SET, _FIELDS, _ARRAY, _OTHER = range(7)
_HOW: dict[type, tuple[int, str, tuple[str, ...]]] = {
    **{kind: (_SCALAR, "", ()) for kind in (str, bytes, int, float, bool, type(None))},
    dict: (_MAP, "dict", ()),
    list: (_SEQ, "list", ()),
    tuple: (_SEQ, "tuple", ()),
    set: (_SET, "set", ()),
    frozenset: (_SET, "frozenset", ()),
}
"""Per type, made once: how its values are frozen, their tag, and (a dataclass, a pydantic
model) its fields' names."""


def _how(kind: type) -> tuple[int, str, tuple[str, ...]]:
    found = _HOW.get(kind)
    if found is not None:
        return found
    tag = f"{kind.__module__}.{kind.__qualname__}"
    if issubclass(kind, str | bytes | int | float):
        found = (_SCALAR, "", ())
    elif issubclass(kind, Mapping):
        found = (_MAP, tag, ())
    elif issubclass(kind, list | tuple):
        found = (_SEQ, tag, ())
    elif issubclass(kind, set | frozenset):
        found = (_SET, tag, ())
    elif dataclasses.is_dataclass(kind):
        found = (_FIELDS, tag, tuple(f.name for f in dataclasses.fields(kind)))
    elif isinstance(getattr(kind, "model_fields", None), dict) and hasattr(kind, "model_dump"):
        found = (_FIELDS, tag, tuple(kind.model_fields))  # type: ignore[attr-defined]
    elif hasattr(kind, "tobytes"):
        found = (_ARRAY, tag, ())
    else:
        found = (_OTHER, "", ())
    _HOW[kind] = found
    return found


def _freeze(obj: Any, depth: int = 10) -> Hashable:
    """`obj` as nested tuples, each container tagged with its kind: equal inputs give equal
    keys whatever order their dicts were filled in or their sets iterate in (a set's order
    changes with the process's hash seed), and a dict, a list of its pairs and a tuple of
    them give three keys. Dataclasses and pydantic models are frozen as their fields in
    their order (a pickled model holds the set of fields it was given)."""
    how, tag, names = _how(type(obj))
    if how in (_SCALAR, _OTHER) or depth <= 0:
        return obj  # type: ignore[no-any-return]
    depth -= 1
    if how == _SEQ:
        return (tag, tuple([_freeze(x, depth) for x in obj]))
    if how == _MAP:
        items = [(_freeze(k, depth), _freeze(v, depth)) for k, v in obj.items()]
        return (tag, tuple(_sorted(items, operator.itemgetter(0))))
    if how == _FIELDS:
        values = tuple([_freeze(getattr(obj, n, None), depth) for n in names])
        extra = getattr(obj, "__pydantic_extra__", None)
        return (tag, values, _freeze(extra, depth)) if extra else (tag, values)
    if how == _SET:
        return (tag, tuple(_sorted([_freeze(x, depth) for x in obj])))
    dtype = str(getattr(obj, "dtype", ""))  # numpy arrays and the like
    return (tag, dtype, getattr(obj, "shape", None), obj.tobytes())


def default_cache_key(*args: Any, **kwargs: Any) -> bytes:
    """The default `CachePolicy.key_func`: a pickle of the arguments with every dict in
    key order and every set sorted (LangGraph's sorts the dicts nested in lists only), so
    that processes sharing a cache file make one key of one input. Only its digest is
    kept; it is never unpickled.

    Example:
        >>> default_cache_key({"a": 1, "b": 2}) == default_cache_key({"b": 2, "a": 1})
        True
        >>> default_cache_key({"a": 1}) == default_cache_key([("a", 1)])
        False
    """
    import pickle  # here: `import interlock` stays light

    return pickle.dumps((_freeze(args), _freeze(kwargs)), protocol=5, fix_imports=False)


def _qualified(obj: Any) -> str | None:
    """`module.qualname` of a function or class (None for an object without one)."""
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    module = getattr(obj, "__module__", None)
    if not isinstance(name, str) or not isinstance(module, str):
        return None
    return f"{module}.{name}"


def _constant(value: Any) -> Any:
    """`value` if it is a constant that tells apart nodes a factory made (a prompt, a
    model name, a function), else None: mutable objects (a dict a node counts in, a
    client) are not part of a node's identity."""
    if value is None or isinstance(value, str | bytes | int | float):
        return value
    if isinstance(value, tuple):
        parts = [_constant(v) for v in value]
        return tuple(parts) if all(p is not None for p in parts) or not value else None
    if callable(value) and not hasattr(value, "_run_as_child"):
        return _qualified(value)
    return None


def _constants(values: Iterable[Any]) -> str:
    """A digest of the constants among `values` ("" when there are none)."""
    found = [c for c in map(_constant, values) if c is not None]
    if not found:
        return ""
    return "#" + hashlib.blake2b(repr(found).encode(), digest_size=8).hexdigest()


def _identifier(fn: Any) -> str | None:
    """What names a node's entries besides its name: `module.qualname` of its function
    (LangGraph's), told apart from the same function a factory made with other constants
    (its closure's and defaults' constants, a partial's arguments); for a compiled graph,
    its name, shape and nodes' identifiers; for a callable object, its class and its
    constant attributes (a bound method: its object's). None for what has none of these."""
    if hasattr(fn, "_run_as_child") and hasattr(fn, "spec"):  # a compiled graph
        nodes = sorted((n, _identifier(node.fn) or "") for n, node in fn.spec.nodes.items())
        info = getattr(fn, "version_info", None)
        shape = (getattr(info, "fingerprint", ""), nodes)
        digest = hashlib.blake2b(repr(shape).encode(), digest_size=8).hexdigest()
        return f"graph:{fn.spec.name}:{digest}"
    if isinstance(fn, functools.partial):
        inner = _identifier(fn.func)
        if inner is None:
            return None
        return inner + _constants((*fn.args, *sorted(fn.keywords.items())))
    found = _qualified(fn)
    if found is None or inspect.ismethod(fn):  # a callable object, a bound method
        owner = fn.__self__ if found is not None else fn
        found = found or (_qualified(type(fn)) if callable(fn) else None)
        attrs = getattr(owner, "__dict__", None)
        if found is None or not isinstance(attrs, dict):
            return found
        return found + _constants(sorted(attrs.items(), key=operator.itemgetter(0)))
    cells = [c.cell_contents for c in getattr(fn, "__closure__", None) or () if _filled(c)]
    defaults = (*(getattr(fn, "__defaults__", None) or ()),)
    kwdefaults = sorted((getattr(fn, "__kwdefaults__", None) or {}).items())
    return found + _constants((*cells, *defaults, *kwdefaults))


def _filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises
    except ValueError:
        return False
    return True


_IDENTIFIERS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
"""Each node function's identifier, made when it is first needed: a closure's variable a
node changes (a counter) does not move its entries."""


def cache_namespace(name: str | None, fn: Any) -> Namespace:
    """The namespace of node `name`'s entries: two graphs sharing a cache share the entries
    of a node of the same name and function (LangGraph's layout; see `_identifier` for
    what tells functions apart). A functional-API task's (`name` None) is its
    function's alone."""
    try:
        found = _IDENTIFIERS.get(fn)
    except TypeError:  # neither hashable nor weakly referable: made each time
        found = None
    if found is None:
        found = _identifier(fn) or "__dynamic__"
        with contextlib.suppress(TypeError):
            _IDENTIFIERS[fn] = found
    return (CACHE_NS, found) if name is None else (CACHE_NS, found, name)
