"""What SQL a store call runs: for the tests that read a statement's query plan."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from interlock.checkpoint._sql_core import SqlCore

T = TypeVar("T")


def recorded_statements(
    monkeypatch: pytest.MonkeyPatch, call: Callable[[], T]
) -> tuple[T, list[tuple[str, tuple[Any, ...]]]]:
    """`call()`'s result and every statement it ran through `SqlCore._x`, in order, as
    `(sql in the store's dialect, parameters)`."""
    seen: list[tuple[str, tuple[Any, ...]]] = []
    original = SqlCore._x

    def x(self: Any, conn: Any, text: str, params: Any = ()) -> Any:
        seen.append((self._q(text), tuple(params)))
        return original(self, conn, text, params)

    with monkeypatch.context() as m:
        m.setattr(SqlCore, "_x", x)
        result = call()
    return result, seen
