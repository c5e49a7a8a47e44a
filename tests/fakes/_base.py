"""What both fake servers share: failures to script and the requests they received."""

from __future__ import annotations

import json
from typing import Any, Self

from interlock.agent.models.testing import FakeProvider, Reply


class ScriptedServer(FakeProvider):
    """A `FakeProvider` with a small scripting vocabulary; each method queues one reply and
    returns the server, so calls chain: `server.error(429).text("ok")`."""

    def error(
        self, status: int, message: str = "scripted failure", *, retry_after: str | None = "0"
    ) -> Self:
        """Answer with `status` and a provider-style error body (`Retry-After` if given)."""
        headers = {"retry-after": retry_after} if retry_after is not None else {}
        body = json.dumps({"type": "error", "error": {"type": "scripted", "message": message}})
        self.replies.append(Reply.status(status, body, headers))
        return self

    def drop(self) -> Self:
        """Close the connection without answering."""
        self.replies.append(Reply.drop())
        return self

    def hang(self, seconds: float) -> Self:
        """Answer only after `seconds` (for client timeouts)."""
        self.replies.append(Reply.hang(seconds))
        return self

    def events(self, events: list[tuple[str | None, Any]], *, then_drop: bool = False) -> Self:
        """Exactly these server-sent events (`data` dicts are JSON-encoded)."""
        encoded = [(e, d if isinstance(d, str) else json.dumps(d)) for e, d in events]
        self.replies.append(Reply.events(encoded, then_drop=then_drop))
        return self

    @property
    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies received, in order."""
        return [r["json"] for r in self.requests]
