"""The Agent Server's wire format: errors as the LangGraph SDK reads them, ids, SSE frames,
and how threads, states, runs and assistants look on the wire."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from interlock._types import StateSnapshot
from interlock.checkpoint.base import (
    InterruptRecord,
    RunLog,
    RunRecord,
    StoredAssistant,
    ThreadInfo,
    new_audit_id,
)
from interlock.errors import InterlockError
from interlock.server._errors import STATUS, ApiError
from interlock.server._plain import plain

__all__ = [
    "AgentRoute",
    "assistant_id_of",
    "assistant_view",
    "error_body",
    "frame",
    "new_run_id",
    "run_view",
    "state_view",
    "thread_view",
    "version_view",
]

_log = logging.getLogger("interlock.server.agent_server")

_GRAPH_NAMESPACE = uuid.NAMESPACE_URL
"""Assistant ids are `uuid5(NAMESPACE_URL, graph name)`: the ids LangGraph gives the default
assistant of each graph, so a client that stored one keeps working."""


def assistant_id_of(name: str) -> str:
    """The assistant id of the graph registered as `name`."""
    return str(uuid.uuid5(_GRAPH_NAMESPACE, name))


def new_run_id() -> str:
    """A time-ordered run id spelled as a UUID (the SDKs and UIs expect UUIDs)."""
    return str(uuid.UUID(hex=new_audit_id()))


def error_body(status: int, code: str, message: str) -> dict[str, Any]:
    """An error as both clients read it: the SDK takes `code` and `message` (or `detail`),
    interlock's own clients `error`."""
    return {"code": code, "message": message, "detail": message, "error": code}


def _answer(exc: Exception) -> JSONResponse:
    if isinstance(exc, ApiError):
        status, code, message = exc.status, exc.code, exc.message
    elif isinstance(exc, InterlockError):
        status, code = next(((s, c) for k, s, c in STATUS if isinstance(exc, k)), (500, "failed"))
        message = str(exc)
    elif isinstance(exc, RequestValidationError):
        where = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
        )
        status, code, message = 422, "invalid_request", f"the request is malformed: {where}"
    elif isinstance(exc, StarletteHTTPException):
        status, code, message = exc.status_code, "http_error", str(exc.detail)
    else:
        _log.exception("agent server request failed")
        status, code, message = 500, "internal", f"{type(exc).__name__}: {exc}"
    return JSONResponse(error_body(status, code, message), status_code=status)


class AgentRoute(APIRoute):
    """A route whose errors are answered in the Agent Server's shape (see `error_body`)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except (
                ApiError,
                InterlockError,
                RequestValidationError,
                StarletteHTTPException,
            ) as exc:
                return _answer(exc)

        return answer


def frame(event: str, data: Any, seq: int | None = None) -> str:
    """One server-sent event (with its id, which a reconnect sends as Last-Event-ID)."""
    head = f"id: {seq}\n" if seq is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


# ---- views ----------------------------------------------------------------------------------


def as_human_interrupts(value: Any) -> Any:
    """An agent's review request (LangChain v1's `HITLRequest`) as Agent Inbox's older list
    of `HumanInterrupt`s; any other value unchanged."""
    if not (isinstance(value, Mapping) and isinstance(value.get("action_requests"), list)):
        return value
    configs = value.get("review_configs") or []
    out = []
    for i, action in enumerate(value["action_requests"]):
        allowed = set(configs[i].get("allowed_decisions") or ()) if i < len(configs) else set()
        out.append(
            {
                "action_request": {"action": action.get("name"), "args": action.get("args")},
                "config": {
                    "allow_accept": "approve" in allowed,
                    "allow_edit": "edit" in allowed,
                    "allow_respond": "respond" in allowed,
                    "allow_ignore": "reject" in allowed,
                },
                "description": action.get("description"),
            }
        )
    return out


def interrupt_view(
    value: Any, interrupt_id: str, fmt: str | None = None, quorum: Any = None
) -> dict[str, Any]:
    """An interrupt as the clients read it; `fmt="agent_inbox"` shows an agent's review
    request in Agent Inbox's shape; `quorum`, the votes of a quorum request, goes beside
    its value (see `_requests`)."""
    shown = as_human_interrupts(value) if fmt == "agent_inbox" else value
    view = {"value": plain(shown), "id": interrupt_id}
    if quorum is not None:
        view["quorum"] = quorum
    return view


def assistant_view(assistant: StoredAssistant) -> dict[str, Any]:
    """An assistant as the clients read it (its current version)."""
    return {
        "assistant_id": assistant.assistant_id,
        "graph_id": assistant.graph_id,
        "name": assistant.name,
        "description": assistant.description,
        "config": plain(dict(assistant.config)),
        "context": plain(dict(assistant.context)),
        "metadata": plain(dict(assistant.metadata)),
        "version": assistant.version,
        "created_at": assistant.created_at.isoformat(),
        "updated_at": assistant.updated_at.isoformat(),
    }


def version_view(version: StoredAssistant) -> dict[str, Any]:
    """One version of an assistant as `assistants.get_versions` reads it."""
    return {
        "assistant_id": version.assistant_id,
        "version": version.version,
        "graph_id": version.graph_id,
        "config": plain(dict(version.config)),
        "context": plain(dict(version.context)),
        "metadata": plain(dict(version.metadata)),
        "created_at": version.created_at.isoformat(),
        "name": version.name,
        "description": version.description,
    }


def checkpoint_ref(config: Mapping[str, Any] | None, thread_id: str) -> dict[str, Any] | None:
    """`{thread_id, checkpoint_ns, checkpoint_id, checkpoint_map}` of a snapshot's config."""
    if not config:
        return None
    conf = config.get("configurable") or {}
    if not conf.get("checkpoint_id"):
        return None
    return {
        "thread_id": thread_id,
        "checkpoint_ns": conf.get("checkpoint_ns") or "",
        "checkpoint_id": conf.get("checkpoint_id"),
        "checkpoint_map": None,
    }


