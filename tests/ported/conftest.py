"""Fixtures named as in LangGraph's test suite, backed by interlock's stores."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import SAVERS, make_saver


@pytest.fixture(params=SAVERS)
def sync_checkpointer(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Any]:
    """LangGraph's `sync_checkpointer`: each interlock store in turn."""
    saver = make_saver(request.param, tmp_path)
    try:
        yield saver
    finally:
        saver.close()


@pytest.fixture(params=SAVERS)
def async_checkpointer(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Any]:
    """LangGraph's `async_checkpointer`: interlock's stores serve both APIs."""
    saver = make_saver(request.param, tmp_path)
    try:
        yield saver
    finally:
        saver.close()


@pytest.fixture(params=["sync", "async", "exit"])
def durability(request: pytest.FixtureRequest) -> str:
    """LangGraph's `durability` fixture."""
    return str(request.param)


class AnyStr(str):
    """Equal to any string (LangGraph's `tests.any_str.AnyStr`)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str)

    def __hash__(self) -> int:
        return 0
