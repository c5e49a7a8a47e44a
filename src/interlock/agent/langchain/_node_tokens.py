"""A LangChain chat model a node calls itself streams its tokens to
`stream_mode="messages"`, as in LangGraph.

LangGraph runs each node with LangChain's callbacks in the context, so
`llm.invoke(state["messages"])` inside a node streams, and each token comes out as an
`AIMessageChunk`. This hook (registered with the engine's `task_hooks` when interlock's
messages module loads) does the same while a `messages` stream is read: it puts a callback
handler in LangChain's context for the node's call, which LangChain's chat models take up
(it streams, since the handler asks for it) and which sends each chunk to the stream. The
reply the node then returns is not sent again whole (its id is noted as sent).

Nothing of LangChain is imported unless it is loaded already (a node that uses a LangChain
model has imported it).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["stream_model_tokens", "streamed_by_caller"]

_BY_CALLER: ContextVar[bool] = ContextVar("interlock_streamed_by_caller", default=False)
"""Set while a caller that sends a model's chunks on itself (interlock's agent, through
`LangChainChatModel.stream`) streams it: the hook's handler then stays quiet."""


@contextmanager
def streamed_by_caller() -> Iterator[None]:
    """While in force, chunks of LangChain models are not sent by the task hook (the
    caller sends them)."""
    token = _BY_CALLER.set(True)
    try:
        yield
    finally:
        _BY_CALLER.reset(token)


def stream_model_tokens(ctx: Any) -> AbstractContextManager[None] | None:
    """The task hook: LangChain's callbacks for the node's call, when a `messages` stream
    is read and LangChain is loaded; None otherwise."""
    env = getattr(ctx, "env", None)
    emit = getattr(ctx, "emit", None)
    if emit is None or env is None or "messages" not in env.modes:
        return None
    if "langchain_core.runnables.config" not in sys.modules:
        return None
    meta = {"langgraph_node": ctx.task_name, "thread_id": ctx.thread_id}
    return _in_callbacks(emit, meta, env.said)


@contextmanager
def _in_callbacks(
    emit: Callable[[str, Any], None], meta: dict[str, Any], said: set[str]
) -> Iterator[None]:
    from langchain_core.runnables.config import var_child_runnable_config

    handler = _token_handler()(emit, meta, said)
    current: dict[str, Any] = dict(var_child_runnable_config.get() or {})
    callbacks: Any = current.get("callbacks")
    if isinstance(callbacks, list):
        current["callbacks"] = [*callbacks, handler]
    elif callbacks is None:
        current["callbacks"] = [handler]
    else:  # a callback manager: a copy of it with the handler added
        manager = callbacks.copy()
        manager.add_handler(handler, inherit=True)
        current["callbacks"] = manager
    token = var_child_runnable_config.set(current)  # type: ignore[arg-type]
    try:
        yield
    finally:
        var_child_runnable_config.reset(token)


_HANDLER: type | None = None


def _token_handler() -> type:
    """The handler class (made once LangChain is loaded: it subclasses LangChain's)."""
    global _HANDLER
    if _HANDLER is None:
        from langchain_core.callbacks import BaseCallbackHandler

        class TokenHandler(BaseCallbackHandler):
            """Sends a chat model's chunks to the node's `messages` stream."""

            run_inline = True  # in the node's own thread and order

            def __init__(
                self, emit: Callable[[str, Any], None], meta: dict[str, Any], said: set[str]
            ) -> None:
                self._emit, self._meta, self._said = emit, meta, said

            def on_llm_new_token(
                self,
                token: Any,
                *,
                chunk: Any = None,
                run_id: Any = None,
                parent_run_id: Any = None,
                tags: list[str] | None = None,
                **kwargs: Any,
            ) -> None:
                message = getattr(chunk, "message", None)
                if message is None or _BY_CALLER.get():
                    return
                if isinstance(message.id, str):
                    self._said.add(message.id)  # the node's reply of that id: not again
                self._emit("messages", (message, dict(self._meta)))

            # LangChain's chat models stream when a handler has these (its streaming
            # handlers' protocol); the output passes through untouched
            def tap_output_iter(self, run_id: Any, output: Iterator[Any]) -> Iterator[Any]:
                return output

            def tap_output_aiter(self, run_id: Any, output: Any) -> Any:
                return output

        _HANDLER = TokenHandler
    return _HANDLER
