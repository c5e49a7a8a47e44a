"""`AnthropicServer`: a Messages API server (plain JSON and SSE, tool_use blocks, usage)."""

from __future__ import annotations

from typing import Any, Self

from interlock.agent.models.testing import Reply
from tests.fakes._base import ScriptedServer

__all__ = ["AnthropicServer"]


class AnthropicServer(ScriptedServer):
    """Answers `POST /v1/messages`; streams when the request asks for it.

    Replies report usage `input_tokens=13, output_tokens=5`.
    """

    def text(self, text: str) -> Self:
        """A text answer."""
        self.replies.append(Reply.anthropic_text(text))
        return self

    def tool_calls(self, *calls: tuple[str, dict[str, Any]], text: str = "") -> Self:
        """One answer with these `(name, args)` tool_use blocks, after optional text."""
        self.replies.append(Reply.anthropic_calls(list(calls), text))
        return self
