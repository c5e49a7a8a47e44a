"""Agent Server crons: `client.crons` — runs queued on a schedule.

    POST   /runs/crons                      a cron without a thread (a new thread each time)
    POST   /threads/{thread_id}/runs/crons  a cron on a thread
    PATCH  /runs/crons/{cron_id}            change it (fields sent replace the stored ones)
    DELETE /runs/crons/{cron_id}
    POST   /runs/crons/search, /runs/crons/count

A cron keeps the run request it was given (`payload`: `input`, `config`, `context`,
`metadata`, breakpoints, `durability`, ...), checked when it is created or changed as
`runs.create` checks one (the same 4xx), and the scheduler queues it each time the schedule
comes due (`_cron_fire`). Creating, changing and deleting crons needs the role requester,
and a cron on a thread needs the thread to be the caller's to see (404 otherwise); a
requester sees and changes only the crons they created (approvers and admins, or every
requester with shared threads, all of them). Each change is audited (`cron.created`,
`cron.updated`, `cron.deleted`, in the store's transaction).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from interlock.checkpoint._crons.protocol import CronSort
from interlock.checkpoint._time import as_utc, utc_now
from interlock.checkpoint.base import CronJob, CronQuery
from interlock.server._errors import ApiError
from interlock.server._operations import MAX_OFFSET, check_shape, plausible_id
from interlock.server._plain import plain
from interlock.server.agent_server._context import Context
from interlock.server.agent_server._cron_fire import check_cron_run
from interlock.server.agent_server._schedule import next_due
from interlock.server.agent_server._wire import AgentRoute, assistant_id_of, new_run_id
from interlock.server.auth import Principal

__all__ = ["cron_routes", "cron_view"]

RUN_FIELDS = (
    "input",
    "metadata",
    "config",
    "context",
    "interrupt_before",
    "interrupt_after",
    "webhook",
    "multitask_strategy",
    "durability",
    "stream_mode",
    "stream_subgraphs",
    "stream_resumable",
)
"""The fields of a cron's body that make its run request (its `payload`)."""

_SORTS: dict[str, CronSort] = {
    "cron_id": "cron_id",
    "assistant_id": "agent",
    "thread_id": "thread_id",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "next_run_date": "next_run_date",
    "end_time": "end_time",
}
SelectField = Literal[
    "cron_id",
    "assistant_id",
    "thread_id",
    "end_time",
    "schedule",
    "timezone",
    "created_at",
    "updated_at",
    "user_id",
    "payload",
    "next_run_date",
    "metadata",
    "now",
    "on_run_completed",
    "enabled",
]


class _RunFields(BaseModel):
    """A cron's run request, as `runs.create` takes one."""

    model_config = ConfigDict(extra="ignore")

    input: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    interrupt_before: Literal["*"] | list[str] | None = None
    interrupt_after: Literal["*"] | list[str] | None = None
    webhook: str | None = None
    multitask_strategy: Literal["reject", "interrupt", "rollback", "enqueue"] | None = None
    durability: Literal["sync", "async", "exit"] | None = None
    stream_mode: str | list[str] | None = None
    stream_subgraphs: bool | None = None
    stream_resumable: bool | None = None
    checkpoint_during: bool | None = None


class CronCreate(_RunFields):
    assistant_id: str = Field(max_length=256)
    schedule: str = Field(max_length=256)
    end_time: datetime | None = None
    enabled: bool = True
    timezone: str | None = Field(None, max_length=256)
    on_run_completed: Literal["delete", "keep"] | None = None


class CronPatch(_RunFields):
    schedule: str | None = Field(None, max_length=256)
    end_time: datetime | None = None
    enabled: bool | None = None
    timezone: str | None = Field(None, max_length=256)
    on_run_completed: Literal["delete", "keep"] | None = None


