"""The version check a run makes before it goes on from a checkpoint written by other code,
and what it does about it (the verdict itself is `_version_verdict`, pure).

The reads the check needs — old manifests, the checkpoints of the subgraphs the run paused
in — are requested by one generator (`judge`) and served by two tiny loops, one sync and
one async, so the check is written once. Then:

- `legacy`: an audit entry (`version.unrecorded`), and the run goes on;
- `migrate`: the migration is computed (the engine commits it after the decision);
- `refuse`: every decision recorded under the old code and not applied yet — the root's and
  those of the subgraphs it paused in — returns to pending with the refusal as its reason
  (`reopen_interrupt`), and `VersionChanged` is raised.

`refusal_sync` asks the same question without acting on it: a background worker asks it
before it takes a run over, to hand the run to a process running the old version instead
(`interlock.server.runs`).
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from interlock.checkpoint.base import InterruptRecord, StoredCheckpoint
from interlock.errors import VersionChanged
from interlock.graph._effects import Start
from interlock.graph._version_verdict import (
    Verdict,
    assess,
    continues,
    decided,
    go_on,
    legacy_entry,
    old_version,
    paused_subgraphs,
    plan,
    refusal,
    subgraph_changes,
    subgraph_refusal,
)
from interlock.graph._versions import VersionInfo

if TYPE_CHECKING:
    from interlock.checkpoint.base import BaseSaver
    from interlock.graph._drivers import Env

__all__ = ["check_async", "check_sync", "judge", "refusal_sync"]


@dataclass(frozen=True, slots=True)
class ReadManifest:
    """Read the manifest of `graph` at `version` (cached in `info.manifests`)."""

    info: VersionInfo
    graph: str
    version: str


@dataclass(frozen=True, slots=True)
class ReadCheckpoint:
    """Read the head checkpoint of namespace `ns` of a thread."""

    thread_id: str
    ns: str


Read = ReadManifest | ReadCheckpoint


@dataclass(frozen=True, slots=True)
class Judgement:
    """The verdict, and the decisions recorded under the old code not applied yet."""

    verdict: Verdict
    decided: list[InterruptRecord] = field(default_factory=list)


def judge(
    info: VersionInfo, start: Start, input: Any, config: Mapping[str, Any]
) -> Generator[Read, Any, Judgement]:
    """The verdict on a run going on from `start` (which `continues`), requesting its reads."""
    old = old_version(start)
    manifest = None
    if old is not None and old != info.version:
        manifest = yield ReadManifest(info, info.graph, old)
    verdict = assess(info, start.thread_id, old, manifest)
    if verdict.action == "legacy":
        return Judgement(verdict)
    if verdict.action == "go":
        verdict = go_on(info, verdict, start)
    assert start.stored is not None
    was = (manifest if manifest is not None else info.manifest).get("subgraphs") or {}
    below: list[InterruptRecord] = []
    why = yield from _below(info, was, start.stored, start.thread_id, "", below)
    if why and verdict.action != "refuse":
        verdict = subgraph_refusal(info, start.thread_id, old, why)
    return Judgement(verdict, [*decided(start), *below])


def _below(
    info: VersionInfo,
    was: Mapping[str, Any],
    stored: StoredCheckpoint,
    thread_id: str,
    where: str,
    found: list[InterruptRecord],
) -> Generator[Read, Any, list[str]]:
    """What keeps the subgraphs paused below `stored` (a checkpoint of the graph `info`)
    from going on, level by level; collects their decided requests into `found`."""
    why: list[str] = []
    for paused in paused_subgraphs(stored):
        sub: StoredCheckpoint | None = yield ReadCheckpoint(thread_id, paused.ns)
        if sub is None:
            continue
        found += [r for r in sub.interrupts if r.status in ("resolved", "expired")]
        child = info.subgraphs.get(paused.node)
        old = sub.record.metadata.get("graph_version")
        manifest = None
        if child is not None and old is not None and str(old) != child.version:
            name = str(sub.record.metadata.get("graph") or child.graph)
            manifest = yield ReadManifest(child, name, str(old))
        changes = subgraph_changes(info, was, paused, sub.record, manifest, where)
        why += changes
        if child is not None and not changes:
            deeper = (manifest if manifest is not None else child.manifest).get("subgraphs")
            why += yield from _below(
                child, deeper or {}, sub, thread_id, f" of subgraph `{child.graph}`", found
            )
    return why


# ---- the two loops that serve the reads ------------------------------------------------------


def _key(read: ReadManifest) -> str:
    return read.version if read.graph == read.info.graph else f"{read.graph}\0{read.version}"


def _serve_sync(gen: Generator[Read, Any, Judgement], saver: BaseSaver) -> Judgement:
    answer: Any = None
    try:
        while True:
            read = gen.send(answer)
            if isinstance(read, ReadCheckpoint):
                answer = saver.get_checkpoint(read.thread_id, read.ns)
                continue
            key = _key(read)
            if key not in read.info.manifests:
                got = saver.get_graph_version(read.graph, read.version)
                read.info.manifests[key] = None if got is None else dict(got.manifest)
            answer = read.info.manifests[key]
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def _serve_async(gen: Generator[Read, Any, Judgement], saver: BaseSaver) -> Judgement:
    answer: Any = None
    try:
        while True:
            read = gen.send(answer)
            if isinstance(read, ReadCheckpoint):
                answer = await saver.aget_checkpoint(read.thread_id, read.ns)
                continue
            key = _key(read)
            if key not in read.info.manifests:
                got = await saver.aget_graph_version(read.graph, read.version)
                read.info.manifests[key] = None if got is None else dict(got.manifest)
            answer = read.info.manifests[key]
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


# ---- acting on it ----------------------------------------------------------------------------


def _outcome(info: VersionInfo, judged: Judgement, start: Start, input: Any) -> Start:
    """`start` to go on from (with its migration), or `VersionChanged`."""
    verdict = judged.verdict
    if verdict.action == "migrate":
        return plan(info, verdict, start, input)
    if verdict.action == "refuse":
        raise refusal(info, verdict)
    return start


def check_sync(info: VersionInfo, saver: BaseSaver, start: Start, input: Any, env: Env) -> Start:
    """The check before a run goes on from `start` (see the module docstring)."""
    if not continues(start, input, env.config):
        return start
    judged = _serve_sync(judge(info, start, input, env.config), saver)
    if judged.verdict.action == "legacy":
        saver.append_audit([legacy_entry(info, start)])
        return start
    try:
        return _outcome(info, judged, start, input)
    except VersionChanged as refused:
        for r in judged.decided:  # recorded under the old code: back to pending
            saver.reopen_interrupt(
                r.interrupt_id, reason=str(refused), expected_status=r.status, by=env.lease_owner
            )
        raise


async def check_async(
    info: VersionInfo, saver: BaseSaver, start: Start, input: Any, env: Env
) -> Start:
    """Async twin of `check_sync`."""
    if not continues(start, input, env.config):
        return start
    judged = await _serve_async(judge(info, start, input, env.config), saver)
    if judged.verdict.action == "legacy":
        await saver.aappend_audit([legacy_entry(info, start)])
        return start
    try:
        return _outcome(info, judged, start, input)
    except VersionChanged as refused:
        for r in judged.decided:  # recorded under the old code: back to pending
            await saver.areopen_interrupt(
                r.interrupt_id, reason=str(refused), expected_status=r.status, by=env.lease_owner
            )
        raise


def refusal_sync(graph: Any, input: Any, config: Mapping[str, Any]) -> VersionChanged | None:
    """What `graph.invoke(input, config)` (a `CompiledStateGraph`, not imported: it imports
    this module) would refuse with for the thread's version (None: it would go on), without
    reopening anything, taking the thread's lease or writing."""
    saver = graph.checkpointer
    if saver is None:
        return None
    env = graph._env(dict(config), frozenset())
    start = graph._load(dict(config), env)
    if not continues(start, input, env.config):
        return None
    judged = _serve_sync(judge(graph.version_info, start, input, env.config), saver)
    if judged.verdict.action == "legacy":
        return None
    try:
        _outcome(graph.version_info, judged, start, input)
    except VersionChanged as refused:
        return refused
    return None
