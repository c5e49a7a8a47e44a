"""`ToolNode` and `tools_condition` (LangGraph's prebuilt ones) in graphs wired by hand.

Every expected value is what LangGraph 1.2.22 (langgraph-prebuilt 1.1.3, langchain-core
1.7) produces for the same program: this module was run against it with the block between
the `imports` markers swapped for LangGraph's imports (`langgraph.prebuilt`,
`langgraph.graph`, `langgraph.types`, `langchain_core.messages`, `langchain_core.tools`)
and `LANGGRAPH = True`, on its `InMemorySaver`. Where interlock deliberately differs, the
test asserts both outcomes under `LANGGRAPH`:

- a call that finished beside a call that paused is recorded and not run again on resume
  (LangGraph runs it again);
- an async tool under `invoke` runs (LangGraph raises `NotImplementedError`);
- two calls that pause, answered in turn under `ainvoke`: LangGraph hands the answers out in
  the order the calls reach `interrupt()`, so in about half the runs the first call got the
  second answer; interlock gives each answer to the call that asked.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import threading
import time
from typing import Annotated, Any, TypedDict

import pydantic
import pytest
from langchain_core.tools import StructuredTool
from langchain_core.tools import ToolException as LangChainToolException
from langchain_core.tools import tool as lc_tool

# ---- imports (swapped for LangGraph's when checking against it) ----
from interlock import (
    END,
    START,
    AIMessage,
    Command,
    HumanMessage,
    MessagesState,
    Send,
    StateGraph,
    ToolMessage,
    add_messages,
    interrupt,
    tool,
)
from interlock.prebuilt import ToolInvocationError, ToolNode, tools_condition

LANGGRAPH = False
# ---- end imports ----


def call(name: str, args: dict[str, Any], id: str) -> dict[str, Any]:
    return {"name": name, "args": args, "id": id, "type": "tool_call"}


def asks(*calls: dict[str, Any]) -> AIMessage:
    return AIMessage("", tool_calls=list(calls))


def brief(messages: list[Any]) -> list[tuple[Any, ...]]:
    """(content, name, tool_call_id, status) of each tool message."""
    return [
        (m.content, m.name, m.tool_call_id, m.status)
        for m in messages
        if isinstance(m, ToolMessage)
    ]


def tools_graph(node: Any, saver: Any = None, state: Any = MessagesState) -> Any:
    g = StateGraph(state)
    g.add_node("tools", node)
    g.add_edge(START, "tools")
    g.add_edge("tools", END)
    return g.compile(checkpointer=saver)


def run_calls(run: Any, node: Any, *calls: dict[str, Any]) -> list[Any]:
    """The messages the tools node added after an AI message asking for `calls`."""
    out = run.invoke(tools_graph(node), {"messages": [asks(*calls)]})
    return out["messages"][1:]


def cfg(thread: str = "t1") -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def boom(x: int) -> str:
    """Fail inside the tool."""
    raise ValueError("boom")


# ---- running calls ---------------------------------------------------------------------------


def test_calls_run_side_by_side_and_answer_in_call_order(run) -> None:
    finished: list[int] = []

    @tool
    def slow(tenths: int) -> str:
        """Sleep a while."""
        time.sleep(tenths / 10)
        finished.append(tenths)
        return f"slept {tenths}"

    messages = run_calls(
        run, ToolNode([slow]), call("slow", {"tenths": 5}, "a"), call("slow", {"tenths": 1}, "b")
    )
    assert finished == [1, 5]  # the short call finished first: they ran at the same time
    assert brief(messages) == [
        ("slept 5", "slow", "a", "success"),
        ("slept 1", "slow", "b", "success"),
    ]
    assert len({m.id for m in messages}) == 2 and all(isinstance(m.id, str) for m in messages)


def test_async_tools_run_as_concurrent_tasks_under_ainvoke() -> None:
    finished: list[int] = []

    @tool
    async def nap(tenths: int) -> str:
        """Sleep a while, asynchronously."""
        await asyncio.sleep(tenths / 10)
        finished.append(tenths)
        return f"napped {tenths}"

    graph = tools_graph(ToolNode([nap, add]))
    calls = [call("nap", {"tenths": 4}, "a"), call("add", {"a": 1, "b": 2}, "b")]
    calls.append(call("nap", {"tenths": 1}, "c"))
    out = asyncio.run(graph.ainvoke({"messages": [asks(*calls)]}))
    assert finished == [1, 4]
    assert brief(out["messages"]) == [
        ("napped 4", "nap", "a", "success"),
        ("3", "add", "b", "success"),
        ("napped 1", "nap", "c", "success"),
    ]


def test_an_async_tool_under_invoke() -> None:
    @tool
    async def nap(tenths: int) -> str:
        """Sleep a while, asynchronously."""
        await asyncio.sleep(tenths / 10)
        return f"napped {tenths}"

    graph = tools_graph(ToolNode([nap]))
    if LANGGRAPH:
        with pytest.raises(NotImplementedError, match="does not support sync invocation"):
            graph.invoke({"messages": [asks(call("nap", {"tenths": 0}, "a"))]})
    else:  # interlock runs it
        out = graph.invoke({"messages": [asks(call("nap", {"tenths": 0}, "a"))]})
        assert brief(out["messages"]) == [("napped 0", "nap", "a", "success")]


@dataclasses.dataclass
class Point:
    x: int


class Model(pydantic.BaseModel):
    x: int


RETURNS = [
    (5, "5"),
    ({"a": 1, "é": "ü"}, '{"a": 1, "é": "ü"}'),
    (["a", "b"], '["a", "b"]'),
    ([{"type": "text", "text": "hi"}], [{"type": "text", "text": "hi"}]),
    ([{"type": "text", "text": "hi"}, "x"], '[{"type": "text", "text": "hi"}, "x"]'),
    (None, "null"),
    (datetime.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02 03:04:05"),
    (Point(1), "Point(x=1)"),
    (Model(x=1), "x=1"),
    ((1, 2), "[1, 2]"),
    ("héllo", "héllo"),
    (True, "true"),
    ([], []),
]


def test_results_become_content_as_in_langgraph(run) -> None:
    def make(i: int, value: Any) -> Any:
        def give() -> Any:
            """Give a value."""
            return value

        give.__name__ = f"give{i}"
        return give

    node = ToolNode([make(i, value) for i, (value, _) in enumerate(RETURNS)])
    messages = run_calls(run, node, *(call(f"give{i}", {}, f"c{i}") for i in range(len(RETURNS))))
    assert [m.content for m in messages] == [content for _, content in RETURNS]
    assert [m.tool_call_id for m in messages] == [f"c{i}" for i in range(len(RETURNS))]


# ---- errors ------------------------------------------------------------------------------------

MISSING = (
    "Error invoking tool 'add' with kwargs {'a': 1} with error:\n"
    " b: Field required\n"
    " Please fix the error and try again."
)
NOT_AN_INT = (
    "Error invoking tool 'add' with kwargs {'a': 'x', 'b': 2} with error:\n"
    " a: Input should be a valid integer, unable to parse string as an integer\n"
    " Please fix the error and try again."
)
UNKNOWN = "Error: nope is not a valid tool, try one of [add, boom]."


def test_by_default_bad_arguments_are_reported_and_tool_errors_raised(run) -> None:
    node = ToolNode([add, boom])
    messages = run_calls(
        run,
        node,
        call("add", {"a": 1}, "1"),
        call("add", {"a": "x", "b": 2}, "2"),
        call("add", {"a": 1, "b": "2", "c": 3}, "3"),  # coerced; the unknown `c` is ignored
        call("nope", {}, "4"),
    )
    assert brief(messages) == [
        (MISSING, "add", "1", "error"),
        (NOT_AN_INT, "add", "2", "error"),
        ("3", "add", "3", "success"),
        (UNKNOWN, "nope", "4", "error"),
    ]
    with pytest.raises(ValueError, match="boom"):
        run_calls(run, node, call("boom", {"x": 1}, "5"))


def only_value_errors(e: ValueError) -> str:
    return f"handled {e}"


RAISES = "raises"


@pytest.mark.parametrize(
    ("handler", "bad_arguments", "tool_error"),
    [
        (
            True,
            f"Error: ToolInvocationError({MISSING!r})\n Please fix your mistakes.",
            "Error: ValueError('boom')\n Please fix your mistakes.",
        ),
        ("oops", "oops", "oops"),
        (lambda e: f"any {type(e).__name__}", "any ToolInvocationError", "any ValueError"),
        (only_value_errors, RAISES, "handled boom"),
        (ValueError, RAISES, "Error: ValueError('boom')\n Please fix your mistakes."),
        ((TypeError,), RAISES, RAISES),
        (False, RAISES, RAISES),
    ],
    ids=["true", "str", "callable", "annotated-callable", "type", "tuple", "false"],
)
def test_handle_tool_errors_forms(run, handler: Any, bad_arguments: str, tool_error: str) -> None:
    node = ToolNode([add, boom], handle_tool_errors=handler)
    for tool_call, expected, exc in [
        (call("add", {"a": 1}, "1"), bad_arguments, ToolInvocationError),
        (call("boom", {"x": 1}, "2"), tool_error, ValueError),
    ]:
        if expected == RAISES:
            with pytest.raises(exc):
                run_calls(run, node, tool_call)
        else:
            [message] = run_calls(run, node, tool_call)
            assert (message.content, message.status) == (expected, "error")
    [message] = run_calls(run, node, call("nope", {}, "3"))  # whatever the handler
    assert (message.content, message.status) == (UNKNOWN, "error")


# ---- input forms -------------------------------------------------------------------------------


def test_input_forms_called_from_a_node(run) -> None:
    node = ToolNode([add])
    seen: dict[str, Any] = {}

    def outer(state: MessagesState) -> dict[str, Any]:
        seen["list"] = node.invoke(state["messages"])
        seen["dict"] = node.invoke({"messages": state["messages"]})
        seen["calls"] = node.invoke([call("add", {"a": 1, "b": 1}, "x")])
        return {"messages": seen["list"]}

    g = StateGraph(MessagesState)
    g.add_node("outer", outer)
    g.add_edge(START, "outer")
    out = run.invoke(g.compile(), {"messages": [asks(call("add", {"a": 1, "b": 2}, "c1"))]})
    assert isinstance(seen["list"], list) and brief(seen["list"]) == [("3", "add", "c1", "success")]
    assert list(seen["dict"]) == ["messages"] and brief(seen["dict"]["messages"]) == brief(
        seen["list"]
    )
    assert brief(seen["calls"]["messages"]) == [("2", "add", "x", "success")]
    assert brief(out["messages"]) == [("3", "add", "c1", "success")]


def sent_to_tools(route: Any, node: Any) -> Any:
    def agent(state: MessagesState) -> dict[str, Any]:
        return {}

    g = StateGraph(MessagesState)
    g.add_node("agent", agent)
    g.add_node("tools", node)
    g.add_edge(START, "agent")
    g.add_conditional_edges("agent", route, ["tools"])
    return g.compile()


def test_send_a_list_of_tool_calls_or_a_call_with_context(run) -> None:
    calls = [call("add", {"a": 1, "b": 2}, "s1"), call("add", {"a": 2, "b": 2}, "s2")]
    as_lists = sent_to_tools(
        lambda s: [Send("tools", [c]) for c in s["messages"][-1].tool_calls], ToolNode([add])
    )
    out = run.invoke(as_lists, {"messages": [asks(*calls)]})
    assert brief(out["messages"]) == [("3", "add", "s1", "success"), ("4", "add", "s2", "success")]

    def with_context(state: MessagesState) -> list[Any]:
        return [
            Send("tools", {"__type": "tool_call_with_context", "tool_call": c, "state": state})
            for c in state["messages"][-1].tool_calls
        ]

    out = run.invoke(sent_to_tools(with_context, ToolNode([add])), {"messages": [asks(*calls)]})
    assert brief(out["messages"]) == [("3", "add", "s1", "success"), ("4", "add", "s2", "success")]

    one_call = sent_to_tools(
        lambda s: [Send("tools", c) for c in s["messages"][-1].tool_calls], ToolNode([add])
    )
    with pytest.raises(ValueError, match="No message found in input"):
        run.invoke(one_call, {"messages": [asks(*calls)]})


def test_inputs_without_an_ai_message(run) -> None:
    graph = tools_graph(ToolNode([add]))
    out = run.invoke(graph, {"messages": [AIMessage("done")]})
    assert [m.content for m in out["messages"]] == ["done"]  # no calls: nothing added
    with pytest.raises(ValueError, match="No AIMessage found in input"):
        run.invoke(graph, {"messages": [HumanMessage("hi")]})
    with pytest.raises(ValueError, match="No message found in input"):
        run.invoke(graph, {"messages": []})
    later = run.invoke(graph, {"messages": [asks(call("add", {"a": 0, "b": 0}, "z")), "later"]})
    assert brief(later["messages"]) == [("0", "add", "z", "success")]  # the last AI message's


class Chat(TypedDict):
    chat: Annotated[list, add_messages]
    other: int


def test_a_custom_state_and_messages_key(run) -> None:
    graph = tools_graph(ToolNode([add], messages_key="chat"), state=Chat)
    out = run.invoke(graph, {"chat": [asks(call("add", {"a": 2, "b": 2}, "k"))], "other": 1})
    assert brief(out["chat"]) == [("4", "add", "k", "success")] and out["other"] == 1


def test_the_node_is_named_tools_unless_told() -> None:
    g = StateGraph(MessagesState)
    g.add_node(ToolNode([add]))
    g.add_node(ToolNode([add], name="more_tools"))
    assert list(g.nodes) == ["tools", "more_tools"]


# ---- tools_condition ---------------------------------------------------------------------------


@dataclasses.dataclass
class DataState:
    messages: list


class ModelState(pydantic.BaseModel):
    messages: list


def test_tools_condition_reads_every_state_form() -> None:
    wants = asks(call("add", {}, "1"))
    assert tools_condition({"messages": [wants]}) == "tools"
    assert tools_condition({"messages": [AIMessage("hi")]}) == END == "__end__"
    assert tools_condition([HumanMessage("x"), wants]) == "tools"
    assert tools_condition([wants, HumanMessage("x")]) == "__end__"  # only the last message
    assert tools_condition(ModelState(messages=[wants])) == "tools"
    assert tools_condition(DataState(messages=[AIMessage("x")])) == "__end__"
    assert tools_condition({"chat": [wants]}, messages_key="chat") == "tools"
    assert tools_condition({"messages": [{"role": "assistant", "content": "x"}]}) == "__end__"
    for empty in [{"messages": []}, {}, DataState(messages=[])]:
        with pytest.raises(ValueError, match="No messages found in input state to tool_edge"):
            tools_condition(empty)
    with pytest.raises(IndexError):
        tools_condition([])


# ---- interrupt() inside tools ------------------------------------------------------------------


class Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}

    def bump(self, key: str) -> None:
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1


def chatbot_graph(saver: Any, replies: list[Any], tools: list[Any]) -> Any:
    """LangGraph's HITL tutorial chatbot, with a scripted model."""
    script = iter(replies)

    def chatbot(state: MessagesState) -> dict[str, Any]:
        return {"messages": [next(script)]}

    g = StateGraph(MessagesState)
    g.add_node("chatbot", chatbot)
    g.add_node("tools", ToolNode(tools))
    g.add_conditional_edges("chatbot", tools_condition)
    g.add_edge("tools", "chatbot")
    g.add_edge(START, "chatbot")
    return g.compile(checkpointer=saver)


