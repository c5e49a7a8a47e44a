"""Agent Server meta and assistants, read: `GET /ok`, `GET /info`, and the assistants —
each registered graph's default assistant and those created over the API
(`assistants_edit`) — searched, counted, read with their graph drawing, state schema and
versions."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from interlock.checkpoint._assistants.protocol import sort_key as assistant_order
from interlock.checkpoint.base import AssistantQuery, StoredAssistant
from interlock.graph import CompiledStateGraph
from interlock.graph._func import EntrypointGraph
from interlock.graph._json_schemas import state_json_schema
from interlock.server._errors import ApiError
from interlock.server._operations import MAX_OFFSET, check_shape
from interlock.server.agent_server._assistant import (
    default_of,
    default_record,
    record_of,
    unknown_graph,
)
from interlock.server.agent_server._context import Context
from interlock.server.agent_server._wire import AgentRoute, assistant_view, version_view
from interlock.server.auth import Principal

__all__ = ["assistant_routes"]

_log = logging.getLogger("interlock.server.agent_server")

Field_ = Literal[
    "assistant_id",
    "graph_id",
    "name",
    "description",
    "config",
    "context",
    "metadata",
    "version",
    "created_at",
    "updated_at",
]


class AssistantCount(BaseModel):
    model_config = ConfigDict(extra="ignore")

    graph_id: str | None = None
    name: str | None = None
    """A case-insensitive part of the name."""
    metadata: dict[str, Any] | None = None
    """Pairs the metadata contains (an object value: contained, recursively)."""


class AssistantSearch(AssistantCount):
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    sort_by: Literal["assistant_id", "graph_id", "name", "created_at", "updated_at"] | None = None
    sort_order: Literal["asc", "desc"] | None = None
    select: list[Field_] | None = None


class VersionSearch(BaseModel):
    model_config = ConfigDict(extra="ignore")

    metadata: dict[str, Any] | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


def _schemas(name: str, graph: CompiledStateGraph) -> dict[str, Any]:
    """The graph's JSON schemas as LangGraph's server gives them (LangGraph Studio and the
    UIs draw their input forms from them): input, output, state and context; a schema that
    cannot be made is null, as there."""

    def made(build: Callable[[], dict[str, Any] | None]) -> dict[str, Any] | None:
        try:
            return build()
        except Exception:  # a state holding a type pydantic has no schema for
            _log.warning("graph %r: a JSON schema could not be made", name, exc_info=True)
            return None

    return {
        "graph_id": name,
        "input_schema": made(graph.get_input_jsonschema),
        "output_schema": made(graph.get_output_jsonschema),
        "state_schema": made(
            graph.get_output_jsonschema  # an entrypoint's thread holds what it returned
            if isinstance(graph, EntrypointGraph)
            else lambda: state_json_schema(graph.builder.state_schema, name)
        ),
        "config_schema": None,
        "context_schema": made(graph.get_context_jsonschema),
    }


def assistant_routes(ctx: Context, principal: Any) -> APIRouter:
    """The meta and assistant read routes of the Agent Server API."""
    router = APIRouter(route_class=AgentRoute, tags=["agent server: assistants"])

    @router.get("/ok")
    def ok() -> dict[str, Any]:
        return {"ok": True}

    @router.get("/info")
    def info() -> dict[str, Any]:
        """What this server offers. `strict_resume`: an answer to a request that is not
        pending is refused (409), never applied elsewhere; decisions are exactly once."""
        return {
            "version": "interlock",
            "flags": {"assistants": True, "crons": True, "langsmith": False},
            "strict_resume": True,
            "exactly_once_decisions": True,
            "metadata": {"server": "interlock"},
        }

    def query_of(body: AssistantCount) -> tuple[AssistantQuery, list[StoredAssistant]]:
        """The store's query, and the default assistants it matches."""
        if body.graph_id is not None and body.graph_id not in ctx.registry:
            raise unknown_graph(body.graph_id, ctx.registry)
        check_shape(body.metadata or {}, "metadata")
        query = AssistantQuery(graph_id=body.graph_id, name=body.name, metadata=body.metadata)
        defaults = [default_record(n, g) for n, g in ctx.registry.items()]
        return query, [d for d in defaults if query.matches(d)]

    @router.post("/assistants/search")
    def search(
        body: AssistantSearch, response: Response, who: Principal = Depends(principal)
    ) -> list[dict[str, Any]]:
        """Default and created assistants, newest first (`sort_by` `created_at`; the
        default assistants are dated at the epoch). A page of the store's assistants is
        merged with the graphs' defaults in the order asked; `X-Pagination-Next` names the
        next page's offset when there is one."""
        ctx.need(who, "requester", "approver")
        query, defaults = query_of(body)
        sort_by = body.sort_by or "created_at"
        order = (body.sort_order or "desc") if body.sort_by else "desc"
        end = body.offset + body.limit
        stored = ctx.saver.search_assistants(
            query, sort_by=sort_by, sort_order=order, limit=end + 1
        )
        merged = sorted(
            [*stored, *defaults],
            key=lambda a: assistant_order(a, sort_by),
            reverse=order == "desc",
        )
        if len(merged) > end:
            response.headers["X-Pagination-Next"] = str(end)
        page = [assistant_view(a) for a in merged[body.offset : end]]
        if body.select:
            page = [{k: v for k, v in a.items() if k in body.select} for a in page]
        return page

    @router.post("/assistants/count")
    def count(body: AssistantCount, who: Principal = Depends(principal)) -> int:
        ctx.need(who, "requester", "approver")
        query, defaults = query_of(body)
        return len(defaults) + ctx.saver.count_assistants(query)

    @router.get("/assistants/{assistant_id}")
    def get(assistant_id: str, who: Principal = Depends(principal)) -> dict[str, Any]:
        ctx.need(who, "requester", "approver")
        return assistant_view(record_of(ctx.saver, ctx.registry, assistant_id))

    @router.post("/assistants/{assistant_id}/versions")
    def versions(
        assistant_id: str, body: VersionSearch, who: Principal = Depends(principal)
    ) -> list[dict[str, Any]]:
        """The assistant's versions, newest first (a default assistant has one). None
        matching is 404, as LangGraph answers it."""
        ctx.need(who, "requester", "approver")
        check_shape(body.metadata or {}, "metadata")
        default = default_of(ctx.registry, assistant_id)
        if default is not None:  # one version
            only = default_record(*default)
            matches = AssistantQuery(metadata=body.metadata).matches(only)
            listed = [only] if body.offset == 0 and matches else []
        else:
            found = record_of(ctx.saver, ctx.registry, assistant_id)
            listed = ctx.saver.list_assistant_versions(
                found.assistant_id, metadata=body.metadata, limit=body.limit, offset=body.offset
            )
        if not listed:
            raise ApiError(404, "not_found", f"assistant {assistant_id!r}: no version found")
        return [version_view(v) for v in listed]

    @router.get("/assistants/{assistant_id}/graph")
    def graph(
        assistant_id: str,
        xray: str = Query("false", pattern=r"^(?i:true|false|\d{1,3})$"),
        who: Principal = Depends(principal),
    ) -> dict[str, Any]:
        """The graph as LangGraph's `get_graph(xray=...).to_json()`: `xray` is `true`,
        `false` or how many levels of subgraphs to draw inside their nodes."""
        ctx.need(who, "requester", "approver")
        graph = ctx.assistant(assistant_id).graph
        depth: bool | int = int(xray) if xray.isdigit() else xray.lower() == "true"
        drawing: dict[str, Any] = graph.get_graph(xray=depth).to_json()
        return drawing

    @router.get("/assistants/{assistant_id}/schemas")
    def schemas(assistant_id: str, who: Principal = Depends(principal)) -> dict[str, Any]:
        ctx.need(who, "requester", "approver")
        found = ctx.assistant(assistant_id)
        return _schemas(found.name, found.graph)

    return router
