"""Thread metadata and search in SQL, written once for SQLite and PostgreSQL: a mixin of
`SqlThreads`.

A thread's metadata is its `threads.metadata` (JSON) and one `thread_meta` row per top-level
pair (`key`, `value` as `search.tag` spells them, `thread_id`; migration 16), written in one
transaction. A search reads one page with one statement, after one statement that counts
what each listable filter's index holds, up to a cap (`search` says how it chooses):

- a range: `WITH found AS MATERIALIZED (<the filter's index range>)`, then the other
  filters checked on those rows and the page sorted from them;
- a walk: `threads` in the order of the sort's index (`threads_updated`, `threads_created`,
  `threads_idle` for idle threads, the primary key, or `threads_owner` for one person's),
  each row checked by index probes (`thread_meta`'s primary key,
  `interrupts_pending_thread`), stopping at the page's end.

Either way the page's rows only are then summarised (head checkpoint, pending requests).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from interlock.checkpoint import serde
from interlock.checkpoint._sql_core import SqlCore
from interlock.checkpoint._sql_dialect import utc_now
from interlock.checkpoint._threads.protocol import ThreadInfo
from interlock.checkpoint._threads.search import (
    RANGE_CAP,
    RANGE_CAP_MAX,
    RANGE_PER_ROW,
    ThreadQuery,
    metadata_tags,
)

__all__ = ["INFO_COLUMNS", "INFO_JOIN", "SqlThreadSearch"]

INFO_COLUMNS = (
    "t.thread_id, t.head_id, t.created_at, t.updated_at, "
    "CASE WHEN t.lease_owner IS NOT NULL AND t.lease_until > {now} THEN 1 ELSE 0 END, "
    "(SELECT 1 FROM interrupts i WHERE i.thread_id = t.thread_id AND i.status = 'pending' "
    "LIMIT 1) IS NOT NULL, c.next, c.sends, t.metadata, t.owner, c.metadata"
)
"""What a thread's summary reads (`SqlThreads._info_of`), from `threads t` and `INFO_JOIN`."""

INFO_JOIN = (
    "LEFT JOIN checkpoints c ON c.thread_id = t.thread_id "
    "AND c.checkpoint_ns = '' AND c.checkpoint_id = t.head_id"
)

KNOWN = "(t.head_id IS NOT NULL OR t.owner IS NOT NULL OR t.metadata IS NOT NULL)"
"""A thread searches list: it has a checkpoint, or was created over the service, or given
metadata (a bare lease leaves a `threads` row too, which is not a thread yet)."""

THREAD_COLUMNS = (
    "r.thread_id, r.created_at, r.updated_at, r.head_id, r.lease_owner, r.lease_until, "
    "r.metadata, r.owner, r.waiting"
)
"""The `threads` columns a summary reads (`INFO_COLUMNS` over `threads t`), of a range's
rows (`threads r`)."""

PAGE_COLUMNS = THREAD_COLUMNS.replace("r.", "t.")
"""The same, of a page's rows (`threads t`)."""

LEASED = "(t.lease_owner IS NOT NULL AND t.lease_until > {now})"
NOT_LEASED = "(t.lease_owner IS NULL OR t.lease_until IS NULL OR t.lease_until <= {now})"
PENDING = (
    "(SELECT 1 FROM interrupts i WHERE i.thread_id = t.thread_id AND i.status = 'pending' "
    "LIMIT 1) IS NOT NULL"
)
NO_PENDING = (
    "NOT EXISTS (SELECT 1 FROM interrupts i WHERE i.thread_id = t.thread_id "
    "AND i.status = 'pending')"
)
HAS_TAG = (
    "(SELECT 1 FROM thread_meta m WHERE m.key = ? AND m.value = ? "
    "AND m.thread_id = t.thread_id LIMIT 1) IS NOT NULL"
)
"""Probes of one thread (a scalar subquery with LIMIT is run per row: PostgreSQL cannot
turn it into a join that reads a whole index range first)."""
PENDING_THREADS = "SELECT DISTINCT thread_id FROM interrupts WHERE status = 'pending'"


