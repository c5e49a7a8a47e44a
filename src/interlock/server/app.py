"""The HTTP API: threads, runs, the approvals inbox across all threads, decisions, audit.

`create_app({"name": compiled_graph, ...}, keys=ApiKeys.parse(...))` returns a FastAPI app.
Every process serving the same store is interchangeable: all state lives in the store.
Endpoints (JSON; errors are `{"error": code, "message": text}` with a 4xx/5xx status):

    GET  /v1/health                          liveness (no key needed)
    GET  /v1/agents                          the registered graphs
    POST /v1/threads                         start a thread (and run its first turn)
    GET  /v1/threads                         threads, most recently updated first
    GET  /v1/threads/{id}                    a thread's state, status and pending requests
    GET  /v1/threads/{id}/history            its checkpoints, newest first
    POST /v1/threads/{id}/runs               send new input (a message) and run
    POST /v1/threads/{id}/runs/stream        the same, streamed as server-sent events
    GET  /v1/approvals                       the inbox: requests across all threads
    GET  /v1/approvals/{id}                  one request
    POST /v1/approvals/{id}/decision         decide it; the run resumes, exactly once
    POST /v1/approvals/expire                expire requests past their deadline (admin)
    GET  /v1/audit                           who asked and who decided what, and when
    GET  /inbox                              the web inbox (HTML, log in with an API key)

A run started over HTTP runs to its next pause or its end before the response is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from interlock.checkpoint.base import AuditEntry, BaseSaver, InterruptRecord
from interlock.errors import (
    InputRejected,
    InterlockError,
    InvalidResumeValue,
    InvalidUpdate,
    ResumeConflict,
    ResumeError,
    SerializationError,
    StoreUnavailable,
    ThreadBusy,
)
from interlock.graph import CompiledStateGraph, is_expired_answer
from interlock.server._plain import plain
from interlock.server.auth import ANONYMOUS, ApiKeys, Principal
from interlock.server.inbox import mount_inbox
from interlock.server.webhooks import Webhook, WebhookDispatcher
from interlock.types import Command

__all__ = ["ApiError", "create_app"]

_log = logging.getLogger("interlock.server")


class ApiError(Exception):
    """An error answered as `{"error": code, "message": message}` with `status`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# ---- request bodies ---------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ThreadCreate(_Body):
    """Start a thread; with `input` or `message`, also run its first turn."""

    agent: str | None = Field(None, description="Registered graph name (optional if only one).")
    thread_id: str | None = Field(None, max_length=200, description="Chosen id (default: new).")
    input: dict[str, Any] | None = Field(None, description="State update for the first turn.")
    message: str | None = Field(None, description='Shorthand for {"messages": [user message]}.')


class RunCreate(_Body):
    """New input for a thread: a state update or a user message."""

    input: dict[str, Any] | None = None
    message: str | None = None


class ExpireBody(_Body):
    """Expire the requests whose deadline is at or before `now` (default: the server clock)."""

    now: datetime | None = None


class DecisionBody(_Body):
    """The answer to a request (what the paused `interrupt()` call returns)."""

    value: Any = Field(..., description="E.g. {'type': 'approve'} for an agent's tool call.")


