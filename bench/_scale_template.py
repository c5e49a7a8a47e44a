"""The template threads bench/inbox_scale.py copies: made by the real service (Agent Server
API and `/v1` decisions) on a fresh store, so that the copies are rows as the store writes
them.

- `tpl-paused`: created over the Agent Server with metadata, run once: it asks one question
  (pending) under the rule `approvers=["tplapprover"]`.
- `tpl-done`: the same, run once, asks `ASKS` questions one after the other; each is decided
  over the Agent Server (`command.resume`, the one decision path) and the run finishes.

The requester is `tplrequester`, the approver `tplapprover` (key `k-app`), the graph
`tplagent`: names the copies replace.
"""

from __future__ import annotations

import operator
import uuid
from typing import Annotated, Any, TypedDict

import interlock as il

ASKS = 10
"""Questions the finished template thread asked (and had decided)."""

KEYS = (
    "k-req=tplrequester:requester;k-app=tplapprover:approver,group:ops;"
    "k-rare=rare:approver;k-ops=opsperson:approver,group:ops"
)
PAUSED, DONE = "tpl-paused", "tpl-done"
AGENT = "tplagent"


class Refund(TypedDict, total=False):
    order: str
    asks: int
    answers: Annotated[list[Any], operator.add]


def ask(state: Refund) -> dict[str, Any]:
    """Ask `asks` questions, one after the other (a resume runs the node again)."""
    answers = [
        il.interrupt(
            {"action": "refund", "order": state["order"], "amount": 10 * (i + 1)},
            approvers=["tplapprover"],
        )
        for i in range(state.get("asks", 1))
    ]
    return {"answers": answers}


def graph(saver: Any, name: str) -> Any:
    """The bench's agent, compiled under `name`."""
    g = il.StateGraph(Refund)
    g.add_node("ask", ask)
    g.add_edge(il.START, "ask")
    return g.compile(checkpointer=saver, name=name)


def assistant_uuid(name: str) -> str:
    """The assistant id the Agent Server gives a graph (`_wire.assistant_id_of`)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def make_templates(saver: Any) -> None:
    """Write the two template threads into `saver` through the service."""
    from fastapi.testclient import TestClient

    from interlock.server import ApiKeys, create_app

    app = create_app({AGENT: graph(saver, AGENT)}, keys=ApiKeys.parse(KEYS), workers=0)
    req, app_key = {"x-api-key": "k-req"}, {"x-api-key": "k-app"}
    with TestClient(app) as http:
        for thread_id, asks in ((PAUSED, 1), (DONE, ASKS)):
            meta = {"user_id": "tplrequester", "tenant": "tpltenant"}
            made = http.post(
                "/threads", json={"thread_id": thread_id, "metadata": meta}, headers=req
            )
            assert made.status_code == 200, made.text
            body = {"assistant_id": AGENT, "input": {"order": "o-" + thread_id, "asks": asks}}
            paused = http.post(f"/threads/{thread_id}/runs/wait", json=body, headers=req)
            assert paused.status_code == 200 and paused.json()["__interrupt__"], paused.text
        for _ in range(ASKS):
            answer = {"assistant_id": AGENT, "command": {"resume": {"ok": True}}}
            went = http.post(f"/threads/{DONE}/runs/wait", json=answer, headers=app_key)
            assert went.status_code == 200, went.text
        assert len(went.json()["answers"]) == ASKS, went.text
