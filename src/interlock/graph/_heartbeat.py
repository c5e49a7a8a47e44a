"""Keeping a run's thread lease while its nodes run.

A run holds its thread's lease for `lease_ttl` seconds, and every write renews it. A node
that runs longer than that (a slow tool, a model call that takes minutes) would let the
lease lapse, and another process could start the same thread while the node still runs. So
while tasks run, one daemon thread per process renews the leases of the runs that have
been running tasks for a third of their TTL (re-acquiring one's own lease renews it).

Registering a step is a dict insert under a lock: nothing starts per step, and a process
that never runs a long node never wakes the heartbeat thread.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = ["keep_lease"]


@dataclass(slots=True)
class _Hold:
    saver: Any
    thread_id: str
    owner: str
    ttl: float
    due: float
    """Monotonic time of the next renewal."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    """Held during a renewal, and taken when the step ends: no renewal runs after the step
    (it would take back a lease the run's last write gave up)."""
    active: bool = True


class _Heartbeat:
    """The process's lease keeper: renews held leases when they are due."""

    def __init__(self) -> None:
        self._holds: dict[int, _Hold] = {}
        self._ids = itertools.count()
        self._cond = threading.Condition()
        self._wake_at = float("inf")
        """When the keeper thread will next look (inf: it waits to be told)."""
        self._thread: threading.Thread | None = None

    @contextmanager
    def hold(self, saver: Any, thread_id: str, owner: str, ttl: float) -> Iterator[None]:
        """Renew `owner`'s lease on `thread_id` every `ttl / 3` seconds while inside."""
        due = time.monotonic() + ttl / 3
        key = next(self._ids)
        with self._cond:
            self._holds[key] = _Hold(saver, thread_id, owner, ttl, due)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="interlock-lease-keeper", daemon=True
                )
                self._thread.start()
            elif due < self._wake_at:
                self._cond.notify()
        try:
            yield
        finally:
            with self._cond:
                hold = self._holds.pop(key)
            with hold.lock:  # waits for a renewal in flight
                hold.active = False

    def _run(self) -> None:
        while True:
            with self._cond:
                now = time.monotonic()
                due = [h for h in self._holds.values() if h.due <= now]
                for h in due:
                    h.due = now + h.ttl / 3
                if not due:
                    self._wake_at = min((h.due for h in self._holds.values()), default=now + 3600)
                    self._cond.wait(self._wake_at - now)
                    continue
            for h in due:  # outside the lock: a renewal is a store call
                _renew(h)


def _renew(h: _Hold) -> None:
    with h.lock:
        if h.active:
            _renew_now(h)


def _renew_now(h: _Hold) -> None:
    try:
        kept = h.saver.acquire_thread(h.thread_id, h.owner, ttl=h.ttl)
    except Exception:  # the store is down: the next renewal tries again
        _logger().warning("could not renew the lease of thread %s", h.thread_id, exc_info=True)
        return
    if not kept:
        _logger().warning(
            "thread %s: the lease lapsed and another run took it; this run's next write will "
            "fail if that run committed first",
            h.thread_id,
        )


def _logger() -> Any:
    import logging  # imported when needed: `import interlock` stays light

    return logging.getLogger("interlock")


_KEEPER = _Heartbeat()


@contextmanager
def keep_lease(saver: Any, thread_id: str, owner: str | None, ttl: float | None) -> Iterator[None]:
    """Keep `owner`'s lease on `thread_id` while inside (no-op without a lease)."""
    if saver is None or not owner or not ttl:
        yield
        return
    with _KEEPER.hold(saver, thread_id, owner, ttl):
        yield
