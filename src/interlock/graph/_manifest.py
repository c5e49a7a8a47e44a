"""A graph's manifest: what a paused run depends on, so a resume on changed code can say
exactly what changed.

The manifest lists the graph's node names and edges, its state keys with their reducers,
and the tools it declares (`compile(tools=...)`, which `create_agent` passes) with their
argument schemas, descriptions left out (a docstring edit changes nothing a run depends
on), and the name and version of each subgraph node. It is computed once per compile; its
fingerprint (SHA-256 of its canonical JSON) is the graph's version unless the developer
names one (`compile(version=...)`). Pure: no I/O."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from interlock.graph._spec import GraphSpec

__all__ = ["Changes", "build_manifest", "compare", "fingerprint", "tool_schemas"]

_DROPPED_SCHEMA_KEYS = frozenset({"description", "title", "examples"})


def _reducer_name(reducer: Any) -> str:
    if reducer is None:
        return "last_value"
    module = getattr(reducer, "__module__", None) or ""
    name = getattr(reducer, "__qualname__", None) or getattr(reducer, "__name__", None)
    if name is None:
        return type(reducer).__qualname__
    return f"{module}.{name}" if module else str(name)


def _plain_schema(schema: Any, names: bool = False) -> Any:
    """An argument schema without the parts that document rather than constrain
    (`names`: `schema` maps argument names to schemas, all of them kept)."""
    if isinstance(schema, Mapping):
        return {
            str(k): _plain_schema(v, names=not names and k == "properties")
            for k, v in sorted(schema.items())
            if names or k not in _DROPPED_SCHEMA_KEYS
        }
    if isinstance(schema, (list, tuple)):
        return [_plain_schema(v) for v in schema]
    return schema


def tool_schemas(tools: Any) -> dict[str, dict[str, Any]]:
    """`compile(tools=...)` as `{name: argument schema}`: a mapping of names to JSON
    schemas, or objects with `name` and `args_schema` (interlock's and LangChain's tools)."""
    if tools is None:
        return {}
    if isinstance(tools, Mapping):
        return {str(k): _plain_schema(dict(v or {})) for k, v in tools.items()}
    out: dict[str, dict[str, Any]] = {}
    for t in tools:
        name = getattr(t, "name", None) or getattr(t, "__name__", None)
        schema = getattr(t, "args_schema", None)
        if schema is not None and not isinstance(schema, Mapping):
            dump = getattr(schema, "model_json_schema", None)
            schema = dump() if callable(dump) else {}
        if name is not None:
            out[str(name)] = _plain_schema(dict(schema or {}))
    return out


def _edges(spec: GraphSpec) -> list[list[str]]:
    out: set[tuple[str, str]] = set()
    for src, targets in spec.edges.items():
        out.update((src, dst) for dst in targets)
    for sources, dst in spec.joins:
        out.update((src, dst) for src in sources)
    for src, branches in spec.branches.items():
        for branch in branches:
            out.update((src, dst) for dst in (branch.path_map or {}).values())
    return [list(e) for e in sorted(out)]


def _subgraphs(spec: GraphSpec) -> dict[str, dict[str, str]]:
    """`{node: {"graph": name, "version": version}}` of the nodes that are compiled graphs."""
    out = {}
    for name, node in sorted(spec.nodes.items()):
        info = getattr(node.subgraph, "version_info", None)
        if info is not None:
            out[name] = {"graph": str(info.graph), "version": str(info.version)}
    return out


def build_manifest(spec: GraphSpec, tools: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The manifest of a compiled graph (JSON-serialisable, canonical order). A graph with
    subgraph nodes lists their versions (`"subgraphs"`), so its version changes with theirs:
    a process running it runs exactly those subgraphs."""
    manifest = {
        "graph": spec.name,
        "nodes": sorted(spec.nodes),
        "edges": _edges(spec),
        "state": {
            name: _reducer_name(ch.reducer) for name, ch in sorted(spec.schema.channels.items())
        },
        "tools": {name: dict(schema) for name, schema in sorted((tools or {}).items())},
    }
    if subgraphs := _subgraphs(spec):
        manifest["subgraphs"] = subgraphs
    return manifest


