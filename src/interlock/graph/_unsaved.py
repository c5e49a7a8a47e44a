"""Writing later a step whose write the store could not take (`StepNotSaved`).

When the store goes away as a run writes a step (its commit, or the progress of a step
that paused), the nodes' work is done and held in memory. Raising a plain
`StoreUnavailable` would lose it: whoever goes on with the thread later (the caller's
retry, a takeover of the run) runs those nodes again, and their side effects happen twice.
So the driver raises `StepNotSaved`, which carries the write (`save_step` here).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from interlock.checkpoint.base import BaseSaver
from interlock.errors import ResumeConflict, StepNotSaved, StoreError

__all__ = ["save_step", "saves_in_order"]


def save_step(
    saver: BaseSaver,
    thread_id: str,
    owner: str | None,
    ttl: float | None,
    write: Callable[[], bool],
) -> bool:
    """Do `write()` under `owner`'s lease on `thread_id` (taken again for `ttl` seconds)
    and give the lease back unless `write()` did (returned True). True once written; False
    if another owner holds the lease or the head moved on (`ResumeConflict`); raises
    `StoreUnavailable` while the store is away."""
    if owner and not saver.acquire_thread(thread_id, owner, ttl=ttl or 60.0):
        return False
    released = False
    try:
        released = write()
    except ResumeConflict:
        return False
    finally:
        if owner and not released:
            with contextlib.suppress(StoreError):
                saver.release_thread(thread_id, owner)
    return True


def saves_in_order(
    children: list[StepNotSaved], own: Callable[[], bool] | None
) -> Callable[[], bool]:
    """One `save()` that writes the subgraphs' steps first (each written once: a second
    call finds it written and moves on), then the run's own (`own`); its result is the
    run's own write's, or whether a subgraph's was written when there is none."""

    def save() -> bool:
        saved = [child.save() for child in children]
        return own() if own is not None else any(saved)

    return save
