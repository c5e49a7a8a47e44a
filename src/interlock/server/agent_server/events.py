"""The thread protocol's event stream: `POST /threads/{id}/stream/events` (server-sent
events) and a WebSocket at the same path, both served from the store's run event log by
any process (`_follow_thread`).

Over SSE the subscription (`channels`, `namespaces`, `depth`, `since`) is the request body;
each event is one frame (`id:` its number, `event:` its method, `data:` the event). Over
the WebSocket the client's first frame is the command `subscription.subscribe` with the
same parameters; the server answers it (`{"type": "success", ...}`) and then sends one JSON
text frame per event. Credentials come with the request — on the WebSocket, with the
handshake (`x-api-key` or `Authorization: Bearer`, as per-stream headers); a handshake
without them is refused with 401 (403 for a caller without a role that reads threads, 404
for a thread they may not see).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Body, Depends, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, StreamingResponse

from interlock.server._errors import ApiError
from interlock.server.agent_server._context import Context
from interlock.server.agent_server._follow_thread import follow_thread
from interlock.server.agent_server._log import HEARTBEAT
from interlock.server.agent_server._protocol import Subscription
from interlock.server.agent_server._wire import AgentRoute, error_body, frame
from interlock.server.auth import Principal

__all__ = ["event_routes"]


def event_routes(
    ctx: Context,
    principal: Any,
    authenticate: Callable[[str | None, str | None], Principal],
) -> APIRouter:
    """The event stream routes (SSE and WebSocket). `authenticate(authorization,
    x_api_key)` checks a WebSocket handshake's credentials (raises `ApiError` 401)."""
    router = APIRouter(route_class=AgentRoute, tags=["agent server: thread protocol"])

    def admit(who: Principal, thread_id: str) -> str | None:
        """403/404 unless `who` may read the thread; its graph's name."""
        ctx.need(who, "requester", "approver")
        ctx.visible(who, thread_id)
        found = ctx.graph(thread_id)
        return found[0] if found else None

    def parse(body: Any) -> Subscription:
        try:
            return Subscription.parse(body)
        except ValueError as exc:
            raise ApiError(422, "invalid_argument", str(exc)) from None

    @router.post("/threads/{thread_id}/stream/events")
    def stream_events(
        thread_id: str,
        request: Request,
        body: dict[str, Any] = Body(...),
        who: Principal = Depends(principal),
    ) -> StreamingResponse:
        """The thread's events as server-sent events (see the module docstring)."""
        subscription = parse(body)
        name = admit(who, thread_id)

        async def frames() -> AsyncIterator[str]:
            stop = threading.Event()
            events = follow_thread(
                ctx.saver, thread_id, subscription, graph_name=name, closed=stop.is_set
            )
            beat = time.monotonic()
            try:
                while not await request.is_disconnected():
                    batch = await asyncio.to_thread(next, events, None)
                    if batch is None:
                        return
                    if batch:
                        beat = time.monotonic()
                        yield "".join(frame(e["method"], e, e["seq"]) for e in batch)
                    elif time.monotonic() - beat > HEARTBEAT:  # keeps proxies from cutting
                        beat = time.monotonic()  # a quiet stream (clients ignore it)
                        yield ": heartbeat\n\n"
            finally:
                stop.set()
                with contextlib.suppress(ValueError):  # still running: it sees `stop`
                    events.close()

        return StreamingResponse(
            frames(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )

    @router.websocket("/threads/{thread_id}/stream/events")
    async def stream_events_ws(websocket: WebSocket, thread_id: str) -> None:
        """The thread's events over a WebSocket (see the module docstring)."""
        try:
            who = authenticate(
                websocket.headers.get("authorization"), websocket.headers.get("x-api-key")
            )
            name = await asyncio.to_thread(admit, who, thread_id)
        except ApiError as exc:
            await _deny(websocket, exc)
            return
        await websocket.accept()
        lock = asyncio.Lock()

        async def send(message: dict[str, Any]) -> None:
            async with lock:
                await websocket.send_text(json.dumps(message, separators=(",", ":")))

        try:
            command = json.loads(await websocket.receive_text())
        except (WebSocketDisconnect, ValueError):
            await websocket.close(code=1003)
            return
        command_id = command.get("id") if isinstance(command, dict) else None
        try:
            if not isinstance(command, dict) or command.get("method") != "subscription.subscribe":
                raise ApiError(
                    422, "invalid_argument", "send `subscription.subscribe` as the first frame"
                )
            subscription = parse(command.get("params"))
        except ApiError as exc:
            await send(_error(command_id, exc.code, exc.message))
            await websocket.close(code=4000 + exc.status)
            return
        await send(
            {"type": "success", "id": command_id, "result": {"subscription_id": uuid.uuid4().hex}}
        )
        stop = threading.Event()

        async def listen() -> None:
            """Answer later frames (commands go to `POST .../commands`); note the close."""
            try:
                while True:
                    later = json.loads(await websocket.receive_text())
                    later_id = later.get("id") if isinstance(later, dict) else None
                    message = "send commands to POST /threads/{thread_id}/commands"
                    await send(_error(later_id, "not_supported", message))
            except (WebSocketDisconnect, ValueError, RuntimeError):
                stop.set()

        listener = asyncio.create_task(listen())
        events = follow_thread(
            ctx.saver, thread_id, subscription, graph_name=name, closed=stop.is_set
        )
        try:
            while not stop.is_set():
                batch = await asyncio.to_thread(next, events, None)
                if batch is None:
                    break
                for event in batch:  # (an empty batch: a quiet wait ended)
                    await send(event)
        except (WebSocketDisconnect, RuntimeError):
            pass  # the client went away
        finally:
            stop.set()
            listener.cancel()
            with contextlib.suppress(ValueError):  # still running in its thread: it sees `stop`
                events.close()

    return router


def _error(command_id: Any, code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "id": command_id, "error": code, "message": message}


async def _deny(websocket: WebSocket, exc: ApiError) -> None:
    """Refuse the handshake with the error's status (or, where the server cannot send an
    HTTP answer, close with 4000 + status, which the SDK reads the same way)."""
    body = error_body(exc.status, exc.code, exc.message)
    try:
        await websocket.send_denial_response(
            JSONResponse(body, status_code=exc.status, headers=exc.headers)
        )
    except RuntimeError:
        await websocket.close(code=4000 + exc.status, reason=exc.code)