def fingerprint(manifest: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the manifest's canonical JSON."""
    text = json.dumps(manifest, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Changes:
    """What differs between the manifest a run paused under and the current one."""

    breaking: tuple[str, ...]
    """Changes a paused run cannot survive unmigrated, each a sentence."""
    compatible: tuple[str, ...]
    """Changes it survives (a new node, a new state key, a new optional argument)."""

    def __bool__(self) -> bool:
        return bool(self.breaking)


def _removed(kind: str, gone: Iterable[str], added: Iterable[str]) -> list[str]:
    gone, added = sorted(gone), sorted(added)
    out = []
    for name in gone:
        also = f" (and {', '.join(f'`{a}`' for a in added)} added)" if added else ""
        out.append(f"{kind} `{name}` was removed{also}")
    return out


def _tool_changes(name: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[list, list]:
    breaking: list[str] = []
    compatible: list[str] = []
    old_props = dict(old.get("properties") or {})
    new_props = dict(new.get("properties") or {})
    old_req, new_req = set(old.get("required") or ()), set(new.get("required") or ())
    for arg in sorted(set(old_props) - set(new_props)):
        breaking.append(f"tool `{name}` argument `{arg}` was removed")
    for arg in sorted(set(new_props) - set(old_props)):
        if arg in new_req:
            breaking.append(f"tool `{name}` argument `{arg}` is now required")
        else:
            compatible.append(f"tool `{name}` has a new optional argument `{arg}`")
    for arg in sorted(set(old_props) & set(new_props)):
        if arg in new_req and arg not in old_req:
            breaking.append(f"tool `{name}` argument `{arg}` is now required")
        elif old_props[arg] != new_props[arg]:
            breaking.append(f"tool `{name}` argument `{arg}` changed its schema")
    if not breaking and not compatible and dict(old) != dict(new):
        breaking.append(f"tool `{name}` changed its argument schema")
    return breaking, compatible


def compare(old: Mapping[str, Any], new: Mapping[str, Any]) -> Changes:
    """The changes from manifest `old` to `new`: removed nodes, state keys, tools and
    arguments, changed reducers and newly required arguments are breaking; additions and
    edge changes among kept nodes are compatible, and so is a subgraph's new version here
    (a run paused inside the subgraph compares the subgraph's manifests: `_versions`)."""
    breaking: list[str] = []
    compatible: list[str] = []
    old_nodes, new_nodes = set(old.get("nodes") or ()), set(new.get("nodes") or ())
    breaking += _removed("node", old_nodes - new_nodes, new_nodes - old_nodes)
    if not old_nodes - new_nodes:
        compatible += [f"node `{n}` was added" for n in sorted(new_nodes - old_nodes)]
    old_edges = {tuple(e) for e in old.get("edges") or ()}
    new_edges = {tuple(e) for e in new.get("edges") or ()}
    if old_edges != new_edges:
        compatible.append("edges changed")
    old_state, new_state = dict(old.get("state") or {}), dict(new.get("state") or {})
    breaking += _removed(
        "state key", set(old_state) - set(new_state), set(new_state) - set(old_state)
    )
    if not set(old_state) - set(new_state):
        compatible += [
            f"state key `{k}` was added" for k in sorted(set(new_state) - set(old_state))
        ]
    for key in sorted(set(old_state) & set(new_state)):
        if old_state[key] != new_state[key]:
            breaking.append(
                f"state key `{key}` changed its reducer from `{old_state[key]}` to "
                f"`{new_state[key]}`"
            )
    old_tools, new_tools = dict(old.get("tools") or {}), dict(new.get("tools") or {})
    breaking += _removed("tool", set(old_tools) - set(new_tools), ())
    compatible += [f"tool `{t}` was added" for t in sorted(set(new_tools) - set(old_tools))]
    for name in sorted(set(old_tools) & set(new_tools)):
        b, c = _tool_changes(name, old_tools[name], new_tools[name])
        breaking += b
        compatible += c
    old_subs, new_subs = dict(old.get("subgraphs") or {}), dict(new.get("subgraphs") or {})
    for node in sorted(set(old_subs) | set(new_subs)):
        if old_subs.get(node) != new_subs.get(node):  # a paused one is compared on its own
            compatible.append(f"the subgraph of node `{node}` changed")
    return Changes(breaking=tuple(breaking), compatible=tuple(compatible))
