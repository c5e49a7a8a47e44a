"""LangGraph's Agent Server HTTP API, at the server root beside `/v1`: `langgraph-sdk`'s
`client.assistants`, `client.threads` and `client.runs` (Python and JS) and the UIs built
on them talk to `interlock serve` unchanged — with interlock's guarantees.

    GET  /ok, /info                                   liveness; capabilities
    POST /assistants/search, /assistants/count        each graph's default assistant and
    GET  /assistants/{id}, /graph, /schemas           those created over the API
    POST /assistants/{id}/versions
    POST /assistants, PATCH|DELETE /assistants/{id}   create, version, delete (`assistants_edit`)
    POST /assistants/{id}/latest
    POST /threads, /threads/search, /threads/count
    GET|PATCH|DELETE /threads/{id}
    GET|POST /threads/{id}/state, POST /threads/{id}/history
    POST /threads/{id}/runs[/wait|/stream], POST /runs[/wait|/stream] (thread-less)
    GET  /threads/{id}/runs, /threads/{id}/runs/{run_id}[/join|/stream]
    POST /threads/{id}/runs/{run_id}/cancel           a queued run, or one under way (`_stops`)
    GET  /threads/{id}/stream                         the thread's current run
    DELETE /threads/{id}/runs/{run_id}, POST /runs/cancel, /runs/batch   (`runs_bulk`)
    POST /threads/{id}/copy, POST /threads/prune      (`threads_bulk`, `_copy`)
    POST /threads/{id}/commands                       the thread protocol's commands
    POST /threads/{id}/stream/events (and WebSocket)  the thread protocol's events
    PUT|GET|DELETE /store/items, POST /store/items/search, POST /store/namespaces
                                                      long-term memory (`store`)
    POST /runs/crons, /threads/{id}/runs/crons, PATCH|DELETE /runs/crons/{id},
    POST /runs/crons/search, /runs/crons/count        crons (`crons`; fired by `_cron_fire`)

Answers (`command.resume`) take the one decision path (`decide_request`: exactly once,
approver rules, no self-approval, audit, deadlines); state changes past a pending review
are refused unless the caller may decide it (`_guard`); every run's stream is kept in the
store's run event log, every mode of it whatever the client streams, so any process
serves joins and reconnects (`_log`, `_chunks`; a run whose writer is gone is given its end
by its readers: `_lost`). The thread protocol of `client.threads.stream` / `useStream`
(`commands`, `events`) shares both: its `input.respond` is the same decision path, its
events are the same log read as the protocol's channels (`_protocol`, `_follow_thread`).
Requests carry their quorum's votes (`_requests`). Same
credentials as `/v1` (`Authorization: Bearer` or `x-api-key`); errors are JSON with the
`code` and `message` the SDK reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI

from interlock.checkpoint.base import BaseSaver
from interlock.graph import CompiledStateGraph
from interlock.server._errors import ApiError
from interlock.server.agent_server._context import Context
from interlock.server.agent_server._cron_fire import TICK, CronScheduler
from interlock.server.agent_server.assistants import assistant_routes
from interlock.server.agent_server.assistants_edit import assistant_edit_routes
from interlock.server.agent_server.commands import command_routes
from interlock.server.agent_server.crons import cron_routes
from interlock.server.agent_server.events import event_routes
from interlock.server.agent_server.runs import run_routes
from interlock.server.agent_server.runs_bulk import bulk_run_routes
from interlock.server.agent_server.store import give_store, served_store, store_routes
from interlock.server.agent_server.threads import thread_routes
from interlock.server.agent_server.threads_bulk import bulk_thread_routes
from interlock.server.auth import Principal

__all__ = ["mount_agent_server"]


def mount_agent_server(
    app: FastAPI,
    *,
    saver: BaseSaver,
    registry: Mapping[str, CompiledStateGraph],
    principal: Callable[..., Principal],
    may_see: Callable[[Principal, str], bool],
    wake_workers: Callable[[], None],
    allow_self_approval: bool,
    interrupt_formats: Mapping[str, str] | None = None,
    lists_for: Callable[[Principal], str | None],
    authenticate: Callable[[str | None, str | None], Principal] | None = None,
    store: Mapping[str, Any] | None = None,
    every: Callable[[float, Callable[[], object], str], None] | None = None,
) -> CronScheduler:
    """Add the Agent Server routes to `app` (see the module docstring). `principal` is the
    app's authentication dependency; `may_see(who, thread_id)` its thread visibility rule
    and `lists_for(who)` the same for lists (whose threads `who` sees: a name, or None for
    every thread), so that a search is one index range;
    `wake_workers()` starts this process's idle background workers.
    `interrupt_formats`: graph name -> `"agent_inbox"` to show that agent's review requests
    as Agent Inbox's list of `HumanInterrupt`s (default: LangChain v1's `HITLRequest`).
    `authenticate(authorization, x_api_key)` checks a WebSocket handshake's credentials
    (the app's `Authenticator.authenticate`; default: every caller is refused).
    The served graphs compiled without a store get the service's (`store_of(saver)`, with
    the `store` settings: `{"index": ..., "ttl": ...}`, see `served_store`).
    `every(seconds, job, name)` runs the crons' scheduler periodically where the background
    workers run (`RunWorkers.every`; None: crons are kept but fired only by calls of the
    scheduler returned, `CronScheduler.tick`)."""
    formats = dict(interrupt_formats or {})
    bad = {k: v for k, v in formats.items() if v != "agent_inbox" or k not in registry}
    if bad:
        raise ValueError(
            f"interrupt_formats {bad}: name registered graphs, with the format 'agent_inbox'"
        )
    ctx = Context(
        saver=saver,
        registry=registry,
        allow_self_approval=allow_self_approval,
        may_see=may_see,
        wake_workers=wake_workers,
        formats=formats,
        lists_for=lists_for,
    )
    app.include_router(assistant_routes(ctx, principal))
    app.include_router(assistant_edit_routes(ctx, principal))
    app.include_router(bulk_thread_routes(ctx, principal))  # /threads/prune first
    app.include_router(thread_routes(ctx, principal))
    app.include_router(bulk_run_routes(ctx, principal))
    app.include_router(cron_routes(ctx, principal))
    app.include_router(run_routes(ctx, principal))
    app.include_router(command_routes(ctx, principal))
    app.include_router(event_routes(ctx, principal, authenticate or _refuse))
    memory = served_store(app, saver, store)
    give_store(registry, memory)
    app.include_router(store_routes(memory, principal, ctx.need))
    scheduler = CronScheduler(ctx)
    if every is not None:
        every(TICK, scheduler.tick, "interlock-crons")
    return scheduler


def _refuse(authorization: str | None, x_api_key: str | None) -> Principal:
    raise ApiError(401, "unauthenticated", "this server takes no WebSocket credentials")
