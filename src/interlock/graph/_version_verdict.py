"""The version verdict: what a run does when it goes on from a checkpoint written under
another version of its graph (see `_versions` for what a version is). Pure: the reads it
needs are made by `_version_check`, which also performs what it decides.

- the same version (or a checkpoint from before versions: resumed as before, with a
  `version.unrecorded` audit entry) → go on;
- a different version whose changes are all compatible (`_manifest.compare`) → go on;
- breaking changes → the graph's `on_version_change` policy: `"refuse"` (the default) refuses
  with `VersionChanged` naming each change; `"migrate"` applies the migration registered
  for the old version (`@graph.migrate(from_version=...)`, committed by the engine as its
  own checkpoint, see `_migrate`) or refuses when none is; `"resume"` goes on regardless.
- a run paused inside a subgraph node (its own checkpoint namespace) is compared at each
  level down to where it paused (`subgraph_changes`): the subgraph's checkpoint records the
  subgraph's version, compared with the subgraph the node runs now, under the subgraph's own
  policy (`"resume"` goes on; anything else refuses: subgraphs are not migrated).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from interlock._types import Command
from interlock.checkpoint.base import (
    AuditEntry,
    CheckpointRecord,
    InterruptRecord,
    StoredCheckpoint,
)
from interlock.errors import VersionChanged
from interlock.graph._effects import Start
from interlock.graph._manifest import compare
from interlock.graph._resume import looks_like_id_map
from interlock.graph._root_state import ROOT, migrated
from interlock.graph._run import CHILD
from interlock.graph._versions import Migration, MigrationPlan, VersionInfo

__all__ = [
    "PausedSubgraph",
    "Verdict",
    "assess",
    "continues",
    "decided",
    "go_on",
    "legacy_entry",
    "old_version",
    "paused_subgraphs",
    "plan",
    "refusal",
    "subgraph_changes",
    "subgraph_label",
    "subgraph_refusal",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """What a continuing run does about its checkpoint's version."""

    action: Literal["go", "legacy", "refuse", "migrate"]
    old: str | None = None
    message: str = ""
    changes: tuple[str, ...] = ()
    migration: Migration | None = None


def continues(start: Start, input: Any, config: Mapping[str, Any]) -> bool:
    """Whether a run goes on from its checkpoint (rather than starting a new turn)."""
    stored = start.stored
    if stored is None or not (stored.record.next or stored.record.sends or stored.interrupts):
        return False  # nothing of the old code's run is left to go on with
    if input is None or isinstance(input, Command):  # a Command goes on from it (LangGraph)
        return True
    if any(r.status in ("resolved", "expired") for r in stored.interrupts):
        return True  # decided, not applied yet: this run would apply it
    run_id = (config.get("configurable") or {}).get("run_id")
    return bool(run_id) and stored.record.metadata.get("run_id") == run_id


def _message(info: VersionInfo, thread_id: str, old: str, why: list[str]) -> str:
    return (
        f"thread {thread_id!r} paused under version {old!r} of graph {info.graph!r}, and "
        f"version {info.version!r} differs: {'; '.join(why)}. Nothing was applied and its "
        "request stays pending: roll back to the old version to answer it, register "
        f"@graph.migrate(from_version={old!r}), or compile with on_version_change='resume'"
    )


def assess(
    info: VersionInfo, thread_id: str, old: str | None, old_manifest: Mapping[str, Any] | None
) -> Verdict:
    """Compare the version a checkpoint recorded (`old`, its manifest) with the graph's."""
    if old is None:
        return Verdict(action="legacy")
    if old == info.version:
        return Verdict(action="go", old=old)
    if old_manifest is None:
        breaking: tuple[str, ...] = (f"the manifest of version `{old}` is not in the store",)
    else:
        breaking = compare(old_manifest, info.manifest).breaking
    migration = info.migrations.get(old)
    if info.policy == "migrate" and migration is not None:
        return Verdict(action="migrate", old=old, migration=migration, changes=breaking)
    if not breaking or info.policy == "resume":
        return Verdict(action="go", old=old, changes=breaking)
    why = list(breaking)
    if info.policy == "migrate":
        why.append(f"no migration is registered from version `{old}`")
    return Verdict(
        action="refuse", old=old, message=_message(info, thread_id, old, why), changes=breaking
    )


def _covers_all(pending: list[InterruptRecord], input: Any) -> bool:
    """Whether a resume answers every pending request (a migration moves the whole step)."""
    if not pending:
        return True
    if not (isinstance(input, Command) and input.has_resume):
        return False
    if looks_like_id_map(input.resume):
        return {r.interrupt_id for r in pending} <= set(input.resume)
    return len(pending) == 1


def plan(info: VersionInfo, verdict: Verdict, start: Start, input: Any) -> Start:
    """The start with its migration computed (refused when it cannot apply)."""
    m = verdict.migration
    assert m is not None and verdict.old is not None and start.stored is not None
    pending = [r for r in start.stored.interrupts if r.status == "pending"]
    if not _covers_all(pending, input):
        raise VersionChanged(
            _message(
                info,
                start.thread_id,
                verdict.old,
                [*verdict.changes, "a migration needs every pending request answered at once"],
            ),
            graph=info.graph,
            from_version=verdict.old,
            to_version=info.version,
            changes=verdict.changes,
        )
    known = info.manifest.get("state") or {}
    values = migrated(m.fn, start.values, set(known) == {ROOT})
    why = [
        f"the migration leaves the paused run at unknown node `{n}`"
        for n in _missing(info, start, m.nodes)
    ]
    if known:  # a typed state: the migration must return its keys only
        why += [f"the migration returned unknown state key `{k}`" for k in values if k not in known]
    if why:
        raise VersionChanged(
            _message(info, start.thread_id, verdict.old, why),
            graph=info.graph,
            from_version=verdict.old,
            to_version=info.version,
            changes=verdict.changes,
        )
    plan = MigrationPlan(
        from_version=verdict.old, to_version=info.version, values=values, nodes=dict(m.nodes)
    )
    return replace(start, migration=plan)