class CronSearch(BaseModel):
    model_config = ConfigDict(extra="ignore")

    assistant_id: str | None = None
    thread_id: str | None = None
    enabled: bool | None = None
    metadata: dict[str, Any] | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    sort_by: Literal[
        "cron_id",
        "assistant_id",
        "thread_id",
        "created_at",
        "updated_at",
        "next_run_date",
        "end_time",
    ] = "created_at"
    sort_order: Literal["asc", "desc"] = "desc"
    select: list[SelectField] | None = None


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def cron_view(cron: CronJob) -> dict[str, Any]:
    """A cron as the SDK's `Cron` reads it."""
    return {
        "cron_id": cron.cron_id,
        "assistant_id": cron.payload.get("assistant_id") or assistant_id_of(cron.agent),
        "thread_id": cron.thread_id,
        "on_run_completed": cron.on_run_completed,
        "end_time": _iso(cron.end_time),
        "schedule": cron.schedule,
        "timezone": cron.timezone,
        "created_at": cron.created_at.isoformat(),
        "updated_at": cron.updated_at.isoformat(),
        "payload": plain(cron.payload),
        "user_id": cron.owner,
        "next_run_date": _iso(cron.next_run_date),
        "metadata": plain(cron.metadata),
        "enabled": cron.enabled,
    }


def _payload(assistant_id: str, body: _RunFields, fields: set[str]) -> dict[str, Any]:
    """The run request of `body`'s `fields` that are set (with the assistant's id: a
    created assistant's, whose configuration each fire runs with, or a graph's default
    one's)."""
    out: dict[str, Any] = {"assistant_id": assistant_id}
    for name in RUN_FIELDS:
        value = getattr(body, name)
        if name in fields and value is not None:
            out[name] = value
    return out


