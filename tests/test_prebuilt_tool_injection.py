"""`ToolNode`'s injected arguments (`InjectedState`, `InjectedStore`, `ToolRuntime`) and tools
that return `Command`s, as in LangGraph 1.2.

Every expected value is what LangGraph 1.2.22 (langgraph-prebuilt 1.1.3, langchain-core
1.7) gives for the same program: the programs were run on it with the block between the
`imports` markers swapped for LangGraph's (`langgraph.prebuilt`, `langgraph.graph`,
`langgraph.types`, `langchain_core.messages`), on its `InMemorySaver` and (for the store)
its `InMemoryStore`. interlock has no store of its own: `compile(store=...)` hands any
object to the tools, here a small `Shelf` with the same `put` / `get`.

Where interlock differs, on purpose:

- a call that finished beside a call that paused is recorded and not run again on resume
  (LangGraph runs it again: its `Command` is applied once either way);
- a `Command(graph=Command.PARENT)` from a graph that is not a subgraph fails with
  `InvalidUpdate` (LangGraph lets its internal `ParentCommand` escape);
- a failed task's error reads `KeyError: 'foo'` (LangGraph: `KeyError('foo')`);
- `ToolNode` called outside a graph works (LangGraph needs a graph's config).

The tests of interlock's own `@tool` with the same markers run the same programs with
`interlock.tool` in place of langchain-core's `tool`, and expect the same values.
"""

from __future__ import annotations

import json
import operator
from typing import Annotated, Any

import pytest
from langchain_core.tools import InjectedToolCallId
from langchain_core.tools import tool as lc_tool
from langchain_core.utils.function_calling import convert_to_openai_tool

# ---- imports (swapped for LangGraph's when checking against it) ----
from interlock import (
    END,
    START,
    AIMessage,
    Command,
    MessagesState,
    StateGraph,
    ToolMessage,
    interrupt,
    tool,
)
from interlock.errors import InvalidUpdate
from interlock.prebuilt import InjectedState, InjectedStore, ToolNode, ToolRuntime

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


class State(MessagesState):
    foo: str
    count: int
    log: Annotated[list, operator.add]


class Shelf:
    """The store handed to `compile(store=...)` (LangGraph's `InMemoryStore` there)."""

    class Item:
        def __init__(self, value: Any) -> None:
            self.value = value

    def __init__(self) -> None:
        self.items: dict[Any, Shelf.Item] = {}

    def put(self, namespace: tuple[str, ...], key: str, value: Any) -> None:
        self.items[(namespace, key)] = Shelf.Item(value)

    def get(self, namespace: tuple[str, ...], key: str) -> Shelf.Item | None:
        return self.items.get((namespace, key))


def make_tools(decorate: Any) -> list[Any]:
    """The injecting tools, made with langchain-core's `tool` or interlock's."""

    def whole(x: int, state: Annotated[dict, InjectedState]) -> str:
        """Whole state."""
        return f"{x}:{sorted(state)}:{len(state['messages'])}"

    def keyed(x: int, foo: Annotated[str, InjectedState("foo")]) -> str:
        """One key."""
        return f"{foo}{x}"

    def stored(key: str, store: Annotated[Any, InjectedStore()]) -> str:
        """Store."""
        store.put(("prefs",), key, {"v": 1})
        return f"saved {key}"

    def rt(x: int, runtime: ToolRuntime) -> str:
        """Runtime."""
        runtime.stream_writer({"custom": x})
        return json.dumps(
            {
                "id": runtime.tool_call_id,
                "ctx": runtime.context,
                "foo": runtime.state["foo"],
                "store": runtime.store is not None,
                "thread": runtime.config["configurable"].get("thread_id"),
                "tools": sorted(getattr(t, "name", "") for t in runtime.tools),
            }
        )

    def opt(x: int, bar: Annotated[str, InjectedState("bar")] = "dflt") -> str:
        """Optional key."""
        return f"{bar}{x}"

    return [decorate(f) for f in (whole, keyed, stored, rt, opt)]


