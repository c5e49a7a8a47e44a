"""Agent Server long-term memory: langgraph-sdk's `client.store` over the store the
server's graphs share (`store_of(saver)`: the items live in the service's database).

    PUT    /store/items           {namespace, key, value, index?, ttl?}     -> 204
    GET    /store/items           ?namespace=a.b&key=k                      -> item or null
    DELETE /store/items           {namespace, key}                          -> 204
    POST   /store/items/search    {namespace_prefix, filter?, limit?, offset?, query?}
                                                                            -> {"items": [...]}
    POST   /store/namespaces      {prefix?, suffix?, max_depth?, limit?, offset?}
                                                                            -> {"namespaces": [...]}

Reads need the role requester or approver, writes requester (admins hold both). Bad input
is a 422 with the SDK's error body: a bad namespace (`invalid_namespace`), a value that is
not an object, an unknown filter operator (`invalid_request`), semantic search or a TTL
(`not_supported`). As on LangGraph's server, `GET` names the namespace with its labels
joined by `.`, so a label holding `.` can be written and searched but not read back by
`GET` (`search` finds it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from interlock.errors import InterlockError
from interlock.graph import CompiledStateGraph
from interlock.server._errors import ApiError
from interlock.server._operations import MAX_OFFSET, check_shape
from interlock.server._plain import plain
from interlock.server.agent_server._wire import AgentRoute
from interlock.server.auth import Principal
from interlock.store import BaseStore

__all__ = ["give_store", "store_routes"]

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
    service's role check."""
    router = APIRouter(route_class=AgentRoute, tags=["agent server: store"])

    @router.put("/store/items", status_code=204)
    def put_item(body: PutItem, who: Principal = Depends(principal)) -> Response:
        need(who, "requester")
        check_shape(body.value, "value")
        with _checked():
            store.put(tuple(body.namespace), body.key, body.value, body.index, ttl=body.ttl)
        return Response(status_code=204)

    @router.get("/store/items")
    def get_item(
        key: str = Query(...),
        namespace: str = Query(""),
        refresh_ttl: bool | None = Query(None),
        who: Principal = Depends(principal),
    ) -> Any:
        need(who, "requester", "approver")
        labels = tuple(namespace.split(".")) if namespace else ()
        with _checked():
            found = store.get(labels, key)
        return None if found is None else plain(found.dict())

    @router.delete("/store/items", status_code=204)
    def delete_item(body: DeleteItem, who: Principal = Depends(principal)) -> Response:
        need(who, "requester")
        with _checked():
            store.delete(tuple(body.namespace), body.key)
        return Response(status_code=204)

    @router.post("/store/items/search")
    def search_items(body: SearchItems, who: Principal = Depends(principal)) -> dict[str, Any]:
        need(who, "requester", "approver")
        with _checked():
            found = store.search(
                tuple(body.namespace_prefix),
                query=body.query,
                filter=body.filter,
                limit=body.limit,
                offset=body.offset,
            )
        return {"items": [plain(i.dict()) for i in found]}

    @router.post("/store/namespaces")
    def list_namespaces(
        body: ListNamespaces, who: Principal = Depends(principal)
    ) -> dict[str, Any]:
        need(who, "requester", "approver")
        with _checked():
            found = store.list_namespaces(
                prefix=None if body.prefix is None else tuple(body.prefix),
                suffix=None if body.suffix is None else tuple(body.suffix),
                max_depth=body.max_depth,
                limit=body.limit,
                offset=body.offset,
            )
        return {"namespaces": [list(n) for n in found]}

    return router
