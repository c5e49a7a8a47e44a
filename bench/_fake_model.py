"""A stateless OpenAI-protocol chat server for bench/service.py: a user turn gets a
`delete_course` tool call, a tool result gets a short text. Run: `python -m bench._fake_model
PORT` (served by uvicorn; answers in well under a millisecond of its own work)."""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def _answer(body: dict[str, Any]) -> dict[str, Any]:
    last = body["messages"][-1]
    if last.get("role") == "tool":
        message: dict[str, Any] = {"role": "assistant", "content": "Done."}
        finish = "stop"
    else:
        text = last.get("content") or ""
        course = text.rsplit(" ", 1)[-1] if isinstance(text, str) else "course"
        call = {
            "id": "call_" + uuid.uuid4().hex[:12],
            "type": "function",
            "function": {"name": "delete_course", "arguments": json.dumps({"course_name": course})},
        }
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        finish = "tool_calls"
    return {
        "id": "chatcmpl-" + uuid.uuid4().hex[:12],
        "object": "chat.completion",
        "model": body.get("model", "bench"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


async def completions(request: Request) -> Response:
    body = json.loads(await request.body())
    return Response(json.dumps(_answer(body)), media_type="application/json")


app = Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