MODEL_ARGS = {
    "whole": {"properties": {"x": {"type": "integer"}}, "required": ["x"], "type": "object"},
    "keyed": {"properties": {"x": {"type": "integer"}}, "required": ["x"], "type": "object"},
    "stored": {"properties": {"key": {"type": "string"}}, "required": ["key"], "type": "object"},
    "rt": {"properties": {"x": {"type": "integer"}}, "required": ["x"], "type": "object"},
}
ALL_CALLS = [
    call("whole", {"x": 1}, "a"),
    call("keyed", {"x": 2}, "b"),
    call("stored", {"key": "k"}, "c"),
    call("rt", {"x": 3}, "d"),
    call("opt", {"x": 4}, "e"),
]


def tools_graph(node: Any, saver: Any = None, store: Any = None) -> Any:
    g = StateGraph(State)
    g.add_node("tools", node)
    g.add_node("after", lambda s: {"log": ["after"]})
    g.add_edge(START, "tools")
    g.add_edge("tools", END)
    g.add_edge("after", END)
    return g.compile(checkpointer=saver, store=store)


def start(*calls: dict[str, Any], foo: str = "bar") -> dict[str, Any]:
    return {"messages": [asks(*calls)], "foo": foo, "count": 0, "log": []}


# ---- injection ------------------------------------------------------------------------------


@pytest.mark.parametrize("decorate", [lc_tool, tool], ids=["langchain", "interlock"])
def test_injected_arguments_are_hidden_from_the_model(decorate: Any) -> None:
    node = ToolNode(make_tools(decorate))
    for name, schema in MODEL_ARGS.items():
        made = node.tools_by_name[name]
        if LANGGRAPH:  # its tools_by_name holds langchain-core tools
            params = convert_to_openai_tool(made)["function"]["parameters"]
        else:
            params = made.json_schema()["parameters"]
        assert {k: v for k, v in params.items() if k != "additionalProperties"} == schema


@pytest.mark.parametrize("decorate", [lc_tool, tool], ids=["langchain", "interlock"])
def test_state_store_context_and_runtime_are_injected(run, saver, decorate: Any) -> None:
    shelf = Shelf()
    graph = tools_graph(ToolNode(make_tools(decorate)), saver, store=shelf)
    cfg = {"configurable": {"thread_id": "t1"}}
    out = run.invoke(graph, start(*ALL_CALLS), cfg, context={"user": "ada"})
    runtime = {
        "id": "d",
        "ctx": {"user": "ada"},
        "foo": "bar",
        "store": True,
        "thread": "t1",
        "tools": ["keyed", "opt", "rt", "stored", "whole"],
    }
    assert brief(out["messages"]) == [
        ("1:['count', 'foo', 'log', 'messages']:1", "whole", "a", "success"),
        ("bar2", "keyed", "b", "success"),
        ("saved k", "stored", "c", "success"),
        (json.dumps(runtime), "rt", "d", "success"),
        ("dflt4", "opt", "e", "success"),  # a key the state lacks: the default
    ]
    item = shelf.get(("prefs",), "k")
    assert item is not None and item.value == {"v": 1}
    chunks = run.stream(graph, start(call("rt", {"x": 3}, "d")), cfg, stream_mode="custom")
    assert chunks == [{"custom": 3}]


@pytest.mark.parametrize("decorate", [lc_tool, tool], ids=["langchain", "interlock"])
def test_a_value_the_model_sends_for_an_injected_argument_is_dropped(run, decorate) -> None:
    graph = tools_graph(ToolNode(make_tools(decorate)))
    out = run.invoke(graph, start(call("keyed", {"x": 2, "foo": "FORGED"}, "b")))
    assert brief(out["messages"]) == [("bar2", "keyed", "b", "success")]


