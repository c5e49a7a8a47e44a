"""Stopping a run under way (the Agent Server's run cancel), between two of its steps.

A run the service executes carries a stop check (`StopCheck`, under the engine's
configurable key `STOP`), which the engine asks before each step after the first. The
request to stop is recorded in the store first (`BaseSaver.stop_run` marks the run), so it
holds whichever process runs the run, now or after a takeover:

- a run executed by this process is told at once (its check is registered here by run id);
- a run executed by another process sharing the store finds the mark when its check next
  reads the run, at most every `LOOK` seconds, at a step boundary;
- a marked run a worker takes (its process died, or it was given back to the queue) is
  ended where its thread is, without running; a resume that carries out a recorded decision
  starts with its check set instead, so it applies the decision and stops after that step.

A stopped run ends `cancelled` (the Agent Server shows it `interrupted`); its finished steps
are saved and the thread goes on with its next nodes when it is run again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from interlock.checkpoint.base import BaseSaver, RunRecord
from interlock.errors import StoreError

__all__ = [
    "LOOK",
    "StopCheck",
    "ask_to_stop",
    "cancel_once",
    "stop_check",
    "wait_ended",
    "will_step",
]

LOOK = 0.5
"""Seconds between a running run's reads of its record, looking for a request to stop made
in another process (a request made in this process is seen at once)."""

POLL = 0.1
"""Seconds between reads of a run's record while a cancel waits for its end (`wait_ended`)."""
WAIT_FOR = 600.0
"""Seconds a cancel with `wait` waits at most for a run with no event log to end."""

_checks: dict[str, StopCheck] = {}
_lock = threading.Lock()


class StopCheck:
    """`check()`: whether run `run_id` was asked to stop (the engine's `STOP` callable)."""

    def __init__(self, saver: BaseSaver, run_id: str, *, asked: bool = False) -> None:
        self.saver = saver
        self.run_id = run_id
        self.asked = threading.Event()
        if asked:
            self.asked.set()
        self._next_look = time.monotonic() + LOOK

    def __call__(self) -> bool:
        if self.asked.is_set():
            return True
        now = time.monotonic()
        if now < self._next_look:
            return False
        self._next_look = now + LOOK
        try:
            record = self.saver.get_run(self.run_id)
        except StoreError:  # the store is away: the run goes on; the next look may see it
            return False
        if record is not None and record.stop_asked:
            self.asked.set()
        return self.asked.is_set()


@contextmanager
def stop_check(saver: BaseSaver, run: RunRecord) -> Iterator[StopCheck]:
    """The stop check of `run` while this process runs it (registered for `ask_to_stop`);
    set already when its record says it was asked to stop (a takeover)."""
    check = StopCheck(saver, run.run_id, asked=run.stop_asked)
    with _lock:
        _checks[run.run_id] = check
    try:
        yield check
    finally:
        with _lock:
            if _checks.get(run.run_id) is check:
                del _checks[run.run_id]


def will_step(run: RunRecord) -> bool:
    """Whether `run`, if cancelled now, still runs a step: it runs, or it is a queued resume
    (it carries out its decision first). Such a run's steps cannot be rolled back."""
    return run.status == "running" or (run.status == "queued" and run.kind == "resume")


def cancel_once(saver: BaseSaver, run: RunRecord, audit: Callable[[str], None]) -> RunRecord:
    """Cancel `run` (the routes' cancel): ask it to stop once (`ask_to_stop`), auditing
    what that did — `run.cancelled` (it was queued: it never runs) or `run.cancel_requested`
    (it stops between two steps). A run asked already, or ended, is returned as it is."""
    if run.status not in ("queued", "running") or run.stop_asked:
        return run
    now = ask_to_stop(saver, run.run_id) or run
    if now.status == "cancelled":
        audit("run.cancelled")
    elif now.stop_asked and now.status in ("queued", "running"):
        audit("run.cancel_requested")
    return now


def wait_ended(saver: BaseSaver, run_id: str, *, timeout: float = WAIT_FOR) -> RunRecord | None:
    """The run once it ended (not queued or running), read every `POLL` seconds, or as it
    is after `timeout` seconds (for a run with no event log to follow)."""
    deadline = time.monotonic() + timeout
    while True:
        run = saver.get_run(run_id)
        if run is None or run.status not in ("queued", "running"):
            return run
        if time.monotonic() >= deadline:
            return run
        time.sleep(POLL)  # a run in another request or process: its end is only in the store


def ask_to_stop(saver: BaseSaver, run_id: str) -> RunRecord | None:
    """Ask run `run_id` to stop (`BaseSaver.stop_run`: a queued run is cancelled, a running
    one or a queued resume marked) and tell its check at once if this process runs it.
    Returns the run as it is now; None: no such run."""
    record = saver.stop_run(run_id)
    if record is not None and record.status == "running" and record.stop_asked:
        with _lock:
            check = _checks.get(run_id)
        if check is not None:
            check.asked.set()
    return record
