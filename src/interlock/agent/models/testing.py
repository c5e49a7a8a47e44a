"""`FakeProvider`: a model provider on 127.0.0.1 that speaks the real wire protocols (OpenAI
chat completions and Anthropic messages, plain JSON and server-sent events), replaying
scripted replies — or asking a `responder` function — and recording every request.

For tests (real HTTP, no patched client) and offline demos:

    with FakeProvider() as fake:
        fake.replies.append(Reply.openai_text("hello"))
        model = init_chat_model("openai-compatible:any", base_url=fake.url)
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

__all__ = ["FakeProvider", "Reply"]


class Reply:
    """One scripted HTTP reply (build it with the static methods)."""

    def __init__(self, kind: str, **kw: Any) -> None:
        self.kind = kind
        self.kw = kw

    # -- OpenAI chat completions --
    @staticmethod
    def openai_text(text: str, *, stream: bool | None = None, reasoning: str = "") -> Reply:
        """A text answer (`reasoning` is sent as DeepSeek's `reasoning_content`)."""
        return Reply("openai", text=text, calls=[], stream=stream, reasoning=reasoning)

    @staticmethod
    def openai_calls(
        calls: list[tuple[str, dict]],
        text: str = "",
        *,
        stream: bool | None = None,
        reasoning: str = "",
    ) -> Reply:
        """Tool calls `[(name, args), ...]`, optionally with text; streamed arguments arrive
        in fragments, one call after the other."""
        return Reply("openai", text=text, calls=calls, stream=stream, reasoning=reasoning)

    # -- Anthropic messages --
    @staticmethod
    def anthropic_text(text: str) -> Reply:
        return Reply("anthropic", text=text, calls=[])

    @staticmethod
    def anthropic_calls(calls: list[tuple[str, dict]], text: str = "") -> Reply:
        return Reply("anthropic", text=text, calls=calls)

    # -- failures --
    @staticmethod
    def status(
        code: int,
        body: str = '{"error": {"message": "scripted failure"}}',
        headers: dict[str, str] | None = None,
    ) -> Reply:
        return Reply("status", code=code, body=body, headers=headers or {})

    @staticmethod
    def events(events: list[tuple[str | None, str]], *, then_drop: bool = False) -> Reply:
        """Exactly these server-sent events `(event name or None, data)`; with `then_drop`
        the connection is cut afterwards without ending the body (a mid-stream failure)."""
        return Reply("events", events=events, then_drop=then_drop)

    @staticmethod
    def drop() -> Reply:
        """Close the connection without answering."""
        return Reply("drop")

    @staticmethod
    def hang(seconds: float) -> Reply:
        """Answer only after `seconds` (to trigger client timeouts)."""
        return Reply("hang", seconds=seconds)


class FakeProvider:
    """`with FakeProvider() as fake: fake.replies.append(...); fake.url ...`"""

    def __init__(self, responder: Callable[[dict[str, Any]], Reply] | None = None) -> None:
        self.responder = responder
        """Called with the request's JSON body when no scripted reply is queued."""
        self.replies: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake._lock:
                    fake.requests.append(
                        {
                            "path": self.path,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "json": body,
                        }
                    )
                    reply = fake.route(self.path, body)
                    if reply is None and fake.replies:
                        reply = fake.replies.popleft()
                if reply is None and fake.responder is not None:
                    reply = fake.responder(body)
                if reply is None:
                    reply = Reply.status(500, '{"error": {"message": "no scripted reply left"}}')
                fake._answer(self, reply, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def route(self, path: str, body: dict[str, Any]) -> Reply | None:
        """A reply computed for a request to `path` (None: take the next scripted one).
        Subclasses answer endpoints that need no script (an OpenAI fake's embeddings)."""
        return None

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ---- answering -----------------------------------------------------------------------

    def _answer(self, h: BaseHTTPRequestHandler, reply: Reply, body: dict[str, Any]) -> None:
        if reply.kind == "drop":
            h.close_connection = True
            h.connection.close()
            return
        if reply.kind == "hang":
            time.sleep(reply.kw["seconds"])
            reply = Reply.status(500)
        if reply.kind == "events":
            self._sse(h, reply.kw["events"], complete=not reply.kw["then_drop"])
            return
        if reply.kind == "status":
            self._send(
                h,
                reply.kw["code"],
                reply.kw["body"].encode(),
                "application/json",
                reply.kw["headers"],
            )
            return
        stream = body.get("stream", False) if reply.kw.get("stream") is None else reply.kw["stream"]
        if reply.kind == "openai":
            if stream:
                self._sse(h, self._openai_events(body, reply))
            else:
                self._send(
                    h, 200, json.dumps(self._openai_body(body, reply)).encode(), "application/json"
                )
        else:
            if stream:
                self._sse(h, self._anthropic_events(body, reply))
            else:
                self._send(
                    h,
                    200,
                    json.dumps(self._anthropic_body(body, reply)).encode(),
                    "application/json",
                )

    @staticmethod
    def _send(
        h: BaseHTTPRequestHandler,
        code: int,
        data: bytes,
        ctype: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        h.send_response(code)
        h.send_header("content-type", ctype)
        h.send_header("content-length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    @staticmethod
    def _sse(
        h: BaseHTTPRequestHandler,
        events: list[tuple[str | None, str]],
        *,
        complete: bool = True,
    ) -> None:
        """Send events with chunked transfer encoding, as real providers do; an incomplete
        body (no final chunk) is then a detectable failure, not a short answer."""
        h.send_response(200)
        h.send_header("content-type", "text/event-stream")
        h.send_header("transfer-encoding", "chunked")
        h.end_headers()
        for event, data in events:
            line = ((f"event: {event}\n" if event else "") + f"data: {data}\n\n").encode()
            h.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            h.wfile.flush()
        if complete:
            h.wfile.write(b"0\r\n\r\n")
            h.wfile.flush()
        else:
            h.connection.shutdown(socket.SHUT_RDWR)
        h.close_connection = True

    # ---- OpenAI shapes ---------------------------------------------------------------------

    @staticmethod
    def _openai_body(req: dict[str, Any], reply: Reply) -> dict[str, Any]:
        calls = [
            {
                "id": f"call_{uuid.uuid4().hex[:8]}",
                "type": "function",
                "function": {"name": n, "arguments": json.dumps(a)},
            }
            for n, a in reply.kw["calls"]
        ]
        message: dict[str, Any] = {"role": "assistant", "content": reply.kw["text"] or None}
        if reply.kw.get("reasoning"):
            message["reasoning_content"] = reply.kw["reasoning"]
        if calls:
            message["tool_calls"] = calls
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:8]}",
            "object": "chat.completion",
            "model": req.get("model"),
            "choices": [
                {"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}
            ],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
        }

    @staticmethod
    def _openai_events(req: dict[str, Any], reply: Reply) -> list[tuple[str | None, str]]:
        cid = f"chatcmpl-{uuid.uuid4().hex[:8]}"
        out: list[tuple[str | None, str]] = []

        def chunk(delta: dict[str, Any], finish: str | None = None) -> None:
            out.append(
                (
                    None,
                    json.dumps(
                        {
                            "id": cid,
                            "object": "chat.completion.chunk",
                            "model": req.get("model"),
                            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                        }
                    ),
                )
            )

        chunk({"role": "assistant", "content": ""})
        reasoning = reply.kw.get("reasoning") or ""
        for i in range(0, len(reasoning), 4):
            chunk({"content": None, "reasoning_content": reasoning[i : i + 4]})
        text = reply.kw["text"]
        for i in range(0, len(text), 4):
            chunk({"content": text[i : i + 4]})
        for index, (name, args) in enumerate(reply.kw["calls"]):
            raw = json.dumps(args)
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": f"call_{index}_{uuid.uuid4().hex[:6]}",
                            "type": "function",
                            "function": {"name": name, "arguments": ""},
                        }
                    ]
                }
            )
            for i in range(0, len(raw), 5):
                chunk({"tool_calls": [{"index": index, "function": {"arguments": raw[i : i + 5]}}]})
        chunk({}, "tool_calls" if reply.kw["calls"] else "stop")
        out.append(
            (
                None,
                json.dumps(
                    {
                        "id": cid,
                        "object": "chat.completion.chunk",
                        "choices": [],
                        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
                    }
                ),
            )
        )
        out.append((None, "[DONE]"))
        return out

    # ---- Anthropic shapes ------------------------------------------------------------------

    @staticmethod
    def _anthropic_body(req: dict[str, Any], reply: Reply) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if reply.kw["text"]:
            content.append({"type": "text", "text": reply.kw["text"]})
        for name, args in reply.kw["calls"]:
            content.append(
                {
                    "type": "tool_use",
                    "id": f"toolu_{uuid.uuid4().hex[:8]}",
                    "name": name,
                    "input": args,
                }
            )
        return {
            "id": f"msg_{uuid.uuid4().hex[:8]}",
            "type": "message",
            "role": "assistant",
            "model": req.get("model"),
            "content": content,
            "stop_reason": "tool_use" if reply.kw["calls"] else "end_turn",
            "usage": {"input_tokens": 13, "output_tokens": 5},
        }

    @staticmethod
    def _anthropic_events(req: dict[str, Any], reply: Reply) -> list[tuple[str | None, str]]:
        mid = f"msg_{uuid.uuid4().hex[:8]}"
        ev: list[tuple[str | None, str]] = []

        def add(kind: str, data: dict[str, Any]) -> None:
            ev.append((kind, json.dumps({"type": kind, **data})))

        add(
            "message_start",
            {
                "message": {
                    "id": mid,
                    "type": "message",
                    "role": "assistant",
                    "model": req.get("model"),
                    "content": [],
                    "usage": {"input_tokens": 13, "output_tokens": 1},
                }
            },
        )
        index = 0
        if reply.kw["text"]:
            add(
                "content_block_start",
                {"index": index, "content_block": {"type": "text", "text": ""}},
            )
            text = reply.kw["text"]
            for i in range(0, len(text), 4):
                add(
                    "content_block_delta",
                    {"index": index, "delta": {"type": "text_delta", "text": text[i : i + 4]}},
                )
            add("content_block_stop", {"index": index})
            index += 1
        for name, args in reply.kw["calls"]:
            add(
                "content_block_start",
                {
                    "index": index,
                    "content_block": {
                        "type": "tool_use",
                        "id": f"toolu_{uuid.uuid4().hex[:8]}",
                        "name": name,
                        "input": {},
                    },
                },
            )
            raw = json.dumps(args)
            for i in range(0, len(raw), 6):
                add(
                    "content_block_delta",
                    {
                        "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": raw[i : i + 6]},
                    },
                )
            add("content_block_stop", {"index": index})
            index += 1
        add(
            "message_delta",
            {
                "delta": {"stop_reason": "tool_use" if reply.kw["calls"] else "end_turn"},
                "usage": {"output_tokens": 5},
            },
        )
        add("message_stop", {})
        return ev