def _missing(info: VersionInfo, start: Start, rename: Mapping[str, str]) -> list[str]:
    """Nodes the paused run goes on with that the graph no longer has (after `rename`)."""
    assert start.stored is not None
    record = start.stored.record
    names = (*record.next, *(n for n, _ in record.sends))
    return [n for n in names if rename.get(n, n) not in info.manifest["nodes"]]


def go_on(info: VersionInfo, verdict: Verdict, start: Start) -> Verdict:
    """A run on changed code goes on only if the nodes it continues with exist
    (`on_version_change="resume"` cannot help there)."""
    missing = _missing(info, start, {}) if verdict.old is not None else []
    if not missing:
        return verdict
    assert verdict.old is not None
    why = [f"node `{n}`, where the run paused, is not in this version" for n in missing]
    return Verdict(
        action="refuse",
        old=verdict.old,
        message=_message(info, start.thread_id, verdict.old, [*verdict.changes, *why]),
        changes=verdict.changes or tuple(why),
    )


def refusal(info: VersionInfo, verdict: Verdict) -> VersionChanged:
    return VersionChanged(
        verdict.message,
        graph=info.graph,
        from_version=verdict.old,
        to_version=info.version,
        changes=verdict.changes,
    )


def decided(start: Start) -> list[InterruptRecord]:
    assert start.stored is not None
    return [r for r in start.stored.interrupts if r.status in ("resolved", "expired")]


def legacy_entry(info: VersionInfo, start: Start) -> AuditEntry:
    return AuditEntry(
        at=datetime.now(UTC),
        actor=None,
        action="version.unrecorded",
        thread_id=start.thread_id,
        detail={
            "graph": info.graph,
            "version": info.version,
            "checkpoint_id": start.stored.record.checkpoint_id if start.stored else None,
            "note": "the checkpoint was written before graph versions were recorded; "
            "resumed without a version check",
        },
    )


def old_version(start: Start) -> str | None:
    """The version `start`'s checkpoint recorded (None: written before versions)."""
    assert start.stored is not None
    old = start.stored.record.metadata.get("graph_version")
    return str(old) if old is not None else None


# ---- runs paused inside subgraphs ------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PausedSubgraph:
    """A subgraph paused below a checkpoint: the node (task) that runs it, its namespace."""

    node: str
    ns: str


def paused_subgraphs(stored: StoredCheckpoint) -> list[PausedSubgraph]:
    """The subgraphs that tasks of `stored`'s step ran and that paused (the engine marks
    each such task's saved writes with the subgraph's namespace)."""
    out = []
    for tw in stored.task_writes:
        for channel, value in tw.writes:
            if channel == CHILD and isinstance(value, Mapping) and value.get("ns"):
                out.append(PausedSubgraph(node=tw.task_name, ns=str(value["ns"])))
    return out


def subgraph_label(paused: PausedSubgraph, record: CheckpointRecord, where: str) -> str:
    """How a message names a paused subgraph: "subgraph `review` (node `check`)"."""
    name = record.metadata.get("graph") or "?"
    return f"subgraph `{name}` (node `{paused.node}`{where})"


def subgraph_changes(
    parent: VersionInfo,
    was: Mapping[str, Any],
    paused: PausedSubgraph,
    record: CheckpointRecord,
    old_manifest: Mapping[str, Any] | None,
    where: str = "",
) -> list[str]:
    """What keeps a subgraph paused at `record` (its head) from going on under the
    subgraph that `parent`'s node runs now, each a sentence naming the subgraph and node.
    `was`: the subgraphs `parent`'s nodes ran when the run paused (its old manifest's);
    `old_manifest`: the manifest of the version `record` recorded, when it differs."""
    child = parent.subgraphs.get(paused.node)
    label = subgraph_label(paused, record, where)
    if child is None:
        if paused.node in was:  # it ran a subgraph then; now it is a plain node
            return [f"{label}: node `{paused.node}` no longer runs a subgraph"]
        return []  # a graph called from inside the node's function: not compared
    old = record.metadata.get("graph_version")
    if old is None or str(old) == child.version:
        return []
    why: list[str] = []
    if child.policy != "resume":
        if old_manifest is None:
            why.append(f"the manifest of version `{old}` is not in the store")
        else:
            why += compare(old_manifest, child.manifest).breaking
    if not why:  # compatible, or `"resume"`: it goes on only if its nodes are there
        names = (*record.next, *(n for n, _ in record.sends))
        why = [
            f"node `{n}`, where the run paused, is not in this version"
            for n in names
            if n not in child.manifest["nodes"]
        ]
    return [f"{label}: {w}" for w in why]


def subgraph_refusal(info: VersionInfo, thread_id: str, old: str | None, why: list[str]) -> Verdict:
    """The refusal of a run whose paused subgraphs cannot go on (`subgraph_changes`)."""
    version = f"version {old!r}" if old is not None else "an unrecorded version"
    if old is not None and old != info.version:
        version += f" (this is version {info.version!r})"
    message = (
        f"thread {thread_id!r} paused inside a subgraph of graph {info.graph!r} under "
        f"{version}, and the subgraph differs: {'; '.join(why)}. Nothing was applied and its "
        "request stays pending: roll back to the old version to answer it, or compile the "
        "subgraph with on_version_change='resume' (subgraphs are not migrated)"
    )
    return Verdict(action="refuse", old=old, message=message, changes=tuple(why))
