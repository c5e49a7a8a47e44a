"""What adapters at the edge put in force while a node's function runs.

The engine knows nothing of other libraries; an adapter that needs something around each
node's run (LangChain's callbacks, so that a chat model a node calls streams its tokens to
`stream_mode="messages"`) registers a hook here. A hook gets the task's context and
returns a context manager to enter around the node's call, or None to stay out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any

__all__ = ["TaskHook", "add_task_hook", "task_hooks"]

TaskHook = Callable[[Any], AbstractContextManager[Any] | None]
"""`hook(task_context)`: a context manager to run the node's call in, or None."""

_HOOKS: list[TaskHook] = []


def add_task_hook(hook: TaskHook) -> None:
    """Run `hook` around every node's call from now on (once, however often added)."""
    if hook not in _HOOKS:
        _HOOKS.append(hook)


@contextmanager
def task_hooks(ctx: Any) -> Iterator[None]:
    """Enter what the registered hooks give for `ctx` (nothing when none is registered)."""
    if not _HOOKS:
        yield
        return
    with ExitStack() as stack:
        for hook in list(_HOOKS):
            entered = hook(ctx)
            if entered is not None:
                stack.enter_context(entered)
        yield
