"""A version migration's checkpoint: the migrated state, committed as its own step.

`_versions` computes the migration before the run starts (a pure function of the stored
state, plus node renames); after the decision is recorded, the engine commits it as a
checkpoint with `source="migrate"` whose one write replaces the whole state (`STATE`), so
it is applied once: later reads fold from it. The paused step moves to the new checkpoint
with its decisions and finished tasks (task ids follow the checkpoint and the node name),
so the resumed node gets its answers. Pure.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from interlock.checkpoint.base import CheckpointRecord, InterruptRecord, TaskWrites, Write
from interlock.graph._writes import STATE, task_id

if TYPE_CHECKING:
    from interlock.graph._run import _Run
    from interlock.graph._versions import MigrationPlan

__all__ = ["MIGRATE", "carry_over", "migration_record"]

MIGRATE = "__migrate__"
"""The writer of a migration's state write."""


def migration_record(run: _Run, plan: MigrationPlan) -> CheckpointRecord:
    """The migration's checkpoint, after `run.record` (whose state `run.values` becomes
    the migrated one)."""
    old = run.record
    assert old is not None
    rename = plan.nodes
    run.values = dict(plan.values)
    rec = run._commit(
        source="migrate",
        writes=[Write(node=MIGRATE, channel=STATE, value=dict(plan.values))],
        next_=tuple(rename.get(n, n) for n in old.next),
        sends=tuple((rename.get(n, n), arg) for n, arg in old.sends),
        barriers=old.barriers,
        step=old.step,
    )
    meta = {**rec.metadata, "migrated_from": plan.from_version}
    return replace(rec, metadata=meta)


def carry_over(
    run: _Run,
    old: CheckpointRecord,
    interrupts: list[InterruptRecord],
    task_writes: dict[str, TaskWrites],
) -> None:
    """Move the paused step's requests and task writes from `old` to `run.record` (the
    migration's checkpoint): same request ids, the task ids of the new checkpoint."""
    new = run.record
    assert new is not None
    moved: dict[str, tuple[str, str]] = {}
    names = [*old.next, *(n for n, _ in old.sends)]
    new_names = [*new.next, *(n for n, _ in new.sends)]
    for i, (name, new_name) in enumerate(zip(names, new_names, strict=True)):
        moved[task_id(old.checkpoint_id, name, i)] = (
            task_id(new.checkpoint_id, new_name, i),
            new_name,
        )
    run.interrupts = [
        replace(
            r,
            checkpoint_id=new.checkpoint_id,
            task_id=moved[r.task_id][0],
            task_name=moved[r.task_id][1],
        )
        if r.task_id in moved
        else r
        for r in interrupts
    ]
    run.task_writes = {
        moved[t][0]: replace(w, task_id=moved[t][0], task_name=moved[t][1])
        for t, w in task_writes.items()
        if t in moved
    }
