"""Reading a call's options: its stream modes and its config's configurable values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["config_value", "modes_of"]


def modes_of(stream_mode: Any) -> tuple[frozenset[str], bool]:
    """Normalise `stream_mode` to a set, and whether the caller gave a single mode."""
    if isinstance(stream_mode, str):
        return frozenset({stream_mode}), True
    return frozenset(stream_mode), False


def config_value(config: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """`config["configurable"][key]` with a default."""
    return (config.get("configurable") or {}).get(key, default)
