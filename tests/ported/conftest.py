"""Fixtures named as in LangGraph's test suite, backed by interlock's stores."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from interlock.messages import HumanMessage
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


class UnsortedSequence:
    """Equal to a sequence holding these values in any order (LangGraph's
    `tests.any_str.UnsortedSequence`)."""

    def __init__(self, *values: Any) -> None:
        self.seq = values

    def __eq__(self, value: object) -> bool:
        return (
            isinstance(value, Sequence)
            and len(self.seq) == len(value)
            and all(a in value for a in self.seq)
        )

    def __hash__(self) -> int:
        return hash(frozenset(self.seq))

    def __repr__(self) -> str:
        return repr(self.seq)


def _AnyIdHumanMessage(**kwargs: Any) -> HumanMessage:
    """A human message whose id equals any string (LangGraph's `tests.messages`)."""
    message = HumanMessage(**kwargs)
    message.id = AnyStr()
    return message