@pytest.mark.parametrize("decorate", [lc_tool, tool], ids=["langchain", "interlock"])
@pytest.mark.parametrize("handle", [None, True])
def test_a_state_key_the_state_lacks(run, saver, decorate: Any, handle: Any) -> None:
    class Bare(MessagesState):
        log: Annotated[list, operator.add]

    kw = {} if handle is None else {"handle_tool_errors": handle}
    g = StateGraph(Bare)
    g.add_node("tools", ToolNode(make_tools(decorate), **kw))
    g.add_edge(START, "tools")
    graph = g.compile(checkpointer=saver)
    cfg = {"configurable": {"thread_id": "t1"}}
    with pytest.raises(KeyError) as info:  # raised whatever handle_tool_errors says
        run.invoke(graph, {"messages": [asks(call("keyed", {"x": 2}, "b"))], "log": []}, cfg)
    assert info.value.args == ("foo",)
    snapshot = graph.get_state(cfg)  # the run stopped before the step: it can go on
    assert snapshot.next == ("tools",)
    assert [t.error for t in snapshot.tasks] == ["KeyError('foo')"]  # LangGraph's too
    assert sorted(snapshot.values) == ["log", "messages"]


@pytest.mark.parametrize("decorate", [lc_tool, tool], ids=["langchain", "interlock"])
def test_a_store_when_the_graph_has_none(run, decorate: Any) -> None:
    graph = tools_graph(ToolNode(make_tools(decorate), handle_tool_errors=True))
    with pytest.raises(ValueError) as info:
        run.invoke(graph, start(call("stored", {"key": "k"}, "b")))
    assert str(info.value) == (
        "Cannot inject store into tools with InjectedStore annotations - please compile "
        "your graph with a store."
    )


@pytest.mark.parametrize("decorate", [lc_tool, tool], ids=["langchain", "interlock"])
def test_the_call_s_id(run, decorate: Any) -> None:
    def which(x: int, tool_call_id: Annotated[str, InjectedToolCallId]) -> str:
        """Say which call this is."""
        return f"{x} in {tool_call_id}"

    node = ToolNode([decorate(which)])
    made = node.tools_by_name["which"]
    if LANGGRAPH:
        params = convert_to_openai_tool(made)["function"]["parameters"]
    else:
        params = made.json_schema()["parameters"]
    assert sorted(params["properties"]) == ["x"]
    forged = call("which", {"x": 1, "tool_call_id": "forged"}, "c7")
    out = run.invoke(tools_graph(node), start(forged))
    assert brief(out["messages"]) == [("1 in c7", "which", "c7", "success")]


def test_a_list_of_messages_as_input(run) -> None:
    @lc_tool
    def msgs(x: int, messages: Annotated[list, InjectedState("messages")]) -> str:
        """Messages."""
        return f"{len(messages)} messages"

    tools = make_tools(lc_tool)
    node = ToolNode([*tools, msgs])
    got: list[Any] = []

    def n(state: Any) -> Any:
        got.append(node.invoke(state["messages"]))
        return {"log": ["ok"]}

    g = StateGraph(State)
    g.add_node("n", n)
    g.add_edge(START, "n")
    graph = g.compile()
    run.invoke(graph, start(call("msgs", {"x": 1}, "a"), call("whole", {"x": 1}, "w")))
    assert brief(got[0]) == [
        ("1 messages", "msgs", "a", "success"),
        ("1:['messages']:1", "whole", "w", "success"),
    ]
    with pytest.raises(ValueError) as info:
        run.invoke(graph, start(call("keyed", {"x": 1}, "a")))
    assert str(info.value) == (
        "Invalid input to ToolNode. Tool keyed requires graph state dict as input. State "
        "should contain fields foo."
    )


