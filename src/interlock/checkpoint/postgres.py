"""`PostgresSaver`: the store for several processes or machines (psycopg 3 + a pool).

Reads share their SQL with SQLite (`SqlSaver`); each write of the store protocol, and a
run's lease-and-read, is here one statement (data-modifying CTEs): one network round trip
and one commit. JSONB columns operators can query, TIMESTAMPTZ times, the database clock for
leases. Install with `pip install 'interlock[postgres]'`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from interlock.checkpoint import serde
from interlock.checkpoint._chain import EncodedRow, encode_record
from interlock.checkpoint._runs import RunRecord
from interlock.checkpoint._sql import (
    ACQUIRE_SQL,
    CHECKPOINT_INSERT_COLS,
    CHECKPOINT_READ_COLS,
    HEAD_OF,
    INTERRUPT_COLS,
    Dialect,
    SqlSaver,
    missing_checkpoint,
)
from interlock.checkpoint._sql_runs import CLAIMABLE, RUN_COLS
from interlock.checkpoint.base import (
    CheckpointRecord,
    InterruptRecord,
    InterruptStatus,
    SnapshotPolicy,
    StoredCheckpoint,
    TaskWrites,
)
from interlock.errors import ResumeConflict, SerializationError, StoreError, StoreUnavailable

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


# One statement per write: data-modifying CTEs make each write of the protocol a single
# network round trip and a single commit (autocommit: the statement is its transaction).
# Every sub-statement that must not happen when the compare-and-swap fails reads from `h`.
_CHECKPOINT_VALUES = (
    "%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s::jsonb, %s::jsonb, %s::jsonb, "
    "%s::jsonb, %s, %s, %s, %s"
)
_INTERRUPT_ROW = (
    "(%s, %s, %s, %s, %s, %s, %s::int, %s, %s, %s::jsonb, %s::jsonb, %s::timestamptz, "
    "%s::timestamptz, %s, %s::timestamptz, %s::jsonb)"
)
_TASK_WRITES_ROW = "(%s, %s, %s, %s, %s, %s::jsonb)"
_THREADS_INSERT = (
    "INSERT INTO threads (thread_id, created_at, updated_at, head_id) "
    "SELECT %s, %s::timestamptz, %s::timestamptz, %s"
)


_NO_FLUSH = "s AS (SELECT set_config('synchronous_commit', 'off', true))"
"""A CTE that makes the statement's commit skip the wait for the WAL flush (SET LOCAL)."""
_INTERRUPT_COLS_I = ", ".join("i." + col.strip() for col in INTERRUPT_COLS.split(","))


_AUDIT_ID = (
    "lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000000000)::bigint), 16, '0') "
    "|| substr(md5(random()::text || {row}.interrupt_id), 1, 16)"
)
"""A time-ordered 32-hex audit entry id made in SQL (as `new_audit_id` makes them)."""
_AUDIT_INSERT = (
    "INSERT INTO audit_log (entry_id, at, actor, action, thread_id, interrupt_id, detail)"
)


def _interrupts_cte(count: int, guard: str) -> str:
    """Insert new requests (`i`) and, for those really new, their `approval.requested`
    audit entries (`ai`), in the statement's transaction."""
    rows = ", ".join([_INTERRUPT_ROW] * count)
    return (
        f"i AS (INSERT INTO interrupts ({INTERRUPT_COLS}) SELECT * FROM (VALUES {rows}) v "
        f"{guard} ON CONFLICT (interrupt_id) DO NOTHING "
        "RETURNING interrupt_id, thread_id, value, metadata), "
        f"ai AS ({_AUDIT_INSERT} SELECT {_AUDIT_ID.format(row='i')}, clock_timestamp(), "
        "i.metadata->>'requested_by', 'approval.requested', i.thread_id, i.interrupt_id, "
        "jsonb_build_object('value', i.value) FROM i)"
    )


def _utcnow() -> datetime:
    return datetime.now(UTC)


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


