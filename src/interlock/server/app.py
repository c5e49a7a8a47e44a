"""The HTTP API: threads, runs, the approvals inbox across all threads, decisions, audit.

`create_app({"name": compiled_graph, ...}, keys=ApiKeys.parse(...))` returns a FastAPI app.
Every process serving the same store is interchangeable: all state lives in the store.
Endpoints (JSON; errors are `{"error": code, "message": text}` with a 4xx/5xx status):

    GET  /v1/health, /v1/health/live         liveness: never touches the store (no key)
    GET  /v1/health/ready                    readiness: the store answers, workers alive
    GET  /v1/agents                          the registered graphs
    POST /v1/threads                         start a thread (and run its first turn)
    GET  /v1/threads                         threads, most recently updated first
    GET  /v1/threads/{id}                    a thread's state, status and pending requests
    GET  /v1/threads/{id}/history            its checkpoints, newest first
    POST /v1/threads/{id}/runs               send new input (a message) and run; with
                                             "background": true, queue it (202)
    GET  /v1/threads/{id}/runs               the thread's background runs, newest first
    GET  /v1/runs/{run_id}                   one background run: status, result, error
    POST /v1/threads/{id}/runs/stream        the same, streamed as server-sent events
    GET  /v1/approvals                       the inbox: requests across all threads
    GET  /v1/approvals/{id}                  one request
    POST /v1/approvals/{id}/decision         decide it; the run resumes, exactly once
    POST /v1/approvals/expire                expire requests past their deadline (admin)
    GET  /v1/audit                           who asked and who decided what, and when
    GET  /inbox                              the web inbox (HTML; sign in with the OpenID
                                             provider, or log in with an API key)
    /threads, /runs, /assistants, /info ...  LangGraph's Agent Server API (langgraph-sdk
                                             clients; `interlock.server.agent_server`)

A run started over HTTP runs to its next pause or its end before the response is sent,
unless it is a background run: then it is queued in the store and executed by the workers
of any server process sharing the store (`interlock.server.runs`). Either way it is in the
store's run queue before it starts, so another process takes it over if this one dies
(`interlock.server._durable`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import os
import queue
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Collection, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from fastapi import Depends, FastAPI, Query, Request, Response, Security
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from interlock.errors import InterlockError, ResumeConflict, RunStopped
from interlock.graph import CompiledStateGraph
from interlock.server._durable import finish_saves, stopped_view, stream_durably
from interlock.server._errors import (
    RETRY_AFTER,
    STATUS,
    ApiError,
    BodyLimit,
    StrictJsonRoute,
    error_responses,
    install_error_handlers,
    refuse_malformed_body,
)
from interlock.server._health import Readiness
from interlock.server._operations import (
    MAX_OFFSET,
    approval_view,
    check_input,
    decide_request,
    expire_due_requests,
    graph_of,
    input_of,
    interrupt_or_404,
    listed_owner,
    make_registry,
    may_see_thread,
    only_agent,
    plausible_id,
    queue_run,
    record_audit,
    run_config,
    run_input,
    run_view,
    shared_saver,
    sse_event,
    sweep_forever,
    votes_of,
)
from interlock.server._plain import plain
from interlock.server._v1_runs import mount_runs
from interlock.server._versions import versions_view
from interlock.server.agent_server import mount_agent_server
from interlock.server.agent_server._detour import continue_checked
from interlock.server.audit import AuditSealer, audit_keys, mount_audit
from interlock.server.auth import (
    ANONYMOUS,
    ApiKeys,
    Authenticator,
    Principal,
    eligible_principals,
)
from interlock.server.grants import GrantTerms, decide_with_grants, mount_grants
from interlock.server.inbox import mount_inbox
from interlock.server.oidc import OidcConfig, OidcProvider
from interlock.server.runs import RunWorkers
from interlock.server.webhooks import Webhook, WebhookDispatcher

__all__ = ["ApiError", "create_app"]

_log = logging.getLogger("interlock.server")

_BEARER = HTTPBearer(
    auto_error=False,
    description="An API key, or the identity provider's token: `Authorization: Bearer <...>`.",
)
_API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key.")


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
    background: bool = Field(
        False, description="Queue the run (202 with its run_id) instead of waiting for it."
    )
    go_on: bool = Field(
        False,
        alias="continue",
        description="No input: run a thread stopped between steps (a cancelled run) on "
        "with its next nodes.",
    )


class ExpireBody(_Body):
    """Expire the requests whose deadline is at or before `now` (default: the server clock)."""

    now: datetime | None = None


MAX_VALID_FOR = 10 * 365 * 24 * 3600.0
"""The longest `valid_for` a decision may carry (ten years, in seconds)."""


class DecisionBody(_Body):
    """The answer to a request (what the paused `interrupt()` call returns)."""

    value: Any = Field(..., description="E.g. {'type': 'approve'} for an agent's tool call.")
    valid_for: float | None = Field(
        None,
        gt=0,
        le=MAX_VALID_FOR,
        description=(
            "Seconds the decision holds: a run that would carry it out later reopens the "
            "request instead of acting."
        ),
    )
    grant: GrantTerms | None = Field(
        None, description="also allow similar calls: a standing grant (see /v1/grants)"
    )


# ---- the app --------------------------------------------------------------------------------


def create_app(
    agents: Mapping[str, CompiledStateGraph] | CompiledStateGraph,
    *,
    keys: ApiKeys | str | None = None,
    allow_self_approval: bool = False,
    expire_every: float | None = None,
    max_body_bytes: int = 1_000_000,
    webhooks: Sequence[Webhook] = (),
    webhook_every: float = 1.0,
    session_secret: str | None = None,
    workers: int = 1,
    run_lease: float = 60.0,
    run_attempts: int = 5,
    shared_threads: bool = False,
    title: str = "interlock",
    interrupt_formats: Mapping[str, str] | None = None,
    oidc: OidcConfig | OidcProvider | None = None,
    drain: Collection[str] = (),
    audit_key: str | os.PathLike[str] | None = None,
    audit_old_keys: Sequence[str | os.PathLike[str]] = (),
    audit_seal_every: float = 60.0,
    store: Mapping[str, Any] | None = None,
) -> FastAPI:
    """The HTTP API for `agents` (compiled graphs sharing one store).

    `keys`: who may call, an `ApiKeys` table or its spec string
    (`"k1=ada:approver;k2=bob:requester"`, read with `ApiKeys.parse`; a bad one is a
    ValueError here); None: no authentication, every caller is `anonymous` with every
    role — for local development only. `allow_self_approval`: whether the person who
    started a turn may decide the requests it raised (default: no, 403). `expire_every`:
    seconds between sweeps that expire requests past their deadline (None: only when an
    admin calls `POST /v1/approvals/expire`). Several processes may sweep one store: each
    request expires exactly once. `max_body_bytes`: larger requests get 413; inputs and
    decisions nested deeper than 32 levels get 422. `webhooks`: signed POSTs of approval
    events, delivered from the audit log every `webhook_every` seconds, at least once, by
    one server process at a time (see `interlock.server.webhooks`). The web inbox is at
    `/inbox`; `session_secret` signs its login cookies (default: random per process).
    `workers`: threads executing background runs queued in the store by any process (0:
    this process only queues them); `run_lease`: seconds a worker holds a run without
    renewing before another process may take it over (see `interlock.server.runs`);
    `run_attempts`: how many workers may die running one run before it is recorded failed.
    `shared_threads`: whether every requester may read and add to every thread (default: a
    requester sees only the threads they created; approvers and admins see all).
    `interrupt_formats`: `{graph name: "agent_inbox"}` shows those agents' review requests
    on the Agent Server API in Agent Inbox's older `HumanInterrupt` shape.
    `oidc`: the company's OpenID provider (`interlock.server.oidc.OidcConfig`): people sign
    in to the inbox through it and send its tokens to the API (`Authorization: Bearer
    <JWT>`); it is contacted here, so an unreachable issuer raises `OidcUnavailable` at once.
    `drain`: agents this process starts no new runs of (new threads and new input answer
    503 `agent_draining`; its workers leave their queued input to other processes) while
    their paused runs are still decided and carried out here: run the old
    version with `drain` beside the new one during a deploy (see docs/safe-deploys.md).
    `audit_key`: an Ed25519 private key file (`interlock audit keygen`): the server signs a
    manifest of every audit chain's head at start and every `audit_seal_every` seconds
    (when one moved); `audit_old_keys`: public key files of earlier keys, still listed by
    `GET /v1/audit/public-key` and used by `GET /v1/audit/verify` (see the audit page).
    `store`: long-term memory settings, langgraph.json's `store` section: `{"index":
    {"dims", "embed", "fields"}, "ttl": {"default_ttl", "refresh_on_read",
    "sweep_interval_minutes"}}` (semantic search and expiry; see docs/store.md).
    """
    table = _key_table(keys)
    provider = oidc.connect() if isinstance(oidc, OidcConfig) else oidc
    authenticator = Authenticator(table, provider.bearer if provider is not None else None)
    registry = make_registry(agents)
    saver = shared_saver(registry)
    draining = frozenset(drain)
    unknown = sorted(draining - set(registry))
    if unknown:
        raise ValueError(f"drain names unknown agents {unknown}; have {sorted(registry)}")
    # a draining agent's new runs are left to the processes that do not drain it; its
    # workers carry out decisions (and the runs handed back to its version)
    runner = RunWorkers(
        saver,
        registry,
        workers=workers,
        ttl=run_lease,
        max_attempts=run_attempts,
        draining=draining,
    )
    readiness = Readiness(saver, runner)
    signer, audit_public_keys = audit_keys(audit_key, audit_old_keys)
    sealer = AuditSealer(saver, signer, every=audit_seal_every) if signer else None
    if expire_every is not None and not expire_every > 0:
        raise ValueError(f"expire_every must be a positive number of seconds, not {expire_every}")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        sweeper = None
        if expire_every is not None:
            sweeper = threading.Thread(
                target=sweep_forever,
                args=(registry, saver, float(expire_every), stop),
                name="interlock-expiry",
                daemon=True,
            )
            sweeper.start()
            readiness.threads = [sweeper]
        dispatcher = None
        if webhooks:
            owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
            dispatcher = WebhookDispatcher(saver, list(webhooks), owner=owner)
            dispatcher.start(every=webhook_every)
        runner.start()
        if sealer is not None:
            await asyncio.to_thread(sealer.start)
        try:
            yield
        finally:
            stop.set()
            if sealer is not None:
                await asyncio.to_thread(sealer.stop)
            await asyncio.to_thread(runner.stop)
            await asyncio.to_thread(finish_saves, saver, 10.0)
            if sweeper is not None:
                await asyncio.to_thread(sweeper.join, 30)
            if dispatcher is not None:
                await asyncio.to_thread(dispatcher.stop)

    app = FastAPI(title=title, version="1", description=__doc__, lifespan=lifespan)
    app.state.registry = registry
    app.state.saver = saver
    app.state.runner = runner

    app.add_middleware(BodyLimit, limit=max_body_bytes)

    def principal(
        request: Request,
        bearer: HTTPAuthorizationCredentials | None = Security(_BEARER),
        api_key: str | None = Security(_API_KEY),
    ) -> Principal:
        """The caller (401 without a valid key or token); then a malformed body is refused
        (422)."""
        authorization = f"Bearer {bearer.credentials}" if bearer is not None else None
        who = authenticator.authenticate(authorization, api_key)
        refuse_malformed_body(request)
        return who

    def need(who: Principal, *roles: str) -> None:
        if not any(who.can(r) for r in roles):
            raise ApiError(403, "forbidden", f"{who.name} needs the role {' or '.join(roles)}")

    def may_see(who: Principal, thread_id: str) -> bool:
        return may_see_thread(saver, who, thread_id, shared=shared_threads)

    def lists_for(who: Principal) -> str | None:
        return listed_owner(who, shared=shared_threads)

    def own_thread(who: Principal, thread_id: str) -> None:
        """404 for a thread the caller may not see (as for one that does not exist)."""
        if not plausible_id(thread_id) or not may_see(who, thread_id):
            raise ApiError(404, "unknown_thread", f"no thread {thread_id!r}")

    install_error_handlers(app)
    mount_inbox(
        app,
        saver=saver,
        registry=registry,
        keys=table,
        allow_self_approval=allow_self_approval,
        secret=session_secret,
        oidc=provider,
    )

    app.state.crons = mount_agent_server(  # its scheduler ticks where the workers run
        app,
        saver=saver,
        registry=registry,
        principal=principal,
        may_see=may_see,
        wake_workers=runner.wake,
        allow_self_approval=allow_self_approval,
        interrupt_formats=interrupt_formats,
        authenticate=authenticator.authenticate,
        lists_for=lists_for,
        store=store,
        every=runner.every,
    )

    # the routes below (the /v1 API) parse JSON bodies strictly, refused after the key check
    app.router.route_class = StrictJsonRoute
    mount_audit(app, saver=saver, keys=audit_public_keys, principal=principal, need=need)
    mount_grants(app, saver=saver, principal=principal, need=need)
    mount_runs(
        app, saver=saver, principal=principal, need=need, may_see=may_see, own_thread=own_thread
    )

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/inbox", status_code=303)

    @app.get("/v1/health", tags=["meta"])
    @app.get("/v1/health/live", tags=["meta"])
    async def health() -> dict[str, Any]:
        """Liveness: the process answers. No I/O, so it answers while the store is down and
        every worker thread waits on it (see `interlock.server._health`)."""
        return {"ok": True}

    @app.get(
        "/v1/health/ready",
        tags=["meta"],
        responses={503: {"description": "Not ready: what is wrong (`ok` is false)."}},
    )
    async def ready() -> JSONResponse:
        """Readiness: 200 when the store answers within a second and the background
        workers are alive, else 503 with what is wrong."""
        ok, report = await readiness.check()
        return JSONResponse(
            report, status_code=200 if ok else 503, headers=None if ok else RETRY_AFTER
        )

    def not_draining(name: str) -> None:
        if name in draining:
            raise ApiError(
                503,
                "agent_draining",
                f"agent {name!r} is draining on this server: it takes no new runs while its "
                "paused ones are decided; start new runs on a server running the new version",
            )

    @app.get("/v1/agents", tags=["meta"], responses=error_responses(401))
    def list_agents(who: Principal = Depends(principal)) -> dict[str, Any]:
        return {"agents": sorted(registry)}

    @app.get("/v1/versions", tags=["meta"], responses=error_responses(401, 403, 503))
    def list_versions(who: Principal = Depends(principal)) -> dict[str, Any]:
        """Per agent: the graph version this server runs, whether it drains, and each
        version known to the store with the threads paused on it (see safe deploys)."""
        need(who, "approver", "admin")
        return versions_view(saver, registry, draining)

    # ---- threads ----------------------------------------------------------------------

    @app.post(
        "/v1/threads",
        status_code=201,
        tags=["threads"],
        responses=error_responses(401, 403, 404, 409, 413, 422, 500, 503),
    )
    def create_thread(body: ThreadCreate, who: Principal = Depends(principal)) -> dict[str, Any]:
        need(who, "requester")
        name = body.agent or only_agent(registry)
        graph = registry.get(name)
        if graph is None:
            raise ApiError(404, "unknown_agent", f"no agent {name!r}; have {sorted(registry)}")
        not_draining(name)
        thread_id = body.thread_id or uuid.uuid4().hex
        if not plausible_id(thread_id):
            raise ApiError(422, "invalid_request", "thread_id must be printable text")
        claim = f"create:{uuid.uuid4().hex}"  # two creates of one id: one wins the lease
        if not saver.acquire_thread(thread_id, claim, ttl=30.0):
            raise ApiError(409, "thread_exists", f"thread {thread_id!r} already exists")
        try:
            # any trace of the id (a checkpoint, or audit entries of a deleted thread) means
            # it is taken: its first audit entry names its owner
            if (
                saver.get_checkpoint(thread_id) is not None
                or saver.list_audit(thread_id=thread_id, after="", limit=1).items
            ):
                raise ApiError(409, "thread_exists", f"thread {thread_id!r} already exists")
            record_audit(saver, who, "thread.created", thread_id, detail={"agent": name})
        finally:
            saver.release_thread(thread_id, claim)
        update = input_of(body.input, body.message)
        if update is None:
            return {"thread_id": thread_id, "agent": name, "status": "idle", "run": None}
        run = run_input(saver, graph, name, thread_id, update, who)
        return {"thread_id": thread_id, "agent": name, "status": run["status"], "run": run}

    @app.get("/v1/threads", tags=["threads"], responses=error_responses(401, 403, 422, 503))
    def list_threads(
        limit: int = Query(50, ge=1, le=500),
        offset: int = Query(0, ge=0, le=MAX_OFFSET),
        who: Principal = Depends(principal),
    ) -> dict[str, Any]:
        """Threads, most recently updated first; a requester's are theirs only (an index
        range in the store): follow `next_offset` (null at the end)."""
        need(who, "requester", "approver")
        page = saver.list_threads(limit=limit, offset=offset, owner=lists_for(who))
        threads = list(page)
        return {
            "next_offset": offset + limit if len(page) == limit else None,
            "threads": [
                {
                    "thread_id": t.thread_id,
                    "status": t.status,
                    "created_at": t.created_at.isoformat(),
                    "updated_at": t.updated_at.isoformat(),
                }
                for t in threads
            ],
        }

    @app.get(
        "/v1/threads/{thread_id}",
        tags=["threads"],
        responses=error_responses(401, 403, 404, 409, 422, 503),
    )
    def get_thread(thread_id: str, who: Principal = Depends(principal)) -> dict[str, Any]:
        need(who, "requester", "approver")
        own_thread(who, thread_id)
        name, graph = graph_of(saver, registry, thread_id)
        info = saver.get_thread(thread_id)
        snapshot = graph.get_state(run_config(thread_id))
        pending = saver.list_interrupts(status="pending", thread_id=thread_id, limit=100)
        return {
            "thread_id": thread_id,
            "agent": name,
            "status": info.status if info else "idle",
            "values": plain(snapshot.values),
            "next": list(snapshot.next),
            "checkpoint_id": (snapshot.config.get("configurable") or {}).get("checkpoint_id"),
            "pending": [approval_view(r, votes=votes_of(saver, r)) for r in pending.items],
            "graph_version": (snapshot.metadata or {}).get("graph_version"),
            "agent_version": graph.version,
        }

    @app.get(
        "/v1/threads/{thread_id}/history",
        tags=["threads"],
        responses=error_responses(401, 403, 404, 409, 422, 503),
    )
    def thread_history(
        thread_id: str,
        limit: int = Query(20, ge=1, le=200),
        who: Principal = Depends(principal),
    ) -> dict[str, Any]:
        need(who, "requester", "approver")
        own_thread(who, thread_id)
        _, graph = graph_of(saver, registry, thread_id)
        return {
            "checkpoints": [
                {
                    "checkpoint_id": (s.config.get("configurable") or {}).get("checkpoint_id"),
                    "created_at": s.created_at,
                    "metadata": plain(s.metadata),
                    "next": list(s.next),
                    "values": plain(s.values),
                }
                for s in graph.get_state_history(run_config(thread_id), limit=limit)
            ]
        }

    @app.post(
        "/v1/threads/{thread_id}/runs",
        tags=["threads"],
        responses={
            202: {"description": "Queued (`background`): `{run_id, thread_id, status}`."},
            **error_responses(401, 403, 404, 409, 413, 422, 500, 503),
        },
    )
    def run_thread(
        thread_id: str,
        body: RunCreate,
        response: Response,
        who: Principal = Depends(principal),
    ) -> dict[str, Any]:
        """Run new input to its next pause or end; with `background`, queue it and answer
        202 `{run_id, status}` at once (follow it at `GET /v1/runs/{run_id}`)."""
        need(who, "requester")
        own_thread(who, thread_id)
        name, graph = graph_of(saver, registry, thread_id)
        not_draining(name)
        update = input_of(body.input, body.message)
        if body.go_on:
            if update is not None or body.background:
                raise ApiError(422, "invalid_request", "`continue` runs in the request, no input")
            return continue_checked(saver, who, graph, name, thread_id)  # no detour
        if update is None:
            raise ApiError(422, "invalid_request", "send `input` or `message` (or `continue`)")
        if not body.background:
            return run_input(saver, graph, name, thread_id, update, who)
        run = queue_run(saver, graph, name, thread_id, update, who)
        runner.wake()
        response.status_code = 202
        return {"run_id": run.run_id, "thread_id": thread_id, "status": run.status}

    @app.post(
        "/v1/threads/{thread_id}/runs/stream",
        tags=["threads"],
        response_class=StreamingResponse,
        responses={
            200: {
                "description": "The run as server-sent events.",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            },
            **error_responses(401, 403, 404, 409, 413, 422, 503),
        },
    )
    def stream_thread(
        thread_id: str, body: RunCreate, who: Principal = Depends(principal)
    ) -> StreamingResponse:
        """Run new input and stream it as server-sent events: `updates` (`{node: update}`),
        `custom` (what nodes write), `messages` (model tokens), then `end` with the run's
        status, values and interrupts (or `error`). Refusals are answered before the stream
        starts, as JSON errors."""
        need(who, "requester")
        own_thread(who, thread_id)
        name, graph = graph_of(saver, registry, thread_id)
        update = input_of(body.input, body.message)
        if update is None:
            raise ApiError(422, "invalid_request", "send `input` or `message`")
        check_input(graph, update)
        config = run_config(thread_id, user_id=who.name)
        detail = {"agent": name, "input": update}
        record_audit(saver, who, "run.started", thread_id, detail=detail)
        modes = ["updates", "custom", "messages"]
        chunks = stream_durably(
            saver, graph, update, config, stream_mode=modes, view=run_view, agent=name
        )
        try:
            first = next(chunks, None)  # refusals (busy, waiting, bad input) raise here
        except InterlockError as exc:
            reason = {**detail, "reason": str(exc)}
            record_audit(saver, who, "run.refused", thread_id, detail=reason)
            if isinstance(exc, ResumeConflict):
                raise ApiError(409, "conflict", str(exc)) from exc
            raise

        outbox: queue.SimpleQueue[str | None] = queue.SimpleQueue()

        def work() -> None:
            """The run, to its end whatever the client does (a client that goes away must
            not leave the thread half-run and leased)."""
            try:
                pending = [first] if first is not None else []
                for mode, chunk in itertools.chain(pending, chunks):
                    outbox.put(sse_event(mode, plain(chunk)))
                snapshot = graph.get_state(config)
                run = run_view(graph, thread_id, snapshot.values, snapshot.interrupts)
                outbox.put(sse_event("end", run))
            except RunStopped:  # cancelled under way: it stopped between two steps
                snapshot = graph.get_state(config)
                run = run_view(graph, thread_id, snapshot.values, snapshot.interrupts)
                outbox.put(sse_event("end", stopped_view(run)))
            except Exception as exc:
                code = next((c for k, _, c in STATUS if isinstance(exc, k)), "run_failed")
                outbox.put(
                    sse_event("error", {"error": code, "message": f"{type(exc).__name__}: {exc}"})
                )
            finally:
                outbox.put(None)

        threading.Thread(target=work, name=f"interlock-run-{thread_id}", daemon=True).start()

        def events() -> Iterator[str]:
            while (item := outbox.get()) is not None:
                yield item

        return StreamingResponse(events(), media_type="text/event-stream")

    # ---- approvals ----------------------------------------------------------------------

    @app.get(
        "/v1/approvals",
        tags=["approvals"],
        responses=error_responses(400, 401, 403, 422, 503),
    )
    def list_approvals(
        status: str = Query("pending", pattern="^(pending|resolved|expired|cancelled|all)$"),
        thread_id: str | None = Query(None, min_length=1, max_length=256),
        limit: int = Query(50, ge=1, le=500),
        cursor: str | None = Query(None, min_length=1, description="`next_cursor` of a page"),
        mine: bool = Query(False, description="only the requests the caller may decide"),
        agent: str | None = Query(None, description="only this agent's (graph name)"),
        requested_by: str | None = Query(None, description="only those this person asked"),
        version: str | None = Query(
            None,
            min_length=1,
            max_length=256,
            description="only those asked under this graph version (`graph_version`)",
        ),
        who: Principal = Depends(principal),
    ) -> dict[str, Any]:
        """Requests across all threads, oldest first, paged by `next_cursor`. `mine` (pending
        requests only), `agent`, `requested_by` and `version` are index ranges in the store: a
        page holds `limit` requests while more match."""
        need(who, "approver")
        if thread_id is not None and not plausible_id(thread_id):
            raise ApiError(422, "invalid_request", "thread_id must be printable text")
        if mine and status != "pending":
            raise ApiError(
                422, "invalid_request", "mine lists pending requests (those you may still decide)"
            )
        self_ok = allow_self_approval or who is ANONYMOUS
        try:
            page = saver.list_interrupts(
                status=None if status == "all" else status,  # type: ignore[arg-type]
                thread_id=thread_id,
                limit=limit,
                cursor=cursor,
                agent=agent,
                requested_by=requested_by,
                version=version,
                eligible=eligible_principals(who) if mine else None,
                not_requested_by=None if self_ok or not mine else who.name,
            )
        except (ValueError, TypeError, OverflowError) as exc:
            raise ApiError(400, "invalid_cursor", f"invalid cursor: {exc}") from exc
        return {
            "approvals": [approval_view(r, votes=votes_of(saver, r)) for r in page.items],
            "next_cursor": page.next_cursor,
        }

    @app.get(
        "/v1/approvals/{interrupt_id}",
        tags=["approvals"],
        responses=error_responses(401, 403, 404, 422, 503),
    )
    def get_approval(interrupt_id: str, who: Principal = Depends(principal)) -> dict[str, Any]:
        need(who, "approver")
        record = interrupt_or_404(saver, interrupt_id)
        return approval_view(record, votes=votes_of(saver, record))

    @app.post(
        "/v1/approvals/{interrupt_id}/decision",
        tags=["approvals"],
        responses={
            202: {"description": "A vote on a quorum request that did not decide it yet."},
            **error_responses(401, 403, 404, 409, 413, 422, 500, 503),
        },
    )
    def decide(
        interrupt_id: str,
        body: DecisionBody,
        response: Response,
        who: Principal = Depends(principal),
    ) -> dict[str, Any]:
        """Decide a request (200 with the run's outcome). On a quorum request the decision
        is a vote: 202 with the votes so far (`approval.quorum`) until the N-th approval,
        which resumes the run (200)."""
        need(who, "approver")
        decide = functools.partial(
            decide_request,
            saver,
            registry,
            interrupt_id,
            body.value,
            who,
            allow_self_approval=allow_self_approval,
            valid_for=body.valid_for,
        )
        out = decide_with_grants(decide, saver, body.value, body.grant, who)
        if out["approval"]["status"] == "pending":  # a vote that did not decide it yet
            response.status_code = 202
        return out

    @app.post(
        "/v1/approvals/expire",
        tags=["approvals"],
        responses=error_responses(401, 403, 413, 422, 503),
    )
    def expire(body: ExpireBody, who: Principal = Depends(principal)) -> dict[str, Any]:
        need(who, "admin")
        now = body.now
        if now is not None and now.tzinfo is None:
            now = now.astimezone()
        try:
            return expire_due_requests(registry, saver, now)
        except (OverflowError, ValueError) as exc:
            raise ApiError(422, "invalid_request", f"`now` is out of range: {exc}") from exc

    # ---- audit --------------------------------------------------------------------------

    @app.get("/v1/audit", tags=["audit"], responses=error_responses(400, 401, 403, 422, 503))
    def audit_log(
        thread_id: str | None = Query(None, min_length=1, max_length=256),
        interrupt_id: str | None = Query(None, min_length=1, max_length=256),
        limit: int = Query(100, ge=1, le=1000),
        cursor: str | None = Query(None, min_length=1, description="`next_cursor` of a page"),
        who: Principal = Depends(principal),
    ) -> dict[str, Any]:
        need(who, "admin")
        if any(v is not None and not plausible_id(v) for v in (thread_id, interrupt_id)):
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


def _key_table(keys: ApiKeys | str | None) -> ApiKeys | None:
    """`create_app(keys=...)` as a table: a spec string is parsed (ValueError if bad)."""
    if keys is None or isinstance(keys, ApiKeys):
        return keys
    if isinstance(keys, str):
        return ApiKeys.parse(keys)
    raise TypeError(f"keys must be ApiKeys, a spec string or None, not {type(keys).__name__}")
