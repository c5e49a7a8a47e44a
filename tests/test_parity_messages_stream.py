"""`stream_mode="messages"` carries the messages nodes return, as LangGraph's does: a
message a node builds (or a tool's reply, or a reply fetched without streaming) comes as
one `(message, metadata)` chunk when the node finishes; messages the node was given, and
those the run already sent (as tokens or from an earlier node), do not come again.

The graph-level cases are checked against LangGraph 1.2 by running the same code there.
"""

from __future__ import annotations

from typing import Any

from interlock import (
    START,
    AIMessage,
    Command,
    HumanMessage,
    MessagesState,
    ScriptedChatModel,
    StateGraph,
    create_agent,
    interrupt,
    tool,
)


def cfg(thread: str = "t1") -> dict:
    return {"configurable": {"thread_id": thread}}


def said(app: Any, input: Any, config: Any = None) -> list[tuple[str, str, Any, str]]:
    """(type, content, id, node) of each `messages` chunk of a run."""
    return [
        (m.type, m.content, m.id, meta["langgraph_node"])
        for m, meta in app.stream(input, config, stream_mode="messages")
    ]


def test_a_message_a_node_returns_comes_once_with_the_state_s_id(saver) -> None:
    def reply(state: MessagesState) -> dict:
        return {"messages": [AIMessage(content=f"{len(state['messages'])} so far")]}

    g = StateGraph(MessagesState)
    g.add_node("reply", reply)
    g.add_edge(START, "reply")
    app = g.compile(checkpointer=saver)
    chunks = said(app, {"messages": [HumanMessage("hi", id="h1")]}, cfg())
    stored = app.get_state(cfg()).values["messages"]
    assert chunks == [("ai", "1 so far", stored[1].id, "reply")]
    assert isinstance(stored[1].id, str) and stored[1].id


def test_messages_a_node_was_given_are_not_sent_as_its_own() -> None:
    def echo(state: MessagesState) -> dict:
        return {"messages": [state["messages"][-1], AIMessage(content="new", id="a1")]}

    g = StateGraph(MessagesState)
    g.add_node("echo", echo)
    g.add_edge(START, "echo")
    chunks = said(g.compile(), {"messages": [HumanMessage("hi", id="h1")]})
    assert chunks == [("ai", "new", "a1", "echo")]


def test_a_message_sent_by_one_node_is_not_sent_again_by_the_next() -> None:
    g = StateGraph(MessagesState)
    g.add_node("first", lambda s: {"messages": [AIMessage(content="one", id="a1")]})
    g.add_node("second", lambda s: {"messages": [AIMessage(content="two", id="a2")]})
    g.add_edge(START, "first")
    g.add_edge("first", "second")
    chunks = said(g.compile(), {"messages": [HumanMessage("hi", id="h1")]})
    assert chunks == [("ai", "one", "a1", "first"), ("ai", "two", "a2", "second")]


def test_a_command_s_update_and_a_subgraph_s_messages_come_once() -> None:
    inner = StateGraph(MessagesState)
    inner.add_node("deep", lambda s: {"messages": [AIMessage(content="deep", id="d1")]})
    inner.add_edge(START, "deep")
    sub = inner.compile()

    def route(state: MessagesState) -> Command:
        return Command(update={"messages": [AIMessage(content="routed", id="r1")]}, goto="sub")

    g = StateGraph(MessagesState)
    g.add_node("route", route)
    g.add_node("sub", sub)
    g.add_edge(START, "route")
    chunks = said(g.compile(), {"messages": [HumanMessage("hi", id="h1")]})
    assert [c[1] for c in chunks] == ["routed", "deep"]  # "deep" once, not again from "sub"
    # interlock sends a subgraph's own chunks up (from its node "deep"); LangGraph 1.2,
    # without subgraphs=True, sends the message from the parent's node "sub" instead
    assert [c[3] for c in chunks] == ["route", "deep"]


def test_a_paused_node_sends_nothing_until_it_finishes(saver) -> None:
    def ask(state: MessagesState) -> dict:
        answer = interrupt("ok?")
        return {"messages": [AIMessage(content=f"told {answer}", id="a1")]}

    g = StateGraph(MessagesState)
    g.add_node("ask", ask)
    g.add_edge(START, "ask")
    app = g.compile(checkpointer=saver)
    assert said(app, {"messages": [HumanMessage("hi", id="h1")]}, cfg()) == []
    assert said(app, Command(resume="yes"), cfg()) == [("ai", "told yes", "a1", "ask")]


@tool
def pay(amount: int) -> str:
    """Pay an invoice.

    Args:
        amount: how much
    """
    return f"paid {amount}"


def test_an_agent_streams_tokens_once_and_its_tool_replies(saver) -> None:
    call = {"name": "pay", "args": {"amount": 5}, "id": "call-1", "type": "tool_call"}
    model = ScriptedChatModel([AIMessage(content="", tool_calls=[call]), "done paying"])
    agent = create_agent(model, [pay], checkpointer=saver)
    chunks = said(agent, {"messages": [HumanMessage("pay it", id="h1")]}, cfg())
    stored = agent.get_state(cfg()).values["messages"]
    tool_reply = stored[2]
    assert tool_reply.type == "tool"
    assert ("tool", "paid 5", tool_reply.id, "tools") in chunks
    final = [c for c in chunks if c[2] == stored[3].id]
    assert "".join(c[1] for c in final) == "done paying"
    assert all(c[0] == "AIMessageChunk" or c[0] == "ai" for c in final)
    assert len(final) > 1  # tokens only: the whole reply is not sent again
    assert not any(c[2] == "h1" for c in chunks)


def test_langchain_messages_a_node_returns_come_too() -> None:
    from langchain_core.messages import AIMessage as LcAIMessage

    g = StateGraph(MessagesState)
    g.add_node("lc", lambda s: {"messages": [LcAIMessage(content="from langchain", id="l1")]})
    g.add_edge(START, "lc")
    ((message, meta),) = list(
        g.compile().stream({"messages": [HumanMessage("hi")]}, stream_mode="messages")
    )
    assert message.content == "from langchain" and message.id == "l1"
    assert meta["langgraph_node"] == "lc"
