"""A graph whose state is a list of langchain-core messages, built the same way by the
storage tests and by the child process that reads their thread back."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Any, TypedDict

from langchain_core.messages import (
    AIMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
)

from interlock import END, START, StateGraph, add_messages, interrupt


@dataclasses.dataclass
class Hit:
    """A value of the application's own kind inside a message (a tool's artifact)."""

    page: int
    score: float


class State(TypedDict, total=False):
    messages: Annotated[list[Any], add_messages]


def first_messages() -> list[Any]:
    """The input: a system prompt and a human message with content blocks."""
    return [
        SystemMessage("Be brief.", id="sys-0"),
        HumanMessage(
            content=[
                {"type": "text", "text": "What is on this slide?"},
                {"type": "image", "url": "https://example.com/slide.png"},
            ],
            id="h-1",
            name="ada",
            additional_kwargs={"client": {"app": "inbox", "v": 2}},
        ),
    ]


def model_turn() -> AIMessage:
    return AIMessage(
        content=[{"type": "text", "text": "Let me look."}],
        id="ai-1",
        tool_calls=[
            {"name": "lookup", "args": {"term": "slide"}, "id": "c1", "type": "tool_call"},
            {"name": "ocr", "args": {"page": 3, "lang": ["en"]}, "id": "c2", "type": "tool_call"},
        ],
        usage_metadata={
            "input_tokens": 12,
            "output_tokens": 5,
            "total_tokens": 17,
            "input_token_details": {"cache_read": 4},
        },
        response_metadata={"model_name": "gpt-test", "finish_reason": "tool_calls"},
        additional_kwargs={"refusal": None},
    )


def tool_results() -> list[ToolMessage]:
    return [
        ToolMessage("found it", tool_call_id="c1", id="t-1", name="lookup", artifact={"rows": [1]}),
        ToolMessage("no text", tool_call_id="c2", id="t-2", name="ocr", status="error"),
    ]


def final_turn(answer: str) -> list[Any]:
    return [RemoveMessage(id="sys-0"), AIMessage(answer, id="ai-2")]


def build(checkpointer: Any) -> Any:
    def model(state: State) -> dict:
        return {"messages": [model_turn()]}

    def tools(state: State) -> dict:
        return {"messages": tool_results()}

    def review(state: State) -> dict:
        answer = interrupt({"question": "send the answer?"})
        return {"messages": final_turn(answer)}

    graph = StateGraph(State)
    graph.add_node("model", model)
    graph.add_node("tools", tools)
    graph.add_node("review", review)
    graph.add_edge(START, "model")
    graph.add_edge("model", "tools")
    graph.add_edge("tools", "review")
    graph.add_edge("review", END)
    return graph.compile(checkpointer=checkpointer)


def describe(messages: list[Any]) -> str:
    """The messages as JSON text: each one's exact class and its fields."""
    return json.dumps(
        [
            {"class": f"{type(m).__module__}.{type(m).__qualname__}", "fields": m.model_dump()}
            for m in messages
        ],
        sort_keys=True,
    )


def child(spec: str, thread: str, answer: str) -> None:
    """In another process: read the paused thread, print it, answer it, print the result."""
    from interlock import Command
    from tests._race import open_saver

    saver = open_saver(spec)
    app = build(saver)
    config = {"configurable": {"thread_id": thread}}
    print(describe(app.get_state(config).values["messages"]))
    print(describe(app.invoke(Command(resume=answer), config)["messages"]))
    saver.close()
