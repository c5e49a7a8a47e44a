"""An agent of LangChain objects behind `interlock serve`'s HTTP API: the person decides
over HTTP, and a thread holding LangChain messages renders as JSON."""

from __future__ import annotations

from pathlib import Path

from langchain_core import messages as lc
from langchain_core.tools import tool as lc_tool
from langchain_openai import ChatOpenAI

from interlock import SqliteSaver, create_agent
from interlock.agent.models.testing import FakeProvider, Reply
from interlock.server import ApiKeys, create_app
from tests._http import served

KEYS = "k-bob=bob:requester;k-ada=ada:approver"
BOB = {"Authorization": "Bearer k-bob"}
ADA = {"Authorization": "Bearer k-ada"}

refunds: list[tuple[str, float]] = []


@lc_tool
def refund(order_id: str, amount: float) -> str:
    """Refund an order.

    Args:
        order_id: The order
        amount: How much to give back
    """
    refunds.append((order_id, amount))
    return f"refunded {amount} on {order_id}"


def test_a_langchain_agent_is_decided_over_http(tmp_path: Path) -> None:
    with FakeProvider() as provider, SqliteSaver(tmp_path / "agent.db") as saver:
        provider.replies += [
            Reply.openai_calls([("refund", {"order_id": "o1", "amount": 90.0})]),
            Reply.openai_text("Done: refunded."),
        ]
        model = ChatOpenAI(model="gpt-test", api_key="sk-test", base_url=provider.url)
        agent = create_agent(model, [refund], checkpointer=saver, interrupt_on={"refund": True})
        app = create_app({"support": agent}, keys=ApiKeys.parse(KEYS))
        with served(app) as client:
            started = client.post(
                "/v1/threads", json={"message": "refund order o1 please"}, headers=BOB
            ).json()
            [request] = started["run"]["interrupts"]
            [action] = request["value"]["action_requests"]
            assert action["args"] == {"order_id": "o1", "amount": 90.0}
            edit = {
                "type": "edit",
                "edited_action": {"name": "refund", "args": {"order_id": "o1", "amount": 45.0}},
            }
            done = client.post(
                f"/v1/approvals/{request['id']}/decision",
                json={"value": {"decisions": [edit]}},
                headers=ADA,
            )
            assert done.status_code == 200, done.text
            messages = done.json()["run"]["values"]["messages"]
            assert [m["type"] for m in messages] == ["human", "ai", "tool", "ai"]
            assert messages[1]["tool_calls"][0]["args"] == {"order_id": "o1", "amount": 45.0}
            assert messages[2]["content"].startswith("refunded 45.0 on o1")
            assert messages[-1]["content"] == "Done: refunded."
            assert messages[-1]["usage_metadata"]["total_tokens"] == 18
            assert refunds == [("o1", 45.0)]

            # a thread given LangChain messages directly is stored and rendered as well
            client.post("/v1/threads", json={"thread_id": "given"}, headers=BOB)
            agent.update_state(
                {"configurable": {"thread_id": "given"}},
                {"messages": [lc.HumanMessage("hi", id="h1"), lc.AIMessage("hello", id="a1")]},
                as_node="model",
            )
            state = client.get("/v1/threads/given", headers=BOB)
            assert state.status_code == 200, state.text
            given = state.json()["values"]["messages"]
            assert [(m["type"], m["content"], m["id"]) for m in given] == [
                ("human", "hi", "h1"),
                ("ai", "hello", "a1"),
            ]
