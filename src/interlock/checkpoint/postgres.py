"""`PostgresSaver`: the store for several processes or machines (psycopg 3 + a pool).

Reads share their SQL with SQLite (`SqlSaver`); each write of the store protocol, and a
run's lease-and-read, is here one statement (data-modifying CTEs): one network round trip
and one commit. Those statements live with their concepts (`_checkpoints/postgres.py`,
`_interrupts/postgres.py`, `_threads/postgres.py`, `_runs/postgres.py`); this module adds the
connections, and `_pg_link.py` what bounds them. JSONB columns operators can query,
TIMESTAMPTZ times, the database clock for leases. Install with
`pip install 'interlock[postgres]'`.
"""

from __future__ import annotations

import functools
import inspect
import random
import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from interlock.checkpoint._audit.postgres import PgAuditLog
from interlock.checkpoint._checkpoints.postgres import PgCheckpoints
from interlock.checkpoint._interrupts.postgres import PgInterrupts
from interlock.checkpoint._pg_link import (
    Deadlines,
    Link,
    Watch,
    connection_settings,
    socket_has_news,
)
from interlock.checkpoint._runs.postgres import PgRunQueue
from interlock.checkpoint._sql import Dialect, SqlSaver
from interlock.checkpoint._sql_core import in_maintenance
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

RECONNECT_WAIT = 1.0
"""psycopg_pool's `reconnect_timeout`: a pool slot whose reconnection keeps failing is given
up after this long (the pool grows again on demand), so no slot waits out an exponential
backoff that has grown with the outage."""

STATEMENT_SHARE = 0.8
"""The server's `statement_timeout` is this share of a call's bound: on a live server a slow
statement is cancelled there (the connection stays usable, the database is not taken for
down) before the client-side deadline would shut the connection."""

IDEMPOTENT_READS = (
    "get_assistant",
    "get_checkpoint",
    "get_cron",
    "get_graph_version",
    "get_grant",
    "get_interrupt",
    "get_item",
    "get_run",
    "get_thread",
    "list_assistant_versions",
    "list_audit",
    "list_audit_manifests",
    "list_checkpoints",
    "list_graph_versions",
    "list_grants",
    "list_interrupts",
    "list_item_namespaces",
    "list_runs",
    "list_threads",
    "list_votes",
    "list_worker_versions",
    "schema_versions",
)
"""The calls that only read: run once more when their connection was lost under them (a
terminated backend, a failover), since running them twice changes nothing."""


CONTENTION_RETRIES = 3
"""How many more times a call runs when PostgreSQL rolled its transaction back to break a
deadlock (SQLSTATE 40P01) or a serialization conflict (40001) (`PostgresSaver(
contention_retries=...)`). A try starts only within the call's bound counted from its first
try, so a retried call ends within about twice its bound."""

NOT_RETRIED = ("close", "end_hold", "maintenance", "ping", "setup")
"""The public calls that are not run again on a contention abort: they are not store
operations (`close`, `maintenance`), have no transaction to roll back (`end_hold`), or are
checks and schema setup that report the abort rather than hide it (`ping`, `setup`)."""

RETRIED_BY_STEP = {
    "prune": ("_drop_ended_runs", "_prune_checkpoints"),
    "expire_finished": (),  # prune's
}
"""Calls that commit several transactions and are not run again as a whole, so that a
rollback of a later one does not undo what an earlier one reported (`prune` counts what
it deleted): each of the steps named runs again on its own, as does every store call
they make (`prune(finished_before=)` deletes each thread with `delete_thread`)."""

_RETRYING: ContextVar[bool] = ContextVar("interlock_pg_retrying", default=False)
"""Inside a call that runs again on a contention abort: the calls it makes do not retry on
their own (the outermost call runs again as a whole)."""


class ConnectionLost(StoreUnavailable):
    """The connection died under a call (the server ended it, or the link broke)."""


class Contended(StoreUnavailable):
    """PostgreSQL rolled the call's transaction back to break a deadlock (SQLSTATE 40P01) or
    a serialization conflict (40001): nothing of it was kept. The saver runs such a call
    again (`CONTENTION_RETRIES`); this reaches the caller when every try was rolled back."""