def cron_routes(ctx: Context, principal: Any) -> APIRouter:
    """The cron routes of the Agent Server API."""
    router = APIRouter(route_class=AgentRoute, tags=["agent server: crons"])
    saver = ctx.saver

    def create(who: Principal, thread_id: str | None, body: CronCreate) -> dict[str, Any]:
        ctx.need(who, "requester")
        assistant = ctx.assistant(body.assistant_id)
        agent = assistant.name
        if thread_id is not None:
            ctx.visible(who, thread_id)
            if body.on_run_completed is not None:
                raise ApiError(
                    422,
                    "invalid_request",
                    "on_run_completed is for crons without a thread (a cron's thread stays)",
                )
        payload = _payload(assistant.assistant_id, body, body.model_fields_set)
        check_shape(payload, "payload")
        check_cron_run(ctx, who, agent, thread_id, payload)
        now = utc_now()
        cron = CronJob(
            cron_id=new_run_id(),
            agent=agent,
            thread_id=thread_id,
            owner=who.name,
            schedule=body.schedule,
            timezone=body.timezone,
            payload=payload,
            metadata=body.metadata or {},
            on_run_completed=None if thread_id else body.on_run_completed or "delete",
            end_time=None if body.end_time is None else as_utc(body.end_time),
            enabled=body.enabled,
            next_run_date=next_due(body.schedule, body.timezone, now),
            created_at=now,
            updated_at=now,
        )
        return cron_view(saver.add_cron(cron, actor=who.name))

    @router.post("/runs/crons")
    def create_cron(body: CronCreate, who: Principal = Depends(principal)) -> dict[str, Any]:
        """A cron without a thread: each due time runs on a new thread (deleted once its run
        ended, unless `on_run_completed="keep"` or a request waits there)."""
        return create(who, None, body)

    @router.post("/threads/{thread_id}/runs/crons")
    def create_thread_cron(
        thread_id: str, body: CronCreate, who: Principal = Depends(principal)
    ) -> dict[str, Any]:
        """A cron on a thread: each due time queues its run on the thread."""
        return create(who, thread_id, body)

    def own(who: Principal, cron_id: str) -> CronJob:
        """The cron, if `who` may see it (404 otherwise, as for one that does not exist)."""
        cron = saver.get_cron(cron_id) if plausible_id(cron_id) else None
        owner = ctx.lists_for(who)
        if cron is None or (owner is not None and cron.owner != owner):
            raise ApiError(404, "not_found", f"cron {cron_id!r} not found")
        return cron

    @router.patch("/runs/crons/{cron_id}")
    def update_cron(
        cron_id: str, body: CronPatch, who: Principal = Depends(principal)
    ) -> dict[str, Any]:
        """Change a cron: each field sent replaces the stored one (`end_time: null` clears
        it). A new schedule or zone, or enabling a disabled cron, sets its next due time
        from now."""
        ctx.need(who, "requester")
        cron = own(who, cron_id)
        sent = body.model_fields_set
        changes: dict[str, Any] = {}
        if sent & set(RUN_FIELDS):
            if cron.owner != who.name:  # each fire runs as its creator: only they say what
                raise ApiError(
                    403,
                    "forbidden",
                    f"cron {cron_id!r} runs as {cron.owner}: only they may change its run "
                    "request (its schedule, end and `enabled` you may change, or delete it)",
                )
            assistant_id = cron.payload.get("assistant_id") or assistant_id_of(cron.agent)
            payload = {
                **{k: v for k, v in cron.payload.items() if k not in sent},
                **_payload(assistant_id, body, sent),
            }
            check_shape(payload, "payload")
            check_cron_run(ctx, who, cron.agent, cron.thread_id, payload)
            changes["payload"] = payload
        if "metadata" in sent:
            changes["metadata"] = body.metadata or {}
        if "on_run_completed" in sent and body.on_run_completed is not None:
            if cron.thread_id is not None:
                raise ApiError(422, "invalid_request", "on_run_completed: this cron has a thread")
            changes["on_run_completed"] = body.on_run_completed
        if "end_time" in sent:
            changes["end_time"] = None if body.end_time is None else as_utc(body.end_time)
        schedule = body.schedule if body.schedule is not None else cron.schedule
        zone = body.timezone if "timezone" in sent else cron.timezone
        enabled = body.enabled if body.enabled is not None else cron.enabled
        if (
            (schedule, zone) != (cron.schedule, cron.timezone)
            or (enabled and not cron.enabled)
            or ("end_time" in sent and cron.next_run_date is None)
        ):
            changes["next_run_date"] = next_due(schedule, zone, utc_now())
            changes.update(schedule=schedule, timezone=zone)
        if enabled != cron.enabled:
            changes["enabled"] = enabled
        if not changes:
            return cron_view(cron)
        updated = saver.update_cron(cron_id, changes, actor=who.name)
        if updated is None:  # deleted meanwhile
            raise ApiError(404, "not_found", f"cron {cron_id!r} not found")
        return cron_view(updated)

    @router.delete("/runs/crons/{cron_id}", status_code=204)
    def delete_cron(cron_id: str, who: Principal = Depends(principal)) -> Response:
        ctx.need(who, "requester")
        own(who, cron_id)
        if saver.delete_cron(cron_id, actor=who.name) is None:
            raise ApiError(404, "not_found", f"cron {cron_id!r} not found")
        return Response(status_code=204)

    def query(who: Principal, body: CronSearch) -> CronQuery | None:
        """The store query of a search (None: it can find nothing)."""
        ctx.need(who, "requester", "approver")
        check_shape(body.metadata, "metadata")
        if body.thread_id is not None and not plausible_id(body.thread_id):
            return None  # no thread has such an id (NUL: PostgreSQL could not even compare it)
        agent = assistant_id = None
        if body.assistant_id is not None:
            try:
                found = ctx.assistant(body.assistant_id)
            except ApiError:  # no such assistant: no crons
                return None
            agent, assistant_id = found.name, found.assistant_id
        return CronQuery(
            agent=agent,
            thread_id=body.thread_id,
            enabled=body.enabled,
            owner=ctx.lists_for(who),
            metadata=body.metadata or None,
            assistant_id=assistant_id,
            sort_by=_SORTS[body.sort_by],
            sort_order=body.sort_order,
        )

    @router.post("/runs/crons/search")
    def search_crons(body: CronSearch, who: Principal = Depends(principal)) -> list[dict[str, Any]]:
        """The crons the caller may see that match, sorted, a page (`select` picks fields;
        `now` is the server's time)."""
        found = query(who, body)
        if found is None:
            return []
        page = [
            cron_view(c) for c in saver.search_crons(found, limit=body.limit, offset=body.offset)
        ]
        if body.select:
            now = utc_now().isoformat()
            page = [{k: {**c, "now": now}[k] for k in body.select} for c in page]
        return page

    @router.post("/runs/crons/count")
    def count_crons(body: CronSearch, who: Principal = Depends(principal)) -> int:
        found = query(who, body)
        return 0 if found is None else saver.count_crons(found)

    return router
