"""Checkpoint ids and the wall clock, for the drivers to hand to the engine."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime

__all__ = ["new_checkpoint_id", "utc_now"]

_lock = threading.Lock()
_last = 0


def new_checkpoint_id(after: str | None = None) -> str:
    """A 32-hex-digit id: milliseconds, a counter and randomness; sorts after `after`.

    Ids from one process are strictly increasing; an id is also made to sort after the given
    parent/head id, so the commit order of one thread is the sort order of its ids even across
    processes whose clocks differ.
    """
    global _last
    rand = int.from_bytes(os.urandom(6), "big")
    with _lock:
        candidate = (time.time_ns() // 1_000_000) << 80 | rand
        floor = int(after, 16) if after else 0
        value = max(candidate, _last + (1 << 48), floor + (1 << 48))
        value = (value >> 48 << 48) | rand
        _last = value
    return f"{value:032x}"


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)
