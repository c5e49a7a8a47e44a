"""`ToolNode` given tool calls by `Send` (the state its tools get) and its
`wrap_tool_call` / `awrap_tool_call` hook, compared with LangGraph.

Every expected value was observed with LangGraph 1.2.22 (`/tmp/benchvenv`) running the
same graph with LangGraph's and langchain-core's imports; where interlock differs on
purpose the test says so.
"""

from __future__ import annotations

import asyncio
import itertools
import operator
from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from interlock import (
    END,
    START,
    AIMessage,
    Command,
    GraphError,
    HumanMessage,
    MessagesState,
    ScriptedChatModel,
    Send,
    StateGraph,
    ToolMessage,
    add_messages,
    create_agent,
    interrupt,
    tool,
)
from interlock.managed import RemainingSteps
from interlock.prebuilt import InjectedState, ToolCallRequest, ToolNode, ToolRuntime
from tests.conftest import Runner


class State(MessagesState):
    user: str


@tool
def whoami(q: str, state: Annotated[dict, InjectedState]) -> str:
    """Who asks."""
    return f"{q}:{state.get('user')}:{len(state.get('messages', []))}:{sorted(state)}"


@tool
def user_only(q: str, user: Annotated[str, InjectedState("user")]) -> str:
    """The user."""
    return f"{q}:{user}"


@tool
def rt(q: str, runtime: ToolRuntime) -> str:
    """The runtime's state."""
    state = runtime.state
    return f"{q}:{type(state).__name__}:{sorted(state) if isinstance(state, dict) else state}"


CALLS = [
    {"name": "whoami", "args": {"q": "a"}, "id": "1", "type": "tool_call"},
    {"name": "user_only", "args": {"q": "b"}, "id": "2", "type": "tool_call"},
    {"name": "rt", "args": {"q": "c"}, "id": "3", "type": "tool_call"},
]


def _sending(saver: Any, route: Any, schema: Any = State, node: Any = None) -> Any:
    g = StateGraph(schema)
    g.add_node("model", lambda s: {"messages": [AIMessage("", tool_calls=CALLS)]})
    g.add_node("tools", node or ToolNode([whoami, user_only, rt]))
    g.add_edge(START, "model")
    g.add_conditional_edges("model", route, ["tools"])
    g.add_edge("tools", END)
    return g.compile(checkpointer=saver)


def _contents(out: dict[str, Any], skip: int = 2) -> list[Any]:
    return [m.content for m in out["messages"][skip:]]


def test_sent_tool_calls_see_the_graphs_state(saver: Any, run: Runner) -> None:
    app = _sending(saver, lambda s: [Send("tools", [tc]) for tc in s["messages"][-1].tool_calls])
    out = run.invoke(
        app, {"messages": [HumanMessage("hi")], "user": "ada"}, {"configurable": {"thread_id": "s"}}
    )
    # LangGraph 1.2.22: the graph's state, in InjectedState and ToolRuntime.state
    assert _contents(out) == [
        "a:ada:2:['messages', 'user']",
        "b:ada",
        "c:dict:['messages', 'user']",
    ]


def test_a_tool_call_with_context_carries_its_own_state(saver: Any, run: Runner) -> None:
    def route(s: dict) -> list[Send]:
        state = {"messages": s["messages"], "user": "ctx-" + s["user"]}
        return [
            Send("tools", {"__type": "tool_call_with_context", "tool_call": tc, "state": state})
            for tc in s["messages"][-1].tool_calls
        ]

    app = _sending(saver, route)
    out = run.invoke(
        app, {"messages": [HumanMessage("hi")], "user": "ada"}, {"configurable": {"thread_id": "c"}}
    )
    # LangGraph 1.2.22
    assert _contents(out) == [
        "a:ctx-ada:2:['messages', 'user']",
        "b:ctx-ada",
        "c:dict:['messages', 'user']",
    ]


class Model(BaseModel):
    messages: Annotated[list[Any], add_messages] = []
    user: str = "nobody"
    count: int = 0