def assistance_tools(counter: Counter) -> list[Any]:
    @tool
    def human_assistance(query: str) -> str:
        """Request assistance from a human."""
        counter.bump(f"asked {query}")
        human_response = interrupt({"query": query})
        counter.bump(f"answered {query}")
        return human_response["data"]

    @tool
    def record(x: int) -> str:
        """A side effect."""
        counter.bump("record")
        return f"recorded {x}"

    return [human_assistance, record]


def test_the_tutorial_chatbot_pauses_in_a_tool_and_resumes_once(run, saver) -> None:
    counter = Counter()
    replies = [asks(call("human_assistance", {"query": "q1"}, "c1")), AIMessage("done")]
    graph = chatbot_graph(saver, replies, assistance_tools(counter))
    out = run.invoke(graph, {"messages": [HumanMessage("help")]}, cfg())
    assert [i.value for i in out["__interrupt__"]] == [{"query": "q1"}]
    state = run.get_state(graph, cfg())
    assert state.next == ("tools",)
    assert [(t.name, [i.value for i in t.interrupts]) for t in state.tasks] == [
        ("tools", [{"query": "q1"}])
    ]
    out = run.invoke(graph, Command(resume={"data": "yes"}), cfg())
    assert "__interrupt__" not in out
    assert brief(out["messages"]) == [("yes", "human_assistance", "c1", "success")]
    assert [m.content for m in out["messages"]] == ["help", "", "yes", "done"]
    assert counter.counts == {"asked q1": 2, "answered q1": 1}  # the tool restarts; once past


