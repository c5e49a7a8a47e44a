"""Agent Server threads: create, read, update metadata, delete, search, count, state (read
and update) and history.

A thread's status and its interrupts come from the interrupt index (one indexed query per
thread), never from reading checkpoints; searches and counts are store queries over index
ranges (`_search`).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from interlock._types import StateSnapshot
from interlock.checkpoint.base import InterruptRecord, ThreadInfo
from interlock.errors import InterlockError, ResumeConflict
from interlock.graph._run import EXPECTED_HEAD, EXPECTED_PENDING
from interlock.server._audit_later import AuditLater, delete_thread_audited, record_all
from interlock.server._errors import ApiError
from interlock.server._operations import MAX_OFFSET, check_shape, run_config
from interlock.server.agent_server._context import Context
from interlock.server.agent_server._detour import check_edit, check_leaves, update_leaves
from interlock.server.agent_server._guard import check_state_change
from interlock.server.agent_server._requests import quorums
from interlock.server.agent_server._search import count_matching, search_matching, values_of
from interlock.server.agent_server._wire import AgentRoute, state_view, thread_view
from interlock.server.auth import Principal

__all__ = ["render_thread", "thread_routes"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ThreadCreate(_Body):
    thread_id: str | None = Field(None, max_length=200)
    metadata: dict[str, Any] = Field(default_factory=dict)
    if_exists: Literal["raise", "do_nothing"] = "raise"


class ThreadPatch(_Body):
    metadata: dict[str, Any] = Field(default_factory=dict)


class ThreadSearch(_Body):
    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    ids: list[str] | None = Field(None, max_length=1000)
    status: Literal["idle", "busy", "interrupted", "error"] | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    sort_by: Literal["thread_id", "status", "created_at", "updated_at", "state_updated_at"] = (
        "updated_at"
    )
    sort_order: Literal["asc", "desc"] = "desc"
    select: list[str] | None = None


class StateUpdate(_Body):
    values: Any = None
    as_node: str | None = None
    checkpoint_id: str | None = None
    checkpoint: dict[str, Any] | None = None


class HistoryBody(_Body):
    limit: int = Field(10, ge=1, le=1000)
    before: str | dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    checkpoint: dict[str, Any] | None = None


def render_thread(ctx: Context, thread_id: str) -> dict[str, Any]:
    """The thread as the API shows it (with its values)."""
    saver = ctx.saver
    info = saver.get_thread(thread_id)
    pending = saver.list_interrupts(status="pending", thread_id=thread_id, limit=100).items
    values: Any = None
    found = ctx.graph(thread_id)
    if info is not None and found is not None:
        values = found[1].get_state(run_config(thread_id)).values
    _, created_at, _ = ctx.created(thread_id)
    return thread_view(
        thread_id,
        info=info,
        created_at=created_at,
        metadata=ctx.metadata(thread_id),
        values=values,
        pending=pending,
        fmt=ctx.fmt(thread_id),
        quorums=quorums(saver, pending),
    )


def thread_routes(ctx: Context, principal: Any) -> APIRouter:
    """The thread routes of the Agent Server API."""
    router = APIRouter(route_class=AgentRoute, tags=["agent server: threads"])
    saver = ctx.saver

    def render(thread_id: str) -> dict[str, Any]:
        return render_thread(ctx, thread_id)

    def render_found(info: ThreadInfo, with_values: bool) -> dict[str, Any]:
        """A thread a search found, from its summary (metadata, times, status) and its
        pending requests; its values if asked."""
        thread_id = info.thread_id
        pending: tuple[InterruptRecord, ...] = ()
        if info.status in ("interrupted", "busy"):  # (an idle thread had none pending)
            pending = saver.list_interrupts(status="pending", thread_id=thread_id, limit=100).items
        values = values_of(ctx, info) if with_values else None
        return thread_view(
            thread_id,
            info=info,
            created_at=info.created_at,
            metadata=info.metadata,
            values=values,
            pending=pending,
            fmt=ctx.fmt(thread_id),
            quorums=quorums(saver, pending),
        )

    @router.post("/threads")
    def create_thread(body: ThreadCreate, who: Principal = Depends(principal)) -> dict[str, Any]:
        ctx.need(who, "requester")
        check_shape(body.metadata, "metadata")
        thread_id, _ = ctx.new_thread(who, body.thread_id, body.metadata, if_exists=body.if_exists)
        if not ctx.may_see(who, thread_id):  # do_nothing on someone else's thread
            raise ApiError(409, "thread_exists", f"thread {thread_id!r} already exists")
        return render(thread_id)

    @router.get("/threads/{thread_id}")
    def get_thread(thread_id: str, who: Principal = Depends(principal)) -> dict[str, Any]:
        ctx.need(who, "requester", "approver")
        ctx.visible(who, thread_id)
        return render(thread_id)

    @router.patch("/threads/{thread_id}")
    def patch_thread(
        thread_id: str, body: ThreadPatch, who: Principal = Depends(principal)
    ) -> dict[str, Any]:
        ctx.need(who, "requester")
        ctx.visible(who, thread_id)
        check_shape(body.metadata, "metadata")
        ctx.set_metadata(who, thread_id, {**ctx.metadata(thread_id), **body.metadata})
        return render(thread_id)

    @router.delete("/threads/{thread_id}", status_code=204)
    def delete_thread(thread_id: str, who: Principal = Depends(principal)) -> Response:
        """Delete the thread's state, requests and run log (the audit log keeps its
        history; `thread.deleted` once it is gone). Deleting cancels its pending requests:
        refused (403, audited) unless the caller may decide them."""
        ctx.need(who, "requester")
        ctx.visible(who, thread_id)
        pending = check_state_change(
            saver, who, thread_id, "thread.deleted", {}, allow_self_approval=ctx.allow_self_approval
        )
        delete_thread_audited(saver, who, thread_id, {"pending": pending})
        return Response(status_code=204)

    def filters(body: ThreadSearch) -> dict[str, Any]:
        return {
            "status": body.status,
            "metadata": body.metadata,
            "ids": body.ids,
            "values": body.values,
            "sort_by": body.sort_by,
            "sort_order": body.sort_order,
        }

    @router.post("/threads/search")
    def search_threads(
        body: ThreadSearch, who: Principal = Depends(principal)
    ) -> list[dict[str, Any]]:
        """Matching threads, sorted, a page: index ranges in the store (`_search`); their
        values are read for the page only (and for each thread scanned with `values`)."""
        ctx.need(who, "requester", "approver")
        infos = search_matching(ctx, who, limit=body.limit, offset=body.offset, **filters(body))
        want_values = body.select is None or "values" in body.select
        page = [render_found(info, with_values=want_values) for info in infos]
        if body.select:
            page = [{k: v for k, v in t.items() if k in body.select} for t in page]
        return page

    @router.post("/threads/count")
    def count_threads(body: ThreadSearch, who: Principal = Depends(principal)) -> int:
        ctx.need(who, "requester", "approver")
        return count_matching(ctx, who, **filters(body))

    # ---- state ----------------------------------------------------------------------------

    def state_of(thread_id: str, checkpoint_id: str | None = None) -> dict[str, Any]:
        found = ctx.graph(thread_id)
        config = run_config(thread_id, checkpoint_id=checkpoint_id)
        if found is None:
            empty = StateSnapshot(
                values={},
                next=(),
                config=config,
                metadata=None,
                created_at=None,
                parent_config=None,
            )
            return state_view(empty, thread_id)
        return snapshot_view(found[1].get_state(config), thread_id, ctx.formats.get(found[0]))

    def snapshot_view(snapshot: StateSnapshot, thread_id: str, fmt: str | None) -> dict[str, Any]:
        """A state with the votes of its quorum requests."""
        ids = {i.id for i in snapshot.interrupts} | {
            i.id for t in snapshot.tasks for i in t.interrupts
        }
        return state_view(snapshot, thread_id, fmt, quorums(saver, sorted(ids)))

    @router.get("/threads/{thread_id}/state")
    def get_state(
        thread_id: str,
        subgraphs: bool = Query(False),
        who: Principal = Depends(principal),
    ) -> dict[str, Any]:
        ctx.need(who, "requester", "approver")
        ctx.visible(who, thread_id)
        return state_of(thread_id)

    @router.get("/threads/{thread_id}/state/{checkpoint_id}")
    def get_state_at(
        thread_id: str, checkpoint_id: str, who: Principal = Depends(principal)
    ) -> dict[str, Any]:
        ctx.need(who, "requester", "approver")
        ctx.visible(who, thread_id)
        return state_of(thread_id, checkpoint_id)

    @router.post("/threads/{thread_id}/state/checkpoint")
    def get_state_at_body(
        thread_id: str, body: HistoryBody, who: Principal = Depends(principal)
    ) -> dict[str, Any]:
        ctx.need(who, "requester", "approver")
        ctx.visible(who, thread_id)
        checkpoint = body.checkpoint or {}
        return state_of(thread_id, checkpoint.get("checkpoint_id"))

    @router.post("/threads/{thread_id}/state")
    def update_state(
        thread_id: str, body: StateUpdate, who: Principal = Depends(principal)
    ) -> dict[str, Any]:
        """`update_state`: refused (403, audited) while the thread waits for a request the
        caller may not decide — an update cancels the pending requests — and, to a caller
        without the role admin, when it would leave nodes to run (`_detour`). Audited
        (`state.updated` with the checkpoint it wrote, and an admin's `state.detour`) once
        the update was written: a 409 or 422 leaves no such entry."""
        ctx.need(who, "requester", "approver")
        ctx.visible(who, thread_id)
        found = ctx.graph(thread_id)
        if found is None:
            raise ApiError(409, "no_graph", f"thread {thread_id!r} has no graph yet: run it first")
        check_shape(body.values, "values")
        detail = {"values": body.values, "as_node": body.as_node}
        waiting = check_state_change(
            saver,
            who,
            thread_id,
            "state.updated",
            detail,
            allow_self_approval=ctx.allow_self_approval,
        )
        checkpoint_id = body.checkpoint_id or (body.checkpoint or {}).get("checkpoint_id")
        config = run_config(thread_id, checkpoint_id=checkpoint_id, user_id=who.name)
        detours = [check_edit(saver, who, thread_id, "state.updated", detail)]
        try:  # the plan it leaves, from a dry run (nothing written yet)
            nodes, head = update_leaves(found[1], config, body.values, body.as_node)
        except InterlockError:
            raise
        except (ValueError, KeyError) as exc:
            raise ApiError(422, "invalid_update", str(exc)) from exc
        detours.append(check_leaves(saver, who, thread_id, "state.updated", detail, nodes))
        # the update cancels the requests waiting (at the head, or the old head's for a
        # fork) with its write, and only those checked above: one asked since is a 409
        config["configurable"][EXPECTED_PENDING] = list(waiting)
        if not checkpoint_id:  # the update must find the head its plan was worked out on
            config["configurable"][EXPECTED_HEAD] = head
        try:
            new = found[1].update_state(config, body.values, as_node=body.as_node)
        except ResumeConflict as exc:
            raise ApiError(409, "conflict", str(exc)) from exc
        except InterlockError:
            raise
        except (ValueError, KeyError) as exc:
            raise ApiError(422, "invalid_update", str(exc)) from exc
        conf = new.get("configurable") or {}
        updated = {**detail, "pending": waiting, "checkpoint_id": conf.get("checkpoint_id")}
        made = AuditLater(who=who, action="state.updated", thread_id=thread_id, detail=updated)
        record_all(saver, [*detours, made])  # made: audited now (`_audit_later`)
        return {
            "checkpoint": {
                "thread_id": thread_id,
                "checkpoint_ns": conf.get("checkpoint_ns") or "",
                "checkpoint_id": conf.get("checkpoint_id"),
                "checkpoint_map": None,
            }
        }

    @router.post("/threads/{thread_id}/history")
    def history(
        thread_id: str, body: HistoryBody, who: Principal = Depends(principal)
    ) -> list[dict[str, Any]]:
        ctx.need(who, "requester", "approver")
        ctx.visible(who, thread_id)
        found = ctx.graph(thread_id)
        if found is None:
            return []
        before = body.before
        before_id = before.get("checkpoint_id") if isinstance(before, dict) else before
        snapshots = found[1].get_state_history(
            run_config(thread_id),
            filter=body.metadata,
            before=run_config(thread_id, checkpoint_id=before_id) if before_id else None,
            limit=body.limit if not body.metadata else None,
        )
        out = []
        for snap in snapshots:
            out.append(snapshot_view(snap, thread_id, ctx.formats.get(found[0])))
            if len(out) >= body.limit:
                break
        return out

    @router.get("/threads/{thread_id}/history")
    def history_get(
        thread_id: str,
        limit: int = Query(10, ge=1, le=1000),
        before: str | None = None,
        who: Principal = Depends(principal),
    ) -> list[dict[str, Any]]:
        return history(thread_id, HistoryBody(limit=limit, before=before), who)

    return router