class Managed(MessagesState):
    log: Annotated[list, operator.add]
    unset: str
    remaining_steps: RemainingSteps


@pytest.mark.parametrize(
    ("schema", "given", "want"),
    [
        # LangGraph 1.2.22: a dict of the keys that have a value, not the model
        (Model, {"user": "ada"}, "dict:['messages', 'user']"),
        # ... reducer keys read [] before any write; managed values are left out
        (Managed, {}, "dict:['log', 'messages']"),
    ],
)
def test_sent_tool_calls_get_the_state_values_as_a_dict(
    saver: Any, run: Runner, schema: Any, given: dict, want: str
) -> None:
    def route(s: Any) -> list[Send]:
        messages = s.messages if isinstance(s, BaseModel) else s["messages"]
        return [Send("tools", [tc]) for tc in messages[-1].tool_calls if tc["name"] == "rt"]

    app = _sending(saver, route, schema)
    out = run.invoke(
        app, {"messages": [HumanMessage("hi")], **given}, {"configurable": {"thread_id": "m"}}
    )
    assert _contents(out) == [f"c:{want}"]


@tool
def send_mail(to: str, state: Annotated[dict, InjectedState]) -> str:
    """Send a mail."""
    ok = interrupt({"to": to, "user": state["user"]})
    return f"sent to {to} by {state['user']}: {ok}"


def test_a_sent_call_pauses_and_resumes_with_the_state_and_wrapper(saver: Any, run: Runner) -> None:
    wrapped: list[str] = []

    def wrap(request: ToolCallRequest, execute: Any) -> Any:
        wrapped.append(request.tool_call["args"]["to"])
        return execute(request)

    mail = [{"name": "send_mail", "args": {"to": "bob"}, "id": "m1", "type": "tool_call"}]
    g = StateGraph(State)
    g.add_node("model", lambda s: {"messages": [AIMessage("", tool_calls=mail)]})
    g.add_node("tools", ToolNode([send_mail], wrap_tool_call=wrap))
    g.add_edge(START, "model")
    g.add_conditional_edges(
        "model", lambda s: [Send("tools", [tc]) for tc in s["messages"][-1].tool_calls], ["tools"]
    )
    g.add_edge("tools", END)
    app = g.compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "mail"}}
    out = run.invoke(app, {"messages": [], "user": "ada"}, config)
    # LangGraph 1.2.22: [{'to': 'bob', 'user': 'ada'}], then
    # 'sent to bob by ada: yes', the wrapper having run twice (the tool runs again)
    assert [i.value for i in out["__interrupt__"]] == [{"to": "bob", "user": "ada"}]
    out = run.invoke(app, Command(resume="yes"), config)
    assert out["messages"][-1].content == "sent to bob by ada: yes"
    assert wrapped == ["bob", "bob"]


# ---- wrap_tool_call ------------------------------------------------------------------------

attempts: list[int] = []


@tool
def add(a: int, b: int) -> int:
    """Add."""
    return a + b


@tool
def flaky(x: int) -> str:
    """Fails once."""
    attempts.append(x)
    if len(attempts) < 2:
        raise ConnectionError("down")
    return f"ok{x}"


@tool
def who(q: str, state: Annotated[dict, InjectedState]) -> str:
    """Who."""
    return f"{q}:{state.get('user')}"


_threads = itertools.count()
ADD = {"name": "add", "args": {"a": 2, "b": 3}, "id": "c1", "type": "tool_call"}


def _wrapped(
    saver: Any, run: Runner, calls: list[dict], wrap: Any = None, awrap: Any = None, **kw: Any
) -> Any:
    g = StateGraph(State)
    node = ToolNode([add, flaky, who], wrap_tool_call=wrap, awrap_tool_call=awrap, **kw)
    g.add_node("tools", node)
    g.add_edge(START, "tools")
    g.add_edge("tools", END)
    app = g.compile(checkpointer=saver)
    given = {"messages": [AIMessage("", tool_calls=calls)], "user": "ada"}
    out = run.invoke(app, given, {"configurable": {"thread_id": f"w{next(_threads)}"}})
    return [(m.content, m.status, m.tool_call_id, m.name) for m in out["messages"][1:]]