def test_a_call_that_finished_beside_a_pause(run, saver) -> None:
    counter = Counter()
    calls = [call("record", {"x": 1}, "c0"), call("human_assistance", {"query": "q1"}, "c1")]
    graph = chatbot_graph(saver, [asks(*calls), AIMessage("done")], assistance_tools(counter))
    out = run.invoke(graph, {"messages": [HumanMessage("help")]}, cfg())
    assert [i.value for i in out["__interrupt__"]] == [{"query": "q1"}]
    assert counter.counts == {"record": 1, "asked q1": 1}
    out = run.invoke(graph, Command(resume={"data": "yes"}), cfg())
    assert brief(out["messages"]) == [
        ("recorded 1", "record", "c0", "success"),
        ("yes", "human_assistance", "c1", "success"),
    ]
    # interlock kept the finished call's result with the paused step; LangGraph runs it again
    assert counter.counts == {"record": 2 if LANGGRAPH else 1, "asked q1": 2, "answered q1": 1}


def test_two_calls_that_interrupt_are_asked_in_turn(run, saver) -> None:
    counter = Counter()
    calls = [call("human_assistance", {"query": q}, f"c{q}") for q in ("q1", "q2")]
    graph = chatbot_graph(saver, [asks(*calls), AIMessage("done")], assistance_tools(counter))
    out = run.invoke(graph, {"messages": [HumanMessage("help")]}, cfg())
    [first] = out["__interrupt__"]
    assert first.value == {"query": "q1"}
    out = run.invoke(graph, Command(resume={"data": "a1"}), cfg())
    [second] = out["__interrupt__"]
    assert second.value == {"query": "q2"} and second.id != first.id
    out = run.invoke(graph, Command(resume={"data": "a2"}), cfg())
    assert out["messages"][-1].content == "done"
    answered = {k: v for k, v in counter.counts.items() if k.startswith("answered")}
    if LANGGRAPH and run.mode == "async":
        # LangGraph hands the answers out in the order the calls reach interrupt(): in
        # about half the runs of this module the first call got the second answer
        assert sorted(m.content for m in out["messages"][2:4]) == ["a1", "a2"]
        return
    assert brief(out["messages"]) == [
        ("a1", "human_assistance", "cq1", "success"),
        ("a2", "human_assistance", "cq2", "success"),
    ]
    # each answered call went on once here; LangGraph re-ran the first with the second
    once = {"answered q1": 1, "answered q2": 1}
    assert answered == ({"answered q1": 2, "answered q2": 1} if LANGGRAPH else once)


