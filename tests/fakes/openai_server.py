"""`OpenAIServer`: a chat-completions server (plain JSON and SSE, tool calls, usage)."""

from __future__ import annotations

from typing import Any, Self

from interlock.agent.models.testing import Reply
from tests.fakes._base import ScriptedServer

__all__ = ["OpenAIServer"]


class OpenAIServer(ScriptedServer):
    """Answers `POST /chat/completions`; streams when the request asks for it.

    Replies report usage `prompt_tokens=11, completion_tokens=7, total_tokens=18`.
    """

    def text(self, text: str, *, reasoning: str = "") -> Self:
        """A text answer (`reasoning` arrives as DeepSeek's `reasoning_content`)."""
        self.replies.append(Reply.openai_text(text, reasoning=reasoning))
        return self

    def tool_calls(self, *calls: tuple[str, dict[str, Any]], text: str = "") -> Self:
        """One answer with these `(name, args)` tool calls (in parallel)."""
        self.replies.append(Reply.openai_calls(list(calls), text))
        return self
