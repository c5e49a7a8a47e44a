"""Runs whose stream has no end because the process writing it stopped: their followers
must not wait forever.

A run's writer is gone when the run is neither queued nor running in the run queue (a
durable run whose process died stays `running` until another process takes it over and
logs on, so it is not gone) and its thread is not leased by any run. Its record then says
how it ended — a process that died between recording the end and logging it, a run
recorded `failed` whose `error` was not logged, a run not in the queue at all — and
`settle_lost` appends that end to the log: `end` (`success` or `interrupted`) or `error`
(`RunLost` for a run the queue does not know). Every follower, in any process, then reads
the same end; two followers settling at once append it twice, and readers take the first.
"""

from __future__ import annotations

from typing import Any

from interlock.checkpoint.base import BaseSaver, RunRecord
from interlock.server.agent_server._log import BELL

__all__ = ["LOST", "settle_lost", "writer_gone"]

LOST = "the server process running this run stopped before it ended"


def writer_gone(saver: BaseSaver, thread_id: str, run_id: str) -> bool:
    """Whether nobody will log more of the run (see the module docstring)."""
    record = saver.get_run(run_id)
    if record is not None and record.status in ("queued", "running"):
        return False
    info = saver.get_thread(thread_id)
    return info is None or info.status != "busy"


def _end_of(run_id: str, record: RunRecord | None) -> tuple[str, Any]:
    status = record.status if record is not None else None
    if status == "done":
        return "end", {"run_id": run_id, "status": "success"}
    if status == "interrupted":
        return "end", {"run_id": run_id, "status": "interrupted"}
    if status == "cancelled":
        return "end", {"run_id": run_id, "status": "interrupted", "cancelled": True}
    if status == "failed" and record is not None:
        return "error", {"error": "RunFailed", "message": record.error or LOST}
    return "error", {"error": "RunLost", "message": LOST}


def settle_lost(saver: BaseSaver, thread_id: str, run_id: str) -> bool:
    """If the run's stream has no end and its writer is gone, append the end its record
    says; whether it did."""
    log = saver.run_log(thread_id, run_id)
    if log is None or log.ended or not writer_gone(saver, thread_id, run_id):
        return False
    saver.append_events(thread_id, run_id, [_end_of(run_id, saver.get_run(run_id))])
    BELL.ring()
    return True