# ---- LangChain tools ---------------------------------------------------------------------------


@lc_tool
def lc_add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@lc_tool(response_format="content_and_artifact")
def lc_artifact(x: int) -> tuple[str, dict[str, int]]:
    """Return content and an artifact."""
    return f"content {x}", {"raw": x}


@lc_tool
def lc_fails(x: int) -> str:
    """Raise LangChain's ToolException."""
    raise LangChainToolException("lc tool failed")


@lc_tool
def lc_list(x: int) -> list[str]:
    """Return a list of strings."""
    return ["a", "b"]


def _handled_by_the_tool(x: int) -> str:
    """Raise, but the tool handles its own errors."""
    raise LangChainToolException("handled by tool")


lc_handled = StructuredTool.from_function(
    _handled_by_the_tool, name="lc_handled", handle_tool_error=True
)


def test_langchain_tools(run) -> None:
    node = ToolNode([lc_add, lc_artifact, lc_fails, lc_list, lc_handled])
    messages = run_calls(
        run,
        node,
        call("lc_add", {"a": 1, "b": "2"}, "1"),
        call("lc_artifact", {"x": 3}, "2"),
        call("lc_handled", {"x": 1}, "3"),
        call("lc_list", {"x": 1}, "4"),
        call("lc_add", {"a": 1}, "5"),
    )
    assert brief(messages) == [
        ("3", "lc_add", "1", "success"),
        ("content 3", "lc_artifact", "2", "success"),
        ("handled by tool", "lc_handled", "3", "error"),
        ('["a", "b"]', "lc_list", "4", "success"),
        (MISSING.replace("'add'", "'lc_add'"), "lc_add", "5", "error"),
    ]
    assert [m.artifact for m in messages] == [None, {"raw": 3}, None, None, None]
    with pytest.raises(LangChainToolException, match="lc tool failed"):
        run_calls(run, node, call("lc_fails", {"x": 1}, "6"))
    [message] = run_calls(
        run, ToolNode([lc_fails], handle_tool_errors=True), call("lc_fails", {"x": 1}, "7")
    )
    assert brief([message]) == [
        (
            "Error: ToolException('lc tool failed')\n Please fix your mistakes.",
            "lc_fails",
            "7",
            "error",
        )
    ]