@dataclass(frozen=True, slots=True)
class _Range:
    """A filter an index lists: how to count its threads up to a cap (a scalar subquery
    whose last parameter is the cap), and the condition on `threads r` that reads them
    (an index range of `threads`, or a list of ids that `SqlThreadSearch._listed` makes).
    `exact`: the name of the filter (`_filters`) that the range makes true."""

    count: str
    count_params: tuple[Any, ...]
    where: str
    params: tuple[Any, ...]
    exact: Hashable = None


def _filters(query: ThreadQuery, skip: Hashable = None) -> tuple[str, list[Any]]:
    """Every filter of `query` but the one named `skip`, as conditions on `threads t`
    (`AND ...`), and their params."""
    named: list[tuple[Hashable, str, tuple[Any, ...]]] = []
    if query.ids is not None:
        marks = ", ".join("?" * len(query.ids))
        named.append(("ids", f"t.thread_id IN ({marks})" if query.ids else "0=1", query.ids))
    if query.owner is not None:
        named.append(("owner", "t.owner = ?", (query.owner,)))
    for key, value in metadata_tags(query.metadata):
        named.append((("tag", key, value), HAS_TAG, (key, value)))
    if query.pending is not None:
        # threads.waiting = 0 is the idle threads' index range; the probe keeps the answer
        # exact whatever the count says
        idle = f"t.waiting = 0 AND {NO_PENDING}"
        named.append(("pending", PENDING if query.pending else idle, ()))
    if query.leased is not None:
        named.append(("leased", LEASED if query.leased else NOT_LEASED, ()))
    kept = [(sql, params) for name, sql, params in named if skip is None or name != skip]
    return "".join(f" AND {sql}" for sql, _ in kept), [p for _, ps in kept for p in ps]


