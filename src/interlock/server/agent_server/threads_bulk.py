"""Agent Server threads copied and pruned: `threads.copy` and `threads.prune` of
`langgraph-sdk`.

    POST /threads/{id}/copy    a new thread with the same checkpoints and metadata (`_copy`)
    POST /threads/prune        `{"thread_ids": [...], "strategy": "delete" | "keep_latest"}`:
                               delete them, or their old checkpoints; `{"pruned_count": n}`

Who may: a requester, on threads it may see (it owns the copy). Pruning deletes, so it
takes the rule `threads.delete` takes: a thread with a pending request is deleted only by
a caller who may decide that request (403 otherwise, audited); every thread is checked
before any is deleted. Ids of threads that do not exist or that the caller may not see
are skipped (not counted). `strategy="keep_latest"` keeps each thread's latest checkpoint
(and what it needs to be read: its snapshot and the writes since, `prune(keep_last=1)`),
its state and its requests; older history goes.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from interlock.server._audit_later import delete_thread_audited
from interlock.server._operations import record_made
from interlock.server.agent_server._context import Context
from interlock.server.agent_server._copy import copy_thread
from interlock.server.agent_server._guard import check_state_change
from interlock.server.agent_server._wire import AgentRoute
from interlock.server.agent_server.threads import render_thread
from interlock.server.auth import Principal

__all__ = ["bulk_thread_routes"]


class PruneBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    thread_ids: list[str] = Field(..., max_length=1000)
    strategy: Literal["delete", "keep_latest"] = "delete"


def bulk_thread_routes(ctx: Context, principal: Any) -> APIRouter:
    """The routes of the module docstring."""
    router = APIRouter(route_class=AgentRoute, tags=["agent server: threads"])
    saver = ctx.saver

    @router.post("/threads/{thread_id}/copy")
    def copy(thread_id: str, who: Principal = Depends(principal)) -> dict[str, Any]:
        ctx.need(who, "requester")
        ctx.visible(who, thread_id)
        result: dict[str, Any] = render_thread(ctx, copy_thread(ctx, who, thread_id))
        return result

    @router.post("/threads/prune")
    def prune(body: PruneBody, who: Principal = Depends(principal)) -> dict[str, int]:
        ctx.need(who, "requester")
        ids = [t for t in dict.fromkeys(body.thread_ids) if ctx.exists(t) and ctx.may_see(who, t)]
        if body.strategy == "keep_latest":  # the state stays: no review is skipped
            saver.prune(keep_last=1, thread_ids=ids)
            for thread_id in ids:
                record_made(saver, who, "thread.pruned", thread_id, detail={"keep_last": 1})
            return {"pruned_count": len(ids)}
        for thread_id in ids:  # every refusal before any deletion
            check_state_change(
                saver,
                who,
                thread_id,
                "thread.deleted",
                {"reason": "prune"},
                allow_self_approval=ctx.allow_self_approval,
            )
        for thread_id in ids:
            detail = {"reason": "prune"}
            pending = check_state_change(
                saver,
                who,
                thread_id,
                "thread.deleted",
                detail,
                allow_self_approval=ctx.allow_self_approval,
            )
            delete_thread_audited(saver, who, thread_id, {**detail, "pending": pending})
        return {"pruned_count": len(ids)}

    return router
