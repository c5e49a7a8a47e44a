"""The providers' HTTP policy: retries, backoff, timeouts and the error family."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Iterator
from typing import Any

import pytest

from interlock.agent.models import (
    ChatOpenAI,
    ModelAuthError,
    ModelError,
    ModelRateLimited,
    ModelResponseError,
    ModelTimeout,
    ModelUnavailable,
    init_chat_model,
)
from interlock.agent.models._http import HttpSettings, _delay
from interlock.agent.models.testing import Reply
from interlock.errors import InterlockError
from tests.fakes import OpenAIServer


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as s:
        yield s


def model(server: OpenAIServer, **kw: Any) -> ChatOpenAI:
    kw.setdefault("retry_backoff", 0.001)
    m = init_chat_model("openai:gpt-test", api_key="sk", base_url=server.url, **kw)
    assert isinstance(m, ChatOpenAI)
    return m


def test_error_family_derives_from_interlock_error() -> None:
    for cls in (ModelAuthError, ModelRateLimited, ModelTimeout, ModelUnavailable):
        assert issubclass(cls, ModelError) and issubclass(cls, InterlockError)


def test_retries_429_500_and_a_dropped_connection_then_succeeds(server: OpenAIServer) -> None:
    server.error(429).error(500).drop().text("finally")
    assert model(server, max_retries=3).invoke("x").content == "finally"
    assert len(server.requests) == 4
    assert all(b == server.bodies[0] for b in server.bodies)  # the same request each time


def test_async_retries_too(server: OpenAIServer) -> None:
    server.error(503).text("async ok")
    reply = asyncio.run(model(server, max_retries=1).ainvoke("x"))
    assert reply.content == "async ok" and len(server.requests) == 2


def test_stream_retries_before_the_first_event(server: OpenAIServer) -> None:
    server.error(429).drop().text("streamed")
    chunks = list(model(server, max_retries=2).stream("x"))
    assert "".join(c.text for c in chunks) == "streamed"
    assert len(server.requests) == 3


@pytest.mark.parametrize(
    ("status", "error"), [(429, ModelRateLimited), (500, ModelUnavailable), (502, ModelUnavailable)]
)
def test_gives_up_after_max_retries(server: OpenAIServer, status: int, error: type) -> None:
    for _ in range(3):
        server.error(status, "still failing")
    server.text("never reached")
    with pytest.raises(error, match="still failing") as info:
        model(server, max_retries=2).invoke("x")
    assert info.value.status == status
    assert len(server.requests) == 3  # one try plus two retries


def test_dropped_connections_give_up_as_unavailable(server: OpenAIServer) -> None:
    server.drop().drop()
    with pytest.raises(ModelUnavailable, match="connection"):
        model(server, max_retries=1).invoke("x")
    assert len(server.requests) == 2


def test_async_gives_up_too(server: OpenAIServer) -> None:
    server.error(429).error(429)
    with pytest.raises(ModelRateLimited):
        asyncio.run(model(server, max_retries=1).ainvoke("x"))
    assert len(server.requests) == 2


def test_auth_and_bad_requests_are_not_retried(server: OpenAIServer) -> None:
    server.error(401, "Incorrect API key provided").error(400, "model 'x' does not exist")
    with pytest.raises(ModelAuthError, match="Incorrect API key") as auth:
        model(server, max_retries=3).invoke("x")
    assert auth.value.status == 401
    with pytest.raises(ModelResponseError, match="does not exist"):
        model(server, max_retries=3).invoke("x")
    assert len(server.requests) == 2


def test_stream_errors_map_the_same_way(server: OpenAIServer) -> None:
    server.error(403, "forbidden region")
    with pytest.raises(ModelAuthError, match="forbidden region"):
        list(model(server).stream("x"))


def test_timeout(server: OpenAIServer) -> None:
    server.hang(2.0)
    with pytest.raises(ModelTimeout):
        model(server, timeout=0.2, max_retries=0).invoke("x")
    assert len(server.requests) == 1


def test_a_stream_cut_midway_fails_and_is_not_replayed(server: OpenAIServer) -> None:
    first = {"id": "c", "choices": [{"index": 0, "delta": {"content": "Hel"}}]}
    server.events([(None, first)], then_drop=True)
    server.text("should not be requested")
    received: list[str] = []
    with pytest.raises(ModelUnavailable):
        for chunk in model(server, max_retries=2).stream("x"):
            received.append(chunk.text)
    assert received == ["Hel"]  # tokens already shown are not shown twice by a retry
    assert len(server.requests) == 1


def test_unreadable_body(server: OpenAIServer) -> None:
    server.replies.append(Reply.status(200, "<html>proxy page</html>"))
    with pytest.raises(ModelResponseError, match="unreadable"):
        model(server).invoke("x")
    server.replies.append(Reply.status(200, '{"choices": []}'))
    with pytest.raises(ModelResponseError, match="unexpected answer"):
        model(server).invoke("x")


def test_backoff_honours_retry_after_and_grows_with_jitter() -> None:
    settings = HttpSettings(url="http://127.0.0.1", headers={}, backoff=0.5)
    assert _delay(settings, 0, "2") == 2.0
    assert _delay(settings, 0, "3600") == 30.0  # capped
    soon = email.utils.formatdate(time.time() + 5, usegmt=True)
    assert 3.0 < _delay(settings, 0, soon) <= 5.0
    first = [_delay(settings, 0, None) for _ in range(50)]
    third = [_delay(settings, 2, None) for _ in range(50)]
    assert all(0.25 <= d <= 0.5 for d in first) and all(1.0 <= d <= 2.0 for d in third)
    assert len(set(first)) > 1  # jitter
    assert max(_delay(settings, 20, None) for _ in range(10)) <= 8.0


def test_unreadable_streamed_event(server: OpenAIServer) -> None:
    server.events([(None, "{not json")])
    with pytest.raises(ModelResponseError, match="unreadable streamed event"):
        list(model(server).stream("x"))


def test_sync_calls_keep_their_connection_alive() -> None:
    """A model call does not pay a new TCP (and TLS) handshake each time: synchronous calls
    share one pooled client, so a second call reuses the first one's connection."""
    import http.server
    import json
    import threading

    from interlock.agent.models._http import post_json, shared_client

    connections: list[object] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive

        def setup(self) -> None:
            connections.append(self.client_address)
            super().setup()

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            body = json.dumps({"ok": len(connections)}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        settings = HttpSettings(url=f"http://127.0.0.1:{httpd.server_port}/x", headers={})
        answers = [post_json(settings, {"n": n}) for n in range(3)]
        assert answers == [{"ok": 1}] * 3
        assert len(connections) == 1
        assert shared_client() is shared_client()
    finally:
        httpd.shutdown()
        httpd.server_close()
