"""Agent Server long-term memory: langgraph-sdk's `client.store` over the store the
server's graphs share (`store_of(saver, index=..., ttl=...)`: the items live in the
service's database; `create_app(store={"index": ..., "ttl": ...})` sets it up, as
langgraph.json's `store` section does for LangGraph's server).

    PUT    /store/items           {namespace, key, value, index?, ttl?}     -> 204
    GET    /store/items           ?namespace=a.b&key=k&refresh_ttl=         -> item or null
    DELETE /store/items           {namespace, key}                          -> 204
    POST   /store/items/search    {namespace_prefix, filter?, limit?, offset?, query?,
                                   refresh_ttl?}                            -> {"items": [...]}
    POST   /store/namespaces      {prefix?, suffix?, max_depth?, limit?, offset?}
                                                                            -> {"namespaces": [...]}

Reads need the role requester or approver, writes requester (admins hold both). Bad input
is a 422 with the SDK's error body: a bad namespace (`invalid_namespace`), a value that is
not an object, an unknown filter operator, a TTL that is not a positive number of minutes
(`invalid_request`), semantic search (`query`, `index`) when the store has no index, or a
TTL when it has no ttl settings (`not_supported`); a failing embedding model is a 502
(`embedding_failed`) and writes nothing. As on LangGraph's server, `GET` names the
namespace with its labels joined by `.`, so a label holding `.` can be written and
searched but not read back by `GET` (`search` finds it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from interlock.errors import InterlockError, StoreFeatureUnsupported
from interlock.graph import CompiledStateGraph
from interlock.server._errors import ApiError
from interlock.server._operations import MAX_OFFSET, check_shape
from interlock.server._plain import plain
from interlock.server.agent_server._wire import AgentRoute
from interlock.server.auth import Principal
from interlock.store import NOT_PROVIDED, BaseStore, store_of

__all__ = ["give_store", "served_store", "store_routes"]

MAX_LIMIT = 1000


class PutItem(BaseModel):
    model_config = ConfigDict(extra="ignore")

    namespace: list[str]
    key: str
    value: dict[str, Any]
    index: Literal[False] | list[str] | None = None
    ttl: float | None = None


class DeleteItem(BaseModel):
    model_config = ConfigDict(extra="ignore")

    namespace: list[str]
    key: str


class SearchItems(BaseModel):
    model_config = ConfigDict(extra="ignore")

    namespace_prefix: list[str] = Field(default_factory=list)
    filter: dict[str, Any] | None = None
    limit: int = Field(10, ge=0, le=MAX_LIMIT)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    query: str | None = None
    refresh_ttl: bool | None = None


class ListNamespaces(BaseModel):
    model_config = ConfigDict(extra="ignore")

    prefix: list[str] | None = None
    suffix: list[str] | None = None
    max_depth: int | None = Field(None, ge=0)
    limit: int = Field(100, ge=0, le=MAX_LIMIT)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


def served_store(app: FastAPI, saver: Any, settings: Mapping[str, Any] | None) -> BaseStore:
    """The service's store in `saver`'s database, made with `settings` (`{"index": ...,
    "ttl": ...}`, langgraph.json's `store` section; checked here, so a bad one fails at
    start). With `ttl.sweep_interval_minutes`, expired items are swept that often while
    the app runs (a thread started and stopped with the app's lifespan)."""
    settings = dict(settings or {})
    unknown = sorted(set(settings) - {"index", "ttl"})
    if unknown:
        raise ValueError(f"store settings: unknown keys {unknown}; use 'index' and 'ttl'")
    store = store_of(saver, index=settings.get("index"), ttl=settings.get("ttl"))
    if not (settings.get("ttl") or {}).get("sweep_interval_minutes"):
        return store
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        store.start_ttl_sweeper()  # type: ignore[attr-defined]
        try:
            async with inner(app) as state:
                yield state
        finally:
            store.stop_ttl_sweeper(timeout=10)  # type: ignore[attr-defined]

    app.router.lifespan_context = lifespan
    return store


def give_store(registry: Mapping[str, CompiledStateGraph], store: BaseStore) -> None:
    """Hand `store` to the served graphs compiled without one (as `runtime.store`); a graph
    compiled with a store of its own keeps it."""
    for graph in registry.values():
        if graph.store is None:
            graph.store = store


@contextmanager
def _checked() -> Iterator[None]:
    """The store's refusals as 422s: interlock's errors by their status (`STATUS`), other
    `ValueError`s / `TypeError`s (a value that is not an object, a bad filter) as
    `invalid_request`."""
    try:
        yield
    except InterlockError:
        raise
    except (ValueError, TypeError) as exc:
        raise ApiError(422, "invalid_request", str(exc)) from exc


def store_routes(store: BaseStore, principal: Any, need: Callable[..., None]) -> APIRouter:
    """The `/store` routes of the Agent Server API over `store`; `need(who, *roles)` is the
    service's role check. They call the store's async methods (its database calls run in
    worker threads), so an index may embed with an async function as well as a sync one."""
    router = APIRouter(route_class=AgentRoute, tags=["agent server: store"])

    @router.put("/store/items", status_code=204)
    async def put_item(body: PutItem, who: Principal = Depends(principal)) -> Response:
        need(who, "requester")
        check_shape(body.value, "value")
        ttl: Any = body.ttl if "ttl" in body.model_fields_set else NOT_PROVIDED
        if ttl not in (None, NOT_PROVIDED) and store.ttl_config is None:
            raise StoreFeatureUnsupported(
                "ttl: the served store keeps items until they are deleted; start the server "
                "with ttl settings (create_app(store={'ttl': {...}})) to let items expire"
            )
        with _checked():
            await store.aput(tuple(body.namespace), body.key, body.value, body.index, ttl=ttl)
        return Response(status_code=204)

    @router.get("/store/items")
    async def get_item(
        key: str = Query(...),
        namespace: str = Query(""),
        refresh_ttl: bool | None = Query(None),
        who: Principal = Depends(principal),
    ) -> Any:
        need(who, "requester", "approver")
        labels = tuple(namespace.split(".")) if namespace else ()
        with _checked():
            found = await store.aget(labels, key, refresh_ttl=refresh_ttl)
        return None if found is None else plain(found.dict())

    @router.delete("/store/items", status_code=204)
    async def delete_item(body: DeleteItem, who: Principal = Depends(principal)) -> Response:
        need(who, "requester")
        with _checked():
            await store.adelete(tuple(body.namespace), body.key)
        return Response(status_code=204)

    @router.post("/store/items/search")
    async def search_items(
        body: SearchItems, who: Principal = Depends(principal)
    ) -> dict[str, Any]:
        need(who, "requester", "approver")
        with _checked():
            found = await store.asearch(
                tuple(body.namespace_prefix),
                query=body.query,
                filter=body.filter,
                limit=body.limit,
                offset=body.offset,
                refresh_ttl=body.refresh_ttl,
            )
        return {"items": [plain(i.dict()) for i in found]}

    @router.post("/store/namespaces")
    async def list_namespaces(
        body: ListNamespaces, who: Principal = Depends(principal)
    ) -> dict[str, Any]:
        need(who, "requester", "approver")
        with _checked():
            found = await store.alist_namespaces(
                prefix=None if body.prefix is None else tuple(body.prefix),
                suffix=None if body.suffix is None else tuple(body.suffix),
                max_depth=body.max_depth,
                limit=body.limit,
                offset=body.offset,
            )
        return {"namespaces": [list(n) for n in found]}

    return router
