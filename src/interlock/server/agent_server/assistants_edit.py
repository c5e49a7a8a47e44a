"""Agent Server assistants, changed: `POST /assistants` (create), `PATCH /assistants/{id}`
(a new version), `DELETE /assistants/{id}` (with its versions; `delete_threads` also its
threads), `POST /assistants/{id}/latest` (make an older version current).

Who may: the role **admin**. An assistant is configuration every requester's runs with it
use (its `config` and `context` are merged under theirs), so changing it is an operator's
act, as creating a standing grant is; reading assistants needs requester or approver.
Each change is audited in the store's transaction (`assistant.created`,
`assistant.updated`, `assistant.version_set`, `assistant.deleted`, by the caller, with the
version made current). A registered graph's default assistant is read-only: changing it is
409 `read_only_assistant`.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from interlock.checkpoint.base import AssistantChange, CronQuery, ThreadQuery
from interlock.server._audit_later import delete_thread_audited
from interlock.server._errors import ApiError
from interlock.server._operations import check_shape
from interlock.server.agent_server._assistant import (
    check_config,
    default_of,
    default_record,
    new_assistant_id,
    stored_of,
    synced,
    unknown_graph,
)
from interlock.server.agent_server._context import Context
from interlock.server.agent_server._guard import check_state_change
from interlock.server.agent_server._wire import AgentRoute, assistant_view
from interlock.server.auth import Principal

__all__ = ["assistant_edit_routes"]

_THREAD_PAGE = 500


class AssistantCreate(BaseModel):
    """`client.assistants.create(...)`."""

    model_config = ConfigDict(extra="ignore")

    graph_id: str
    assistant_id: str | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    if_exists: Literal["raise", "do_nothing"] | None = None
    name: str | None = Field(None, max_length=1000)
    description: str | None = Field(None, max_length=10_000)


class AssistantPatch(BaseModel):
    """`client.assistants.update(...)`: each field given replaces the current one
    (`metadata` is merged into it)."""

    model_config = ConfigDict(extra="ignore")

    graph_id: str | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    name: str | None = Field(None, max_length=1000)
    description: str | None = Field(None, max_length=10_000)


class LatestVersion(BaseModel):
    """`client.assistants.set_latest(assistant_id, version)`."""

    model_config = ConfigDict(extra="ignore")

    version: int = Field(ge=1)


def _configuration(
    config: dict[str, Any] | None, context: dict[str, Any] | None, metadata: Any
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The checked, synced `(config, context)` of a request (see `synced`)."""
    check_config(config or {})
    check_shape(context or {}, "context")
    check_shape(metadata or {}, "metadata")
    return synced(config, context)


