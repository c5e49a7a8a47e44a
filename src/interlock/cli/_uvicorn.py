"""Running the ASGI app with uvicorn until Ctrl-C, for `interlock serve` and `interlock demo
--web`: on a socket bound before the server starts (so port 0 works and the bound port is
known), and stopping promptly even while a browser holds the inbox's live-update stream."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["EndStreamsOnStop", "listen", "run_until_interrupted"]

_WINDOWS = sys.platform == "win32"
"""SO_REUSEADDR lets a second socket bind a port in use there (`create_server`'s rule)."""

_Scope = MutableMapping[str, Any]
_Message = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[_Message]]
_Send = Callable[[_Message], Awaitable[None]]


class EndStreamsOnStop:
    """ASGI wrapper: when the server begins to stop (`stop()`), the event streams it is
    sending (`text/event-stream`, e.g. the inbox's live updates) end there — cleanly, with
    their last chunk — so Ctrl-C does not wait for a browser tab to close. Other requests
    finish as usual."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """End the open event streams (call on the server's event loop)."""
        self._stopping.set()

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        streaming = complete = False

        async def watched(message: _Message) -> None:
            nonlocal streaming, complete
            if message["type"] == "http.response.start":
                kind = dict(message.get("headers") or []).get(b"content-type", b"")
                streaming = kind.startswith(b"text/event-stream")
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                complete = True
            await send(message)

        app = asyncio.ensure_future(self.app(scope, receive, watched))
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({app, stopping}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # the server gave up on this request
            app.cancel()
            raise
        finally:
            stopping.cancel()
        if not app.done() and streaming and not complete:
            app.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await app
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        await app


def listen(host: str, port: int, command: str) -> socket.socket:
    """A listening socket on host:port (port 0: any free one), so that the bound port is
    known before the server starts and a request sent meanwhile waits to be accepted."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # the protocol named: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on accepted
    # sockets whose protocol is IPPROTO_TCP, and `socket.create_server` leaves it 0 — every
    # response on a kept-alive connection then waited ~40 ms for the client's delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        if hasattr(socket, "SO_REUSEADDR") and not _WINDOWS:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and hasattr(socket, "IPV6_V6ONLY"):
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # as create_server
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise SystemExit(f"{command}: cannot listen on {host}:{port}: {exc}") from exc
    return sock


def run_until_interrupted(app: Any, sock: socket.socket) -> None:
    """Serve `app` on `sock` until Ctrl-C (or SIGTERM); open event streams end when the
    server begins to stop, so it does not wait for browser tabs (a 10 s graceful-shutdown
    bound stays as a backstop)."""
    import uvicorn

    streams = EndStreamsOnStop(app)

    class Server(uvicorn.Server):
        """uvicorn's server, ending the event streams when it begins to stop."""

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            streams.stop()
            await super().shutdown(sockets=sockets)

    config = uvicorn.Config(streams, log_level="warning", timeout_graceful_shutdown=10)
    # uvicorn stops on Ctrl-C, then raises it again
    with contextlib.suppress(KeyboardInterrupt):
        Server(config).run(sockets=[sock])
