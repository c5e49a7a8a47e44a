"""The run's store calls: each store effect of the engine (`Commit`, `SaveProgress`,
`Resolve`, `Vote`, `Reopen`, `HasDecided`, `Lookup`, `Applied`) carried out on the run's
saver, sync and async (the drivers call these; `_drivers.py`)."""

from __future__ import annotations

from typing import Any

from interlock.graph._abandon import aput_cancelling, put_cancelling
from interlock.graph._effects import (
    Applied,
    Commit,
    Effect,
    HasDecided,
    Lookup,
    Reopen,
    Resolve,
    SaveProgress,
    Vote,
)
from interlock.graph._env import Env

__all__ = ["store_async", "store_sync"]

_PAGE = 64
"""Checkpoints read at a time at most while `Applied` looks back through the history."""


def store_sync(effect: Effect, env: Env) -> Any:
    """Carry out one store effect on `env.saver`; its reply (None without a saver, or
    `{}` for a `Lookup`)."""
    saver = env.saver
    if saver is None:
        return {} if isinstance(effect, Lookup) else None
    if isinstance(effect, Commit):
        put_cancelling(
            saver,
            effect,
            env.thread_id,
            env.decided_by,
            lambda: saver.put_checkpoint(
                effect.record,
                expected_head=effect.expected_head,
                interrupts=effect.interrupts,
                lease_owner=env.lease_owner,
                release_lease=effect.final and env.parent_task is None,
            ),
        )
        env.released = effect.final and env.parent_task is None
    elif isinstance(effect, SaveProgress):
        saver.put_task_writes(
            env.thread_id,
            env.checkpoint_ns,
            effect.checkpoint_id,
            effect.task_writes,
            effect.interrupts,
            lease_owner=env.lease_owner,
            release_lease=effect.final and env.parent_task is None,
        )
        env.released = effect.final and env.parent_task is None
    elif isinstance(effect, Resolve):
        saver.resolve_interrupts(
            env.thread_id,
            effect.decisions,
            decided_by=env.decided_by,
            status=effect.status,  # type: ignore[arg-type]
            bindings=effect.bindings,
        )
    elif isinstance(effect, Vote):
        return saver.cast_vote(
            env.thread_id,
            effect.interrupt_id,
            effect.answer,
            voter=effect.voter,
            vote=effect.vote,  # type: ignore[arg-type]
            binding=effect.binding,
        )
    elif isinstance(effect, Reopen):
        return saver.reopen_interrupt(
            effect.interrupt_id, reason=effect.reason, value=effect.value, by="interlock"
        )
    elif isinstance(effect, HasDecided):
        return any(
            saver.list_interrupts(status=s, thread_id=env.thread_id, limit=1).items
            for s in ("resolved", "expired")
        )
    elif isinstance(effect, Lookup):
        return {iid: saver.get_interrupt(iid) for iid in effect.ids}
    elif isinstance(effect, Applied):
        before, size = None, 2
        while True:
            page = list(
                saver.list_checkpoints(env.thread_id, env.checkpoint_ns, before=before, limit=size)
            )
            if (found := effect.seen(page, size)) is not None:
                return found
            before, size = page[-1].checkpoint_id, min(size * 2, _PAGE)
    return None


async def store_async(effect: Effect, env: Env) -> Any:
    """Async twin of `store_sync`."""
    saver = env.saver
    if saver is None:
        return {} if isinstance(effect, Lookup) else None
    if isinstance(effect, Commit):
        await aput_cancelling(
            saver,
            effect,
            env.thread_id,
            env.decided_by,
            lambda: saver.aput_checkpoint(
                effect.record,
                expected_head=effect.expected_head,
                interrupts=effect.interrupts,
                lease_owner=env.lease_owner,
                release_lease=effect.final and env.parent_task is None,
            ),
        )
        env.released = effect.final and env.parent_task is None
    elif isinstance(effect, SaveProgress):
        await saver.aput_task_writes(
            env.thread_id,
            env.checkpoint_ns,
            effect.checkpoint_id,
            effect.task_writes,
            effect.interrupts,
            lease_owner=env.lease_owner,
            release_lease=effect.final and env.parent_task is None,
        )
        env.released = effect.final and env.parent_task is None
    elif isinstance(effect, Resolve):
        await saver.aresolve_interrupts(
            env.thread_id,
            effect.decisions,
            decided_by=env.decided_by,
            status=effect.status,  # type: ignore[arg-type]
            bindings=effect.bindings,
        )
    elif isinstance(effect, Vote):
        return await saver.acast_vote(
            env.thread_id,
            effect.interrupt_id,
            effect.answer,
            voter=effect.voter,
            vote=effect.vote,  # type: ignore[arg-type]
            binding=effect.binding,
        )
    elif isinstance(effect, Reopen):
        return await saver.areopen_interrupt(
            effect.interrupt_id, reason=effect.reason, value=effect.value, by="interlock"
        )
    elif isinstance(effect, HasDecided):
        for s in ("resolved", "expired"):
            if (await saver.alist_interrupts(status=s, thread_id=env.thread_id, limit=1)).items:
                return True
        return False
    elif isinstance(effect, Lookup):
        return {iid: await saver.aget_interrupt(iid) for iid in effect.ids}
    elif isinstance(effect, Applied):
        before, size = None, 2
        while True:
            page = await saver.alist_checkpoints(
                env.thread_id, env.checkpoint_ns, before=before, limit=size
            )
            if (found := effect.seen(page, size)) is not None:
                return found
            before, size = page[-1].checkpoint_id, min(size * 2, _PAGE)
    return None
