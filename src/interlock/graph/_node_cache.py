"""Node caching, as LangGraph's: `add_node(..., cache_policy=CachePolicy(ttl=...))` with
`compile(cache=InMemoryCache())`.

A task of a node with a policy looks for its node's earlier result under the digest of its
input (`CachePolicy.key_func`, by default a pickle of the input); on a hit the node is not
called: its writes and `goto`s arrive as if it had run — through the reducers, into the
step's checkpoint, with an `updates` chunk marked `"__metadata__": {"cached": True}`. A
task that finished is cached; one that failed, paused, or ran on a person's answers is
not (a resumed node runs: what it returns depends on a decision, not on its input), and
such a task never reads the cache either. A node that paused for a person once is marked
in the cache (`ASKED`): none of its entries is served or kept from then on. Keys and
namespaces are made in `_cache_keys`.

The decisions are here and in the engine (pure); the cache calls are the drivers'
(`CacheGet`, `CacheSet` effects, performed by `cache_effect` / `acache_effect`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from interlock._types import END, Send
from interlock.errors import CacheRequired, GraphError
from interlock.graph._cache_keys import CACHE_NS, cache_namespace, default_cache_key
from interlock.graph._effects import CacheGet, CacheKey, CacheSet, Effect, Task, TaskOutcome
from interlock.graph._state import BadInput

if TYPE_CHECKING:
    from interlock.cache.base import BaseCache, Namespace
    from interlock.graph._run import _Run

__all__ = [
    "ASKED",
    "CACHE_NS",
    "KEY_INPUT",
    "NO_LOOKUPS",
    "CacheMethods",
    "CachePolicy",
    "Lookups",
    "acache_effect",
    "asked_mark",
    "cache_effect",
    "cache_namespace",
    "check_cache",
    "check_cache_policy",
    "default_cache_key",
    "entry_key",
    "lookup",
    "unkeyable",
]

_log = logging.getLogger("interlock")


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


KEY_INPUT = "__interlock_cache_input__"
"""An attribute a node function may carry: a function of its input giving `(what the key
is made of, what is mixed into it besides)`, instead of the whole input. The functional
API's entrypoint: `(its caller's input, previous)`."""


def _node_key(policy: CachePolicy, fn: Any, value: Any) -> str:
    """The key of a node's entry for its input `value`."""
    pick = getattr(fn, KEY_INPUT, None)
    if pick is None:
        return entry_key(policy, value)
    value, extra = pick(value)
    key = entry_key(policy, value)
    if extra is None:
        return key
    mixed = key.encode() + b"|" + default_cache_key(extra)
    return hashlib.blake2b(mixed, digest_size=16).hexdigest()


ASKED = "asked-a-person"
"""The key of the mark a node's namespace gets when one of its tasks pauses for a person:
from then on none of its entries is served or kept. (An entry's key is a hex digest,
never this.) A result kept before cannot stand for a question another run would be
asked: the key is the node's input, and whether it asks may depend on more (who runs it,
the context, the store)."""


def asked_mark(namespace: Namespace) -> CacheSet:
    """The effect marking `namespace`'s node (or task) as one that asks people."""
    return CacheSet({(namespace, ASKED): ({"asked": True}, None)})


def unkeyable(policy: CachePolicy, what: str, exc: Exception) -> bool:
    """Whether a failure to make a key leaves `what` uncached (logged) rather than failing
    it: the default key's, for an input it cannot pickle (a lock, a client in a state
    without a checkpointer). A `key_func` of your own that raises fails the task, as in
    LangGraph."""
    if policy.key_func is not default_cache_key:
        return False
    _log.warning(
        "%s is not cached: the default cache key cannot be made of its input (%s: %s); "
        "give its CachePolicy a key_func",
        what,
        type(exc).__name__,
        exc,
    )
    return True


def cache_effect(cache: BaseCache[Any] | None, effect: CacheGet | CacheSet) -> Any:
    """Perform a `CacheGet` (reply the hits) or a `CacheSet` for a driver. A cache that
    fails is logged and left out — a miss, an entry not kept: a run never fails on it."""
    if cache is None:
        return {}
    try:
        if isinstance(effect, CacheGet):
            return _hits(cache.get(effect.keys))
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
            return _hits(await cache.aget(effect.keys))
        await cache.aset(effect.pairs)
    except Exception as exc:
        _warn(exc, isinstance(effect, CacheGet))
    return {}


def _hits(found: Any) -> Mapping[Any, Any]:
    """A cache's reply to `get`: a mapping, or a `TypeError` (a cache of your own that
    answers otherwise is read as failing: every key a miss)."""
    if not isinstance(found, Mapping):
        raise TypeError(f"{type(found).__name__} from get(), where a dict was due")
    return found


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
            key = _node_key(policy, node.fn, task.input)
        except Exception as exc:
            if not unkeyable(policy, f"node {task.name!r}", exc):
                found.outcomes[task.id] = TaskOutcome(task=task, error=exc)
            continue
        found.keys[task.id] = (cache_namespace(task.name, node.fn), key)
    if not found.keys:
        return found
    wanted = [*found.keys.values(), *((ns, ASKED) for ns, _ in found.keys.values())]
    hits: Mapping[Any, Any] = yield CacheGet(tuple(dict.fromkeys(wanted)))
    for task in tasks:
        at = found.keys.get(task.id)
        if at is None:
            continue
        if hits.get((at[0], ASKED)) is not None:  # its node asks people: it runs, uncached
            del found.keys[task.id]
            continue
        cached = _entry(run, hits.get(at))
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

    def asked(self, run: _Run, task: Task) -> None:
        """A task paused for a person (or its subgraph did): its node gets the mark that
        keeps all its entries from being served or kept from now on."""
        node = run.spec.nodes.get(task.name) if run.caching else None
        if node is None or node.cache_policy is None:
            return
        self.keys.pop(task.id, None)
        self.pairs.update(asked_mark(cache_namespace(task.name, node.fn)).pairs)

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
