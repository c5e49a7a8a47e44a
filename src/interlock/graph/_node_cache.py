"""Node caching, as LangGraph's: `add_node(..., cache_policy=CachePolicy(ttl=...))` with
`compile(cache=InMemoryCache())`.

A task of a node with a policy looks for its node's earlier result under the digest of its
input (`CachePolicy.key_func`, by default a pickle of the input); on a hit the node is not
called: its writes and `goto`s arrive as if it had run — through the reducers, into the
step's checkpoint, with an `updates` chunk marked `"__metadata__": {"cached": True}`. A
task that finished is cached; one that failed, paused, or ran on a person's answers is
not (a resumed node runs: what it returns depends on a decision, not on its input), and
such a task never reads the cache either.

The decisions are here and in the engine (pure); the cache calls are the drivers'
(`CacheGet`, `CacheSet` effects, performed by `cache_effect` / `acache_effect`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import operator
from collections.abc import Callable, Generator, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from interlock._types import END, Send
from interlock.errors import CacheRequired, GraphError
from interlock.graph._effects import CacheGet, CacheKey, CacheSet, Effect, Task, TaskOutcome
from interlock.graph._state import BadInput

if TYPE_CHECKING:
    from interlock.cache.base import BaseCache, Namespace
    from interlock.graph._run import _Run

__all__ = [
    "CACHE_NS",
    "NO_LOOKUPS",
    "CacheMethods",
    "CachePolicy",
    "Lookups",
    "acache_effect",
    "cache_effect",
    "cache_namespace",
    "check_cache",
    "check_cache_policy",
    "default_cache_key",
    "entry_key",
    "lookup",
]

CACHE_NS = "__pregel_ns_writes"
"""The first label of every node's namespace (LangGraph's)."""

_log = logging.getLogger("interlock")


def _freeze(obj: Any, depth: int = 10) -> Hashable:
    """`obj` with its dicts as key-sorted tuples and its lists as tuples, so that equal
    inputs give equal keys whatever order their dicts were filled in."""
    if depth <= 0 or isinstance(obj, str | bytes):
        return obj  # type: ignore[no-any-return]
    if isinstance(obj, Mapping):
        items = [(k, _freeze(v, depth - 1)) for k, v in obj.items()]
        with contextlib.suppress(TypeError):  # keys that do not compare: as they come
            items.sort(key=operator.itemgetter(0))
        return tuple(items)
    if isinstance(obj, list | tuple):
        return tuple(_freeze(x, depth - 1) for x in obj)
    if hasattr(obj, "tobytes"):  # numpy arrays and the like
        return (type(obj).__name__, obj.tobytes(), getattr(obj, "shape", None))
    return obj  # type: ignore[no-any-return]


def default_cache_key(*args: Any, **kwargs: Any) -> bytes:
    """The default `CachePolicy.key_func`: a pickle of the arguments, dicts in key order
    at every level (LangGraph's sorts the dicts nested in lists only). Only its digest is
    kept; it is never unpickled.

    Example:
        >>> default_cache_key({"a": 1, "b": 2}) == default_cache_key({"b": 2, "a": 1})
        True
    """
    import pickle  # here: `import interlock` stays light

    return pickle.dumps((_freeze(args), _freeze(kwargs)), protocol=5, fix_imports=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class CachePolicy:
    """How a node's results are cached: `add_node("name", fn, cache_policy=CachePolicy(...))`
    (LangGraph's `langgraph.types.CachePolicy`). Takes effect in a graph compiled with
    `cache=` (`InMemoryCache`, `SqliteCache`).

    Example:
        >>> CachePolicy(ttl=120).ttl
        120
    """

    key_func: Callable[..., str | bytes] = default_cache_key
    """Makes the key from the node's input (the state it reads, or a `Send`'s argument);
    equal keys share a result. Its digest is what the cache stores."""
    ttl: float | None = None
    """Seconds an entry lives; None: until the cache is cleared."""


def check_cache_policy(policy: Any) -> CachePolicy | None:
    """`add_node`'s `cache_policy`, or a ValueError saying what is wrong with it."""
    if policy is None:
        return None
    if not isinstance(policy, CachePolicy):
        raise ValueError(f"cache_policy takes CachePolicy(...), not {policy!r}")
    if not callable(policy.key_func):
        raise ValueError(f"CachePolicy.key_func must be callable, not {policy.key_func!r}")
    ttl = policy.ttl
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int | float)):
        raise ValueError(f"CachePolicy.ttl must be seconds or None, not {ttl!r}")
    if ttl is not None and not 0 <= ttl < float("inf"):
        raise ValueError(f"CachePolicy.ttl must be 0 or more seconds, not {ttl!r}")
    return policy