class SqlThreadSearch(SqlCore):
    """Thread metadata (`threads.metadata`, `thread_meta`) and search over them."""

    range_cap: int = RANGE_CAP
    """A filter whose index lists fewer threads is read as a range (`search.RANGE_CAP`)..."""
    range_per_row: int = RANGE_PER_ROW
    """... or fewer than this many times `offset + limit` (`search.RANGE_PER_ROW`)."""

    def _cap(self, limit: int, offset: int) -> int:
        per_page = self.range_per_row * (int(offset) + int(limit))
        return max(self.range_cap, min(RANGE_CAP_MAX, per_page))

    if TYPE_CHECKING:

        def _info_of(self, r: Sequence[Any]) -> ThreadInfo: ...

    def set_thread_metadata(self, thread_id: str, metadata: Mapping[str, Any]) -> None:
        """Replace the thread's metadata and its index rows, in one transaction."""
        text = serde.dumps(dict(metadata), "metadata")
        with self._write() as conn:
            self._thread_metadata_in(conn, thread_id, metadata, text)

    def _thread_metadata_in(
        self, conn: Any, thread_id: str, metadata: Mapping[str, Any], text: str
    ) -> None:
        """In the caller's transaction: `set_thread_metadata`, `text` the metadata
        serialised (also the crons room's, which makes a fire's thread with its run)."""
        now = self.dialect.ts(utc_now())
        # the row's lock (taken first) orders concurrent replacements
        self._x(
            conn,
            "INSERT INTO threads (thread_id, created_at, updated_at, metadata) "
            "VALUES (?, ?, ?, ?J) ON CONFLICT (thread_id) "
            "DO UPDATE SET metadata = excluded.metadata",
            (thread_id, now, now, text),
        )
        self._x(conn, "DELETE FROM thread_meta WHERE thread_id = ?", (thread_id,))
        for key, value in metadata_tags(metadata):
            self._x(
                conn,
                "INSERT INTO thread_meta (key, value, thread_id) VALUES (?, ?, ?)",
                (key, value, thread_id),
            )

    def _listed(self, ids: str) -> str:
        """The condition that `threads r` is one of the ids the subquery `ids` lists, read
        by primary key for each (PostgreSQL says it otherwise)."""
        return f"r.thread_id IN ({ids})"

    def _ranges(self, query: ThreadQuery) -> list[_Range]:
        """The filters of `query` that an index lists (not `ids`: a list already)."""
        out = []
        for key, value in metadata_tags(query.metadata):
            out.append(
                _Range(
                    "(SELECT COUNT(*) FROM (SELECT 1 FROM thread_meta "
                    "WHERE key = ? AND value = ? LIMIT ?) x)",
                    (key, value),
                    self._listed(
                        "SELECT d.thread_id FROM thread_meta d WHERE d.key = ? AND d.value = ?"
                    ),
                    (key, value),
                    ("tag", key, value),
                )
            )
        if query.owner is not None:
            out.append(
                _Range(
                    "(SELECT COUNT(*) FROM (SELECT 1 FROM threads WHERE owner = ? LIMIT ?) x)",
                    (query.owner,),
                    "r.owner = ?",
                    (query.owner,),
                    "owner",
                )
            )
        if query.pending:
            out.append(
                _Range(
                    f"(SELECT COUNT(*) FROM ({PENDING_THREADS} LIMIT ?) x)",
                    (),
                    self._listed(PENDING_THREADS),
                    (),
                    "pending",
                )
            )
        if query.leased:
            out.append(
                _Range(
                    "(SELECT COUNT(*) FROM (SELECT 1 FROM threads "
                    "WHERE lease_owner IS NOT NULL LIMIT ?) x)",
                    (),
                    "r.lease_owner IS NOT NULL",
                    (),
                )
            )
        return out

    def _driver(self, conn: Any, query: ThreadQuery, *, cap: int | None) -> _Range | None:
        """The range a search starts from: the listable filter whose index lists the fewest
        threads, if under `cap` (any, with `cap=None`); None to walk the sort order."""
        if query.ids is not None:
            marks = ", ".join("?" * len(query.ids)) or "NULL"
            return _Range("", (), f"r.thread_id IN ({marks})", query.ids, "ids")
        ranges = self._ranges(query)
        if not ranges:
            return None
        bound = self.range_cap if cap is None else cap
        sql = "SELECT " + ", ".join(r.count for r in ranges)
        params = [p for r in ranges for p in (*r.count_params, bound)]
        counts = self._x(conn, sql, params).fetchone()
        fewest, chosen = min(zip(counts, range(len(ranges)), strict=True))
        if cap is not None and fewest >= cap:
            return None
        return ranges[chosen]

    def _statement(
        self, conn: Any, query: ThreadQuery, select: str, tail: str, *, cap: int | None
    ) -> tuple[str, list[Any]]:
        """`SELECT <select> FROM <threads or a range's rows> t <tail>` for `query`, where
        `tail` has `{where}` for its filters, and the parameters before the tail's own."""
        found = self._driver(conn, query, cap=cap)
        where, params = _filters(query, skip=None if found is None else found.exact)
        tail = tail.format(where=f"WHERE {KNOWN}{where}")
        if found is None:
            return f"SELECT {select} FROM threads t {tail}", params
        return (
            f"WITH found AS MATERIALIZED (SELECT {THREAD_COLUMNS} FROM threads r "
            f"WHERE {found.where}) SELECT {select} FROM found t {tail}",
            [*found.params, *params],
        )

    def search_threads(
        self, query: ThreadQuery, *, limit: int = 10, offset: int = 0
    ) -> tuple[ThreadInfo, ...]:
        """One page of the threads `query` matches (see the module docstring); the page's
        rows only are then summarised (their head checkpoint, their pending requests)."""
        order = f"t.{query.sort_by} {'DESC' if query.descending else 'ASC'}"
        tail = f"{{where}} ORDER BY {order} LIMIT ? OFFSET ?"
        with self._read() as conn:
            cap = self._cap(limit, offset)
            sql, params = self._statement(conn, query, PAGE_COLUMNS, tail, cap=cap)
            head, _, page = sql.rpartition(f"SELECT {PAGE_COLUMNS} FROM ")
            sql = (
                f"{head}SELECT {INFO_COLUMNS} FROM (SELECT {PAGE_COLUMNS} FROM {page}) t "
                f"{INFO_JOIN} ORDER BY {order}"
            )
            rows = self._x(conn, sql, (*params, int(limit), int(offset))).fetchall()
        return tuple(self._info_of(r) for r in rows)

    def count_threads(self, query: ThreadQuery) -> int:
        """How many threads `query` matches: from the smallest listable filter's range, or
        over every thread."""
        with self._read() as conn:
            sql, params = self._statement(conn, query, "COUNT(*)", "{where}", cap=None)
            (n,) = self._x(conn, sql, params).fetchone()
        return int(n)
