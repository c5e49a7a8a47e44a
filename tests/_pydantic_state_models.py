"""A pydantic-state graph whose paused threads the previous release stored
(tests/fixtures/pydantic-state-2026-12-07.json, made by
tests/fixtures/make_pydantic_state_store.py): the models live here so that the stored type
tags name a module both that release and this code import."""

from __future__ import annotations

import operator
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

import interlock as il


class Item(BaseModel):
    sku: str
    qty: int = 1


class Order(BaseModel):
    items: Annotated[list[Item], operator.add] = Field(default_factory=list)
    approved: bool | None = None
    when: datetime | None = None
    total: int = 0


def plan(state: Order) -> dict[str, Any]:
    return {"items": [Item(sku="a", qty=2), {"sku": "b"}], "when": datetime(2024, 1, 2, 3, 4)}


def review(state: Order) -> dict[str, Any]:
    return {"approved": il.interrupt({"items": len(state.items)})}


def total(state: Order) -> dict[str, Any]:
    return {
        "total": sum(i.qty for i in state.items),
        "items": [Item(sku=type(state.when).__name__)],
    }


def order_graph(saver: Any) -> Any:
    g = il.StateGraph(Order)
    g.add_node("plan", plan)
    g.add_node("review", review)
    g.add_node("total", total)
    g.add_edge(il.START, "plan")
    g.add_edge("plan", "review")
    g.add_edge("review", "total")
    return g.compile(checkpointer=saver, name="orders")