def test_a_wrapper_sees_the_request_and_runs_it(saver: Any, run: Runner) -> None:
    seen: list[Any] = []

    def passthrough(request: ToolCallRequest, execute: Any) -> Any:
        seen.append(
            (
                request.tool_call["name"],
                request.tool.name,
                sorted(request.state),
                request.runtime.tool_call_id,
            )
        )
        return execute(request)

    # LangGraph 1.2.22: [('5', 'success', 'c1', 'add')]; the request names the call, its
    # tool (there a StructuredTool), the state and the call's runtime
    assert _wrapped(saver, run, [ADD], passthrough) == [("5", "success", "c1", "add")]
    assert seen == [("add", "add", ["messages", "user"], "c1")]


def test_a_wrapper_edits_retries_and_answers_itself(saver: Any, run: Runner) -> None:
    def double(request: ToolCallRequest, execute: Any) -> Any:
        args = {"a": 20, "b": 30}
        return execute(request.override(tool_call={**request.tool_call, "args": args}))

    assert _wrapped(saver, run, [ADD], double) == [("50", "success", "c1", "add")]

    def retry(request: ToolCallRequest, execute: Any) -> Any:
        for attempt in range(3):
            try:
                return execute(request)
            except ConnectionError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    attempts.clear()
    flaky_call = {"name": "flaky", "args": {"x": 1}, "id": "f1", "type": "tool_call"}
    assert _wrapped(saver, run, [flaky_call], retry) == [("ok1", "success", "f1", "flaky")]
    assert attempts == [1, 1]

    def short(request: ToolCallRequest, execute: Any) -> Any:
        if request.tool is None:
            return ToolMessage(f"no {request.tool_call['name']}", tool_call_id="n1")
        return execute(request)

    unknown = {"name": "nope", "args": {}, "id": "n1", "type": "tool_call"}
    assert _wrapped(saver, run, [unknown], short) == [("no nope", "success", "n1", None)]

    def other_state(request: ToolCallRequest, execute: Any) -> Any:
        return execute(request.override(state={**request.state, "user": "bob"}))

    who_call = {"name": "who", "args": {"q": "w"}, "id": "w1", "type": "tool_call"}
    assert _wrapped(saver, run, [who_call], other_state) == [("w:bob", "success", "w1", "who")]

    def bad_args(request: ToolCallRequest, execute: Any) -> Any:
        return execute(request.override(tool_call={**request.tool_call, "args": {"a": "x"}}))

    [(content, status, _, _)] = _wrapped(saver, run, [ADD], bad_args)
    # LangGraph 1.2.22: "Error invoking tool 'add' with kwargs {'a': 'x'} with error:\n a: ..."
    assert status == "error"
    assert content.startswith("Error invoking tool 'add' with kwargs {'a': 'x'} with error:\n a:")
    assert content.endswith("b: Field required\n Please fix the error and try again.")


def test_a_wrappers_error_is_handled_as_a_tools(saver: Any, run: Runner) -> None:
    def boom(request: ToolCallRequest, execute: Any) -> Any:
        raise ValueError("wrapper says no")

    # LangGraph 1.2.22: raised by default, a message under handle_tool_errors=True
    with pytest.raises(ValueError, match="wrapper says no"):
        _wrapped(saver, run, [ADD], boom)
    assert _wrapped(saver, run, [ADD], boom, handle_tool_errors=True) == [
        ("Error: ValueError('wrapper says no')\n Please fix your mistakes.", "error", "c1", "add")
    ]

    def text(request: ToolCallRequest, execute: Any) -> Any:
        return "plain string"

    # interlock on purpose: LangGraph puts the string in the state as a HumanMessage
    with pytest.raises(TypeError, match="wrap_tool_call returned str"):
        _wrapped(saver, run, [ADD], text, handle_tool_errors=True)