def state_view(
    snapshot: StateSnapshot,
    thread_id: str,
    fmt: str | None = None,
    quorums: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A `StateSnapshot` as a `ThreadState`; `quorums`: the votes of its quorum requests
    by id."""
    votes = quorums or {}
    empty = {"thread_id": thread_id, "checkpoint_ns": "", "checkpoint_id": None}
    return {
        "values": plain(snapshot.values),
        "next": list(snapshot.next),
        "checkpoint": checkpoint_ref(snapshot.config, thread_id)
        or {**empty, "checkpoint_map": None},
        "metadata": plain(snapshot.metadata or {}),
        "created_at": snapshot.created_at,
        "parent_checkpoint": checkpoint_ref(snapshot.parent_config, thread_id),
        "tasks": [
            {
                "id": t.id,
                "name": t.name,
                "error": None if t.error is None else str(t.error),
                "interrupts": [
                    interrupt_view(i.value, i.id, fmt, votes.get(i.id)) for i in t.interrupts
                ],
                "checkpoint": None,
                "state": None,
                "result": None if t.result is None else plain(t.result),
            }
            for t in snapshot.tasks
        ],
        "interrupts": [
            interrupt_view(i.value, i.id, fmt, votes.get(i.id)) for i in snapshot.interrupts
        ],
    }


def thread_status(info: ThreadInfo | None) -> str:
    """idle | busy | interrupted (a finished thread is idle)."""
    if info is None or info.status == "finished":
        return "idle"
    return info.status


def thread_view(
    thread_id: str,
    *,
    info: ThreadInfo | None,
    created_at: datetime | None,
    metadata: Mapping[str, Any],
    values: Any,
    pending: Sequence[InterruptRecord],
    fmt: str | None = None,
    quorums: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A thread as the clients read it; `interrupts` by task id (`quorums`: the votes of
    its quorum requests by id)."""
    interrupts: dict[str, list[dict[str, Any]]] = {}
    votes = quorums or {}
    for r in pending:
        view = interrupt_view(r.value, r.interrupt_id, fmt, votes.get(r.interrupt_id))
        interrupts.setdefault(r.task_id, []).append(view)
    made = info.created_at if info else created_at
    when = (made or datetime.now(UTC)).isoformat()
    return {
        "thread_id": thread_id,
        "created_at": when,
        "updated_at": info.updated_at.isoformat() if info else when,
        "state_updated_at": info.updated_at.isoformat() if info else when,
        "metadata": plain(dict(metadata)),
        "status": "interrupted" if pending else thread_status(info),
        "values": plain(values),
        "interrupts": interrupts,
        "config": {},
        "context": {},
    }


_QUEUE_STATUS = {
    "queued": "pending",
    "running": "running",
    "done": "success",
    "interrupted": "interrupted",
    "failed": "error",
    "cancelled": "interrupted",
}


def run_status(log: RunLog | None, record: RunRecord | None) -> str:
    """pending | running | success | interrupted | error: a queued run's record says; else
    the log's end."""
    if record is not None:
        return _QUEUE_STATUS[record.status]
    if log is None:
        return "pending"
    if log.last.event == "error":
        return "error"
    if log.last.event == "end":
        return str((log.last.data or {}).get("status") or "success")
    return "running"


def run_view(
    run_id: str,
    thread_id: str,
    log: RunLog | None,
    record: RunRecord | None,
    info: Mapping[str, Any],
) -> dict[str, Any]:
    """A run as the clients read it, from its `run` event (`info`), its log and its queue
    record (a background run's)."""
    created = (
        record.created_at if record is not None else log.first.at if log else datetime.now(UTC)
    )
    updated = record.updated_at if record is not None else log.last.at if log else created
    return {
        "run_id": run_id,
        "thread_id": thread_id,
        "assistant_id": info.get("assistant_id") or "",
        "created_at": created.isoformat(),
        "updated_at": updated.isoformat(),
        "status": run_status(log, record),
        "metadata": info.get("metadata") or {},
        "multitask_strategy": info.get("multitask_strategy") or "reject",
        "kwargs": info.get("kwargs") or {},
    }
