"""`SqlCore`: what every room's SQL half stands on — the connections a store provides, the
statement cache, and schema setup.

A store subclass supplies a `Dialect` (placeholders, column types, the database clock) and
connections (`_read()` / `_write()` context managers yielding a DB-API connection whose
`execute(sql, params)` returns a cursor). Statements are written once with `?` (and `?J` for
JSON) placeholders and `{now}` for the database clock; `_x` renders and runs them.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from interlock.checkpoint._migrations import MIGRATIONS
from interlock.checkpoint._sql_dialect import Dialect, utc_now
from interlock.errors import SchemaTooNew

__all__ = ["SqlCore", "in_maintenance"]

_MAINTENANCE: ContextVar[bool] = ContextVar("interlock_store_maintenance", default=False)


def in_maintenance() -> bool:
    """Whether the current call runs under `SqlCore.maintenance()`."""
    return _MAINTENANCE.get()


class SqlCore:
    """Connections, statement rendering and migrations, shared by every room's SQL half."""

    dialect: Dialect
    _sql_cache: dict[str, str]

    if TYPE_CHECKING:

        def _audit_in(
            self,
            conn: Any,
            thread_id: str | None,
            interrupt_id: str | None,
            action: str,
            actor: Any,
            detail: str | Mapping[str, Any],
        ) -> None:
            """One audit entry in the caller's transaction (the audit room's,
            `SqlAuditLog._audit_in`)."""

    @abstractmethod
    def _read(self) -> AbstractContextManager[Any]:
        """A connection for reads."""

    @abstractmethod
    def _write(self, *, durable: bool = True) -> AbstractContextManager[Any]:
        """A write transaction. `durable=False` marks a single-statement write of soft state
        (a lease), which a store may run without an explicit transaction."""

    def _keep_open(self, conn: Any, thread_id: str, owner: str, ttl: float) -> None:
        """Inside a `_write()` block: leave its transaction open at the block's end, for
        this thread's next write to commit (`acquire_and_get(hold=True)` of `thread_id`'s
        lease by `owner`, whose `end_hold` alone ends it; `ttl` to take the lease again if
        that write fails). Stores that cannot do that commit it as usual (the default)."""

    def _count(self, conn: Any, cur: Any) -> int:
        """Rows changed by the statement `cur` ran."""
        return int(cur.rowcount)

    def _lock_migrations(self, conn: Any) -> None:
        """Serialise concurrent schema setup (PostgreSQL takes an advisory lock)."""

    @contextmanager
    def maintenance(self) -> Iterator[None]:
        """Store calls made inside (in this thread or task, and the worker threads of its
        async calls) get the store's longer maintenance bound instead of the request bound:
        for schema setup, retention, audit exports, bulk loads.

        Example:
            >>> with saver.maintenance():  # doctest: +SKIP
            ...     entries = saver.list_audit(limit=100_000)
        """
        token = _MAINTENANCE.set(True)
        try:
            yield
        finally:
            _MAINTENANCE.reset(token)

    def _q(self, text: str) -> str:
        out = self._sql_cache.get(text)
        if out is None:
            out = self._sql_cache[text] = self.dialect.sql(text)
        return out

    def _x(self, conn: Any, text: str, params: Sequence[Any] = ()) -> Any:
        return conn.execute(self._q(text), tuple(params))

    def setup(self) -> None:
        """Create or upgrade the schema (idempotent; safe from several processes).

        Raises `SchemaTooNew`, changing nothing, when the store has a migration this
        interlock does not know (a newer interlock wrote it)."""
        with self.maintenance(), self._write() as conn:
            self._lock_migrations(conn)
            conn.execute(
                "CREATE TABLE IF NOT EXISTS interlock_migrations ("
                "version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            done = {row[0] for row in self._x(conn, "SELECT version FROM interlock_migrations")}
            unknown = sorted(done - {version for version, _, _ in MIGRATIONS})
            if unknown:
                raise SchemaTooNew(
                    f"this store's schema has migrations {unknown} that this interlock does "
                    f"not know (it knows up to {MIGRATIONS[-1][0]}): a newer interlock wrote "
                    "it. Upgrade interlock to use it; nothing was changed"
                )
            for version, description, statements in MIGRATIONS:
                if version in done:
                    continue
                for statement in statements:
                    if callable(statement):  # a step in Python
                        statement(self, conn)
                        continue
                    if isinstance(statement, tuple):
                        only, statement = statement
                        if only != self.dialect.name:
                            continue
                    conn.execute(self.dialect.ddl(statement))
                self._x(
                    conn,
                    "INSERT INTO interlock_migrations VALUES (?, ?, ?)",
                    (version, description, utc_now().isoformat()),
                )

    def schema_versions(self) -> list[int]:
        """Applied migration versions, ascending."""
        with self._read() as conn:
            rows = self._x(conn, "SELECT version FROM interlock_migrations ORDER BY version")
            return [r[0] for r in rows]