def check_cache(cache: Any) -> BaseCache[Any] | None:
    """`compile`'s `cache`: None or a `BaseCache`, else a ValueError."""
    from interlock.cache.base import BaseCache

    if cache is None or isinstance(cache, BaseCache):
        return cache
    raise ValueError(
        f"cache takes an interlock cache (InMemoryCache(), SqliteCache(path=...) or a "
        f"BaseCache subclass), not {cache!r}"
    )


def _identifier(fn: Any) -> str | None:
    """`module.qualname` of a node's function (None for objects without one, such as a
    compiled graph or a partial)."""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    module = getattr(fn, "__module__", None)
    if not isinstance(name, str) or not isinstance(module, str):
        return None
    return f"{module}.{name}"


def cache_namespace(name: str | None, fn: Any) -> Namespace:
    """The namespace of node `name`'s entries: two graphs sharing a cache share the entries
    of a node of the same name and function (LangGraph's layout). A functional-API task's
    (`name` None) is its function's alone."""
    found = (CACHE_NS, _identifier(fn) or "__dynamic__")
    return found if name is None else (*found, name)


def entry_key(policy: CachePolicy, *args: Any, **kwargs: Any) -> str:
    """The key of an entry for a node's input (or a task call's arguments): a 128-bit
    digest of what `key_func` makes of them."""
    raw = policy.key_func(*args, **kwargs)
    data = raw.encode() if isinstance(raw, str) else raw
    if not isinstance(data, bytes | bytearray):
        raise GraphError(
            f"CachePolicy.key_func returned {type(raw).__name__}; it must return str or bytes"
        )
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def cache_effect(cache: BaseCache[Any] | None, effect: CacheGet | CacheSet) -> Any:
    """Perform a `CacheGet` (reply the hits) or a `CacheSet` for a driver. A cache that
    fails is logged and left out — a miss, an entry not kept: a run never fails on it."""
    if cache is None:
        return {}
    try:
        if isinstance(effect, CacheGet):
            return cache.get(effect.keys)
        cache.set(effect.pairs)
    except Exception as exc:
        _warn(exc, isinstance(effect, CacheGet))
    return {}


async def acache_effect(cache: BaseCache[Any] | None, effect: CacheGet | CacheSet) -> Any:
    """Async twin of `cache_effect`."""
    if cache is None:
        return {}
    try:
        if isinstance(effect, CacheGet):
            return await cache.aget(effect.keys)
        await cache.aset(effect.pairs)
    except Exception as exc:
        _warn(exc, isinstance(effect, CacheGet))
    return {}


def _warn(exc: Exception, reading: bool) -> None:
    what = (
        "reading node results from the cache failed (the nodes run)"
        if reading
        else "keeping node results in the cache failed (they are not cached)"
    )
    _log.warning("%s: %s: %s", what, type(exc).__name__, exc)


def lookup(run: _Run, tasks: Sequence[Task]) -> Generator[Effect, Any, Lookups]:
    """Find the cached results of `tasks` (the engine's, before it runs them): a task of a
    node with a policy whose input has an entry gets an outcome carrying its writes. A
    task that continues a pause (it has answers, or a subgraph it ran waits) is left out:
    it runs. A `key_func` that raises fails its task, as the node would have."""
    found = Lookups()
    for task in tasks:
        node = run.spec.nodes[task.name]
        policy = node.cache_policy
        if policy is None or task.answers or task.resume or task.id in run.child_waits:
            continue
        if isinstance(task.input, BadInput):
            continue  # it fails when it runs
        try:
            key = entry_key(policy, task.input)
        except Exception as exc:
            found.outcomes[task.id] = TaskOutcome(task=task, error=exc)
            continue
        found.keys[task.id] = (cache_namespace(task.name, node.fn), key)
    if not found.keys:
        return found
    hits: Mapping[Any, Any] = yield CacheGet(tuple(dict.fromkeys(found.keys.values())))
    for task in tasks:
        at = found.keys.get(task.id)
        cached = _entry(run, hits.get(at)) if at is not None else None
        if cached is not None:
            found.outcomes[task.id] = TaskOutcome(task=task, cached=cached)
    return found


