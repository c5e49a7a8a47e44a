"""`SqliteSaver`: the embedded default store — one file, WAL, many threads and processes."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from interlock.checkpoint._sql import Dialect, SqlSaver
from interlock.checkpoint._sql_core import in_maintenance
from interlock.checkpoint.base import SnapshotPolicy
from interlock.errors import SerializationError, StoreError, StoreUnavailable

__all__ = ["SqliteSaver"]

SQLITE = Dialect(
    name="sqlite",
    json_type="TEXT",
    ts_type="TEXT",
    real_type="REAL",
    placeholder="?",
    json_placeholder="?",
    now_epoch="((julianday('now') - 2440587.5) * 86400.0)",
)


class SqliteSaver(SqlSaver):
    """Checkpoints in a SQLite file (or `":memory:"`).

    WAL journal, one connection per thread; several processes may share the file. Writes
    take the database lock up front (`BEGIN IMMEDIATE`), which is what makes deciding an
    interrupt exactly-once across processes.

    Bounds. A call waits at most `busy_timeout` seconds for a lock another connection
    holds, then fails with `StoreUnavailable` (HTTP 503 with `Retry-After`), changing
    nothing. Calls under `maintenance()` (schema setup, `prune`, exports) wait up to
    `maintenance_timeout`. `ping()` says whether the file can be read now.

    Example:
        >>> with SqliteSaver.from_conn_string(":memory:") as saver:
        ...     saver.get_checkpoint("nobody") is None
        True
    """

    dialect = SQLITE

    def __init__(
        self,
        path: str | Path = ":memory:",
        *,
        busy_timeout: float = 5.0,
        maintenance_timeout: float = 600.0,
        snapshot_policy: SnapshotPolicy | None = None,
    ) -> None:
        super().__init__(snapshot_policy=snapshot_policy)
        if not (busy_timeout >= 0 and maintenance_timeout >= 0):
            raise ValueError("busy_timeout and maintenance_timeout must be >= 0 seconds")
        self.path = str(path)
        self.busy_timeout = busy_timeout
        self.maintenance_timeout = maintenance_timeout
        self._memory = self.path == ":memory:" or self.path.startswith("file::memory:")
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._using: dict[int, threading.RLock] = {}
        """Per connection (by id), held while a call uses it: `close` waits for the call
        instead of freeing the connection under it (another thread's write in flight)."""
        self._lock = threading.RLock()
        self._closed = False
        try:
            self.setup()
        except BaseException:
            self.close()  # a refused or failed setup leaves no connection behind
            raise

    @classmethod
    @contextmanager
    def from_conn_string(cls, conn_string: str) -> Iterator[SqliteSaver]:
        """Open a saver for a path (LangGraph's spelling); closes it on exit."""
        saver = cls(conn_string)
        try:
            yield saver
        finally:
            saver.close()

    def _open(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open SQLite store {self.path!r}: {exc}") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            if not self._memory:
                _use_wal(conn, self.maintenance_timeout if in_maintenance() else self.busy_timeout)
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as exc:
            conn.close()
            raise StoreUnavailable(f"cannot open SQLite store {self.path!r}: {exc}") from exc
        self._all.append(conn)
        self._using[id(conn)] = threading.RLock()
        return conn

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreUnavailable(f"SQLite store {self.path!r} is closed")
        if self._memory:
            with self._lock:
                if not self._all:
                    self._open()
                return self._all[0]
        conn = getattr(self._local, "conn", None)
        if conn is None:
            with self._lock:
                conn = self._local.conn = self._open()
        return conn

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        if getattr(self._local, "held", None) is conn:  # inside the held transaction
            try:
                yield conn
            except _DRIVER_ERRORS as exc:
                raise _translated(exc, self.path, self.busy_timeout) from exc
            return
        using = self._using.get(id(conn)) or _CLOSED
        if self._memory or in_maintenance():
            with self._guard(), using, _errors(self.path, self.busy_timeout), self._bound(conn):
                conn.execute("BEGIN")
                try:
                    yield conn
                finally:
                    conn.execute("COMMIT")
            return
        # the hot path: a file store outside maintenance needs neither the lock nor the
        # longer bound, and one generator frame per call instead of four
        try:
            with using:
                conn.execute("BEGIN")
                try:
                    yield conn
                finally:
                    conn.execute("COMMIT")
        except _DRIVER_ERRORS as exc:
            raise _translated(exc, self.path, self.busy_timeout) from exc

    @contextmanager
    def _write(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        if getattr(self._local, "held", None) is conn:  # the held transaction's write
            try:
                yield conn
            except BaseException as exc:
                lease = self._local.held_lease
                self._end_held(conn, commit=False)
                self._retake(*lease)
                if isinstance(exc, _DRIVER_ERRORS):
                    raise _translated(exc, self.path, self.busy_timeout) from exc
                raise
            self._end_held(conn, commit=True)
            return
        using = self._using.get(id(conn)) or _CLOSED
        if self._memory or in_maintenance():
            with self._guard(), using, _errors(self.path, self.busy_timeout), self._bound(conn):
                yield from self._transaction(conn, durable)
            return
        try:  # the hot path, as in `_read`
            with using:
                yield from self._transaction(conn, durable)
        except _DRIVER_ERRORS as exc:
            raise _translated(exc, self.path, self.busy_timeout) from exc

    def _transaction(self, conn: sqlite3.Connection, durable: bool) -> Iterator[sqlite3.Connection]:
        """Yield `conn` inside `BEGIN IMMEDIATE` ... `COMMIT` (rolled back if the body
        raises; left open if the body called `_keep_open`); not `durable`: the body's one
        statement is its own transaction."""
        if not durable:
            yield conn
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:  # SQLite ends it itself on some errors (a full disk)
                conn.execute("ROLLBACK")
            raise
        if getattr(self._local, "held", None) is not conn:
            conn.execute("COMMIT")

    def _keep_open(self, conn: sqlite3.Connection, thread_id: str, owner: str, ttl: float) -> None:
        """Leave the `_write()` block's transaction open for this thread's next write (a
        file store outside maintenance; `:memory:` shares one connection between threads
        and commits as usual), held for `owner`. The connection stays marked in use until
        it ends."""
        if self._memory or in_maintenance():
            return
        if getattr(self._local, "held", None) is conn:  # this write is a hold's: it commits
            return  # (another `acquire_and_get(hold=True)` of this thread inside the hold)
        using = self._using.get(id(conn))
        if using is None:  # closed meanwhile: commit as usual, the next call fails as closed
            return
        using.acquire()
        self._local.held, self._local.held_lock = conn, using
        self._local.held_for, self._local.held_lease = owner, (thread_id, owner, ttl)

    def _retake(self, thread_id: str, owner: str, ttl: float) -> None:
        """After the held write failed and took the lease with it: take the lease again,
        in a transaction of its own, so that the run holds it as when the lease was its own
        commit (a run whose owner saves its unsaved step keeps it until then; others give
        it back as usual). If the store refuses this too, the lease is simply not held."""
        with contextlib.suppress(StoreError):
            self.acquire_thread(thread_id, owner, ttl=ttl)

    def end_hold(self, *, commit: bool = True, owner: str | None = None) -> bool:
        """See `Threads.end_hold`: commit (or roll back) the transaction this thread's
        `acquire_and_get(hold=True)` left open, if no write ended it (with `owner`: only
        one held for that owner)."""
        conn = getattr(self._local, "held", None)
        if conn is None or (owner is not None and self._local.held_for != owner):
            return False
        self._end_held(conn, commit=commit)
        return True

    def _end_held(self, conn: sqlite3.Connection, *, commit: bool) -> None:
        """Commit or roll back the held transaction, and let the connection go. A commit
        that fails is rolled back and raised as the store's error (the lease and the write
        in it were not taken)."""
        using, self._local.held, self._local.held_lock = self._local.held_lock, None, None
        self._local.held_for = None
        try:
            if commit:
                try:
                    conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                    raise _translated(exc, self.path, self.busy_timeout) from exc
            else:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
        finally:
            using.release()

    @contextmanager
    def _bound(self, conn: sqlite3.Connection) -> Iterator[None]:
        """Under `maintenance()`, wait up to `maintenance_timeout` for locks."""
        if not in_maintenance():
            yield
            return
        conn.execute(f"PRAGMA busy_timeout = {int(self.maintenance_timeout * 1000)}")
        try:
            yield
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")

    def ping(self, timeout: float = 1.0) -> None:
        """Raise `StoreUnavailable` unless the file can be read now (a read in WAL mode
        waits for no writer; `timeout` is there for the protocol of readiness probes)."""
        with self._read() as conn:
            conn.execute("SELECT 1 FROM interlock_migrations LIMIT 1").fetchall()

    @property
    def reachable(self) -> bool:
        """False once the store is closed (no I/O)."""
        return not self._closed

    def prune(
        self,
        *,
        finished_before: datetime | None = None,
        keep_last: int | None = None,
        thread_ids: Collection[str] | None = None,
    ) -> int:
        """Retention (see `Threads.prune`), under the maintenance bound."""
        with self.maintenance():
            return super().prune(
                finished_before=finished_before, keep_last=keep_last, thread_ids=thread_ids
            )

    @contextmanager
    def _guard(self) -> Iterator[None]:
        if self._memory:
            with self._lock:
                yield
        else:
            yield

    def close(self) -> None:
        """Close every connection this saver opened. A call of another thread in flight on
        one finishes first (closing a connection under it would crash the interpreter);
        calls made after this raise `StoreUnavailable`."""
        with self._lock:
            self._closed = True
            conns, self._all = self._all, []
            for conn in conns:
                lock = self._using.pop(id(conn), None)
                if lock is not None and not lock.acquire(timeout=self.busy_timeout + 5.0):
                    continue  # still in use (a stuck call): left to the process's exit
                try:
                    with contextlib.suppress(sqlite3.Error):
                        conn.close()
                finally:
                    if lock is not None:
                        lock.release()


_CLOSED = threading.RLock()
"""What a call holds on a connection `close` already took (it then fails as closed)."""


def _use_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Switch the file to WAL (a no-op once it is). While another process switches a fresh
    file, SQLite reports "locked" without waiting on the busy timeout: retry until it."""
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc).lower() or time.monotonic() >= deadline:
                raise
            time.sleep(delay)  # back off: the other process holds the lock for a moment
            delay = min(delay * 2, 0.1)


_UNAVAILABLE = ("locked", "unable to open", "disk i/o", "readonly", "closed", "busy", "full")

_REFUSALS = (
    sqlite3.IntegrityError,
    sqlite3.DataError,
    sqlite3.InterfaceError,
    sqlite3.NotSupportedError,
)
"""A constraint (SQLite's own or an operator's trigger), a value too big, a call the driver
refuses: the same statement fails the same way every time, whatever its message says."""

_DRIVER_ERRORS = (sqlite3.Error, UnicodeEncodeError, OverflowError)
"""What a statement raises: SQLite's errors, and the driver's refusal to bind a string that
is not UTF-8 (a lone surrogate, which JSON can carry) or an integer beyond 64 bits."""


def _translated(
    exc: sqlite3.Error | UnicodeEncodeError | OverflowError, path: str, busy_timeout: float
) -> StoreError | SerializationError:
    """The store's error for a SQLite error: `StoreUnavailable` when waiting or retrying
    may help (a lock held too long, the file closed, gone or full), `SerializationError`
    for a value SQLite cannot take (as PostgreSQL's store does), else `StoreError`."""
    if isinstance(exc, UnicodeEncodeError | OverflowError):
        return SerializationError(f"SQLite cannot store this value: {exc}; nothing was changed")
    text = str(exc).lower()
    if isinstance(exc, _REFUSALS):
        return StoreError(f"SQLite store {path!r} refused the call: {exc}")
    if isinstance(exc, sqlite3.ProgrammingError):  # unbindable arguments, or a closed handle
        if "closed" in text:
            return StoreUnavailable(f"SQLite store {path!r} is unavailable: {exc}")
        return StoreError(f"SQLite store {path!r} refused the call: {exc}")
    if "locked" in text or "busy" in text:
        return StoreUnavailable(
            f"SQLite store {path!r} is busy: another connection held its lock longer "
            f"than the {busy_timeout:g} s bound ({exc}); nothing was changed, retry later"
        )
    if any(marker in text for marker in _UNAVAILABLE):
        return StoreUnavailable(f"SQLite store {path!r} is unavailable: {exc}")
    return StoreError(f"SQLite store {path!r} failed: {exc}")


@contextmanager
def _errors(path: str, busy_timeout: float) -> Iterator[None]:
    try:
        yield
    except _DRIVER_ERRORS as exc:
        raise _translated(exc, path, busy_timeout) from exc
