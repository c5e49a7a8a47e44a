"""Closing a `SqliteSaver` while other threads write to it (a server's held-step saver, a
worker) waits for the calls in flight, then fails the later ones with `StoreUnavailable`:
it never frees a connection under a call (which crashed the interpreter)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from interlock.checkpoint.base import AuditEntry
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.errors import StoreUnavailable


def test_close_waits_for_writes_in_flight_and_refuses_later_ones(tmp_path: Path) -> None:
    saver = SqliteSaver(tmp_path / "close.db")
    started = threading.Barrier(5)
    ends: list[BaseException | None] = []

    def write(n: int) -> None:
        started.wait()
        try:
            while True:
                entry = AuditEntry(at=datetime.now(UTC), actor=f"w{n}", action="x")
                saver.append_audit([entry])
        except StoreUnavailable as exc:
            ends.append(exc)
        except BaseException as exc:  # anything else is a failure of the test
            ends.append(exc)
            raise

    writers = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for w in writers:
        w.start()
    started.wait()
    while len(saver.list_audit(limit=40).items) < 40:  # the writers are under way
        assert not ends, ends
    saver.close()
    for w in writers:
        w.join(30)
    assert not any(w.is_alive() for w in writers)
    assert len(ends) == 4 and all(isinstance(e, StoreUnavailable) for e in ends), ends
