"""Graph versions at run time: which version a compiled graph is, storing its manifest once
per store, and the check a run makes before it goes on from a checkpoint written by other
code.

A run that continues a thread (a resume, `invoke(None)`, a background run taken over)
compares the version its checkpoint recorded with the graph's own, before any decision is
recorded:

- the same version (or a checkpoint from before versions: resumed as before, with an
  `version.unrecorded` audit entry) → go on;
- a different version whose changes are all compatible (`_manifest.compare`) → go on;
- breaking changes → the graph's `on_version_change` policy: `"refuse"` (the default) raises
  `VersionChanged` naming each change, and returns to pending any decision recorded under
  the old code and not yet applied (`reopen_interrupt`, reason = the message); `"migrate"`
  applies the migration registered for the old version (`@graph.migrate(from_version=...)`,
  its result committed as its own checkpoint by the engine, see `_migrate`) or refuses when
  none is; `"resume"` goes on regardless.

The decision itself (`assess`) is pure; `check_sync` / `check_async` only read the old
manifest and write the audit entry or reopen requests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from interlock._types import Command
from interlock.checkpoint.base import AuditEntry, GraphVersion, InterruptRecord
from interlock.errors import GraphError, VersionChanged
from interlock.graph._manifest import build_manifest, compare, fingerprint, tool_schemas
from interlock.graph._resume import looks_like_id_map
from interlock.graph._spec import GraphSpec

if TYPE_CHECKING:
    from interlock.checkpoint.base import BaseSaver
    from interlock.graph._drivers import Env
    from interlock.graph._effects import Start

__all__ = [
    "POLICIES",
    "Migration",
    "MigrationPlan",
    "VersionInfo",
    "assess",
    "check_async",
    "check_sync",
    "ensure_stored",
    "registrar",
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
    if version is not None and (not isinstance(version, str) or not version.strip()):
        raise GraphError(f"compile(version=...) must be a non-empty string, not {version!r}")
    return VersionInfo(
        graph=spec.name,
        version=version if version is not None else fp[:16],
        fingerprint=fp,
        manifest=manifest,
        explicit=version is not None,
        policy=policy,  # type: ignore[arg-type]
    )


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


def ensure_stored(info: VersionInfo, saver: BaseSaver) -> bool:
    """Write the manifest to `saver` unless this process did already; whether it wrote."""
    if _stored(info, saver):
        return False
    saver.put_graph_version(_record(info))
    info.stored_on.append(saver)
    return True


async def aensure_stored(info: VersionInfo, saver: BaseSaver) -> bool:
    """Async twin of `ensure_stored`."""
    if _stored(info, saver):
        return False
    await saver.aput_graph_version(_record(info))
    info.stored_on.append(saver)
    return True


# ---- the decision (pure) ---------------------------------------------------------------------


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
    if input is None or (isinstance(input, Command) and input.has_resume):
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


def _plan(info: VersionInfo, verdict: Verdict, start: Start, input: Any) -> Start:
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
    values = dict(m.fn(dict(start.values))) if m.fn is not None else dict(start.values)
    why = [
        f"the migration leaves the paused run at unknown node `{n}`"
        for n in _missing(info, start, m.nodes)
    ]
    known = info.manifest.get("state") or {}
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


def _go(info: VersionInfo, verdict: Verdict, start: Start) -> Verdict:
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


def _refusal(info: VersionInfo, verdict: Verdict) -> VersionChanged:
    return VersionChanged(
        verdict.message,
        graph=info.graph,
        from_version=verdict.old,
        to_version=info.version,
        changes=verdict.changes,
    )


def _decided(start: Start) -> list[InterruptRecord]:
    assert start.stored is not None
    return [r for r in start.stored.interrupts if r.status in ("resolved", "expired")]


def _legacy_entry(info: VersionInfo, start: Start) -> AuditEntry:
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


# ---- the thin I/O halves -----------------------------------------------------------------------


def _old_manifest_sync(info: VersionInfo, saver: BaseSaver, old: str) -> dict[str, Any] | None:
    if old not in info.manifests:
        found = saver.get_graph_version(info.graph, old)
        info.manifests[old] = None if found is None else dict(found.manifest)
    return info.manifests[old]


async def _old_manifest_async(
    info: VersionInfo, saver: BaseSaver, old: str
) -> dict[str, Any] | None:
    if old not in info.manifests:
        found = await saver.aget_graph_version(info.graph, old)
        info.manifests[old] = None if found is None else dict(found.manifest)
    return info.manifests[old]


def _old_version(start: Start) -> str | None:
    assert start.stored is not None
    old = start.stored.record.metadata.get("graph_version")
    return str(old) if old is not None else None


def check_sync(info: VersionInfo, saver: BaseSaver, start: Start, input: Any, env: Env) -> Start:
    """The check before a run goes on from `start` (see the module docstring)."""
    if not continues(start, input, env.config):
        return start
    old = _old_version(start)
    manifest = _old_manifest_sync(info, saver, old) if old not in (None, info.version) else None
    verdict = assess(info, start.thread_id, old, manifest)
    if verdict.action == "legacy":
        saver.append_audit([_legacy_entry(info, start)])
        return start
    if verdict.action == "go":
        verdict = _go(info, verdict, start)
    try:
        if verdict.action == "migrate":
            return _plan(info, verdict, start, input)
        if verdict.action == "refuse":
            raise _refusal(info, verdict)
    except VersionChanged as refused:
        for r in _decided(start):  # recorded under the old code: back to pending
            saver.reopen_interrupt(
                r.interrupt_id, reason=str(refused), expected_status=r.status, by=env.lease_owner
            )
        raise
    return start


async def check_async(
    info: VersionInfo, saver: BaseSaver, start: Start, input: Any, env: Env
) -> Start:
    """Async twin of `check_sync`."""
    if not continues(start, input, env.config):
        return start
    old = _old_version(start)
    manifest = (
        await _old_manifest_async(info, saver, old) if old not in (None, info.version) else None
    )
    verdict = assess(info, start.thread_id, old, manifest)
    if verdict.action == "legacy":
        await saver.aappend_audit([_legacy_entry(info, start)])
        return start
    if verdict.action == "go":
        verdict = _go(info, verdict, start)
    try:
        if verdict.action == "migrate":
            return _plan(info, verdict, start, input)
        if verdict.action == "refuse":
            raise _refusal(info, verdict)
    except VersionChanged as refused:
        for r in _decided(start):  # recorded under the old code: back to pending
            await saver.areopen_interrupt(
                r.interrupt_id, reason=str(refused), expected_status=r.status, by=env.lease_owner
            )
        raise
    return start
