"""Stopping a run between steps when its owner asks (the service's run cancel).

The service puts a callable under the configurable key `STOP` when it starts a run; the
compiled graph takes it out of the config the nodes see and the engine asks it before each
step after the run's first. When it answers True the run commits what it holds and raises
`RunStopped`. The first step always runs: it is the step that applies a recorded decision,
so a stopped resume never leaves a decision recorded but not carried out.
"""

from __future__ import annotations

__all__ = ["STOP"]

STOP = "stop_between_steps"
"""The configurable key of a run's stop check: a `() -> bool` (the service's)."""