def test_a_tool_that_asks_a_person_with_injected_state(run, saver) -> None:
    runs: list[str] = []

    @lc_tool
    def ask_state(q: str, foo: Annotated[str, InjectedState("foo")]) -> str:
        """Ask."""
        runs.append(foo)
        answer = interrupt(f"{q} {foo}")
        return f"{foo}:{answer}"

    graph = tools_graph(ToolNode([ask_state]), saver)
    cfg = {"configurable": {"thread_id": "t1"}}
    out = run.invoke(graph, start(call("ask_state", {"q": "ok?"}, "a"), foo="F"), cfg)
    assert [i.value for i in out["__interrupt__"]] == ["ok? F"]
    out = run.invoke(graph, Command(resume="yes"), cfg)
    assert brief(out["messages"]) == [("F:yes", "ask_state", "a", "success")]
    assert runs == ["F", "F"]  # the tool runs again from its start on resume


# ---- tools that return Command ------------------------------------------------------------


@lc_tool
def set_foo(value: str, tool_call_id: Annotated[str, InjectedToolCallId]) -> Command:
    """Set foo and go on to `after`."""
    done = ToolMessage(f"set {value}", tool_call_id=tool_call_id)
    return Command(update={"foo": value, "log": [value], "messages": [done]}, goto="after")


@lc_tool
def plain(x: int) -> str:
    """Plain."""
    return f"plain {x}"


@lc_tool
def no_message(value: str) -> Command:
    """A Command without the call's ToolMessage."""
    return Command(update={"foo": value})


@lc_tool
def several(value: str, tool_call_id: Annotated[str, InjectedToolCallId]) -> list:
    """A list of a Command and the call's ToolMessage."""
    return [Command(update={"foo": value}), ToolMessage(f"many {value}", tool_call_id=tool_call_id)]


@lc_tool
def several_bad(value: str) -> list:
    """A list without the call's ToolMessage."""
    return [Command(update={"foo": value})]


def test_a_command_is_applied_and_routes(run) -> None:
    graph = tools_graph(ToolNode([set_foo, plain]))
    calls = (call("set_foo", {"value": "v"}, "a"), call("plain", {"x": 1}, "b"))
    out = run.invoke(graph, start(*calls))
    assert out["foo"] == "v" and out["log"] == ["v", "after"]
    assert brief(out["messages"]) == [
        ("set v", "set_foo", "a", "success"),
        ("plain 1", "plain", "b", "success"),
    ]
    chunks = run.stream(graph, start(*calls), stream_mode="updates")
    tools_update = chunks[0]["tools"]
    assert [
        {k: v if k != "messages" else brief(v) for k, v in u.items()} for u in tools_update
    ] == [
        {"foo": "v"},
        {"log": ["v"]},
        {"messages": [("set v", "set_foo", "a", "success")]},
        {"messages": [("plain 1", "plain", "b", "success")]},
    ]
    assert chunks[1:] == [{"after": {"log": ["after"]}}]


def test_an_interlock_tool_returning_a_command(run) -> None:
    @tool
    def set_bar(value: str, runtime: ToolRuntime) -> Command:
        """Set foo (interlock's @tool)."""
        done = ToolMessage(f"set {value}", tool_call_id=runtime.tool_call_id)
        return Command(update={"foo": value, "messages": [done]}, goto="after")

    out = run.invoke(tools_graph(ToolNode([set_bar])), start(call("set_bar", {"value": "v"}, "a")))
    assert out["foo"] == "v" and out["log"] == ["after"]
    assert brief(out["messages"]) == [("set v", "set_bar", "a", "success")]


def test_an_async_langchain_tool_returning_a_command(run) -> None:
    @lc_tool
    async def set_later(value: str, tool_call_id: Annotated[str, InjectedToolCallId]) -> Command:
        """Set foo, asynchronously."""
        done = ToolMessage(f"set {value}", tool_call_id=tool_call_id)
        return Command(update={"foo": value, "messages": [done]})

    graph = tools_graph(ToolNode([set_later]))
    if LANGGRAPH and run.mode == "sync":  # LangGraph runs no async tool under invoke
        with pytest.raises(NotImplementedError):
            run.invoke(graph, start(call("set_later", {"value": "v"}, "a")))
        return
    out = run.invoke(graph, start(call("set_later", {"value": "v"}, "a")))
    assert out["foo"] == "v"
    assert brief(out["messages"]) == [("set v", "set_later", "a", "success")]