def _quote_ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"schema name {name!r} must be letters, digits and underscores")
    return f'"{name}"'


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _connection_class(link: Link) -> Any:
    """psycopg's connection class, telling `link` whether connecting works."""
    import psycopg

    class Connection(psycopg.Connection):  # type: ignore[type-arg]
        born = 0.0
        """When it was made (monotonic): connections older than the last replacement of the
        pool's connections need no further replacement."""

        @classmethod
        def connect(cls, conninfo: str = "", **kwargs: Any) -> Any:
            started = time.monotonic()
            try:
                conn = super().connect(conninfo, **kwargs)
            except psycopg.OperationalError as exc:
                link.down(f"cannot connect: {_first_line(exc)}", started)
                raise
            conn.born = time.monotonic()
            link.up()
            return conn

    return Connection


class PostgresSaver(PgCheckpoints, PgInterrupts, PgThreads, PgRunQueue, PgAuditLog, SqlSaver):
    """Checkpoints in PostgreSQL.

    `conninfo` is a libpq URL or DSN (`postgresql://user@host:5432/db`). `schema` keeps
    interlock's tables in their own schema (created if missing). A connection pool of
    `min_size`..`max_size` connections serves all threads; broken connections are replaced.

    Bounds. Every call (waiting for a connection and its statements) ends within
    `request_timeout` seconds, or fails with `StoreUnavailable` — also when the link is
    silent, which a server-side timeout cannot see: the connection is shut from this side.
    Calls under `maintenance()` (schema setup, `prune`, audit exports...) get
    `maintenance_timeout`. TCP keepalives and `tcp_user_timeout` let the kernel notice a
    dead link within seconds (parameters given in `conninfo` win). `timeout` bounds the
    wait for the database when the saver opens.

    Faults. Once a connection cannot be made or a call passes its deadline, the database
    counts as down: calls fail at once with `StoreUnavailable` (no queueing) while a probe
    tries a fresh connection every half second; the first that succeeds brings the store
    back and replaces the pooled connections, so service returns within about a second of
    the link, whatever the outage's length. A connection the server ended while it sat in
    the pool (`pg_terminate_backend`, a failover) is noticed before use, at no round trip,
    and replaced, so no write is sent on it; a read whose connection dies under it runs once
    more (`IDEMPOTENT_READS`). `ping()` says whether the database answers now.

    Contention. Writers of one thread take its rows in one order (`SqlThreads._lock_thread`),
    so the store's own calls do not deadlock one another. A call PostgreSQL still rolls back
    to break a deadlock (SQLSTATE 40P01, e.g. with an operator's transaction) or a
    serialization conflict (40001, under a stricter default isolation) changed nothing, and
    runs again, up to `contention_retries` more times (`CONTENTION_RETRIES`) while the call's
    bound from its first try lasts; then it fails with `Contended`, a `StoreUnavailable`.

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
        request_timeout: float = 2.5,
        maintenance_timeout: float = 600.0,
        connect_timeout: float = 2.0,
        snapshot_policy: SnapshotPolicy | None = None,
        durable_steps: bool = False,
        contention_retries: int = CONTENTION_RETRIES,
    ) -> None:
        super().__init__(snapshot_policy=snapshot_policy)
        if not (request_timeout > 0 and maintenance_timeout > 0 and timeout > 0):
            raise ValueError("timeout, request_timeout and maintenance_timeout must be > 0")
        if contention_retries < 0:
            raise ValueError("contention_retries must be >= 0")
        self.durable_steps = durable_steps
        self.contention_retries = int(contention_retries)
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError(
                "PostgresSaver needs psycopg 3: pip install 'interlock[postgres]'"
            ) from exc
        self.conninfo = conninfo
        self.schema = schema
        self.request_timeout = float(request_timeout)
        self.maintenance_timeout = float(maintenance_timeout)
        self._search_path = _quote_ident(schema) if schema else None
        self._settings = connection_settings(
            conninfo,
            connect_timeout=connect_timeout,
            statement_timeout=request_timeout * STATEMENT_SHARE,
            schema=self._search_path,
        )
        self._deadlines = Deadlines("interlock-pg-deadlines")
        self._replaced_at = 0.0
        self._replace_lock = threading.Lock()

        def probe() -> None:
            psycopg.connect(conninfo, **self._settings).close()

        self._link = Link(probe, self._replace_connections)
        self._pool = ConnectionPool(
            conninfo,
            connection_class=_connection_class(self._link),
            min_size=min_size,
            max_size=max_size,
            timeout=request_timeout,
            kwargs=self._settings,
            configure=self._configure,
            check=self._check,
            reconnect_timeout=RECONNECT_WAIT,
            open=False,
            name="interlock",
        )
        try:
            with self._mapped(bound=timeout):
                self._pool.open(wait=True, timeout=timeout)
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

    # ---- connections ------------------------------------------------------------------------

    def _configure(self, conn: Any) -> None:
        from psycopg.types.string import TextLoader

        conn.adapters.register_loader("jsonb", TextLoader)
        conn.adapters.register_loader("json", TextLoader)

    def _check(self, conn: Any) -> None:
        """Before a pooled connection is used: if the server has said goodbye on it (its
        backend was terminated, the server restarted), replace it — no round trip, and
        nothing is sent on it."""
        if socket_has_news(conn.fileno()):
            conn.close()
            self._replace_connections(conn)
            raise StoreUnavailable("the server closed this pooled connection")

    def _replace_connections(self, dead: Any = None) -> None:
        """Replace the pool's connections: after the link came back (all of them predate the
        outage), or when `dead` died (its siblings likely did too). Once per failure: a
        connection older than the last replacement was already dealt with."""
        with self._replace_lock:
            if dead is not None and getattr(dead, "born", 0.0) < self._replaced_at:
                return
            self._replaced_at = time.monotonic()
        self._pool.drain()

    @contextmanager
    def _call(self, bound: float | None = None) -> Iterator[Any]:
        """A pooled connection for one call, ending within its bound (see the class
        docstring); psycopg errors become interlock's."""
        maintenance = bound is None and in_maintenance()
        if bound is None:
            bound = self.maintenance_timeout if maintenance else self.request_timeout
        self._link.check()
        started = time.monotonic()
        with self._mapped(bound=bound):
            conn = self._pool.getconn(timeout=bound)
        watch = self._deadlines.watch(conn.fileno(), bound - (time.monotonic() - started))
        clean = not maintenance
        try:
            with self._mapped(conn, watch, bound):
                if maintenance:
                    conn.execute(
                        "SELECT set_config('statement_timeout', %s, false)",
                        (str(round(bound * STATEMENT_SHARE * 1000)),),
                    )
                yield conn
                if maintenance:
                    conn.execute("RESET statement_timeout")
                    clean = True
        finally:
            if self._deadlines.release(watch) or not clean:
                conn.close()  # shut by its deadline, or left with the long statement timeout
            self._pool.putconn(conn)

    @contextmanager
    def _mapped(
        self, conn: Any = None, watch: Watch | None = None, bound: float = 0.0
    ) -> Iterator[None]:
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            yield
        except UnicodeEncodeError as exc:  # a lone surrogate (JSON can carry one; UTF-8 not)
            raise SerializationError(
                f"PostgreSQL cannot store this value: {exc}; nothing was changed"
            ) from exc
        except PoolTimeout as exc:
            raise StoreUnavailable(
                f"no PostgreSQL connection within {bound or self.request_timeout:g} s "
                f"({_first_line(exc)}); nothing was changed, retry later"
            ) from exc
        except psycopg.Error as exc:
            if watch is not None and watch.fired:
                self._link.down(f"no answer within {bound:g} s", watch.deadline - bound)
                raise StoreUnavailable(
                    f"PostgreSQL did not answer within {bound:g} s; retry later"
                ) from exc
            if conn is not None and conn.closed:
                self._replace_connections(conn)
                raise ConnectionLost(
                    f"the PostgreSQL connection was lost ({_first_line(exc)}); retry later"
                ) from exc
            if isinstance(exc, psycopg.errors.QueryCanceled):
                raise StoreUnavailable(
                    f"PostgreSQL did not finish within {bound or self.request_timeout:g} s "
                    f"({_first_line(exc)}); retry later"
                ) from exc
            if isinstance(
                exc, psycopg.errors.DeadlockDetected | psycopg.errors.SerializationFailure
            ):
                raise Contended(
                    f"PostgreSQL rolled this call back ({exc.sqlstate}: {_first_line(exc)}); "
                    "nothing was changed, retry"
                ) from exc
            if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
                raise StoreUnavailable(
                    f"PostgreSQL store is unavailable: {exc}; nothing was changed, retry later"
                ) from exc
            if isinstance(exc, psycopg.DataError):  # e.g. NUL, which PostgreSQL cannot hold
                raise SerializationError(
                    f"PostgreSQL cannot store this value: {exc}; nothing was changed"
                ) from exc
            raise StoreError(f"PostgreSQL store failed: {exc}") from exc

    @contextmanager
    def _read(self) -> Iterator[Any]:
        # Autocommit: every read statement is its own snapshot. Rows never change once
        # written (only interrupt status does), so a read needs no BEGIN/COMMIT round trips.
        with self._call() as conn:
            yield conn

    @contextmanager
    def _write(self, *, durable: bool = True) -> Iterator[Any]:
        with self._call() as conn:
            if not durable:
                # single-statement writes (leases): autocommit saves the BEGIN/COMMIT round trips
                yield conn
            else:
                with conn.transaction():
                    yield conn

    def _lock_migrations(self, conn: Any) -> None:
        # lock first: CREATE SCHEMA/TABLE IF NOT EXISTS race when processes start together
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('interlock_migrations'))")
        if self._search_path:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self._search_path}")

    # ---- public -----------------------------------------------------------------------------

    def ping(self, timeout: float = 1.0) -> None:
        """Raise `StoreUnavailable` unless the database answers within `timeout` seconds
        (at once while it is known to be down). For readiness probes."""
        with self._call(bound=timeout) as conn:
            conn.execute("SELECT 1").fetchone()

    @property
    def reachable(self) -> bool:
        """False while the database is known to be unreachable (no I/O)."""
        return self._link.is_up

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

    def close(self) -> None:
        """Close the pool."""
        self._link.close()
        self._deadlines.close()
        self._pool.close()


