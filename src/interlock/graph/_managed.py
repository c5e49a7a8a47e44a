"""Managed values: state keys the run fills in for each step instead of storing them
(LangGraph's `langgraph.managed`). `RemainingSteps` is how many steps the run may still
take before `recursion_limit` stops it; `IsLastStep` is true in the last of them.

    class State(TypedDict):
        messages: Annotated[list, add_messages]
        remaining_steps: RemainingSteps

A node reads them like any key; what it writes to them is dropped. They are not stored,
not in the graph's output and not in `get_state` values.
"""

from __future__ import annotations

import typing
from abc import ABC, abstractmethod
from typing import Annotated, Any

__all__ = [
    "IsLastStep",
    "IsLastStepManager",
    "ManagedValue",
    "RemainingSteps",
    "RemainingStepsManager",
    "managed_of",
]


class ManagedValue(ABC):
    """A value the run computes for a step from how many steps it may still take."""

    @staticmethod
    @abstractmethod
    def get(remaining: int) -> Any:
        """The value for a step with `remaining` steps left (this one included)."""


class RemainingStepsManager(ManagedValue):
    """`RemainingSteps`: the steps left, counted as LangGraph counts them."""

    @staticmethod
    def get(remaining: int) -> int:
        return remaining


class IsLastStepManager(ManagedValue):
    """`IsLastStep`: true when one step is left."""

    @staticmethod
    def get(remaining: int) -> bool:
        return remaining == 1


RemainingSteps = Annotated[int, RemainingStepsManager]
IsLastStep = Annotated[bool, IsLastStepManager]


def managed_of(hint: Any) -> type[ManagedValue] | None:
    """The manager a state key's annotation names (`Annotated[int, RemainingStepsManager]`),
    or None for an ordinary key."""
    if typing.get_origin(hint) is typing.Annotated:
        for meta in hint.__metadata__:
            if isinstance(meta, type) and issubclass(meta, ManagedValue):
                return meta
    return None
