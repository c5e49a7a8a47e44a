"""`PostgresSaver`: the store for several processes or machines (psycopg 3 + a pool).

Reads share their SQL with SQLite (`SqlSaver`); each write of the store protocol, and a
run's lease-and-read, is here one statement (data-modifying CTEs): one network round trip
and one commit. Those statements live with their concepts (`_checkpoints/postgres.py`,
`_interrupts/postgres.py`, `_threads/postgres.py`, `_runs/postgres.py`); this module adds the
connections. JSONB columns operators can query, TIMESTAMPTZ times, the database clock for
leases. Install with `pip install 'interlock[postgres]'`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from interlock.checkpoint._checkpoints.postgres import PgCheckpoints
from interlock.checkpoint._interrupts.postgres import PgInterrupts
from interlock.checkpoint._runs.postgres import PgRunQueue
from interlock.checkpoint._sql import Dialect, SqlSaver
from interlock.checkpoint._threads.postgres import PgThreads
from interlock.checkpoint.base import SnapshotPolicy
from interlock.errors import SerializationError, StoreError, StoreUnavailable

__all__ = ["PostgresSaver"]

POSTGRES = Dialect(
    name="postgres",
    json_type="JSONB",
    ts_type="TIMESTAMPTZ",
    real_type="DOUBLE PRECISION",
    placeholder="%s",
    json_placeholder="%s::jsonb",
    now_epoch="EXTRACT(EPOCH FROM clock_timestamp())::double precision",
)


def _quote_ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"schema name {name!r} must be letters, digits and underscores")
    return f'"{name}"'


def _check_if_idle(conn: Any) -> None:
    """Check a pooled connection before use only if it sat idle a while (a check is a round
    trip; a connection that just worked is very likely fine, and a failure surfaces as
    `StoreUnavailable` while the pool replaces it)."""
    import time

    from psycopg_pool import ConnectionPool

    last = getattr(conn, "_interlock_used", 0.0)
    now = time.monotonic()
    if now - last > 2.0:
        ConnectionPool.check_connection(conn)
    conn._interlock_used = now


class PostgresSaver(PgCheckpoints, PgInterrupts, PgThreads, PgRunQueue, SqlSaver):
    """Checkpoints in PostgreSQL.

    `conninfo` is a libpq URL or DSN (`postgresql://user@host:5432/db`). `schema` keeps
    interlock's tables in their own schema (created if missing). A connection pool of
    `min_size`..`max_size` connections serves all threads; broken connections are replaced
    (`StoreUnavailable` is raised while the server cannot be reached, and nothing changes).

    A run's lease, a pause (its interrupts), a decision, a run's last write and any write
    made outside a run (no lease owner) wait for the WAL flush. Checkpoints in the middle of a
    run do not (`synchronous_commit` off for that transaction): other processes see them at
    once, and only a crash or restart of the server can lose them; the run's next write then
    finds its checkpoint gone and fails (`ResumeConflict`) without saving anything.
    `durable_steps=True` makes every write wait.

    Example:
        >>> with PostgresSaver.from_conn_string("postgresql://postgres@127.0.0.1/test") as s:
        ...     s.get_checkpoint("nobody")  # doctest: +SKIP
    """

    dialect = POSTGRES

    def __init__(
        self,
        conninfo: str,
        *,
        schema: str | None = None,
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 10.0,
        snapshot_policy: SnapshotPolicy | None = None,
        durable_steps: bool = False,
    ) -> None:
        super().__init__(snapshot_policy=snapshot_policy)
        self.durable_steps = durable_steps
        try:
            import psycopg  # noqa: F401
            from psycopg_pool import ConnectionPool
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError(
                "PostgresSaver needs psycopg 3: pip install 'interlock[postgres]'"
            ) from exc
        self.conninfo = conninfo
        self.schema = schema
        self._search_path = _quote_ident(schema) if schema else None
        self._pool = ConnectionPool(
            conninfo,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            kwargs={"autocommit": True, "connect_timeout": max(1, int(timeout))},
            configure=self._configure,
            check=_check_if_idle,
            open=False,
            name="interlock",
        )
        with self._errors():
            self._pool.open(wait=True, timeout=timeout)
        try:
            self.setup()
        except BaseException:
            self.close()  # a refused or failed setup leaves no connection behind
            raise

    @classmethod
    @contextmanager
    def from_conn_string(cls, conn_string: str, **kwargs: Any) -> Iterator[PostgresSaver]:
        """Open a saver for a connection string (LangGraph's spelling); closes it on exit."""
        saver = cls(conn_string, **kwargs)
        try:
            yield saver
        finally:
            saver.close()

    def _configure(self, conn: Any) -> None:
        from psycopg.types.string import TextLoader

        conn.adapters.register_loader("jsonb", TextLoader)
        conn.adapters.register_loader("json", TextLoader)
        if self._search_path:
            conn.execute(f"SET search_path TO {self._search_path}")

    @contextmanager
    def _errors(self) -> Iterator[None]:
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            yield
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StoreUnavailable(
                f"PostgreSQL store is unavailable: {exc}; nothing was changed, retry later"
            ) from exc
        except psycopg.errors.AdminShutdown as exc:  # pragma: no cover - subclass above
            raise StoreUnavailable(f"PostgreSQL connection was terminated: {exc}") from exc
        except psycopg.DataError as exc:  # e.g. a NUL character, which PostgreSQL cannot hold
            raise SerializationError(
                f"PostgreSQL cannot store this value: {exc}; nothing was changed"
            ) from exc
        except psycopg.DatabaseError as exc:
            if isinstance(exc, psycopg.errors.SerializationFailure):
                raise StoreUnavailable(f"PostgreSQL conflict, retry: {exc}") from exc
            raise StoreError(f"PostgreSQL store failed: {exc}") from exc

    @contextmanager
    def _read(self) -> Iterator[Any]:
        # Autocommit: every read statement is its own snapshot. Rows never change once
        # written (only interrupt status does), so a read needs no BEGIN/COMMIT round trips.
        with self._errors(), self._pool.connection() as conn:
            yield conn

    @contextmanager
    def _write(self, *, durable: bool = True) -> Iterator[Any]:
        if not durable:
            # single-statement writes (leases): autocommit saves the BEGIN/COMMIT round trips
            with self._errors(), self._pool.connection() as conn:
                yield conn
            return
        with self._errors(), self._pool.connection() as conn, conn.transaction():
            yield conn

    def _lock_migrations(self, conn: Any) -> None:
        # lock first: CREATE SCHEMA/TABLE IF NOT EXISTS race when processes start together
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('interlock_migrations'))")
        if self._search_path:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self._search_path}")

    def close(self) -> None:
        """Close the pool."""
        self._pool.close()