def test_async_wrappers(saver: Any) -> None:
    seen: list[str] = []

    async def awrap(request: ToolCallRequest, execute: Any) -> Any:
        seen.append("async")
        return await execute(request)

    def wrap(request: ToolCallRequest, execute: Any) -> Any:
        seen.append("sync")
        return execute(request)

    def app(**kw: Any) -> Any:
        g = StateGraph(State)
        g.add_node("tools", ToolNode([add], **kw))
        g.add_edge(START, "tools")
        return g.compile(checkpointer=saver)

    given = {"messages": [AIMessage("", tool_calls=[ADD])], "user": "ada"}

    def config() -> dict:
        return {"configurable": {"thread_id": f"a{next(_threads)}"}}

    # LangGraph 1.2.22: awrap_tool_call runs under ainvoke; wrap_tool_call too, when alone
    out = asyncio.run(app(awrap_tool_call=awrap, wrap_tool_call=wrap).ainvoke(given, config()))
    assert out["messages"][-1].content == "5" and seen == ["async"]
    out = asyncio.run(app(wrap_tool_call=wrap).ainvoke(given, config()))
    assert out["messages"][-1].content == "5" and seen == ["async", "sync"]
    assert (
        app(awrap_tool_call=awrap, wrap_tool_call=wrap)
        .invoke(given, config())["messages"][-1]
        .content
        == "5"
    )
    assert seen == ["async", "sync", "sync"]
    # interlock on purpose: LangGraph skips an awrap_tool_call alone under invoke
    with pytest.raises(GraphError, match="awrap_tool_call"):
        app(awrap_tool_call=awrap).invoke(given, config())
    assert seen == ["async", "sync", "sync"]


def test_create_agent_names_a_tool_call_hook_it_does_not_run() -> None:
    class AgentMiddleware:  # stands for LangChain's base, whose hooks do nothing
        def wrap_tool_call(self, request: Any, handler: Any) -> Any:
            return handler(request)

    class Retry(AgentMiddleware):
        def wrap_tool_call(self, request: Any, handler: Any) -> Any:
            return handler(request)

    class Other(AgentMiddleware):
        pass

    model = ScriptedChatModel(["hi"])
    with pytest.raises(TypeError, match="does not run its wrap_tool_call hook"):
        create_agent(model, [add], middleware=[Retry()])
    with pytest.raises(TypeError, match="interlock supports HumanInTheLoopMiddleware"):
        create_agent(model, [add], middleware=[Other()])


def test_a_sent_calls_state_is_the_tools_own_copy() -> None:
    # a tool that edits its InjectedState in place changes neither the run nor the cache

    from interlock import (
        END,
        START,
        AIMessage,
        HumanMessage,
        InMemorySaver,
        MessagesState,
        Send,
        StateGraph,
        tool,
    )
    from interlock.prebuilt import ToolNode

    class Noted(MessagesState):
        notes: list

    @tool
    def scribble(q: str, state: Annotated[dict, InjectedState]) -> str:
        """Scribble."""
        state["notes"].append("EDITED")
        return "ok"

    call = {"name": "scribble", "args": {"q": "a"}, "id": "1", "type": "tool_call"}
    g = StateGraph(Noted)
    g.add_node("model", lambda s: {"messages": [AIMessage("", tool_calls=[call])]})
    g.add_node("tools", ToolNode([scribble]))
    g.add_edge(START, "model")
    g.add_conditional_edges("model", lambda s: [Send("tools", [call])], ["tools"])
    g.add_edge("tools", END)
    app = g.compile(checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "t"}}
    assert app.invoke({"messages": [HumanMessage("hi")], "notes": ["orig"]}, cfg)["notes"] == [
        "orig"
    ]
    assert app.get_state(cfg).values["notes"] == ["orig"]
