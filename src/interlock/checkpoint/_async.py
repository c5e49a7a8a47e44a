"""How the store protocols give their async twins: the sync method in a worker thread."""

from __future__ import annotations

from typing import Any

__all__ = ["to_thread"]


async def to_thread(fn: Any, /, *args: Any, **kwargs: Any) -> Any:
    """Run `fn(*args, **kwargs)` in a worker thread (asyncio imported on first async use, so
    `import interlock` stays light)."""
    import asyncio

    return await asyncio.to_thread(fn, *args, **kwargs)
