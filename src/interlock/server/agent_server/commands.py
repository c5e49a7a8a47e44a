"""The thread protocol's commands: `POST /threads/{id}/commands` with
`{"id", "method", "params"}`, answered `{"type": "success", "id", "result"}` or
`{"type": "error", "id", "error", "message"}` (HTTP 200 either way: the clients read the
envelope; a request without valid credentials is still 401).

    run.start            new input (or `null` to continue past a breakpoint), as
                         `runs.create` does: queued for the workers; `{"run_id"}`
                         (`multitask_strategy`: `reject`, `enqueue`; a fork,
                         `config.configurable.checkpoint_id`, is `not_supported`)
    input.respond        answers to one request (`interrupt_id`, `response`) or several
                         (`responses`), with an optional `update` applied in the same
                         step: the one decision path (`decide_request`); `{"run_id"}`
                         (a `goto` is `not_supported`: it would run beside the resumed step)
    state.get            the thread's values (`keys` to pick some) and checkpoint
    state.listCheckpoints  the thread's checkpoints, newest first (`limit`, `before`)
    agent.getTree        the root agent and its status
    state.fork, input.inject, subscription.*   refused: `not_supported`

Error codes: `no_such_interrupt` (an answer to a request that is not pending on this
thread: unknown, already answered, or answered by a racing call), `permission_denied` (the
caller may not do it: role, approver rule, self-approval), `invalid_argument`,
`not_supported`, `unknown_command`, `unknown_error`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Body, Depends

from interlock._types import Send
from interlock.errors import InterlockError
from interlock.server._errors import STATUS, ApiError
from interlock.server._operations import run_config
from interlock.server._plain import plain
from interlock.server.agent_server._context import Context
from interlock.server.agent_server._launch import Launcher
from interlock.server.agent_server._plan import RunBody
from interlock.server.agent_server._wire import AgentRoute
from interlock.server.auth import Principal

__all__ = ["command_routes"]

_log = logging.getLogger("interlock.server.agent_server")

_REFUSED = {
    "state.fork": "forking a thread is not supported by the thread protocol: start a run "
    "with a `checkpoint` over the runs API (runs.wait, runs.stream, runs.create)",
    "input.inject": "injecting a message into a run is not supported: while a request waits "
    "it would go around the review; send `run.start` once the thread is idle",
    "subscription.subscribe": "subscribe with POST /threads/{id}/stream/events (or its WebSocket)",
    "subscription.unsubscribe": "close the event stream to unsubscribe",
    "subscription.reconnect": "reconnect with POST /threads/{id}/stream/events and `since`",
}


class CommandFailed(Exception):
    """A command answered with a protocol error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def command_routes(ctx: Context, principal: Any) -> APIRouter:
    """The command route of the thread protocol."""
    router = APIRouter(route_class=AgentRoute, tags=["agent server: thread protocol"])
    launch = Launcher(ctx)

    def run_start(thread_id: str, params: Mapping[str, Any], who: Principal) -> dict[str, Any]:
        assistant_id = params.get("assistant_id")
        if not isinstance(assistant_id, str):
            raise CommandFailed("invalid_argument", "`assistant_id` is required")
        strategy = params.get("multitask_strategy") or params.get("multitaskStrategy")
        if ((params.get("config") or {}).get("configurable") or {}).get("checkpoint_id"):
            raise CommandFailed("not_supported", _REFUSED["state.fork"])
        body = _body(
            assistant_id=assistant_id,
            input=params.get("input"),
            config=params.get("config"),
            metadata=params.get("metadata") or {},
            multitask_strategy=strategy or "reject",
            if_not_exists="create",
        )
        _, writer = launch.background(thread_id, body, who)
        return {"run_id": writer.run_id}

    def input_respond(thread_id: str, params: Mapping[str, Any], who: Principal) -> dict[str, Any]:
        entries = params.get("responses") if "responses" in params else [params]
        if not isinstance(entries, list) or not entries:
            raise CommandFailed("invalid_argument", "`responses` must be a non-empty list")
        answers: dict[str, Any] = {}
        for entry in entries:
            interrupt_id = entry.get("interrupt_id") if isinstance(entry, Mapping) else None
            if not isinstance(interrupt_id, str) or "response" not in entry:
                raise CommandFailed(
                    "invalid_argument", "each answer needs `interrupt_id` and `response`"
                )
            if interrupt_id in answers:
                raise CommandFailed("invalid_argument", f"{interrupt_id!r} is answered twice")
            answers[interrupt_id] = entry["response"]
        try:
            ctx.visible(who, thread_id)
        except ApiError:
            raise CommandFailed("no_such_interrupt", "no such request on this thread") from None
        for interrupt_id in answers:
            record = ctx.saver.get_interrupt(interrupt_id)
            if record is None or record.thread_id != thread_id or record.status != "pending":
                state = "not pending" if record is not None else "unknown"
                raise CommandFailed(
                    "no_such_interrupt", f"request {interrupt_id!r} is {state} on this thread"
                )
        found = ctx.graph(thread_id)
        assert found is not None  # (it has a pending request)
        command: dict[str, Any] = {"resume": answers}
        if params.get("update") is not None:
            command["update"] = params["update"]
        if params.get("goto") is not None:
            _goto(params["goto"])  # a malformed one is `invalid_argument`
            raise CommandFailed("not_supported", "`goto` with an answer: answer first")
        body = _body(
            assistant_id=found[0],
            command=command,
            config=params.get("config"),
            metadata=params.get("metadata") or {},
        )
        _, writer = launch.background(thread_id, body, who)
        return {"run_id": writer.run_id}

    def state_get(thread_id: str, params: Mapping[str, Any], who: Principal) -> dict[str, Any]:
        ctx.need(who, "requester", "approver")
        ctx.visible(who, thread_id)
        found = ctx.graph(thread_id)
        if found is None:
            return {"values": {}}
        snapshot = found[1].get_state(run_config(thread_id))
        values = plain(snapshot.values)
        keys = params.get("keys")
        if isinstance(keys, list):
            values = {k: v for k, v in values.items() if k in keys}
        out: dict[str, Any] = {"values": values}
        checkpoint_id = (snapshot.config or {}).get("configurable", {}).get("checkpoint_id")
        if checkpoint_id:
            out["checkpoint"] = {"id": checkpoint_id}
        return out

    def list_checkpoints(
        thread_id: str, params: Mapping[str, Any], who: Principal
    ) -> dict[str, Any]:
        ctx.need(who, "requester", "approver")
        ctx.visible(who, thread_id)
        found = ctx.graph(thread_id)
        limit = params.get("limit", 10)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 1000:
            raise CommandFailed("invalid_argument", "`limit`: 1 to 1000")
        before = params.get("before")
        if found is None:
            return {"checkpoints": []}
        before_config = run_config(thread_id, checkpoint_id=before) if before else None
        snapshots = found[1].get_state_history(
            run_config(thread_id), before=before_config, limit=limit
        )
        checkpoints = []
        for snapshot in snapshots:
            meta = dict(snapshot.metadata or {})
            checkpoints.append(
                {
                    "id": (snapshot.config or {}).get("configurable", {}).get("checkpoint_id"),
                    "timestamp": plain(snapshot.created_at),
                    "step": meta.get("step", 0),
                    "metadata": plain(meta),
                }
            )
        return {"checkpoints": checkpoints}

    def get_tree(thread_id: str, params: Mapping[str, Any], who: Principal) -> dict[str, Any]:
        ctx.need(who, "requester", "approver")
        ctx.visible(who, thread_id)
        found = ctx.graph(thread_id)
        pending = ctx.saver.list_interrupts(status="pending", thread_id=thread_id, limit=1).items
        info = ctx.saver.get_thread(thread_id)
        status = (
            "interrupted"
            if pending
            else ("running" if info is not None and info.status == "busy" else "completed")
        )
        name = found[0] if found else ""
        return {"tree": {"namespace": [], "status": status, "graph_name": name}}

    handlers = {
        "run.start": run_start,
        "input.respond": input_respond,
        "state.get": state_get,
        "state.listCheckpoints": list_checkpoints,
        "agent.getTree": get_tree,
    }

    @router.post("/threads/{thread_id}/commands")
    def command(
        thread_id: str, body: Any = Body(...), who: Principal = Depends(principal)
    ) -> dict[str, Any]:
        """Carry out one protocol command (see the module docstring)."""
        command_id = body.get("id") if isinstance(body, Mapping) else None
        try:
            if not isinstance(body, Mapping) or not isinstance(body.get("method"), str):
                raise CommandFailed("invalid_argument", "send {id, method, params}")
            method, params = body["method"], body.get("params") or {}
            if not isinstance(params, Mapping):
                raise CommandFailed("invalid_argument", "`params` must be an object")
            if method in _REFUSED:
                raise CommandFailed("not_supported", _REFUSED[method])
            handler = handlers.get(method)
            if handler is None:
                raise CommandFailed("unknown_command", f"no command {method!r}")
            result = handler(thread_id, params, who)
        except CommandFailed as exc:
            return _error(command_id, exc.code, exc.message)
        except (ApiError, InterlockError) as exc:
            method = body.get("method") if isinstance(body, Mapping) else None
            return _error(command_id, *_code(exc, method))
        return {"type": "success", "id": command_id, "result": result}

    return router


