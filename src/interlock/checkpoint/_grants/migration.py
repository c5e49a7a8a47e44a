"""The grants room's tables (part of migration 10)."""

from __future__ import annotations

__all__ = ["GRANTS_MIGRATION"]

GRANTS_MIGRATION: list[str | tuple[str, str]] = [
    """CREATE TABLE IF NOT EXISTS grants (
        grant_id TEXT PRIMARY KEY,
        agent TEXT NOT NULL,
        tool TEXT NOT NULL,
        match TEXT NOT NULL,
        granted_by TEXT NOT NULL,
        created_at {ts} NOT NULL,
        expires_at {ts},
        uses_left INTEGER,
        revoked_at {ts},
        revoked_by TEXT,
        interrupt_id TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS grants_tool ON grants (agent, tool, created_at)",
    """CREATE TABLE IF NOT EXISTS grant_uses (
        grant_id TEXT NOT NULL,
        call_id TEXT NOT NULL,
        thread_id TEXT,
        used_at {ts} NOT NULL,
        PRIMARY KEY (grant_id, call_id)
    )""",
]
"""Grants and the calls each covered (one row per call: a use is spent once)."""
