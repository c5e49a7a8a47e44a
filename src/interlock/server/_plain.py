"""State values as plain JSON for API clients (messages as `{"type": "human", ...}` dicts)."""

from __future__ import annotations

import base64
import dataclasses
import enum
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

__all__ = ["plain"]


MAX_DEPTH = 64


def plain(value: Any, _depth: int = 0) -> Any:
    """`value` as JSON-native data: dataclasses (messages too) become dicts (messages gain
    their `type`), pydantic models are dumped, sets and tuples become lists, times ISO
    strings, durations seconds, bytes base64 text; anything else unknown becomes its `str`.
    Deeper than 64 levels, a value is cut to `"…"` (a page must render whatever is stored)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if _depth >= MAX_DEPTH:
        return "…"
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, Mapping):
        return {str(k): plain(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [plain(v, _depth + 1) for v in items]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: plain(getattr(value, f.name), _depth + 1) for f in dataclasses.fields(value)}
        kind = getattr(value, "type", None)
        if isinstance(kind, str):  # a message: {"type": "ai", "content": ..., ...}
            out = {"type": kind, **out}
        return out
    if hasattr(value, "model_dump"):
        return plain(value.model_dump(mode="json"), _depth + 1)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, enum.Enum):
        return plain(value.value, _depth + 1)
    if isinstance(value, Decimal | UUID):
        return str(value)
    return str(value)