class PostgresSaver(SqlSaver):
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
        self.setup()

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

    # ---- reads in one round trip -----------------------------------------------------------

    def _children_columns(self) -> str:
        # the task writes and interrupts themselves, as JSON arrays, in the checkpoint's row
        return (
            "(SELECT json_agg(json_build_array(w.task_id, w.task_name, w.writes) "
            "ORDER BY w.task_id) FROM task_writes w WHERE w.thread_id = c.thread_id AND "
            "w.checkpoint_ns = c.checkpoint_ns AND w.checkpoint_id = c.checkpoint_id), "
            f"(SELECT json_agg(json_build_array({_INTERRUPT_COLS_I}) ORDER BY i.task_id, i.idx) "
            "FROM interrupts i WHERE i.thread_id = c.thread_id AND "
            "i.checkpoint_ns = c.checkpoint_ns AND i.checkpoint_id = c.checkpoint_id)"
        )

    def _children(
        self, conn: Any, thread_id: str, ns: str, cid: str, extra: Sequence[Any]
    ) -> tuple[tuple[TaskWrites, ...], tuple[InterruptRecord, ...]]:
        task_writes = tuple(
            TaskWrites(task_id=t[0], task_name=t[1], writes=tuple((c, v) for c, v in t[2]))
            for t in (serde.loads(extra[0]) if extra[0] else ())
        )
        interrupts = tuple(
            self._interrupt(r, decoded=True) for r in (serde.loads(extra[1]) if extra[1] else ())
        )
        return task_writes, interrupts

    def acquire_and_get(
        self,
        thread_id: str,
        owner: str,
        *,
        ttl: float,
        checkpoint_ns: str = "",
        checkpoint_id: str | None = None,
        after: str | None = None,
        flush: bool = True,
    ) -> tuple[bool, StoredCheckpoint | None]:
        """Take the lease and read the head in one statement.

        With `flush=False` (a resume: the decision follows and waits for the flush, which
        covers this earlier commit too, before any node runs) the lease skips the wait.

        The read sees the database as of the statement's start. If a run committed while
        the lease upsert waited for it (a new head, a pause, a decision), the thread row the
        upsert returns (the newest) was updated after the one the read saw, and the head is
        read again."""
        if checkpoint_id is not None or checkpoint_ns != "":
            return super().acquire_and_get(
                thread_id,
                owner,
                ttl=ttl,
                checkpoint_ns=checkpoint_ns,
                checkpoint_id=checkpoint_id,
                after=after,
                flush=flush,
            )
        now = self.dialect.ts(_utcnow())
        no_flush = "" if flush or self.durable_steps else f", {_NO_FLUSH}"
        sql = self._q(
            f"WITH l AS ({ACQUIRE_SQL} RETURNING updated_at){no_flush} "
            "SELECT l.updated_at, (SELECT t.updated_at FROM threads t WHERE t.thread_id = ?), "
            f"r.* FROM l{', s' if no_flush else ''} LEFT JOIN LATERAL (SELECT "
            f"{CHECKPOINT_READ_COLS}, "
            f"{self._children_columns()} FROM checkpoints c WHERE c.thread_id = ? "
            f"AND c.checkpoint_ns = ? AND c.checkpoint_id = {HEAD_OF}) r ON true"
        )
        params = (thread_id, now, now, owner, float(ttl), float(ttl), thread_id)
        with self._read() as conn:
            row = conn.execute(sql, (*params, thread_id, "", thread_id, "")).fetchone()
            if row is None:
                return False, None
            newest, seen = row[0], row[1]
            created = seen is None and newest == now  # the thread row is ours, just inserted
            if newest != seen and not created:  # a run committed while the lease waited
                return True, self.get_checkpoint(thread_id, after=after)
            if row[2] is None:
                return True, None
            return True, self._stored(conn, row[2:], after)

    # ---- writes in one round trip each ----------------------------------------------------

    def put_checkpoint(
        self,
        record: CheckpointRecord,
        *,
        expected_head: str | None,
        interrupts: Sequence[InterruptRecord] = (),
        lease_owner: str | None = None,
        release_lease: bool = False,
    ) -> None:
        """Commit a checkpoint: head compare-and-swap, the row, the thread's head and lease,
        and new interrupts, in one statement."""
        intr_rows = [self._interrupt_params(i) for i in interrupts]
        thread, ns, cid = record.thread_id, record.checkpoint_ns, record.checkpoint_id
        parent = self._stats.get((thread, ns, record.parent_id or ""))
        if parent is None and record.parent_id is not None:
            with self._read() as conn:
                parent = self._parent_stats(conn, record)
        encoded = encode_record(record, parent, self.policy)
        # Skip the flush wait only inside a run (a lease owner) and not for its last write or a
        # pause: what a person or another process acts on is durable before the call returns.
        flush = self.durable_steps or release_lease or bool(intr_rows) or lease_owner is None
        if self._put(record, encoded, expected_head, intr_rows, lease_owner, release_lease, flush):
            self._remember_stats((thread, ns, cid), encoded.stats)
            return
        if encoded.snapshot is not None or self._exists(thread, ns, encoded.stats.base_id):
            raise ResumeConflict(
                f"thread {thread!r} moved on (expected head {expected_head}); another run "
                "committed first"
            )
        # the parent's base snapshot was pruned meanwhile: store this one as a snapshot
        encoded = encode_record(record, None, self.policy)
        if not self._put(
            record, encoded, expected_head, intr_rows, lease_owner, release_lease, flush
        ):
            raise ResumeConflict(
                f"thread {thread!r} moved on (expected head {expected_head}); another run "
                "committed first"
            )
        self._remember_stats((thread, ns, cid), encoded.stats)

    def _exists(self, thread_id: str, ns: str, checkpoint_id: str) -> bool:
        with self._read() as conn:
            row = conn.execute(
                "SELECT 1 FROM checkpoints WHERE thread_id = %s AND checkpoint_ns = %s "
                "AND checkpoint_id = %s",
                (thread_id, ns, checkpoint_id),
            ).fetchone()
        return row is not None

    def _put(
        self,
        record: CheckpointRecord,
        encoded: EncodedRow,
        expected_head: str | None,
        intr_rows: list[tuple[Any, ...]],
        lease_owner: str | None,
        release_lease: bool,
        flush: bool,
    ) -> bool:
        """The one statement of `put_checkpoint`; False when nothing was written (the head
        moved on, or a delta's base snapshot is gone)."""
        thread, ns, cid = record.thread_id, record.checkpoint_ns, record.checkpoint_id
        lease, touch = self._touch_parts(
            thread, cid if ns == "" else None, lease_owner, release_lease
        )
        guard = ""
        guard_params: tuple[str, ...] = ()
        if encoded.snapshot is None:  # a delta: its base snapshot must still be there
            guard = (
                " AND EXISTS (SELECT 1 FROM checkpoints b WHERE b.thread_id = %s AND "
                "b.checkpoint_ns = %s AND b.checkpoint_id = %s)"
            )
            guard_params = (thread, ns, encoded.stats.base_id)
        if expected_head is None:
            cas = (
                "INSERT INTO heads (thread_id, checkpoint_ns, head_id) SELECT %s, %s, %s "
                f"WHERE TRUE{guard} ON CONFLICT (thread_id, checkpoint_ns) DO NOTHING RETURNING 1"
            )
            cas_params: tuple[Any, ...] = (thread, ns, cid, *guard_params)
        else:
            cas = (
                "UPDATE heads SET head_id = %s WHERE thread_id = %s AND checkpoint_ns = %s "
                f"AND head_id = %s{guard} RETURNING 1"
            )
            cas_params = (cid, thread, ns, expected_head, *guard_params)
        parts = [
            f"WITH h AS ({cas})",
            f"c AS (INSERT INTO checkpoints ({CHECKPOINT_INSERT_COLS}) "
            f"SELECT {_CHECKPOINT_VALUES} FROM h)",
            f"t AS ({_THREADS_INSERT} FROM h {lease})",
        ]
        params = [*cas_params, *self._checkpoint_params(record, encoded), *touch]
        if intr_rows:
            parts.append(_interrupts_cte(len(intr_rows), "WHERE EXISTS (SELECT 1 FROM h)"))
            params += [p for row in intr_rows for p in row]
        if not flush:
            parts.append(_NO_FLUSH)
        sql = self._q(
            ", ".join(parts)
            + " SELECT (SELECT count(*) FROM h)"
            + ("" if flush else ", (SELECT 1 FROM s)")
        )
        with self._read() as conn:
            return bool(conn.execute(sql, params).fetchone()[0] == 1)

    def put_task_writes(
        self,
        thread_id: str,
        checkpoint_ns: str,
        checkpoint_id: str,
        task_writes: Sequence[TaskWrites],
        interrupts: Sequence[InterruptRecord] = (),
        *,
        lease_owner: str | None = None,
        release_lease: bool = False,
    ) -> None:
        """Save (replace per task) writes of an incomplete step, new interrupts and the
        thread's lease, in one statement."""
        by_task = {
            t.task_id: (
                thread_id,
                checkpoint_ns,
                checkpoint_id,
                t.task_id,
                t.task_name,
                serde.dumps([[c, v] for c, v in t.writes], f"task {t.task_name}"),
            )
            for t in task_writes
        }
        intr_rows = [self._interrupt_params(i) for i in interrupts]
        lease, touch = self._touch_parts(thread_id, None, lease_owner, release_lease)
        # everything below is saved only if the checkpoint is stored (a mid-run checkpoint
        # that skipped the flush can be lost with a database restart)
        ctes = [
            "k AS (SELECT 1 FROM checkpoints WHERE thread_id = %s AND checkpoint_ns = %s "
            "AND checkpoint_id = %s)"
        ]
        params: list[Any] = [thread_id, checkpoint_ns, checkpoint_id]
        if by_task:
            rows = ", ".join([_TASK_WRITES_ROW] * len(by_task))
            ctes.append(
                "w AS (INSERT INTO task_writes (thread_id, checkpoint_ns, checkpoint_id, "
                f"task_id, task_name, writes) SELECT * FROM (VALUES {rows}) v "
                "WHERE EXISTS (SELECT 1 FROM k) ON CONFLICT (thread_id, "
                "checkpoint_ns, checkpoint_id, task_id) DO UPDATE SET "
                "task_name = excluded.task_name, writes = excluded.writes)"
            )
            params += [p for row in by_task.values() for p in row]
        if intr_rows:
            ctes.append(_interrupts_cte(len(intr_rows), "WHERE EXISTS (SELECT 1 FROM k)"))
            params += [p for row in intr_rows for p in row]
        flush = self.durable_steps or release_lease or bool(intr_rows) or lease_owner is None
        if not flush:
            ctes.append(_NO_FLUSH)
        ctes.append(f"t AS ({_THREADS_INSERT} FROM k {lease})")
        sql = f"WITH {', '.join(ctes)} SELECT (SELECT count(*) FROM k)" + (
            "" if flush else ", (SELECT 1 FROM s)"
        )
        with self._read() as conn:
            found = conn.execute(self._q(sql), [*params, *touch]).fetchone()[0]
        if not found:
            raise missing_checkpoint(thread_id, checkpoint_id)

    def resolve_interrupts(
        self,
        thread_id: str,
        decisions: Mapping[str, Any],
        *,
        decided_by: str | None = None,
        status: InterruptStatus = "resolved",
    ) -> tuple[InterruptRecord, ...]:
        """Flip each interrupt from pending, all or nothing; one caller wins. One decision
        (the common case) is one statement; several take a transaction."""
        if len(decisions) != 1:
            return super().resolve_interrupts(
                thread_id, decisions, decided_by=decided_by, status=status
            )
        ((iid, value),) = decisions.items()
        text = serde.dumps(value, f"decision for {iid}")
        now = self.dialect.ts(_utcnow())
        sql = (
            "WITH u AS (UPDATE interrupts SET status = %s, resume = %s::jsonb, "
            "decided_by = %s, decided_at = %s WHERE interrupt_id = %s AND thread_id = %s "
            f"AND status = 'pending' RETURNING {INTERRUPT_COLS}), "
            "t AS (UPDATE threads SET updated_at = %s WHERE thread_id = %s "
            "AND EXISTS (SELECT 1 FROM u)), "
            f"a AS ({_AUDIT_INSERT} SELECT {_AUDIT_ID.format(row='u')}, clock_timestamp(), "
            "u.decided_by, CASE u.status WHEN 'resolved' THEN 'approval.decided' "
            "ELSE 'approval.' || u.status END, u.thread_id, u.interrupt_id, "
            "jsonb_build_object('value', u.value, 'decision', u.resume) FROM u) "
            "SELECT * FROM u"
        )
        with self._read() as conn:
            row = conn.execute(
                sql, (status, text, decided_by, now, iid, thread_id, now, thread_id)
            ).fetchone()
        if row is None:  # lost the race, or no such request: say which
            return super().resolve_interrupts(
                thread_id, decisions, decided_by=decided_by, status=status
            )
        return (self._interrupt(row),)

    def claim_run(self, owner: str, *, ttl: float) -> RunRecord | None:
        """Claim the oldest claimable run in one statement: the row is locked with
        `FOR UPDATE SKIP LOCKED`, so concurrent claimers take different runs without waiting
        for each other (one that finds its candidate taken gets None and polls again)."""
        returning = ", ".join("runs." + col.strip() for col in RUN_COLS.split(","))
        sql = self._q(
            f"WITH c AS (SELECT r.run_id FROM runs r WHERE {CLAIMABLE} "
            "ORDER BY r.created_at, r.run_id LIMIT 1 FOR UPDATE SKIP LOCKED) "
            "UPDATE runs SET status = 'running', owner = ?, lease_until = {now} + ?, "
            "attempts = runs.attempts + 1, updated_at = ? FROM c "
            f"WHERE runs.run_id = c.run_id RETURNING {returning}"
        )
        with self._read() as conn:
            row = conn.execute(sql, (owner, float(ttl), self.dialect.ts(_utcnow()))).fetchone()
        return self._run(row) if row else None

    def _lock_migrations(self, conn: Any) -> None:
        # lock first: CREATE SCHEMA/TABLE IF NOT EXISTS race when processes start together
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('interlock_migrations'))")
        if self._search_path:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self._search_path}")

    def close(self) -> None:
        """Close the pool."""
        self._pool.close()
