"""LangGraph's `langgraph.managed`, for porting: `RemainingSteps` and `IsLastStep`, state keys
the run fills in for each step (see `interlock.graph._managed`)."""

from interlock.graph._managed import IsLastStep, RemainingSteps

__all__ = ["IsLastStep", "RemainingSteps"]
