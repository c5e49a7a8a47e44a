"""Copy a SQLite file's write-ahead log back into the database off the request path.

In WAL mode a commit appends pages to the `-wal` file; now and then SQLite copies them back
into the database file and syncs it (a *checkpoint*). By default the commit that crosses
1,000 pages does it, so one run in about sixteen waits for a copy and two `fsync` calls —
measured here, half of all the time SQLite spent committing a run's writes.

`WalKeeper` moves that work to a thread of its own: a write that commits calls `nudge()`;
the keeper wakes, runs a `PASSIVE` checkpoint on its own connection (it blocks no reader and
no writer) and then rests `interval` seconds before it looks again, so a busy store is
checkpointed a few times a second whatever its write rate. The connections that write keep
SQLite's own automatic checkpoint as a backstop, at `BACKSTOP_PAGES`, for a burst the keeper
has not caught up with. What a power loss may lose is unchanged in kind: with
`synchronous=NORMAL` the commits since the last checkpoint (see docs/storage.md).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable

__all__ = ["BACKSTOP_PAGES", "WalKeeper"]

_log = logging.getLogger("interlock.checkpoint.sqlite")

BACKSTOP_PAGES = 16_000
"""`wal_autocheckpoint` of the writing connections: a commit checkpoints only if the log
has grown past this many pages (64 MB of 4 KB pages) because the keeper fell behind."""


class WalKeeper:
    """One thread per SQLite file a saver writes to; started by the first `nudge()`."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], *, interval: float = 0.2) -> None:
        self._connect = connect
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._done = threading.Condition()
        self._thread: threading.Thread | None = None
        self.checkpoints = 0
        """How many checkpoints the keeper has run (for tests and diagnostics)."""

    @property
    def running(self) -> bool:
        """Whether the keeper's thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def wait_for(self, count: int, timeout: float) -> bool:
        """Block until the keeper has run `count` checkpoints, at most `timeout` seconds;
        whether it has."""
        with self._done:
            return self._done.wait_for(lambda: self.checkpoints >= count, timeout)

    def nudge(self) -> None:
        """A write committed: checkpoint soon (cheap: sets an event)."""
        if self._thread is None:
            self._start()
        self._wake.set()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or self._stop.is_set():
                return
            self._thread = threading.Thread(
                target=self._run, name="interlock-sqlite-wal", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (after a checkpoint under way ends); idempotent."""
        with self._lock:
            self._stop.set()
            thread = self._thread
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                self._wake.wait()
                if self._stop.is_set():
                    return
                self._wake.clear()
                if conn is None:
                    conn = self._connect()
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    with self._done:
                        self.checkpoints += 1
                        self._done.notify_all()
                except sqlite3.Error as exc:  # the file went away or is locked for long:
                    _log.debug("WAL checkpoint skipped: %s", exc)  # the backstop still holds
                if self._stop.wait(self.interval):
                    return
        except Exception:  # pragma: no cover - never let the keeper die loudly
            _log.exception("the SQLite WAL keeper stopped")
        finally:
            if conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
