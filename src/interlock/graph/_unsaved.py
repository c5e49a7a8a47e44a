"""Writing later a step whose write the store could not take (`StepNotSaved`).

When the store goes away as a run writes a step (its commit, or the progress of a step
that paused), the nodes' work is done and held in memory. Raising a plain
`StoreUnavailable` would lose it: whoever goes on with the thread later (the caller's
retry, a takeover of the run) runs those nodes again, and their side effects happen twice.
So the driver raises `StepNotSaved`, which holds the writes (`Held`, in order) and saves
them with `save_held`: under the run's own thread lease, taken once for all of them; each
written once (a retry goes on from the first not written; a commit whose checkpoint is
already the head was written before its reply was lost); a stopped step's progress only
while its checkpoint is still the head, a commit only on the head it was built on (its
compare-and-swap).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from interlock.checkpoint.base import BaseSaver
from interlock.errors import ResumeConflict, StoreError, StoreUnavailable

__all__ = ["HOLD", "Held", "save_held"]

HOLD = "hold_unsaved_steps"
"""The configurable key with which a run's owner says it saves a held step itself (the
service sets it): the thread's lease stays held for it instead of being given back."""


@dataclass(slots=True, kw_only=True)
class Held:
    """One write a `StepNotSaved` holds."""

    write: Callable[[], None]
    checkpoint_ns: str
    commit: str | None = None
    """A commit: the id of the checkpoint it makes."""
    progress_on: str | None = None
    """A stopped step's progress: the checkpoint it belongs to (it must be the head)."""
    releases: bool = False
    """The write gives the thread's lease back (the run's last)."""
    done: bool = False


def save_held(
    saver: BaseSaver,
    thread_id: str,
    owner: str | None,
    ttl: float | None,
    held: Sequence[Held],
    *,
    keep: bool = False,
) -> bool:
    """Write `held` in order under `owner`'s lease on `thread_id` (taken again for `ttl`
    seconds), then give the lease back unless the last write did. True once written; False
    if another owner holds the lease or the thread moved on; raises `StoreUnavailable`
    while the store is away (the writes done so far stay done, and with `keep` the lease
    stays held for the next try: the run's owner saves it). `owner` None: the caller holds
    the lease already (a subgraph's steps, under its root's) and it is left alone."""
    if owner and not saver.acquire_thread(thread_id, owner, ttl=ttl or 60.0):
        return False
    gave_back = cut_short = False
    try:
        for h in held:
            if h.done:
                continue
            head = _head(saver, thread_id, h.checkpoint_ns)
            if h.commit is not None and head == h.commit:
                h.done = True  # it reached the store; its reply did not
                gave_back = False  # (a lease it gave back then is ours again now)
                continue
            if h.progress_on is not None and head != h.progress_on:
                raise ResumeConflict(f"thread {thread_id!r} moved on from {h.progress_on}")
            h.write()
            h.done = True
            gave_back = h.releases
    except ResumeConflict:
        return False
    except StoreUnavailable:
        cut_short = True
        raise
    finally:
        if owner and not gave_back and not (keep and cut_short):
            with contextlib.suppress(StoreError):
                saver.release_thread(thread_id, owner)
    return True


def _head(saver: BaseSaver, thread_id: str, checkpoint_ns: str) -> str | None:
    head = next(iter(saver.list_checkpoints(thread_id, checkpoint_ns, limit=1)), None)
    return head.checkpoint_id if head is not None else None