def test_a_langchain_tool_that_interrupts(run, saver) -> None:
    counter = Counter()

    @lc_tool
    def ask_human(query: str) -> str:
        """Ask a person."""
        counter.bump("asked")
        answer = interrupt({"query": query})
        counter.bump("answered")
        return answer["data"]

    replies = [asks(call("ask_human", {"query": "q"}, "c1")), AIMessage("done")]
    graph = chatbot_graph(saver, replies, [ask_human])
    out = run.invoke(graph, {"messages": [HumanMessage("help")]}, cfg())
    assert [i.value for i in out["__interrupt__"]] == [{"query": "q"}]
    out = run.invoke(graph, Command(resume={"data": "from a person"}), cfg())
    assert brief(out["messages"]) == [("from a person", "ask_human", "c1", "success")]
    assert counter.counts == {"asked": 2, "answered": 1}


# ---- Command --------------------------------------------------------------------------------


class WithFoo(TypedDict):
    messages: Annotated[list, add_messages]
    foo: str


def test_a_tool_returning_a_command(run) -> None:
    @tool
    def set_foo(value: str) -> Any:
        """Set foo."""
        done = ToolMessage("foo set", tool_call_id="c1")
        return Command(update={"foo": value, "messages": [done]})

    graph = tools_graph(ToolNode([set_foo]), state=WithFoo)
    start = {"messages": [asks(call("set_foo", {"value": "bar"}, "c1"))], "foo": "init"}
    out = run.invoke(graph, start)  # applied (more in tests/test_prebuilt_tool_injection.py)
    assert out["foo"] == "bar" and brief(out["messages"]) == [
        ("foo set", "set_foo", "c1", "success")
    ]


