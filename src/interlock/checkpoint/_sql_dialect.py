"""What differs between SQLite and PostgreSQL (`Dialect`), and small helpers every room's SQL
half uses."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from interlock.checkpoint._time import utc_now

__all__ = ["NO_FLUSH", "Dialect", "json_text", "utc_now"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Dialect:
    """What differs between SQL databases."""

    name: str
    json_type: str
    ts_type: str
    real_type: str
    placeholder: str
    """`?` or `%s`."""
    json_placeholder: str
    """How a JSON text parameter is written (`?` or `%s::jsonb`)."""
    now_epoch: str
    """SQL expression: the database clock in seconds since the epoch."""

    def sql(self, text: str) -> str:
        """Render a statement written with `?` and `?J` (JSON) placeholders."""
        return (
            text.replace("?J", "\x00")
            .replace("?", self.placeholder)
            .replace("\x00", self.json_placeholder)
            .replace("{now}", self.now_epoch)
        )

    def ddl(self, text: str) -> str:
        """Render a migration statement."""
        return text.format(json=self.json_type, ts=self.ts_type, real=self.real_type)

    def ts(self, value: datetime | None) -> Any:
        """A timestamp parameter: in UTC (naive = UTC); as fixed-width ISO text for a TEXT
        column, so that text order is time order."""
        if value is None:
            return None
        if value.tzinfo is UTC and self.ts_type == "TEXT":  # the usual case: `utc_now()`
            return value.isoformat(timespec="microseconds")
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.isoformat(timespec="microseconds") if self.ts_type == "TEXT" else value

    def ts_req(self, raw: Any) -> datetime:
        """A timestamp read back from a NOT NULL column."""
        value = self.ts_out(raw)
        assert value is not None
        return value

    def ts_out(self, raw: Any) -> datetime | None:
        """A timestamp read back."""
        if raw is None:
            return None
        if isinstance(raw, datetime):
            return raw if raw.tzinfo else raw.replace(tzinfo=UTC)
        return datetime.fromisoformat(raw)


def json_text(value: Any) -> str:
    """A JSON column as JSON text (SQLite gives text; PostgreSQL's JSONB reads as text here)."""
    return "null" if value is None else value if isinstance(value, str) else json.dumps(value)


NO_FLUSH = "s AS (SELECT set_config('synchronous_commit', 'off', true))"
"""PostgreSQL: a CTE that makes the statement's commit skip the wait for the WAL flush (SET
LOCAL); the statement selects from `s` so that it runs."""
