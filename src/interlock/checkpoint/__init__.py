"""Checkpoint stores behind one protocol (`BaseSaver`): in memory, SQLite, PostgreSQL."""

from __future__ import annotations

import importlib
from typing import Any

from interlock.checkpoint.base import (
    BaseSaver,
    CheckpointRecord,
    InterruptPage,
    InterruptRecord,
    RunRecord,
    SnapshotPolicy,
    StoredCheckpoint,
    TaskWrites,
    ThreadInfo,
    ThreadQuery,
    Write,
)

__all__ = [
    "BaseSaver",
    "CheckpointRecord",
    "InMemorySaver",
    "InterruptPage",
    "InterruptRecord",
    "MemorySaver",
    "PostgresSaver",
    "RunRecord",
    "SnapshotPolicy",
    "SqliteSaver",
    "StoredCheckpoint",
    "TaskWrites",
    "ThreadInfo",
    "ThreadQuery",
    "Write",
]

_LAZY = {
    "InMemorySaver": "interlock.checkpoint.memory",
    "MemorySaver": "interlock.checkpoint.memory",
    "SqliteSaver": "interlock.checkpoint.sqlite",
    "PostgresSaver": "interlock.checkpoint.postgres",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(name)
    return getattr(importlib.import_module(module), name)