def assistant_edit_routes(ctx: Context, principal: Any) -> APIRouter:
    """The routes that create and change assistants (see the module docstring)."""
    router = APIRouter(route_class=AgentRoute, tags=["agent server: assistants"])
    saver = ctx.saver

    def served(graph_id: str) -> None:
        if graph_id not in ctx.registry:
            raise unknown_graph(graph_id, ctx.registry)

    @router.post("/assistants")
    def create(body: AssistantCreate, who: Principal = Depends(principal)) -> dict[str, Any]:
        """Create an assistant (version 1). An id that exists: 409, or the existing
        assistant with `if_exists="do_nothing"`."""
        ctx.need(who, "admin")
        assistant_id = new_assistant_id(body.assistant_id)
        config, context = _configuration(body.config, body.context, body.metadata)
        served(body.graph_id)
        default = default_of(ctx.registry, assistant_id)
        if default is not None:
            made, created = default_record(*default), False
        else:
            made, created = saver.create_assistant(
                assistant_id,
                graph_id=body.graph_id,
                name=body.name or "Untitled",
                description=body.description,
                config=config,
                context=context or {},
                metadata=body.metadata or {},
                actor=who.name,
            )
        if not created and body.if_exists != "do_nothing":
            raise ApiError(409, "assistant_exists", f"assistant {assistant_id!r} already exists")
        return assistant_view(made)

    @router.patch("/assistants/{assistant_id}")
    def update(
        assistant_id: str, body: AssistantPatch, who: Principal = Depends(principal)
    ) -> dict[str, Any]:
        """Make a new version from the current one: `config` (when not empty) and
        `context` (when given) replace the current ones, kept in step as at creation;
        `metadata` is merged; the new version becomes current."""
        ctx.need(who, "admin")
        stored = stored_of(saver, ctx.registry, assistant_id)
        config, context = _configuration(body.config, body.context, body.metadata)
        if body.graph_id is not None:
            served(body.graph_id)
        change = AssistantChange(
            graph_id=body.graph_id,
            config=config or None,
            context=context,
            metadata=body.metadata,
            name=body.name,
            description=body.description,
        )
        made = saver.update_assistant(stored.assistant_id, change, actor=who.name)
        if made is None:  # deleted meanwhile
            raise ApiError(404, "not_found", f"assistant {assistant_id!r} not found")
        return assistant_view(made)

    @router.post("/assistants/{assistant_id}/latest")
    def set_latest(
        assistant_id: str, body: LatestVersion, who: Principal = Depends(principal)
    ) -> dict[str, Any]:
        """Make an existing version current again (no version is made): its graph,
        config, context, metadata, name and description become the assistant's."""
        ctx.need(who, "admin")
        stored = stored_of(saver, ctx.registry, assistant_id)
        made = saver.set_assistant_version(stored.assistant_id, body.version, actor=who.name)
        if made is None:
            raise ApiError(
                404, "not_found", f"assistant {assistant_id!r} has no version {body.version}"
            )
        return assistant_view(made)

    @router.delete("/assistants/{assistant_id}", status_code=204)
    def delete(
        assistant_id: str,
        delete_threads: bool = Query(False),
        who: Principal = Depends(principal),
    ) -> Response:
        """Delete the assistant, its versions and its crons (each audited `cron.deleted`).
        `delete_threads`: also the threads whose `metadata.assistant_id` names it, each as
        `threads.delete` deletes one (a thread waiting for a request the caller may not
        decide refuses them all, 403, before anything is deleted). Runs under way go on
        with the configuration they started with."""
        ctx.need(who, "admin")
        stored = stored_of(saver, ctx.registry, assistant_id)
        threads = threads_of(stored.assistant_id, who) if delete_threads else []
        reason = {"reason": "assistant deleted", "assistant_id": stored.assistant_id}
        for thread_id in threads:  # every refusal before any deletion
            check_state_change(
                saver,
                who,
                thread_id,
                "thread.deleted",
                reason,
                allow_self_approval=ctx.allow_self_approval,
            )
        if not saver.delete_assistant(stored.assistant_id, actor=who.name):
            raise ApiError(404, "not_found", f"assistant {assistant_id!r} not found")
        # its crons go with it (as on LangGraph), each audited `cron.deleted`
        while crons := saver.search_crons(CronQuery(assistant_id=stored.assistant_id), limit=500):
            for cron in crons:
                saver.delete_cron(cron.cron_id, actor=who.name)
        for thread_id in threads:
            pending = check_state_change(
                saver,
                who,
                thread_id,
                "thread.deleted",
                reason,
                allow_self_approval=ctx.allow_self_approval,
            )
            delete_thread_audited(saver, who, thread_id, {**reason, "pending": pending})
        return Response(status_code=204)

    def threads_of(assistant_id: str, who: Principal) -> list[str]:
        """The threads tagged with the assistant that `who` sees (the metadata index)."""
        query = ThreadQuery(metadata={"assistant_id": assistant_id}, owner=ctx.lists_for(who))
        found: list[str] = []
        while True:
            page = saver.search_threads(query, limit=_THREAD_PAGE, offset=len(found))
            found += [t.thread_id for t in page]
            if len(page) < _THREAD_PAGE:
                return found

    return router
