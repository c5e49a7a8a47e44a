"""Liveness and readiness, for Kubernetes-style probes.

Liveness (`GET /v1/health/live`, and `/v1/health`) says the process and its event loop
answer: an async handler that does no I/O, so it answers at once even while every worker
thread waits on a database that went away — a liveness probe must not get a healthy process
restarted for an outage a restart cannot fix.

Readiness (`GET /v1/health/ready`) says whether the process should get traffic now: the
store answers within `timeout` seconds (at once "no" while the store knows the database is
down) and the background workers are alive. The store is pinged from a thread of its own,
never one of the request threads (which may all be blocked), and concurrent probes share
one ping in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import TYPE_CHECKING, Any

from interlock.checkpoint.base import BaseSaver
from interlock.errors import StoreError

if TYPE_CHECKING:
    from interlock.server.runs import RunWorkers

__all__ = ["Readiness"]


class Readiness:
    """The readiness check of one app: `await check()` gives `(ready, report)`."""

    def __init__(
        self, saver: BaseSaver, runner: RunWorkers | None, *, timeout: float = 1.0
    ) -> None:
        self.saver, self.runner, self.timeout = saver, runner, timeout
        self.threads: list[threading.Thread] = []
        """Other background threads that must be alive (the expiry sweeper)."""
        self._ping: asyncio.Future[str | None] | None = None

    async def check(self) -> tuple[bool, dict[str, Any]]:
        """Whether this process is ready, and why (or why not)."""
        store = await self._store()
        workers, workers_alive = self.runner.alive() if self.runner is not None else (0, 0)
        expected = workers + len(self.threads)
        alive = workers_alive + sum(1 for t in self.threads if t.is_alive())
        ready = store is None and alive >= expected
        report = {
            "ready": ready,
            "store": "ok" if store is None else store,
            "workers": {"expected": expected, "alive": alive},
        }
        return ready, report

    async def _store(self) -> str | None:
        """None if the store answers within the bound, else what is wrong."""
        if not self.saver.reachable:
            return "unreachable (the store knows the database is down)"
        if self._ping is None or self._ping.done():
            self._ping = self._start(self.saver.ping)
        try:
            return await asyncio.wait_for(asyncio.shield(self._ping), self.timeout + 0.5)
        except TimeoutError:
            return f"no answer within {self.timeout:g} s"

    def _start(self, ping: Any) -> asyncio.Future[str | None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str | None] = loop.create_future()

        def settle(outcome: str | None) -> None:
            if not future.done():
                future.set_result(outcome)

        def run() -> None:
            try:
                ping(self.timeout)
                outcome = None
            except StoreError as exc:
                outcome = f"unavailable: {exc}"
            except Exception as exc:
                outcome = f"failed: {type(exc).__name__}: {exc}"
            with contextlib.suppress(RuntimeError):  # the app stopped meanwhile
                loop.call_soon_threadsafe(settle, outcome)

        threading.Thread(target=run, name="interlock-readiness", daemon=True).start()
        return future
