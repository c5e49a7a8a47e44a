"""Keeping a run's thread lease while it runs.

A run holds its thread's lease for `lease_ttl` seconds, and every write renews it. A node
that runs longer than that (a slow tool, a model call that takes minutes), or a caller that
reads a stream slowly, would let the lease lapse, and another process could start the same
thread meanwhile. So while a run is being driven, one daemon thread per process extends its
lease every third of its TTL, with `BaseSaver.renew_thread`: only a lease the run still
holds is extended, so a released lease, or one another run took after a lapse, is never
taken back.

Registering a run is a dict insert under a lock; a process whose runs are short never wakes
the keeper. A run ends only after a renewal in flight for it (an async run waits for it off
the event loop). A forked child starts with a keeper of its own.

The keeper also keeps other leases a caller holds while it works (`keep_alive`: any
`renew()` callable, e.g. the service's lease on a queued run it executes in a request).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from interlock.errors import StoreError

__all__ = ["keep_alive", "keep_lease", "keep_lease_async"]


@dataclass(slots=True)
class _Hold:
    saver: Any
    thread_id: str
    owner: str
    ttl: float
    due: float
    """Monotonic time of the next renewal."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    """Held during a renewal, and taken when the run ends."""
    active: bool = True
    renew: Callable[[], bool] | None = None
    """What renews the lease, when it is not `saver.renew_thread` (see `keep_alive`)."""


class _Heartbeat:
    """The process's lease keeper: renews held leases when they are due."""

    def __init__(self) -> None:
        self._holds: dict[int, _Hold] = {}
        self._ids = itertools.count()
        self._cond = threading.Condition()
        self._wake_at = float("inf")
        """When the keeper thread will next look (inf: it waits to be told)."""
        self._thread: threading.Thread | None = None

    def add(
        self,
        saver: Any,
        thread_id: str,
        owner: str,
        ttl: float,
        renew: Callable[[], bool] | None = None,
    ) -> int:
        """Start keeping `owner`'s lease on `thread_id` (or calling `renew`); the key to
        `remove` it with."""
        due = time.monotonic() + ttl / 3
        key = next(self._ids)
        with self._cond:
            self._holds[key] = _Hold(saver, thread_id, owner, ttl, due, renew=renew)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="interlock-lease-keeper", daemon=True
                )
                self._thread.start()
            elif due < self._wake_at:
                self._cond.notify()
        return key

    def remove(self, key: int) -> _Hold:
        """Stop keeping it (a renewal in flight may still be finishing: see `finish`)."""
        with self._cond:
            return self._holds.pop(key)

    def _run(self) -> None:
        while True:
            try:
                self._tick()
            except BaseException:  # never die: every run of the process relies on this
                _logger().exception("the lease keeper failed; it goes on")

    def _tick(self) -> None:
        with self._cond:
            now = time.monotonic()
            due = [h for h in self._holds.values() if h.due <= now]
            for h in due:
                h.due = now + h.ttl / 3
            if not due:
                self._wake_at = min((h.due for h in self._holds.values()), default=now + 3600)
                self._cond.wait(self._wake_at - now)
                return
        for h in due:  # outside the lock: a renewal is a store call
            _renew(h)


def _renew(h: _Hold) -> None:
    with h.lock:
        if not h.active:
            return
        try:
            if h.renew is not None:
                kept = h.renew()
            else:
                kept = h.saver.renew_thread(h.thread_id, h.owner, ttl=h.ttl)
        except Exception:  # the store is down: the next renewal tries again
            _logger().warning("could not renew the lease of %s", _name(h), exc_info=True)
            return
        if not kept:  # released by the run's last write, or lapsed and taken: stop
            h.active = False
            _logger().info("%s: this run no longer holds its lease", _name(h))


def _name(h: _Hold) -> str:
    return f"thread {h.thread_id}" if h.renew is None else h.thread_id


def _logger() -> Any:
    import logging  # imported when needed: `import interlock` stays light

    return logging.getLogger("interlock")


_KEEPER = _Heartbeat()


def _new_keeper_in_child() -> None:
    global _KEEPER
    _KEEPER = _Heartbeat()  # the parent's thread, holds and lock state do not carry over


os.register_at_fork(after_in_child=_new_keeper_in_child)


@contextmanager
def keep_lease(saver: Any, thread_id: str, owner: str | None, ttl: float | None) -> Iterator[None]:
    """Keep `owner`'s lease on `thread_id` while inside (no-op without a lease)."""
    if saver is None or not owner or not ttl:
        yield
        return
    keeper = _KEEPER
    key = keeper.add(saver, thread_id, owner, ttl)
    try:
        yield
    finally:
        hold = keeper.remove(key)
        if not hold.lock.acquire(blocking=False):  # a renewal in flight: wait for it, but
            _commit_held(saver)  # first let go of a write lock it may be waiting for
            hold.lock.acquire()
        hold.active = False
        hold.lock.release()


def _commit_held(saver: Any) -> None:
    """Commit what another run's `acquire_and_get(hold=True)` keeps open on this thread:
    this run ends here inside it (a stream the garbage collector closes), and the renewal
    it waits for waits for that transaction's write lock. The other run's lease is then
    committed before its first write (it stays that run's)."""
    end_hold = getattr(saver, "end_hold", None)  # (a store without holds has nothing open)
    if end_hold is not None:
        with suppress(StoreError):
            end_hold()


@contextmanager
def keep_alive(renew: Callable[[], bool], ttl: float, what: str) -> Iterator[None]:
    """Call `renew()` every `ttl / 3` seconds while inside, until it returns False (the
    lease is no longer the caller's); `what` names the lease in the log."""
    keeper = _KEEPER
    key = keeper.add(None, what, "", ttl, renew=renew)
    try:
        yield
    finally:
        hold = keeper.remove(key)
        with hold.lock:  # waits for a renewal in flight
            hold.active = False


@asynccontextmanager
async def keep_lease_async(
    saver: Any, thread_id: str, owner: str | None, ttl: float | None
) -> AsyncIterator[None]:
    """Async twin of `keep_lease`: a renewal in flight is waited for off the event loop."""
    if saver is None or not owner or not ttl:
        yield
        return
    keeper = _KEEPER
    key = keeper.add(saver, thread_id, owner, ttl)
    try:
        yield
    finally:
        hold = keeper.remove(key)
        if not hold.lock.acquire(blocking=False):
            import asyncio  # imported when needed: `import interlock` stays light

            await asyncio.to_thread(hold.lock.acquire)
        hold.active = False
        hold.lock.release()
