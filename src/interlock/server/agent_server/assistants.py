"""Agent Server meta and assistants: `GET /ok`, `GET /info`, and one assistant per
registered graph (searchable, with its graph drawing and state schema)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from interlock.graph import CompiledStateGraph
from interlock.server._operations import MAX_OFFSET
from interlock.server.agent_server._context import Context
from interlock.server.agent_server._wire import AgentRoute, assistant_view
from interlock.server.auth import Principal

__all__ = ["assistant_routes"]


class AssistantSearch(BaseModel):
    model_config = ConfigDict(extra="ignore")

    graph_id: str | None = None
    name: str | None = None
    metadata: dict[str, Any] | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    sort_by: str | None = None
    sort_order: str | None = None
    select: list[str] | None = None


def _schemas(name: str, graph: CompiledStateGraph) -> dict[str, Any]:
    keys = list(getattr(graph.spec.schema, "channels", {}) or {})
    state = {"title": name, "type": "object", "properties": {k: {} for k in keys}}
    return {
        "graph_id": name,
        "input_schema": state,
        "output_schema": state,
        "state_schema": state,
        "config_schema": None,
        "context_schema": None,
    }


def assistant_routes(ctx: Context, principal: Any) -> APIRouter:
    """The meta and assistant routes of the Agent Server API."""
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

    @router.post("/assistants/search")
    def search(body: AssistantSearch, who: Principal = Depends(principal)) -> list[dict[str, Any]]:
        ctx.need(who, "requester", "approver")
        found = [
            assistant_view(name, graph)
            for name, graph in sorted(ctx.registry.items())
            if (body.graph_id is None or body.graph_id == name)
            and (body.name is None or body.name in name)
        ]
        if body.metadata:
            found = [
                a for a in found if all(a["metadata"].get(k) == v for k, v in body.metadata.items())
            ]
        page = found[body.offset : body.offset + body.limit]
        if body.select:
            page = [{k: v for k, v in a.items() if k in body.select} for a in page]
        return page

    @router.post("/assistants/count")
    def count(body: AssistantSearch, who: Principal = Depends(principal)) -> int:
        body.limit, body.offset = 1000, 0
        return len(search(body, who))

    @router.get("/assistants/{assistant_id}")
    def get(assistant_id: str, who: Principal = Depends(principal)) -> dict[str, Any]:
        ctx.need(who, "requester", "approver")
        return assistant_view(*ctx.assistant(assistant_id))

    @router.get("/assistants/{assistant_id}/graph")
    def graph(
        assistant_id: str,
        xray: str = Query("false", pattern=r"^(?i:true|false|\d{1,3})$"),
        who: Principal = Depends(principal),
    ) -> dict[str, Any]:
        """The graph as LangGraph's `get_graph(xray=...).to_json()`: `xray` is `true`,
        `false` or how many levels of subgraphs to draw inside their nodes."""
        ctx.need(who, "requester", "approver")
        graph: CompiledStateGraph = ctx.assistant(assistant_id)[1]
        depth: bool | int = int(xray) if xray.isdigit() else xray.lower() == "true"
        drawing: dict[str, Any] = graph.get_graph(xray=depth).to_json()
        return drawing

    @router.get("/assistants/{assistant_id}/schemas")
    def schemas(assistant_id: str, who: Principal = Depends(principal)) -> dict[str, Any]:
        ctx.need(who, "requester", "approver")
        return _schemas(*ctx.assistant(assistant_id))

    return router
