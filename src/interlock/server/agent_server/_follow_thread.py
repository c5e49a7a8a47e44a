"""A thread's protocol events, from the store's run event log, for as long as the client
listens: replayed from where the subscription starts, then followed as runs append — from
any server process (see `_protocol` for the translation and the numbering).

Where a subscription starts:

- without `since`: at the start of the thread's current exchange — its newest run and the
  paused runs before it, back to the last run that completed or failed. A client that
  subscribes after `run.start` so sees its run from the start, and one that subscribes to a
  paused thread sees the pending requests (`input.requested`) and `interrupted`; finished
  exchanges are in the thread's history (`threads.get_history`), not replayed.
- with `since`: right after that event. The exchange it belongs to is translated again
  from its first event (a message streamed across events needs its start; a request asked
  again unchanged is not sent twice), and what was already sent is skipped.

A run whose process died before logging its end is settled (`_lost.settle_lost`) once the
stream has been quiet a while: the end its record says is logged, so the client sees
`completed`, `interrupted` or `failed` instead of waiting; a durable run being taken over
is not settled, its new process logs on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from typing import Any

from interlock.checkpoint.base import BaseSaver, RunLog
from interlock.server.agent_server._context import METADATA_RUN
from interlock.server.agent_server._log import BELL, POLL
from interlock.server.agent_server._lost import settle_lost
from interlock.server.agent_server._protocol import SUB, Subscription, Translator

__all__ = ["follow_thread", "start_of"]


def _finished(log: RunLog) -> bool:
    """Whether the run ended other than paused (completed, failed or cancelled)."""
    if log.last.event == "error":
        return True
    data = log.last.data if isinstance(log.last.data, dict) else {}
    return log.last.event == "end" and (
        data.get("status") != "interrupted" or data.get("cancelled") is True
    )


def _exchange(logs: list[RunLog]) -> list[RunLog]:
    """The runs of the exchange that ends with `logs[0]`: it and the paused runs before it
    (`logs` newest first)."""
    current: list[RunLog] = []
    for log in logs:
        if current and _finished(log):
            break
        current.append(log)
    return current


def start_of(saver: BaseSaver, thread_id: str, since: int | None) -> tuple[int, int]:
    """`(after, sent)`: read the log after event `after`; the client has every protocol
    event numbered up to `sent` (see the module docstring)."""
    logs = [log for log in saver.run_logs(thread_id, limit=100) if log.run_id != METADATA_RUN]
    if since is None:
        current = _exchange(logs)
        return (min(log.first.seq for log in current) - 1 if current else 0), -1
    seq = since // SUB
    found = saver.read_events(thread_id, after=max(0, seq - 1), limit=1)
    if not found or found[0].seq != seq or found[0].run_id == METADATA_RUN:
        return seq, since
    mine = [i for i, log in enumerate(logs) if log.run_id == found[0].run_id]
    if mine:
        return min(log.first.seq for log in _exchange(logs[mine[0] :])) - 1, since
    log = saver.run_log(thread_id, found[0].run_id)  # older than the newest runs
    return (log.first.seq - 1 if log is not None else seq), since


SETTLE_AFTER = 5 * POLL
"""Seconds of quiet before the stream looks for runs whose writer is gone (and between
looks)."""


def follow_thread(
    saver: BaseSaver,
    thread_id: str,
    subscription: Subscription,
    *,
    graph_name: str | None = None,
    closed: Callable[[], bool] = lambda: False,
) -> Generator[list[dict[str, Any]], None, None]:
    """Batches of the protocol events the subscription asks for, replayed then followed
    until `closed()`; an empty batch after each quiet wait (at most `POLL` seconds), so the
    caller can look whether its client is still there."""
    after, sent = start_of(saver, thread_id, subscription.since)
    translator = Translator(graph_name)
    rung = BELL.rung
    quiet_since = time.monotonic()
    while not closed():
        events = saver.read_events(thread_id, after=after, limit=500)
        batch: list[dict[str, Any]] = []
        for event in events:
            after = event.seq
            if event.run_id == METADATA_RUN:
                continue
            for made in translator.feed(event):
                if made["seq"] > sent and subscription.wants(made):
                    batch.append(made)
        if batch:
            yield batch
        if events:
            quiet_since = time.monotonic()
            continue
        if time.monotonic() - quiet_since > SETTLE_AFTER:
            quiet_since = time.monotonic()
            settled = [r for r in translator.open_runs() if settle_lost(saver, thread_id, r)]
            if settled:
                continue
        rung = BELL.wait(rung, POLL)
        yield []