MISSING = (
    "Expected to have a matching ToolMessage in Command.update for tool 'no_message', got: []. "
    "Every tool call (LLM requesting to call a tool) in the message history MUST have a "
    "corresponding ToolMessage. You can fix it by modifying the tool to return "
    '`Command(update={"messages": [ToolMessage("Success", tool_call_id=tool_call_id), ...]}, '
    "...)`."
)


def test_a_command_without_the_call_s_tool_message(run) -> None:
    graph = tools_graph(ToolNode([no_message]))
    with pytest.raises(ValueError) as info:
        run.invoke(graph, start(call("no_message", {"value": "v"}, "a")))
    assert str(info.value) == MISSING
    out = run.invoke(
        tools_graph(ToolNode([no_message], handle_tool_errors=True)),
        start(call("no_message", {"value": "v"}, "a"), foo=""),
    )
    assert out["foo"] == "" and out["log"] == []
    assert brief(out["messages"]) == [
        (f"Error: ValueError({MISSING!r})\n Please fix your mistakes.", "no_message", "a", "error")
    ]


def test_a_list_of_commands_and_tool_messages(run) -> None:
    out = run.invoke(tools_graph(ToolNode([several])), start(call("several", {"value": "v"}, "a")))
    assert out["foo"] == "v" and out["log"] == []
    assert brief(out["messages"]) == [("many v", None, "a", "success")]
    with pytest.raises(ValueError) as info:
        run.invoke(
            tools_graph(ToolNode([several_bad])), start(call("several_bad", {"value": "v"}, "a"))
        )
    assert str(info.value) == (
        "Tool several_bad returned a list with 0 messages bound to tool_call_id 'a'; expected "
        "exactly one terminating ToolMessage."
    )


def test_a_command_when_the_node_is_given_a_list_of_messages(run) -> None:
    @lc_tool
    def set_list(value: str, tool_call_id: Annotated[str, InjectedToolCallId]) -> Command:
        """Answer with a list update."""
        return Command(update=[ToolMessage(f"set {value}", tool_call_id=tool_call_id)])

    node = ToolNode([set_foo, set_list])
    got: list[Any] = []

    def n(state: Any) -> Any:
        got.append(node.invoke(state["messages"]))
        return {"log": ["ok"]}

    g = StateGraph(State)
    g.add_node("n", n)
    g.add_edge(START, "n")
    graph = g.compile()
    run.invoke(graph, start(call("set_list", {"value": "v"}, "a")))
    [[command]] = got
    assert isinstance(command, Command) and brief(command.update) == [
        ("set v", "set_list", "a", "success")
    ]
    with pytest.raises(ValueError, match=r"Tools can provide a dict in Command\.update only"):
        run.invoke(graph, start(call("set_foo", {"value": "v"}, "a")))