def _body(**fields: Any) -> RunBody:
    try:
        return RunBody(**fields)
    except ValueError as exc:
        raise CommandFailed("invalid_argument", str(exc)) from None


def _goto(goto: Any) -> Any:
    """The protocol's `goto` (a node, `{node, input}`, or a list of them) as a Command's."""
    if isinstance(goto, list):
        return [_goto(g) for g in goto]
    if isinstance(goto, Mapping):
        node = goto.get("node")
        if not isinstance(node, str):
            raise CommandFailed("invalid_argument", "a `goto` send needs its `node`")
        return Send(node, goto.get("input"))
    if not isinstance(goto, str):
        raise CommandFailed("invalid_argument", "`goto`: a node, {node, input}, or a list")
    return goto


def _code(exc: Exception, method: Any) -> tuple[str, str]:
    """The protocol's error code and message for a refusal the runs API answers with a
    status."""
    if isinstance(exc, ApiError):
        status, message = exc.status, exc.message
    else:
        status = next((s for k, s, _ in STATUS if isinstance(exc, k)), 500)
        message = str(exc)
    if status in (401, 403):
        return "permission_denied", message
    if isinstance(exc, ApiError) and exc.code == "not_supported":
        return "not_supported", message
    if method == "input.respond" and status in (404, 409):
        return "no_such_interrupt", message
    if status < 500:
        return "invalid_argument", message
    _log.error("thread command %s failed: %s", method, message)
    return "unknown_error", message


def _error(command_id: Any, code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "id": command_id, "error": code, "message": message}