# ---- interlock only ----------------------------------------------------------------------------


def test_once_and_get_runtime_inside_tools_beside_each_other(run, saver) -> None:
    if LANGGRAPH:
        pytest.skip("interlock's once() and get_runtime()")
    from interlock import get_runtime, once

    counter = Counter()

    @tool
    def ticket(title: str) -> str:
        """Open a ticket, then ask a person about it."""
        number = once(lambda: counter.bump(f"opened {title}") or len(counter.counts))
        thread = get_runtime().execution_info.thread_id
        answer = interrupt({"ticket": number, "title": title})
        return f"{title}: {answer} ({thread})"

    calls = [call("ticket", {"title": t}, f"c{t}") for t in ("a", "b")]
    graph = chatbot_graph(saver, [asks(*calls), AIMessage("done")], [ticket])
    out = run.invoke(graph, {"messages": [HumanMessage("help")]}, cfg())
    assert [i.value["title"] for i in out["__interrupt__"]] == ["a"]
    out = run.invoke(graph, Command(resume="yes"), cfg())
    assert [i.value["title"] for i in out["__interrupt__"]] == ["b"]
    out = run.invoke(graph, Command(resume="no"), cfg())
    assert brief(out["messages"]) == [
        ("a: yes (t1)", "ticket", "ca", "success"),
        ("b: no (t1)", "ticket", "cb", "success"),
    ]
    assert counter.counts == {"opened a": 1, "opened b": 1}  # each call's once() ran once