def _retry_once_if_lost(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def read(self: PostgresSaver, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except ConnectionLost:  # the pool has replaced the connection: once more
            return method(self, *args, **kwargs)

    return read


def _retry_if_contended(method: Callable[..., Any]) -> Callable[..., Any]:
    """`method` run again, up to `contention_retries` more times, while PostgreSQL rolls it
    back to break a deadlock or a serialization conflict (`Contended`): every call of the
    store is one transaction, or several that each leave the same result when run again,
    so a rolled-back call is safe to run again as a whole (`prune`, whose result counts
    what its earlier transactions did, runs again step by step: `RETRIED_BY_STEP`)."""

    @functools.wraps(method)
    def call(self: PostgresSaver, *args: Any, **kwargs: Any) -> Any:
        if _RETRYING.get():  # inside a retried call: that one runs again as a whole
            return method(self, *args, **kwargs)
        bound = self.maintenance_timeout if in_maintenance() else self.request_timeout
        started = time.monotonic()
        token = _RETRYING.set(True)
        try:
            tries = 0
            while True:
                try:
                    return method(self, *args, **kwargs)
                except Contended:
                    tries += 1
                    if tries > self.contention_retries or time.monotonic() - started >= bound:
                        raise
                # the other transaction goes on meanwhile; a little jitter keeps two that
                # were rolled back (serialization conflicts) from meeting again in step
                time.sleep(random.uniform(0.0, 0.02 * tries))
        finally:
            _RETRYING.reset(token)

    return call


for _name in IDEMPOTENT_READS:
    setattr(PostgresSaver, _name, _retry_once_if_lost(getattr(PostgresSaver, _name)))
for _name in dir(PostgresSaver):
    _member = getattr(PostgresSaver, _name)
    if (
        _name.startswith("_")
        or _name in NOT_RETRIED
        or _name in RETRIED_BY_STEP
        or not callable(_member)
        or inspect.iscoroutinefunction(_member)  # an async twin runs its sync call
        or isinstance(inspect.getattr_static(PostgresSaver, _name), classmethod | staticmethod)
    ):
        continue
    setattr(PostgresSaver, _name, _retry_if_contended(_member))
for _steps in RETRIED_BY_STEP.values():
    for _name in _steps:
        setattr(PostgresSaver, _name, _retry_if_contended(getattr(PostgresSaver, _name)))
