"""`OpenAIServer`: a chat-completions server (plain JSON and SSE, tool calls, usage) that
also answers `POST /embeddings` with deterministic vectors (`bag_of_words`)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from array import array
from typing import Any, Self

from interlock.agent.models.testing import Reply
from tests.fakes._base import ScriptedServer

__all__ = ["EMBEDDING_DIMS", "OpenAIServer", "bag_of_words"]

EMBEDDING_DIMS = 64
"""The length of the fake's vectors unless the request asks for `dimensions`."""


def bag_of_words(text: str, dims: int = EMBEDDING_DIMS) -> list[float]:
    """A hashed bag of words: each lower-cased word adds 1 at `md5(word) % dims`. Texts that
    share words are similar (cosine), texts that share none are orthogonal unless two words
    collide."""
    vector = [0.0] * dims
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        vector[int.from_bytes(hashlib.md5(word.encode()).digest()[:4], "little") % dims] += 1.0
    return vector


class OpenAIServer(ScriptedServer):
    """Answers `POST /chat/completions` from its script (streaming when the request asks);
    `POST /embeddings` (OpenAI's embeddings API, float or base64 encoded) with
    `bag_of_words` vectors, unscripted.

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

    def route(self, path: str, body: dict[str, Any]) -> Reply | None:
        """Embeddings are computed, not scripted."""
        if not path.rstrip("/").endswith("/embeddings"):
            return None
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            error = {"error": {"message": "input must be text (or a list of texts)"}}
            return Reply.status(400, json.dumps(error))
        dims = int(body.get("dimensions") or EMBEDDING_DIMS)
        data = []
        for i, text in enumerate(texts):
            vector: Any = bag_of_words(text, dims)
            if body.get("encoding_format") == "base64":
                vector = base64.b64encode(array("f", vector).tobytes()).decode()
            data.append({"object": "embedding", "index": i, "embedding": vector})
        answer = {
            "object": "list",
            "data": data,
            "model": body.get("model", "fake"),
            "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)},
        }
        return Reply.status(200, json.dumps(answer))