class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes gets 413 before the app sees it,
    whatever its headers say (memory stays bounded by `limit`)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            if len(body) > self.limit:
                response = JSONResponse(
                    {"error": "too_large", "message": f"bodies are limited to {self.limit} bytes"},
                    status_code=413,
                )
                await response(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


# ---- the app --------------------------------------------------------------------------------


def create_app(
    agents: Mapping[str, CompiledStateGraph] | CompiledStateGraph,
    *,
    keys: ApiKeys | None = None,
    allow_self_approval: bool = False,
    expire_every: float | None = None,
    max_body_bytes: int = 1_000_000,
    webhooks: Sequence[Webhook] = (),
    webhook_every: float = 1.0,
    session_secret: str | None = None,
    title: str = "interlock",
) -> FastAPI:
    """The HTTP API for `agents` (compiled graphs sharing one store).

    `keys`: who may call (None: no authentication, every caller is `anonymous` with every
    role — for local development only). `allow_self_approval`: whether the person who
    started a turn may decide the requests it raised (default: no, 403). `expire_every`:
    seconds between sweeps that expire requests past their deadline (None: only when an
    admin calls `POST /v1/approvals/expire`). Several processes may sweep one store: each
    request expires exactly once. `max_body_bytes`: larger requests get 413; inputs and
    decisions nested deeper than 32 levels get 422. `webhooks`: signed POSTs of approval
    events, delivered from the audit log every `webhook_every` seconds, at least once, by
    one server process at a time (see `interlock.server.webhooks`). The web inbox is at
    `/inbox`; `session_secret` signs its login cookies (default: random per process).
    """
    registry = _registry(agents)
    saver = _shared_saver(registry)
    if expire_every is not None and not expire_every > 0:
        raise ValueError(f"expire_every must be a positive number of seconds, not {expire_every}")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        sweeper = None
        if expire_every is not None:
            sweeper = threading.Thread(
                target=_sweep_forever,
                args=(registry, saver, float(expire_every), stop),
                name="interlock-expiry",
                daemon=True,
            )
            sweeper.start()
        dispatcher = None
        if webhooks:
            owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
            dispatcher = WebhookDispatcher(saver, list(webhooks), owner=owner)
            dispatcher.start(every=webhook_every)
        try:
            yield
        finally:
            stop.set()
            if sweeper is not None:
                await asyncio.to_thread(sweeper.join, 30)
            if dispatcher is not None:
                await asyncio.to_thread(dispatcher.stop)

    app = FastAPI(title=title, version="1", description=__doc__, lifespan=lifespan)
    app.state.registry = registry
    app.state.saver = saver

    app.add_middleware(BodyLimit, limit=max_body_bytes)

    def principal(
        authorization: str | None = Header(None),
        x_api_key: str | None = Header(None),
    ) -> Principal:
        if keys is None:
            return ANONYMOUS
        presented = x_api_key
        if authorization and authorization.lower().startswith("bearer "):
            presented = authorization[7:].strip()
        who = keys.authenticate(presented)
        if who is None:
            raise ApiError(401, "unauthenticated", "send a valid API key (Authorization: Bearer)")
        return who

    def need(who: Principal, *roles: str) -> None:
        if not any(who.can(r) for r in roles):
            raise ApiError(403, "forbidden", f"{who.name} needs the role {' or '.join(roles)}")

    _errors(app)
    mount_inbox(
        app,
        saver=saver,
        registry=registry,
        keys=keys,
        allow_self_approval=allow_self_approval,
        secret=session_secret,
    )

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/inbox", status_code=303)

    @app.get("/v1/health", tags=["meta"])
    def health() -> dict[str, Any]:
        return {"ok": True}

    @app.get("/v1/agents", tags=["meta"])
    def list_agents(who: Principal = Depends(principal)) -> dict[str, Any]:
        return {"agents": sorted(registry)}

    # ---- threads ----------------------------------------------------------------------

    @app.post("/v1/threads", status_code=201, tags=["threads"])
    def create_thread(body: ThreadCreate, who: Principal = Depends(principal)) -> dict[str, Any]:
        need(who, "requester")
        name = body.agent or _only(registry)
        graph = registry.get(name)
        if graph is None:
            raise ApiError(404, "unknown_agent", f"no agent {name!r}; have {sorted(registry)}")
        thread_id = body.thread_id or uuid.uuid4().hex
        if not _plausible_id(thread_id):
            raise ApiError(422, "invalid_request", "thread_id must be printable text")
        if saver.get_checkpoint(thread_id) is not None or any(
            e.action == "thread.created"
            for e in saver.list_audit(thread_id=thread_id, limit=100).items
        ):
            raise ApiError(409, "thread_exists", f"thread {thread_id!r} already exists")
        _audit(saver, who, "thread.created", thread_id, detail={"agent": name})
        update = _input(body.input, body.message)
        if update is None:
            return {"thread_id": thread_id, "agent": name, "status": "idle", "run": None}
        run = _run(saver, graph, name, thread_id, update, who)
        return {"thread_id": thread_id, "agent": name, "status": run["status"], "run": run}

    @app.get("/v1/threads", tags=["threads"])
    def list_threads(
        limit: int = Query(50, ge=1, le=500),
        offset: int = Query(0, ge=0),
        who: Principal = Depends(principal),
    ) -> dict[str, Any]:
        need(who, "requester", "approver")
        threads = saver.list_threads(limit=limit, offset=offset)
        return {
            "threads": [
                {
                    "thread_id": t.thread_id,
                    "status": t.status,
                    "created_at": t.created_at.isoformat(),
                    "updated_at": t.updated_at.isoformat(),
                }
                for t in threads
            ]
        }

    @app.get("/v1/threads/{thread_id}", tags=["threads"])
    def get_thread(thread_id: str, who: Principal = Depends(principal)) -> dict[str, Any]:
        need(who, "requester", "approver")
        name, graph = _graph_of(saver, registry, thread_id)
        info = saver.get_thread(thread_id)
        snapshot = graph.get_state(_config(thread_id))
        pending = saver.list_interrupts(status="pending", thread_id=thread_id, limit=100)
        return {
            "thread_id": thread_id,
            "agent": name,
            "status": info.status if info else "idle",
            "values": plain(snapshot.values),
            "next": list(snapshot.next),
            "checkpoint_id": (snapshot.config.get("configurable") or {}).get("checkpoint_id"),
            "pending": [_approval(r) for r in pending.items],
        }

    @app.get("/v1/threads/{thread_id}/history", tags=["threads"])
    def thread_history(
        thread_id: str,
        limit: int = Query(20, ge=1, le=200),
        who: Principal = Depends(principal),
    ) -> dict[str, Any]:
        need(who, "requester", "approver")
        _, graph = _graph_of(saver, registry, thread_id)
        return {
            "checkpoints": [
                {
                    "checkpoint_id": (s.config.get("configurable") or {}).get("checkpoint_id"),
                    "created_at": s.created_at,
                    "metadata": plain(s.metadata),
                    "next": list(s.next),
                    "values": plain(s.values),
                }
                for s in graph.get_state_history(_config(thread_id), limit=limit)
            ]
        }

    @app.post("/v1/threads/{thread_id}/runs", tags=["threads"])
    def run_thread(
        thread_id: str, body: RunCreate, who: Principal = Depends(principal)
    ) -> dict[str, Any]:
        need(who, "requester")
        name, graph = _graph_of(saver, registry, thread_id)
        update = _input(body.input, body.message)
        if update is None:
            raise ApiError(422, "invalid_request", "send `input` or `message`")
        return _run(saver, graph, name, thread_id, update, who)

    @app.post("/v1/threads/{thread_id}/runs/stream", tags=["threads"])
    def stream_thread(
        thread_id: str, body: RunCreate, who: Principal = Depends(principal)
    ) -> StreamingResponse:
        """Run new input and stream it as server-sent events: `updates` (`{node: update}`),
        `custom` (what nodes write), `messages` (model tokens), then `end` with the run's
        status, values and interrupts (or `error`). Refusals are answered before the stream
        starts, as JSON errors."""
        need(who, "requester")
        name, graph = _graph_of(saver, registry, thread_id)
        update = _input(body.input, body.message)
        if update is None:
            raise ApiError(422, "invalid_request", "send `input` or `message`")
        _check_shape(update, "input")
        config = _config(thread_id, user_id=who.name)
        chunks = graph.stream(update, config, stream_mode=["updates", "custom", "messages"])
        try:
            first = next(chunks, None)  # refusals (busy, waiting, bad input) raise here
        except ResumeConflict as exc:
            raise ApiError(409, "conflict", str(exc)) from exc
        _audit(saver, who, "run.started", thread_id, detail={"agent": name, "input": update})

        def events() -> Iterator[str]:
            pending = [first] if first is not None else []
            try:
                for mode, chunk in itertools.chain(pending, chunks):
                    yield _sse(mode, plain(chunk))
            except Exception as exc:
                code = next((c for k, _, c in _STATUS if isinstance(exc, k)), "run_failed")
                yield _sse("error", {"error": code, "message": f"{type(exc).__name__}: {exc}"})
                return
            snapshot = graph.get_state(config)
            run = _run_result(
                graph,
                thread_id,
                {**snapshot.values, "__interrupt__": list(snapshot.interrupts)},
            )
            _audit_requests(saver, who, thread_id, run, who.name)
            yield _sse("end", run)

        return StreamingResponse(events(), media_type="text/event-stream")

    # ---- approvals ----------------------------------------------------------------------

    @app.get("/v1/approvals", tags=["approvals"])
    def list_approvals(
        status: str = Query("pending", pattern="^(pending|resolved|expired|cancelled|all)$"),
        thread_id: str | None = None,
        limit: int = Query(50, ge=1, le=500),
        cursor: str | None = None,
        who: Principal = Depends(principal),
    ) -> dict[str, Any]:
        need(who, "approver")
        if thread_id is not None and not _plausible_id(thread_id):
            raise ApiError(422, "invalid_request", "thread_id must be printable text")
        try:
            page = saver.list_interrupts(
                status=None if status == "all" else status,  # type: ignore[arg-type]
                thread_id=thread_id,
                limit=limit,
                cursor=cursor,
            )
        except (ValueError, TypeError, OverflowError) as exc:
            raise ApiError(400, "invalid_cursor", f"invalid cursor: {exc}") from exc
        return {
            "approvals": [_approval(r) for r in page.items],
            "next_cursor": page.next_cursor,
        }

    @app.get("/v1/approvals/{interrupt_id}", tags=["approvals"])
    def get_approval(interrupt_id: str, who: Principal = Depends(principal)) -> dict[str, Any]:
        need(who, "approver")
        return _approval(_interrupt(saver, interrupt_id))

    @app.post("/v1/approvals/{interrupt_id}/decision", tags=["approvals"])
    def decide(
        interrupt_id: str, body: DecisionBody, who: Principal = Depends(principal)
    ) -> dict[str, Any]:
        need(who, "approver")
        return decide_request(
            saver, registry, interrupt_id, body.value, who, allow_self_approval=allow_self_approval
        )

    @app.post("/v1/approvals/expire", tags=["approvals"])
    def expire(body: ExpireBody, who: Principal = Depends(principal)) -> dict[str, Any]:
        need(who, "admin")
        now = body.now
        if now is not None and now.tzinfo is None:
            now = now.astimezone()
        try:
            return {"expired": _expire(registry, saver, now, actor=who.name)}
        except (OverflowError, ValueError) as exc:
            raise ApiError(422, "invalid_request", f"`now` is out of range: {exc}") from exc

    # ---- audit --------------------------------------------------------------------------

    @app.get("/v1/audit", tags=["audit"])
    def audit(
        thread_id: str | None = None,
        interrupt_id: str | None = None,
        limit: int = Query(100, ge=1, le=1000),
        cursor: str | None = None,
        who: Principal = Depends(principal),
    ) -> dict[str, Any]:
        need(who, "admin")
        if any(v is not None and not _plausible_id(v) for v in (thread_id, interrupt_id)):
            raise ApiError(422, "invalid_request", "ids must be printable text")
        try:
            page = saver.list_audit(
                thread_id=thread_id, interrupt_id=interrupt_id, limit=limit, cursor=cursor
            )
        except (ValueError, TypeError, OverflowError) as exc:
            raise ApiError(400, "invalid_cursor", f"invalid cursor: {exc}") from exc
        return {
            "entries": [
                {
                    "entry_id": e.entry_id,
                    "at": e.at.isoformat(),
                    "actor": e.actor,
                    "action": e.action,
                    "thread_id": e.thread_id,
                    "interrupt_id": e.interrupt_id,
                    "detail": plain(e.detail),
                }
                for e in page.items
            ],
            "next_cursor": page.next_cursor,
        }

    return app


# ---- helpers ------------------------------------------------------------------------------


def decide_request(
    saver: BaseSaver,
    registry: Mapping[str, CompiledStateGraph],
    interrupt_id: str,
    value: Any,
    who: Principal,
    *,
    allow_self_approval: bool,
) -> dict[str, Any]:
    """Decide a request as `who` and resume its run (shared by the API and the inbox).
    Raises `ApiError` (or an interlock error the handlers map) when it is refused."""
    record = _interrupt(saver, interrupt_id)
    requester = record.metadata.get("requested_by")
    if requester == who.name and not allow_self_approval and who is not ANONYMOUS:
        _audit(
            saver,
            who,
            "approval.refused",
            record.thread_id,
            interrupt_id,
            {"reason": "self_approval", "decision": value},
        )
        raise ApiError(403, "self_approval", f"{who.name} started this run and may not decide it")
    if record.status != "pending":
        raise ApiError(
            409,
            "already_decided",
            f"request {interrupt_id} was already {record.status}"
            + (f" by {record.decided_by}" if record.decided_by else ""),
        )
    if is_expired_answer(value):
        raise ApiError(422, "invalid_decision", "that value is reserved for expiry")
    _check_shape(value, "value")
    _, graph = _graph_of(saver, registry, record.thread_id, record.metadata.get("graph"))
    config = _config(record.thread_id, user_id=who.name, requested_by=requester)
    failure: Exception | None = None
    result: dict[str, Any] = {}
    try:
        result = _invoke(graph, Command(resume={interrupt_id: value}), config)
    except (ResumeError, ThreadBusy, StoreUnavailable):
        raise  # refused, or not recorded: nothing happened
    except Exception as exc:  # the decision may be recorded and the run failed after it
        failure = exc
    decided = _interrupt(saver, interrupt_id)
    if decided.status == "resolved" and decided.decided_by == who.name:
        _audit(
            saver,
            who,
            "approval.decided",
            record.thread_id,
            interrupt_id,
            {"value": record.value, "decision": value},
        )
    if failure is not None:
        if decided.status == "pending":
            raise failure
        raise ApiError(
            500,
            "run_failed",
            f"the decision was recorded, then the run failed: {type(failure).__name__}: {failure}",
        ) from failure
    run = _run_result(graph, record.thread_id, result)
    _audit_requests(saver, who, record.thread_id, run, requester)
    return {"approval": _approval(decided), "run": run}


def _registry(
    agents: Mapping[str, CompiledStateGraph] | CompiledStateGraph,
) -> dict[str, CompiledStateGraph]:
    registry = (
        {agents.name or "agent": agents}
        if isinstance(agents, CompiledStateGraph)
        else {str(k): v for k, v in agents.items()}
    )
    if not registry:
        raise ValueError("create_app needs at least one compiled graph")
    for name, graph in registry.items():
        if not isinstance(graph, CompiledStateGraph):
            raise TypeError(f"agent {name!r} is {type(graph).__name__}, not a compiled graph")
        if graph.checkpointer is None:
            raise ValueError(f"agent {name!r} has no checkpointer: a server needs a durable store")
    names = [g.name for g in registry.values()]
    if len(set(names)) != len(names):
        raise ValueError(
            f"agents need distinct graph names (compile(name=...)) to route their requests; "
            f"got {names}"
        )
    return registry


def _shared_saver(registry: Mapping[str, CompiledStateGraph]) -> BaseSaver:
    savers = {id(g.checkpointer): g.checkpointer for g in registry.values()}
    if len(savers) != 1:
        raise ValueError("all agents of one server must share one checkpointer (one store)")
    (saver,) = savers.values()
    assert saver is not None
    return saver


def _only(registry: Mapping[str, CompiledStateGraph]) -> str:
    if len(registry) != 1:
        raise ApiError(422, "agent_required", f"name the agent: one of {sorted(registry)}")
    return next(iter(registry))


def _graph_of(
    saver: BaseSaver,
    registry: Mapping[str, CompiledStateGraph],
    thread_id: str,
    spec_name: str | None = None,
) -> tuple[str, CompiledStateGraph]:
    """The registered graph that runs `thread_id` (from its checkpoints' `graph` name)."""
    if not _plausible_id(thread_id):
        raise ApiError(404, "unknown_thread", "no such thread")
    if spec_name is None:
        head = next(iter(saver.list_checkpoints(thread_id, limit=1)), None)
        if head is None:  # created without a first turn: its agent is in the audit log
            created = [
                e
                for e in saver.list_audit(thread_id=thread_id, limit=100).items
                if e.action == "thread.created"
            ]
            name = str(created[-1].detail.get("agent")) if created else ""
            if name in registry:
                return name, registry[name]
            raise ApiError(404, "unknown_thread", f"thread {thread_id!r} does not exist")
        spec_name = (head.metadata or {}).get("graph")
    matches = [(n, g) for n, g in registry.items() if g.name == spec_name]
    if len(matches) == 1:
        return matches[0]
    if spec_name is None and len(registry) == 1:  # written before graphs were named
        return next(iter(registry.items()))
    raise ApiError(409, "unknown_agent", f"no agent here serves graph {spec_name!r}")


def _config(thread_id: str, **extra: Any) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id, **{k: v for k, v in extra.items() if v}}}