def test_a_command_from_a_subgraph_s_tool_to_its_parent(run) -> None:
    @lc_tool
    def handoff(to: str, tool_call_id: Annotated[str, InjectedToolCallId]) -> Command:
        """Hand off to a node of the parent graph."""
        done = ToolMessage(f"handed to {to}", tool_call_id=tool_call_id)
        update = {"log": [f"to {to}"], "messages": [done]}
        return Command(graph=Command.PARENT, goto=to, update=update)

    sub = StateGraph(State)
    sub.add_node("tools", ToolNode([handoff, plain]))
    sub.add_node("sub_after", lambda s: {"log": ["sub_after"]})
    sub.add_edge(START, "tools")
    sub.add_edge("tools", "sub_after")
    sub.add_edge("sub_after", END)
    parent = StateGraph(State)
    parent.add_node("agent", sub.compile())
    parent.add_node("b", lambda s: {"log": ["b"]})
    parent.add_edge(START, "agent")
    parent.add_edge("agent", END)
    parent.add_edge("b", END)
    graph = parent.compile()
    for calls in (
        [call("handoff", {"to": "b"}, "a")],
        [call("handoff", {"to": "b"}, "a"), call("plain", {"x": 1}, "p")],  # plain's is lost
    ):
        out = run.invoke(graph, start(*calls))
        assert out["log"] == ["to b", "b"]
        assert brief(out["messages"]) == [("handed to b", "handoff", "a", "success")]
    root = tools_graph(ToolNode([handoff]))
    with pytest.raises(InvalidUpdate) as info:  # LangGraph: its internal ParentCommand
        run.invoke(root, start(call("handoff", {"to": "b"}, "a")))
    assert LANGGRAPH or "is not running as a subgraph" in str(info.value)


# ---- Commands and pauses --------------------------------------------------------------------


def asking_tools(counts: dict[str, int]) -> list[Any]:
    @lc_tool
    def ask(q: str, runtime: ToolRuntime) -> Command:
        """Ask a person, and log the answer."""
        counts["ask"] = counts.get("ask", 0) + 1
        answer = interrupt(q)
        done = ToolMessage(f"answered {answer}", tool_call_id=runtime.tool_call_id)
        return Command(update={"log": [f"ans {answer}"], "messages": [done]})

    @lc_tool
    def set_once(value: str, tool_call_id: Annotated[str, InjectedToolCallId]) -> Command:
        """Set foo and go on to `after` (counting its runs)."""
        counts["set"] = counts.get("set", 0) + 1
        done = ToolMessage(f"set {value}", tool_call_id=tool_call_id)
        return Command(update={"foo": value, "log": [value], "messages": [done]}, goto="after")

    return [ask, set_once]


def twin(saver: Any) -> Any:
    """Another saver on the same storage (as another process would open it)."""
    if LANGGRAPH:
        return saver
    from interlock.checkpoint.memory import InMemorySaver
    from interlock.checkpoint.postgres import PostgresSaver
    from interlock.checkpoint.sqlite import SqliteSaver

    if isinstance(saver, InMemorySaver):
        return saver  # the memory saver's storage is the instance
    if isinstance(saver, SqliteSaver):
        return SqliteSaver(saver.path)
    assert isinstance(saver, PostgresSaver)
    return PostgresSaver(saver.conninfo, schema=saver.schema)


def test_a_command_beside_a_call_that_pauses_resumed_in_another_saver(run, saver) -> None:
    counts: dict[str, int] = {}
    cfg = {"configurable": {"thread_id": "t1"}}
    calls = (call("ask", {"q": "ok?"}, "a"), call("set_once", {"value": "v"}, "b"))
    graph = tools_graph(ToolNode(asking_tools(counts)), saver)
    out = run.invoke(graph, start(*calls, foo=""), cfg)
    assert [i.value for i in out["__interrupt__"]] == ["ok?"]
    assert out["foo"] == "" and out["log"] == []  # nothing applied while the step waits
    assert graph.get_state(cfg).next == ("tools",)

    other = twin(saver)
    try:
        resumed = tools_graph(ToolNode(asking_tools(counts)), other)
        out = run.invoke(resumed, Command(resume="yes"), cfg)
    finally:
        if other is not saver:
            other.close()
    assert out["foo"] == "v" and out["log"] == ["ans yes", "v", "after"]
    assert brief(out["messages"]) == [
        ("answered yes", "ask", "a", "success"),
        ("set v", "set_once", "b", "success"),
    ]
    assert counts["ask"] == 2
    # LangGraph runs `set_once` again on resume when it ran before the pause (it may not
    # have: its pool drops calls not started when `ask` pauses); applied once either way
    assert counts["set"] in ((1, 2) if LANGGRAPH else (1,))