# ---- a node that calls ToolNode itself ---------------------------------------------------


def test_a_node_s_own_question_and_its_tools_questions_are_asked_in_turn(saver) -> None:
    """The node asks, then runs a ToolNode whose tool asks: two pauses, each answer to
    its own question (LangGraph 1.2 gives the same)."""

    @tool
    def ask(q: str) -> str:
        """Ask a person.

        Args:
            q: the question
        """
        return "tool got: " + str(interrupt("tool asks " + q))

    tools = ToolNode([ask])

    def node(state: MessagesState) -> dict:
        first = interrupt("node asks first")
        out = tools.invoke({"messages": [asks(call("ask", {"q": "x"}, "c1"))]})
        return {"messages": [AIMessage(f"node got: {first}"), *out["messages"]]}

    g = StateGraph(MessagesState)
    g.add_node("n", node)
    g.add_edge(START, "n")
    app = g.compile(checkpointer=saver)
    cfg = {"configurable": {"thread_id": "t"}}
    assert [i.value for i in app.invoke({"messages": []}, cfg)["__interrupt__"]] == [
        "node asks first"
    ]
    second = app.invoke(Command(resume="ANSWER-1"), cfg)
    assert [i.value for i in second["__interrupt__"]] == ["tool asks x"]
    done = app.invoke(Command(resume="ANSWER-2"), cfg)
    assert [m.content for m in done["messages"]] == ["node got: ANSWER-1", "tool got: ANSWER-2"]
    assert app.get_state(cfg).next == ()


def test_two_tool_batches_in_one_node_keep_their_own_once_records(saver) -> None:
    from interlock import once

    charged: list[int] = []

    def charge(amount: int) -> str:
        charged.append(amount)
        return f"charged {amount}"

    @tool
    def pay(amount: int) -> str:
        """Pay.

        Args:
            amount: how much
        """
        return once(charge, amount)

    tools = ToolNode([pay])

    def node(state: MessagesState) -> dict:
        a = tools.invoke({"messages": [asks(call("pay", {"amount": 10}, "c1"))]})["messages"]
        b = tools.invoke({"messages": [asks(call("pay", {"amount": 20}, "c2"))]})["messages"]
        return {"messages": [*a, *b, AIMessage(str(interrupt("done?")))]}

    g = StateGraph(MessagesState)
    g.add_node("n", node)
    g.add_edge(START, "n")
    app = g.compile(checkpointer=saver)
    cfg = {"configurable": {"thread_id": "t"}}
    app.invoke({"messages": []}, cfg)
    done = app.invoke(Command(resume="yes"), cfg)
    assert [m.content for m in done["messages"]] == ["charged 10", "charged 20", "yes"]
    assert charged == [10, 20]  # each once, though the node ran twice
