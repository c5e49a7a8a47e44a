"""A LangChain chat model called in your own node streams its tokens to
`stream_mode="messages"`, as in LangGraph (LangGraph's quickstart chatbot): each token an
`AIMessageChunk` with the node's name, the reply not sent again whole. Checked against
LangGraph 1.2 for the same programs (`GenericFakeChatModel` streams word by word); and
with langchain-openai's `ChatOpenAI` over real HTTP to the local OpenAI-protocol server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_openai import ChatOpenAI

from interlock import START, Command, StateGraph, create_agent, interrupt
from interlock.agent.models.testing import FakeProvider, Reply
from interlock.langchain import MessagesState


def chatbot_graph(llm: Any, saver: Any = None, asynchronous: bool = False) -> Any:
    def chatbot(state: MessagesState) -> dict:
        return {"messages": [llm.invoke(state["messages"])]}

    async def achatbot(state: MessagesState) -> dict:
        return {"messages": [await llm.ainvoke(state["messages"])]}

    g = StateGraph(MessagesState)
    g.add_node("chatbot", achatbot if asynchronous else chatbot)
    g.add_edge(START, "chatbot")
    return g.compile(checkpointer=saver)


def shown(chunks: list[Any]) -> list[tuple[str, Any, str]]:
    return [(type(m).__name__, m.content, meta["langgraph_node"]) for m, meta in chunks]


def test_a_node_s_langchain_model_streams_its_tokens(saver) -> None:
    llm = GenericFakeChatModel(messages=iter(["hello there friend"]))
    app = chatbot_graph(llm, saver)
    config = {"configurable": {"thread_id": "t"}}
    chunks = list(app.stream({"messages": [HumanMessage("hi")]}, config, stream_mode="messages"))
    assert shown(chunks) == [
        ("AIMessageChunk", "hello", "chatbot"),
        ("AIMessageChunk", " ", "chatbot"),
        ("AIMessageChunk", "there", "chatbot"),
        ("AIMessageChunk", " ", "chatbot"),
        ("AIMessageChunk", "friend", "chatbot"),
    ]
    reply = app.get_state(config).values["messages"][-1]
    assert isinstance(reply, AIMessage) and reply.content == "hello there friend"
    assert {m.id for m, _ in chunks} == {reply.id}  # the stream and the state name it alike


def test_an_async_node_s_langchain_model_streams_its_tokens() -> None:
    llm = GenericFakeChatModel(messages=iter(["second one"]))
    app = chatbot_graph(llm, asynchronous=True)

    async def collect() -> list[Any]:
        stream = app.astream({"messages": [HumanMessage("hi")]}, stream_mode="messages")
        return [item async for item in stream]

    assert shown(asyncio.run(collect())) == [
        ("AIMessageChunk", "second", "chatbot"),
        ("AIMessageChunk", " ", "chatbot"),
        ("AIMessageChunk", "one", "chatbot"),
    ]


def test_without_a_messages_stream_the_model_is_called_as_the_node_calls_it() -> None:
    llm = GenericFakeChatModel(messages=iter(["whole reply"]))
    app = chatbot_graph(llm)
    (update,) = list(app.stream({"messages": [HumanMessage("hi")]}, stream_mode="updates"))
    (reply,) = update["chatbot"]["messages"]
    assert type(reply).__name__ == "AIMessage" and reply.content == "whole reply"


def test_a_pause_after_the_model_and_the_resume_stream_each_token_once(saver) -> None:
    llm = GenericFakeChatModel(messages=iter(["draft ready", "sent it"]))

    def write(state: MessagesState) -> dict:
        return {"messages": [llm.invoke(state["messages"])]}

    def review(state: MessagesState) -> dict:
        verdict = interrupt("send the draft?")
        return {"messages": [HumanMessage(verdict), llm.invoke(state["messages"])]}

    g = StateGraph(MessagesState)
    g.add_node("write", write)
    g.add_node("review", review)
    g.add_edge(START, "write")
    g.add_edge("write", "review")
    app = g.compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "t"}}
    first = list(app.stream({"messages": [HumanMessage("hi")]}, config, stream_mode="messages"))
    assert "".join(m.content for m, _ in first) == "draft ready"
    again = list(app.stream(Command(resume="yes"), config, stream_mode="messages"))
    # the tokens as they come, then what else the node returned (not its reply again)
    assert "".join(m.content for m, _ in again[:-1]) == "sent it"
    assert all(type(m).__name__ == "AIMessageChunk" for m, _ in again[:-1])
    assert (type(again[-1][0]).__name__, again[-1][0].content) == ("HumanMessage", "yes")


def test_an_agent_s_langchain_model_is_streamed_once() -> None:
    agent = create_agent(GenericFakeChatModel(messages=iter(["Tokens arrive one by one"])), [])
    tokens = [
        c.content for c, _ in agent.stream({"messages": [("user", "hi")]}, stream_mode="messages")
    ]
    assert tokens == ["Tokens", " ", "arrive", " ", "one", " ", "by", " ", "one"]


@pytest.fixture
def server() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        yield fake


def test_chat_openai_in_a_node_streams_over_http(server: FakeProvider) -> None:
    server.replies.append(Reply.openai_text("All good here", stream=True))
    llm = ChatOpenAI(model="gpt-test", api_key="sk-local-test", base_url=server.url, max_retries=0)
    app = chatbot_graph(llm)
    chunks = list(
        app.stream({"messages": [{"role": "user", "content": "hi"}]}, stream_mode="messages")
    )
    text = [m.content for m, meta in chunks if meta["langgraph_node"] == "chatbot"]
    assert "".join(text) == "All good here" and len(text) > 1
    assert server.requests[0]["json"]["stream"] is True  # the model streamed, as asked
