"""Graph versions at compile time: which version a compiled graph is (its manifest and
fingerprint, the versions of its subgraph nodes, its `on_version_change` policy and
registered migrations), and storing its manifest once per store.

What a run does when it goes on from a checkpoint written by other code is decided in
`_version_verdict` (pure) and checked, with the store reads it needs, in `_version_check`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from interlock.checkpoint.base import GraphVersion
from interlock.errors import GraphError
from interlock.graph._manifest import build_manifest, fingerprint, tool_schemas
from interlock.graph._spec import GraphSpec

if TYPE_CHECKING:
    from interlock.checkpoint.base import BaseSaver

__all__ = [
    "POLICIES",
    "Migration",
    "MigrationPlan",
    "Policy",
    "VersionInfo",
    "aensure_stored",
    "ensure_stored",
    "registrar",
    "renamed",
    "replace_version",
    "version_info",
]

Policy = Literal["refuse", "migrate", "resume"]
POLICIES: tuple[str, ...] = ("refuse", "migrate", "resume")


@dataclass(frozen=True, slots=True, kw_only=True)
class Migration:
    """A registered migration from one version: `fn(values) -> values`, pure, plus node
    renames (`{"old name": "new name"}`) for the tasks the paused run will run next."""

    from_version: str
    fn: Callable[[dict[str, Any]], Mapping[str, Any]] | None
    nodes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class MigrationPlan:
    """A migration computed before the run starts; the engine commits it (`_migrate`)."""

    from_version: str
    to_version: str
    values: dict[str, Any]
    nodes: Mapping[str, str]


@dataclass(slots=True, kw_only=True)
class VersionInfo:
    """A compiled graph's version: computed once per compile."""

    graph: str
    version: str
    fingerprint: str
    manifest: dict[str, Any]
    explicit: bool
    policy: Policy = "refuse"
    migrations: dict[str, Migration] = field(default_factory=dict)
    stored_on: list[Any] = field(default_factory=list)
    """The stores this version's manifest was written to by this process."""
    manifests: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    """Old versions' manifests read from the store (they never change)."""
    subgraphs: dict[str, VersionInfo] = field(default_factory=dict)
    """The versions of the subgraphs its nodes run, by node name."""


def registrar(
    migrations: dict[str, Migration], from_version: str, nodes: Mapping[str, str] | None
) -> Callable[[Callable[[dict[str, Any]], Mapping[str, Any]]], Callable[..., Any]]:
    """The decorator `graph.migrate(from_version=..., nodes=...)` returns: it registers the
    function in `migrations` and returns it unchanged."""

    def register(fn: Callable[[dict[str, Any]], Mapping[str, Any]]) -> Callable[..., Any]:
        migrations[from_version] = Migration(
            from_version=from_version, fn=fn, nodes=dict(nodes or {})
        )
        return fn

    return register


def version_info(
    spec: GraphSpec, *, version: str | None, tools: Any, policy: str | None
) -> VersionInfo:
    """The version of a graph being compiled (its manifest and fingerprint)."""
    if policy is None:
        policy = "refuse"
    if policy not in POLICIES:
        raise GraphError(f"on_version_change must be one of {list(POLICIES)}, not {policy!r}")
    manifest = build_manifest(spec, tool_schemas(tools))
    fp = fingerprint(manifest)
    subgraphs = {
        name: node.subgraph.version_info
        for name, node in spec.nodes.items()
        if isinstance(getattr(node.subgraph, "version_info", None), VersionInfo)
    }
    if version is not None and (not isinstance(version, str) or not version.strip()):
        raise GraphError(f"compile(version=...) must be a non-empty string, not {version!r}")
    return VersionInfo(
        graph=spec.name,
        version=version if version is not None else fp[:16],
        fingerprint=fp,
        manifest=manifest,
        explicit=version is not None,
        policy=policy,  # type: ignore[arg-type]
        subgraphs=subgraphs,
    )


def replace_version(info: VersionInfo, **changes: Any) -> VersionInfo:
    """`info` with `changes`, holding containers of its own (a copied graph's migrations
    and the stores it wrote its manifest to are not its original's)."""
    own = {
        "migrations": dict(info.migrations),
        "stored_on": [],
        "manifests": dict(info.manifests),
    }
    return replace(info, **{**own, **changes})


def renamed(graph: Any, name: str) -> None:
    """Give a compiled `graph` (a copy: see `RunnableMethods.copy`) the name `name`, as if it
    had been compiled with `name=`: its spec, and its version, whose manifest names the
    graph (an explicit `version=` stays)."""
    info: VersionInfo = graph.version_info
    manifest = {**info.manifest, "graph": name}
    fp = fingerprint(manifest)
    version = info.version if info.explicit else fp[:16]
    graph.version_info = replace_version(
        info, graph=name, manifest=manifest, fingerprint=fp, version=version, manifests={}
    )
    graph.spec = replace(graph.spec, name=name, version=version)
    graph.name = name


def _record(info: VersionInfo) -> GraphVersion:
    return GraphVersion(
        graph=info.graph,
        version_id=info.version,
        fingerprint=info.fingerprint,
        manifest=info.manifest,
        explicit=info.explicit,
        created_at=datetime.now(UTC),
    )


def _stored(info: VersionInfo, saver: BaseSaver) -> bool:
    stored = info.stored_on
    if stored and stored[-1] is saver:  # the usual case: the graph's one store
        return True
    return any(s is saver for s in stored)


def _unstored(info: VersionInfo, saver: BaseSaver) -> list[VersionInfo]:
    """The versions of `info` and its subgraphs not yet written to `saver`, subgraphs first
    (so that a graph stored means its subgraphs are too)."""
    if _stored(info, saver):
        return []
    out: list[VersionInfo] = []
    for child in info.subgraphs.values():
        out += [i for i in _unstored(child, saver) if all(i is not o for o in out)]
    return [*out, info]


def ensure_stored(info: VersionInfo, saver: BaseSaver) -> bool:
    """Write the manifest (and its subgraphs') to `saver` unless this process did already;
    whether it wrote."""
    todo = _unstored(info, saver)
    for each in todo:
        saver.put_graph_version(_record(each))
        each.stored_on.append(saver)
    return bool(todo)


async def aensure_stored(info: VersionInfo, saver: BaseSaver) -> bool:
    """Async twin of `ensure_stored`."""
    todo = _unstored(info, saver)
    for each in todo:
        await saver.aput_graph_version(_record(each))
        each.stored_on.append(saver)
    return bool(todo)
