"""Where `RunQueueConformance` was before the store's rooms (kept for existing imports; it
lives in `interlock.checkpoint.conformance` with the other parts of the suite)."""

from __future__ import annotations

from interlock.checkpoint.conformance import RunQueueConformance

__all__ = ["RunQueueConformance"]