def _entry(run: _Run, value: Any) -> tuple[list[tuple[str, Any]], list[Any]] | None:
    """A cached value as (writes, gotos), its writes to keys the state no longer has left
    out (as a node's are); None — a miss — for a value this interlock did not write, or
    one that sends the run to a node the graph no longer has (kept by older code)."""
    if not isinstance(value, dict) or not isinstance(value.get("writes"), list):
        return None
    writes = value["writes"]
    if not all(isinstance(w, list | tuple) and len(w) == 2 for w in writes):
        return None
    schema, nodes = run.spec.schema, run.spec.nodes
    gotos = list(value.get("goto") or ())
    for goto in gotos:
        target = goto.node if isinstance(goto, Send) else goto
        if target != END and target not in nodes:
            return None
    kept = [(str(c), v) for c, v in writes if schema.open or c in schema.channels]
    return kept, gotos


def entry(writes: Sequence[tuple[str, Any]], gotos: Sequence[Any]) -> dict[str, Any]:
    """What the cache keeps of a finished task: its writes as the node returned them, and
    where it sent the run (`Command(goto=...)`)."""
    return {"writes": [[c, v] for c, v in writes], "goto": list(gotos)}


@dataclass(slots=True)
class Lookups:
    """What `lookup` found for a step."""

    keys: dict[str, CacheKey] = field(default_factory=dict)
    """The cache key of each task that may be cached, by task id."""
    outcomes: dict[str, TaskOutcome] = field(default_factory=dict)
    """Tasks that do not run: cache hits, and tasks whose `key_func` raised."""
    pairs: dict[CacheKey, tuple[Any, float | None]] = field(default_factory=dict)
    """Entries to keep once the step is saved (`CacheSet`)."""

    def split(self, tasks: list[Task]) -> tuple[list[Task], list[Task]]:
        """`tasks` as (those to run, those that do not: cache hits and bad keys)."""
        if not self.outcomes:
            return tasks, []
        outcomes = self.outcomes
        return [t for t in tasks if t.id not in outcomes], [t for t in tasks if t.id in outcomes]

    def keep(self, run: _Run, task: Task, writes: Sequence[tuple[str, Any]], gotos: list) -> None:
        """Keep a task's result, if it may be cached and did not come from the cache."""
        if not self.keys:
            return
        key = self.keys.get(task.id)
        hit = self.outcomes.get(task.id)
        if key is None or (hit is not None and hit.cached is not None):
            return
        self.pairs[key] = (entry(writes, gotos), run.spec.nodes[task.name].cache_policy.ttl)

    def flush(self) -> CacheSet:
        """The effect writing the entries kept (after the step's checkpoint or progress)."""
        pairs, self.pairs = self.pairs, {}
        return CacheSet(pairs)


NO_LOOKUPS = Lookups()
"""What a step of a graph without a cache looks up: nothing (never changed: `keep` keeps
nothing without `keys`)."""


class CacheMethods:
    """`clear_cache` / `aclear_cache` of a compiled graph (mixed into `CompiledStateGraph`)."""

    cache: BaseCache[Any] | None
    spec: Any

    def _cache_namespaces(self, nodes: Iterable[str] | None) -> list[Namespace]:
        if self.cache is None:
            raise CacheRequired(
                "No cache is set for this graph. Cannot clear cache: compile it with "
                "cache=InMemoryCache() (or SqliteCache(path=...))"
            )
        names = list(nodes or ()) or list(self.spec.nodes)  # none named: every node
        specs = self.spec.nodes
        return [cache_namespace(n, specs[n].fn) for n in names if n in specs]

    def clear_cache(self, nodes: Sequence[str] | None = None) -> None:
        """Drop the cached results of `nodes` (all nodes when None or empty); names that
        are not nodes of this graph are ignored, as in LangGraph. Raises `CacheRequired` (a
        `ValueError` too) when the graph has no cache."""
        namespaces = self._cache_namespaces(nodes)
        assert self.cache is not None
        self.cache.clear(namespaces)

    async def aclear_cache(self, nodes: Sequence[str] | None = None) -> None:
        """Async twin of `clear_cache`."""
        namespaces = self._cache_namespaces(nodes)
        assert self.cache is not None
        await self.cache.aclear(namespaces)
