"""Assistants in SQL, written once for SQLite and PostgreSQL: a mixin of `SqlSaver`.

A change is one transaction with its audit entry. An update first increments the row's
`max_version` (`UPDATE ... SET max_version = max_version + 1`): that takes the row's lock,
so racing updates each get their own version number, in turn, and each applies its change
to the version the one before it made. A search filters by graph (`assistants_graph`) and by
metadata pairs (`assistant_meta` probes) in SQL and pages there; a name, or an object in the
metadata filter (containment), is checked row by row in Python over the ordered rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from interlock.checkpoint import serde
from interlock.checkpoint._assistants.protocol import (
    AssistantChange,
    AssistantQuery,
    SortField,
    SortOrder,
    StoredAssistant,
    assistant_detail,
    contains,
)
from interlock.checkpoint._sql_core import SqlCore
from interlock.checkpoint._sql_dialect import json_text, utc_now
from interlock.checkpoint._threads.search import metadata_tags, tag

__all__ = ["SqlAssistants"]

_COLS = (
    "a.assistant_id, a.graph_id, a.name, a.description, a.config, a.context, a.metadata, "
    "a.version, a.created_at, a.updated_at"
)
_VERSION_COLS = (
    "v.assistant_id, v.graph_id, v.name, v.description, v.config, v.context, v.metadata, "
    "v.version, v.created_at, v.created_at"
)
_ORDER = {
    "assistant_id": "a.assistant_id",
    "graph_id": "lower(a.graph_id)",
    "name": "lower(a.name)",
    "created_at": "a.created_at",
    "updated_at": "a.updated_at",
}
_PAGE = 200
"""Rows read at a time while a filter is checked in Python."""


class SqlAssistants(SqlCore):
    """Assistants over the `assistants`, `assistant_versions` and `assistant_meta` tables."""

    def _stored_assistant(self, r: Sequence[Any]) -> StoredAssistant:
        return StoredAssistant(
            assistant_id=r[0],
            graph_id=r[1],
            name=r[2],
            description=r[3],
            config=serde.loads(json_text(r[4])),
            context=serde.loads(json_text(r[5])),
            metadata=serde.loads(json_text(r[6])),
            version=int(r[7]),
            created_at=self.dialect.ts_req(r[8]),
            updated_at=self.dialect.ts_req(r[9]),
        )

    def _assistant_now(self, conn: Any, assistant_id: str) -> StoredAssistant | None:
        row = self._x(
            conn, f"SELECT {_COLS} FROM assistants a WHERE a.assistant_id = ?", (assistant_id,)
        ).fetchone()
        return None if row is None else self._stored_assistant(row)

    def _assistant_tags(self, conn: Any, assistant_id: str, metadata: Mapping[str, Any]) -> None:
        self._x(conn, "DELETE FROM assistant_meta WHERE assistant_id = ?", (assistant_id,))
        for key, value in metadata_tags(metadata):
            self._x(
                conn,
                "INSERT INTO assistant_meta (key, value, assistant_id) VALUES (?, ?, ?)",
                (key, value, assistant_id),
            )

    def _assistant_texts(self, a: StoredAssistant) -> tuple[str, str, str]:
        where = f"assistant {a.assistant_id!r}"
        return (
            serde.dumps(dict(a.config), where),
            serde.dumps(dict(a.context), where),
            serde.dumps(dict(a.metadata), where),
        )

    def _assistant_version_row(
        self, conn: Any, a: StoredAssistant, texts: tuple[str, str, str]
    ) -> None:
        self._x(
            conn,
            "INSERT INTO assistant_versions (assistant_id, version, graph_id, name, "
            "description, config, context, metadata, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?J, ?J, ?J, ?)",
            (
                a.assistant_id,
                a.version,
                a.graph_id,
                a.name,
                a.description,
                *texts,
                self.dialect.ts(a.updated_at),
            ),
        )

    def _assistant_current(
        self, conn: Any, a: StoredAssistant, texts: tuple[str, str, str]
    ) -> None:
        self._x(
            conn,
            "UPDATE assistants SET graph_id = ?, name = ?, description = ?, config = ?J, "
            "context = ?J, metadata = ?J, version = ?, updated_at = ? WHERE assistant_id = ?",
            (
                a.graph_id,
                a.name,
                a.description,
                *texts,
                a.version,
                self.dialect.ts(a.updated_at),
                a.assistant_id,
            ),
        )
        self._assistant_tags(conn, a.assistant_id, a.metadata)

    def create_assistant(
        self,
        assistant_id: str,
        *,
        graph_id: str,
        name: str,
        description: str | None = None,
        config: Mapping[str, Any],
        context: Mapping[str, Any],
        metadata: Mapping[str, Any],
        actor: str | None,
    ) -> tuple[StoredAssistant, bool]:
        """Keep a new assistant as version 1, once per id (audited, same transaction)."""
        now = utc_now()
        made = StoredAssistant(
            assistant_id=assistant_id,
            graph_id=graph_id,
            name=name,
            description=description,
            config=config,
            context=context,
            metadata=metadata,
            created_at=now,
            updated_at=now,
        )
        texts = self._assistant_texts(made)
        ts = self.dialect.ts(now)
        with self._write() as conn:
            cur = self._x(
                conn,
                "INSERT INTO assistants (assistant_id, graph_id, name, description, config, "
                "context, metadata, version, max_version, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?J, ?J, ?J, 1, 1, ?, ?) "
                "ON CONFLICT (assistant_id) DO NOTHING",
                (assistant_id, graph_id, name, description, *texts, ts, ts),
            )
            if self._count(conn, cur) != 1:
                existing = self._assistant_now(conn, assistant_id)
                assert existing is not None  # (assistants are deleted in a transaction)
                return existing, False
            self._assistant_version_row(conn, made, texts)
            self._assistant_tags(conn, assistant_id, metadata)
            self._audit_in(conn, None, None, "assistant.created", actor, assistant_detail(made))
            stored = self._assistant_now(conn, assistant_id)
        assert stored is not None
        return stored, True

    def get_assistant(self, assistant_id: str) -> StoredAssistant | None:
        """One assistant, or None."""
        with self._read() as conn:
            return self._assistant_now(conn, assistant_id)

    def update_assistant(
        self, assistant_id: str, change: AssistantChange, *, actor: str | None
    ) -> StoredAssistant | None:
        """The next version, made current (see the module docstring)."""
        with self._write() as conn:
            cur = self._x(
                conn,
                "UPDATE assistants SET max_version = max_version + 1 WHERE assistant_id = ?",
                (assistant_id,),
            )
            if self._count(conn, cur) != 1:
                return None
            current = self._assistant_now(conn, assistant_id)
            row = self._x(
                conn, "SELECT max_version FROM assistants WHERE assistant_id = ?", (assistant_id,)
            ).fetchone()
            assert current is not None and row is not None
            new = change.applied(current, int(row[0]), utc_now())
            texts = self._assistant_texts(new)
            self._assistant_version_row(conn, new, texts)
            self._assistant_current(conn, new, texts)
            self._audit_in(conn, None, None, "assistant.updated", actor, assistant_detail(new))
            return self._assistant_now(conn, assistant_id)

    def set_assistant_version(
        self, assistant_id: str, version: int, *, actor: str | None
    ) -> StoredAssistant | None:
        """Make a version current again (audited, same transaction)."""
        with self._write() as conn:
            cur = self._x(  # the row's lock: ordered with racing updates
                conn,
                "UPDATE assistants SET max_version = max_version WHERE assistant_id = ?",
                (assistant_id,),
            )
            if self._count(conn, cur) != 1:
                return None
            row = self._x(
                conn,
                f"SELECT {_VERSION_COLS} FROM assistant_versions v "
                "WHERE v.assistant_id = ? AND v.version = ?",
                (assistant_id, version),
            ).fetchone()
            current = self._assistant_now(conn, assistant_id)
            if row is None or current is None:
                return None
            chosen = self._stored_assistant(row)
            new = StoredAssistant(
                assistant_id=assistant_id,
                graph_id=chosen.graph_id,
                name=chosen.name,
                description=chosen.description,
                config=chosen.config,
                context=chosen.context,
                metadata=chosen.metadata,
                version=chosen.version,
                created_at=current.created_at,
                updated_at=utc_now(),
            )
            self._assistant_current(conn, new, self._assistant_texts(new))
            self._audit_in(conn, None, None, "assistant.version_set", actor, assistant_detail(new))
            return self._assistant_now(conn, assistant_id)

    def delete_assistant(self, assistant_id: str, *, actor: str | None) -> bool:
        """Delete it and its versions (audited, same transaction)."""
        with self._write() as conn:
            current = self._assistant_now(conn, assistant_id)
            cur = self._x(conn, "DELETE FROM assistants WHERE assistant_id = ?", (assistant_id,))
            if self._count(conn, cur) != 1 or current is None:
                return False
            self._x(conn, "DELETE FROM assistant_versions WHERE assistant_id = ?", (assistant_id,))
            self._x(conn, "DELETE FROM assistant_meta WHERE assistant_id = ?", (assistant_id,))
            detail = {
                "assistant_id": assistant_id,
                "graph_id": current.graph_id,
                "version": current.version,
            }
            self._audit_in(conn, None, None, "assistant.deleted", actor, detail)
        return True

    def list_assistant_versions(
        self,
        assistant_id: str,
        *,
        metadata: Mapping[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> list[StoredAssistant]:
        """Versions newest first; a metadata filter is checked in Python."""
        if limit <= 0:
            return []
        sql = (
            f"SELECT {_VERSION_COLS} FROM assistant_versions v WHERE v.assistant_id = ? "
            "ORDER BY v.version DESC"
        )
        with self._read() as conn:
            if not metadata:
                rows = self._x(conn, sql + " LIMIT ? OFFSET ?", (assistant_id, limit, offset))
                return [self._stored_assistant(r) for r in rows.fetchall()]
            rows = self._x(conn, sql, (assistant_id,)).fetchall()
        found = [v for v in map(self._stored_assistant, rows) if contains(v.metadata, metadata)]
        return found[offset : offset + limit]

    def _assistants_where(self, query: AssistantQuery) -> tuple[str, list[Any]]:
        sql = f"SELECT {_COLS} FROM assistants a WHERE 1 = 1"
        params: list[Any] = []
        if query.graph_id is not None:
            sql += " AND a.graph_id = ?"
            params.append(query.graph_id)
        for key, value in query.indexed:
            sql += (
                " AND EXISTS (SELECT 1 FROM assistant_meta m WHERE m.key = ? AND m.value = ? "
                "AND m.assistant_id = a.assistant_id)"
            )
            params += list(tag(key, value))
        return sql, params

    def search_assistants(
        self,
        query: AssistantQuery,
        *,
        sort_by: SortField = "created_at",
        sort_order: SortOrder = "desc",
        limit: int = 10,
        offset: int = 0,
    ) -> list[StoredAssistant]:
        """Matches in order, paged in SQL unless a filter is checked in Python."""
        if limit <= 0:
            return []
        sql, params = self._assistants_where(query)
        way = "DESC" if sort_order == "desc" else "ASC"
        sql += f" ORDER BY {_ORDER[sort_by]} {way}, a.assistant_id {way} LIMIT ? OFFSET ?"
        with self._read() as conn:
            if not query.checked:
                rows = self._x(conn, sql, (*params, limit, offset)).fetchall()
                return [self._stored_assistant(r) for r in rows]
            return list(self._assistants_checked(conn, sql, params, query, limit, offset))

    def _assistants_checked(
        self,
        conn: Any,
        sql: str,
        params: list[Any],
        query: AssistantQuery,
        limit: int,
        offset: int,
    ) -> Iterator[StoredAssistant]:
        kept = skipped = read = 0
        while True:
            rows = self._x(conn, sql, (*params, _PAGE, read)).fetchall()
            read += len(rows)
            for r in rows:
                found = self._stored_assistant(r)
                if not query.matches(found):
                    continue
                if skipped < offset:
                    skipped += 1
                    continue
                yield found
                kept += 1
                if kept >= limit:
                    return
            if len(rows) < _PAGE:
                return

    def count_assistants(self, query: AssistantQuery) -> int:
        """How many match: one count in SQL unless a filter is checked in Python."""
        sql, params = self._assistants_where(query)
        with self._read() as conn:
            if not query.checked:
                counted = sql.replace(f"SELECT {_COLS}", "SELECT COUNT(*)", 1)
                return int(self._x(conn, counted, params).fetchone()[0])
            rows = self._x(conn, sql, params).fetchall()
        return sum(1 for r in rows if query.matches(self._stored_assistant(r)))