def _input(update: dict[str, Any] | None, message: str | None) -> dict[str, Any] | None:
    if update is not None and message is not None:
        raise ApiError(422, "invalid_request", "send `input` or `message`, not both")
    if message is not None:
        return {"messages": [{"role": "user", "content": message}]}
    return update


def _plausible_id(value: str) -> bool:
    return 0 < len(value) <= 256 and value.isprintable()


def _check_shape(value: Any, where: str, limit: int = 32) -> None:
    """Refuse JSON nested deeper than `limit` (it could not be rendered back)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise ApiError(422, "too_deep", f"`{where}` is nested deeper than {limit} levels")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def _interrupt(saver: BaseSaver, interrupt_id: str) -> InterruptRecord:
    if not _plausible_id(interrupt_id):
        raise ApiError(404, "unknown_approval", "no such request")
    record = saver.get_interrupt(interrupt_id)
    if record is None:
        raise ApiError(404, "unknown_approval", f"no request {interrupt_id!r}")
    return record


def _approval(r: InterruptRecord) -> dict[str, Any]:
    return {
        "id": r.interrupt_id,
        "thread_id": r.thread_id,
        "kind": r.kind,
        "status": r.status,
        "value": plain(r.value),
        "requested_by": r.metadata.get("requested_by"),
        "graph": r.metadata.get("graph"),
        "response_schema": r.metadata.get("response_schema"),
        "created_at": r.created_at.isoformat(),
        "deadline": r.deadline.isoformat() if r.deadline else None,
        "decision": plain(r.resume) if r.status != "pending" else None,
        "decided_by": r.decided_by,
        "decided_at": r.decided_at.isoformat() if r.decided_at else None,
    }


def _invoke(graph: CompiledStateGraph, input: Any, config: dict[str, Any]) -> dict[str, Any]:
    return graph.invoke(input, config)


def _run(
    saver: BaseSaver,
    graph: CompiledStateGraph,
    name: str,
    thread_id: str,
    update: dict[str, Any],
    who: Principal,
) -> dict[str, Any]:
    _check_shape(update, "input")
    try:
        result = _invoke(graph, update, _config(thread_id, user_id=who.name))
    except ResumeConflict as exc:  # another run committed on this thread first
        raise ApiError(409, "conflict", str(exc)) from exc
    except (InputRejected, ThreadBusy, StoreUnavailable, SerializationError, InvalidUpdate):
        raise  # refused before anything ran
    except Exception as exc:
        _audit(saver, who, "run.failed", thread_id, detail={"agent": name, "input": update})
        raise ApiError(500, "run_failed", f"{type(exc).__name__}: {exc}") from exc
    _audit(saver, who, "run.started", thread_id, detail={"agent": name, "input": update})
    run = _run_result(graph, thread_id, result)
    _audit_requests(saver, who, thread_id, run, who.name)
    return run


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _run_result(graph: CompiledStateGraph, thread_id: str, result: dict) -> dict[str, Any]:
    interrupts = result.get("__interrupt__") or []
    values = {k: v for k, v in result.items() if k != "__interrupt__"}
    return {
        "thread_id": thread_id,
        "status": "paused" if interrupts else "finished",
        "values": plain(values),
        "interrupts": [{"id": i.id, "value": plain(i.value)} for i in interrupts],
    }


def _audit(
    saver: BaseSaver,
    who: Principal,
    action: str,
    thread_id: str | None,
    interrupt_id: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    saver.append_audit(
        [
            AuditEntry(
                at=datetime.now(UTC),
                actor=who.name,
                action=action,
                thread_id=thread_id,
                interrupt_id=interrupt_id,
                detail=dict(detail or {}),
            )
        ]
    )


def _audit_requests(
    saver: BaseSaver, who: Principal, thread_id: str, run: dict[str, Any], requester: Any
) -> None:
    if not run["interrupts"]:
        return
    saver.append_audit(
        [
            AuditEntry(
                at=datetime.now(UTC),
                actor=str(requester) if requester else who.name,
                action="approval.requested",
                thread_id=thread_id,
                interrupt_id=i["id"],
                detail={"value": i["value"]},
            )
            for i in run["interrupts"]
        ]
    )


def _expire(
    registry: Mapping[str, CompiledStateGraph],
    saver: BaseSaver,
    now: datetime | None,
    actor: str | None,
) -> list[str]:
    expired: list[str] = []

    def audit(record: InterruptRecord) -> None:  # as each one expires, before the next
        saver.append_audit(
            [
                AuditEntry(
                    at=datetime.now(UTC),
                    actor=actor,
                    action="approval.expired",
                    thread_id=record.thread_id,
                    interrupt_id=record.interrupt_id,
                    detail={"deadline": record.deadline},
                )
            ]
        )
        expired.append(record.interrupt_id)
        _audit_new_requests(saver, record.thread_id, record.metadata.get("requested_by"))

    for graph in registry.values():
        graph.expire_due(now=now, on_expired=audit)
    return expired


def _audit_new_requests(saver: BaseSaver, thread_id: str, requester: Any) -> None:
    """Audit the pending requests of a thread that have no `approval.requested` entry yet
    (raised by a run an expiry resumed)."""
    for pending in saver.list_interrupts(status="pending", thread_id=thread_id).items:
        seen = saver.list_audit(interrupt_id=pending.interrupt_id, limit=1).items
        if not seen:
            saver.append_audit(
                [
                    AuditEntry(
                        at=datetime.now(UTC),
                        actor=str(requester) if requester else None,
                        action="approval.requested",
                        thread_id=thread_id,
                        interrupt_id=pending.interrupt_id,
                        detail={"value": pending.value},
                    )
                ]
            )


def _sweep_forever(
    registry: Mapping[str, CompiledStateGraph],
    saver: BaseSaver,
    every: float,
    stop: threading.Event,
) -> None:
    """Expire due requests every `every` seconds until `stop` is set; a failed sweep (the
    store down, say) is retried at the next tick."""
    while not stop.wait(every):
        try:
            _expire(registry, saver, None, actor=None)
        except Exception:
            _log.exception("expiry sweep failed; retrying in %s s", every)


_STATUS: list[tuple[type[Exception], int, str]] = [
    (ResumeConflict, 409, "already_decided"),
    (InvalidResumeValue, 422, "invalid_decision"),
    (ResumeError, 409, "cannot_resume"),
    (InputRejected, 409, "waiting_for_decision"),
    (ThreadBusy, 409, "thread_busy"),
    (SerializationError, 422, "not_serialisable"),
    (InvalidUpdate, 422, "invalid_input"),
    (StoreUnavailable, 503, "store_unavailable"),
]


def _errors(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.code, "message": exc.message}, status_code=exc.status)

    @app.exception_handler(InterlockError)
    async def interlock_error(request: Request, exc: InterlockError) -> JSONResponse:
        for kind, status, code in _STATUS:
            if isinstance(exc, kind):
                return JSONResponse({"error": code, "message": str(exc)}, status_code=status)
        return JSONResponse({"error": "failed", "message": str(exc)}, status_code=500)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            {"error": code, "message": str(exc.detail)},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        _log.exception("request failed: %s %s", request.method, request.url.path)
        return JSONResponse(
            {"error": "internal", "message": f"{type(exc).__name__}: {exc}"}, status_code=500
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"where": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg")}
            for e in exc.errors()
        ]
        return JSONResponse(
            {"error": "invalid_request", "message": "the request is malformed", "details": details},
            status_code=422,
        )
