"""`interlock.langchain`'s `MessagesState` / `add_messages`: LangGraph's quickstart (a node
calling a LangChain chat model on `state["messages"]`, fed dicts) runs with only its imports
changed, and the state holds langchain-core messages, as LangGraph's does.

Expected values are those LangGraph 1.2.22 (langchain-core 1.7) gives for the same programs.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core import messages as lc
from langchain_core.language_models import GenericFakeChatModel
from langgraph_sdk import get_sync_client

import interlock as il
from interlock import END, START, Command, StateGraph, interrupt
from interlock.langchain import REMOVE_ALL_MESSAGES, MessagesState, add_messages
from interlock.server import create_app
from tests._http import served


def described(messages: list[Any]) -> list[tuple[str, str, Any]]:
    """Each message as (its class's module, its class, its content)."""
    return [(type(m).__module__, type(m).__name__, m.content) for m in messages]


HUMAN, AI, SYSTEM = (
    "langchain_core.messages.human",
    "langchain_core.messages.ai",
    "langchain_core.messages.system",
)


def quickstart(checkpointer: Any, seen: list[Any]) -> Any:
    """LangGraph's quickstart chatbot with a question to a person between two turns."""
    llm = GenericFakeChatModel(messages=iter(["first reply", "second reply"]))

    def chatbot(state: MessagesState) -> dict[str, Any]:
        seen.append(described(state["messages"]))
        return {"messages": [llm.invoke(state["messages"])]}

    def ask(state: MessagesState) -> dict[str, Any]:
        return {"messages": [{"role": "user", "content": interrupt("more?")}]}

    graph = StateGraph(MessagesState)
    graph.add_node("chatbot", chatbot)
    graph.add_node("ask", ask)
    graph.add_node("chatbot2", chatbot)
    graph.add_edge(START, "chatbot")
    graph.add_edge("chatbot", "ask")
    graph.add_edge("ask", "chatbot2")
    graph.add_edge("chatbot2", END)
    return graph.compile(checkpointer=checkpointer)


def test_the_quickstart_pauses_and_resumes_on_every_store(saver: Any, run: Any) -> None:
    seen: list[Any] = []
    app = quickstart(saver, seen)
    config = {"configurable": {"thread_id": "chat"}}
    chunks = run.stream(app, {"messages": [{"role": "user", "content": "hi"}]}, config)
    assert [list(c) for c in chunks] == [["chatbot"], ["__interrupt__"]]
    assert described(chunks[0]["chatbot"]["messages"]) == [(AI, "AIMessage", "first reply")]
    assert [i.value for i in chunks[1]["__interrupt__"]] == ["more?"]
    paused = run.get_state(app, config)
    assert paused.next == ("ask",)
    assert described(paused.values["messages"]) == [
        (HUMAN, "HumanMessage", "hi"),
        (AI, "AIMessage", "first reply"),
    ]

    done = run.invoke(app, Command(resume="tell me more"), config)
    expected = [
        (HUMAN, "HumanMessage", "hi"),
        (AI, "AIMessage", "first reply"),
        (HUMAN, "HumanMessage", "tell me more"),
        (AI, "AIMessage", "second reply"),
    ]
    assert described(done["messages"]) == expected
    assert seen == [expected[:1], expected[:3]]  # the model was given LangChain's messages
    stored = run.get_state(quickstart(saver, []), config).values["messages"]  # read back
    assert described(stored) == expected
    assert all(m.id for m in stored)
    assert [m.id for m in stored][:2] == [m.id for m in paused.values["messages"]]


def _echo_graph() -> Any:
    def echo(state: MessagesState) -> dict[str, Any]:
        return {"messages": [("assistant", f"{len(state['messages'])} so far"), "and a str"]}

    return StateGraph(MessagesState).add_node("echo", echo).add_edge(START, "echo").compile()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (("user", "hi"), [(HUMAN, "HumanMessage", "hi")]),
        ("hi", [(HUMAN, "HumanMessage", "hi")]),
        (
            [("user", "a"), ("ai", "b"), ("system", "s"), "c", {"type": "human", "content": "d"}],
            [
                (HUMAN, "HumanMessage", "a"),
                (AI, "AIMessage", "b"),
                (SYSTEM, "SystemMessage", "s"),
                (HUMAN, "HumanMessage", "c"),
                (HUMAN, "HumanMessage", "d"),
            ],
        ),
    ],
)
def test_tuples_strings_and_dicts_become_langchain_messages(
    run: Any, given: Any, expected: list[Any]
) -> None:
    out = run.invoke(_echo_graph(), {"messages": given})
    assert described(out["messages"]) == [
        *expected,
        (AI, "AIMessage", f"{len(expected)} so far"),
        (HUMAN, "HumanMessage", "and a str"),
    ]


def test_messages_are_replaced_and_removed_by_id(saver: Any, run: Any) -> None:
    def edit(state: MessagesState) -> dict[str, Any]:
        return {"messages": [{"role": "ai", "content": "B", "id": "2"}, lc.RemoveMessage(id="1")]}

    app = StateGraph(MessagesState).add_node("edit", edit).add_edge(START, "edit")
    app = app.compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "ids"}}
    given = [lc.HumanMessage("a", id="1"), lc.AIMessage("b", id="2"), lc.SystemMessage("s", id="3")]
    out = run.invoke(app, {"messages": given}, config)
    assert described(out["messages"]) == [(AI, "AIMessage", "B"), (SYSTEM, "SystemMessage", "s")]
    assert [m.id for m in out["messages"]] == ["2", "3"]

    everything = lc.RemoveMessage(id=REMOVE_ALL_MESSAGES)
    run.update_state(app, config, {"messages": [everything, ("user", "fresh")]})
    assert described(run.get_state(app, config).values["messages"]) == [
        (HUMAN, "HumanMessage", "fresh")
    ]
    # a streamed chunk is kept as the whole message, as LangGraph keeps it
    run.update_state(app, config, {"messages": lc.AIMessageChunk("chunk", id="k")})
    last = run.get_state(app, config).values["messages"][-1]
    assert (type(last), last.content, last.id) == (lc.AIMessage, "chunk", "k")
    with pytest.raises(ValueError, match="'nope'"):
        run.update_state(app, config, {"messages": [lc.RemoveMessage(id="nope")]})


def test_interlock_and_langchain_messages_mix(saver: Any, run: Any) -> None:
    call = {"name": "lookup", "args": {"q": "x"}, "id": "c1", "type": "tool_call"}

    def answer(state: MessagesState) -> dict[str, Any]:
        return {
            "messages": [
                il.RemoveMessage(id="sys"),  # interlock's RemoveMessage removes a LangChain one
                il.AIMessage("", id="a1", tool_calls=[call], response_metadata={"m": 1}),
                lc.ToolMessage("found", tool_call_id="c1", id="t1"),
                il.AIMessage("done"),
            ]
        }

    app = StateGraph(MessagesState).add_node("answer", answer).add_edge(START, "answer")
    app = app.compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "mix"}}
    given = [lc.SystemMessage("brief", id="sys"), il.HumanMessage("hi", id="h1")]
    out = run.invoke(app, {"messages": given}, config)
    expected = [
        (HUMAN, "HumanMessage", "hi"),
        (AI, "AIMessage", ""),
        ("langchain_core.messages.tool", "ToolMessage", "found"),
        (AI, "AIMessage", "done"),
    ]
    assert described(out["messages"]) == expected
    stored = run.get_state(app, config).values["messages"]
    assert described(stored) == expected
    assert [m.id for m in stored[:3]] == ["h1", "a1", "t1"] and stored[3].id
    assert stored[3].id == out["messages"][3].id  # an id given on the way in is kept
    assert stored[1].tool_calls == [call] and stored[1].response_metadata == {"m": 1}


def test_add_messages_on_its_own() -> None:
    old = [lc.HumanMessage("hi", id="1")]
    merged = add_messages(old, [il.HumanMessage("hello", id="1"), ("ai", "yo")])
    assert described(merged) == [(HUMAN, "HumanMessage", "hello"), (AI, "AIMessage", "yo")]
    assert old[0].content == "hi"  # left is not changed
    mine = il.AIMessage("no id yet")
    first, second = add_messages([], [mine]), add_messages([], [mine])
    assert first[0].id == second[0].id == mine.id  # set on the incoming object: folds alike
    assert add_messages.batchable and add_messages.__name__ == "add_messages"


def test_interlocks_own_state_hands_a_langchain_model_interlock_messages() -> None:
    """The error this module is for (documented in docs/langchain.md): LangChain's own."""
    llm = GenericFakeChatModel(messages=iter(["never"]))

    def chatbot(state: il.MessagesState) -> dict[str, Any]:
        return {"messages": [llm.invoke(state["messages"])]}

    app = StateGraph(il.MessagesState).add_node("chatbot", chatbot).add_edge(START, "chatbot")
    with pytest.raises(NotImplementedError, match=r"interlock\.agent\.messages\.HumanMessage"):
        app.compile().invoke({"messages": [{"role": "user", "content": "hi"}]})


@il.tool
def pay(amount: int) -> str:
    """Pay an invoice.

    Args:
        amount: how much
    """
    return f"paid {amount}"


class PayState(MessagesState, total=False):
    note: str


@pytest.mark.parametrize("kind", ["interlock", "langchain"])
def test_create_agent_keeps_langchain_messages_in_this_state(
    saver: Any, run: Any, kind: str
) -> None:
    turn: list[Any] = [("", [{"name": "pay", "args": {"amount": 5}, "id": "c1"}]), ("done", [])]
    if kind == "interlock":
        model: Any = il.ScriptedChatModel([il.AIMessage(t, tool_calls=c) for t, c in turn])
    else:
        model = GenericFakeChatModel(
            messages=iter([lc.AIMessage(t, tool_calls=c) for t, c in turn])
        )
    agent = il.create_agent(
        model, [pay], checkpointer=saver, state_schema=PayState, interrupt_on={"pay": True}
    )
    config = {"configurable": {"thread_id": f"agent-{kind}"}}
    paused = run.invoke(agent, {"messages": [{"role": "user", "content": "pay 5"}]}, config)
    [request] = paused["__interrupt__"]
    assert [a["args"] for a in request.value["action_requests"]] == [{"amount": 5}]
    edit = {"type": "edit", "edited_action": {"name": "pay", "args": {"amount": 3}}}
    done = run.invoke(agent, Command(resume={"decisions": [edit]}), config)
    assert [(type(m).__module__, type(m).__name__) for m in done["messages"]] == [
        (HUMAN, "HumanMessage"),
        (AI, "AIMessage"),
        ("langchain_core.messages.tool", "ToolMessage"),
        (AI, "AIMessage"),
    ]
    assert done["messages"][1].tool_calls[0]["args"] == {"amount": 3}
    assert done["messages"][2].content.startswith("paid 3")
    assert done["messages"][3].content == "done"


@pytest.fixture
def server_url(tmp_path: Path) -> Iterator[str]:
    saver = il.SqliteSaver(tmp_path / "server.db")
    app = create_app({"chat": quickstart(saver, [])}, keys="k-bob=bob:requester;k-ada=ada:approver")
    with served(app) as http:
        yield str(http.base_url).rstrip("/")
    saver.close()


def test_the_agent_server_runs_it_with_dict_input(server_url: str) -> None:
    bob = get_sync_client(url=server_url, api_key="k-bob")
    ada = get_sync_client(url=server_url, api_key="k-ada")
    try:
        tid = bob.threads.create()["thread_id"]
        paused = bob.runs.wait(tid, "chat", input={"messages": [{"role": "user", "content": "hi"}]})
        assert [pause["value"] for pause in paused["__interrupt__"]] == ["more?"]
        assert [(m["type"], m["content"]) for m in paused["messages"]] == [
            ("human", "hi"),
            ("ai", "first reply"),
        ]
        done = ada.runs.wait(tid, "chat", command={"resume": "tell me more"})
        wanted = [
            ("human", "hi"),
            ("ai", "first reply"),
            ("human", "tell me more"),
            ("ai", "second reply"),
        ]
        assert [(m["type"], m["content"]) for m in done["messages"]] == wanted
        state = bob.threads.get_state(tid)
        assert [(m["type"], m["content"]) for m in state["values"]["messages"]] == wanted
        first = state["values"]["messages"][0]
        assert set(first) >= {"type", "content", "id", "additional_kwargs", "response_metadata"}
    finally:
        bob.close()
        ada.close()


def test_only_importing_this_module_imports_langchain() -> None:
    code = (
        "import sys, interlock\n"
        "assert not [m for m in sys.modules if m.startswith('langchain')]\n"
        "import interlock.langchain as m, interlock.agent.langchain as a\n"
        "assert 'langchain_core' in sys.modules\n"
        "assert set(a.__all__) <= set(m.__all__)\n"
        "assert all(getattr(m, n) is getattr(a, n) for n in a.__all__)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_message_a_node_returns_as_a_dict_keeps_its_id_across_reads(tmp_path: Path) -> None:
    config = {"configurable": {"thread_id": "ids"}}
    with il.SqliteSaver(tmp_path / "ids.db") as saver:
        app = quickstart(saver, [])
        app.invoke({"messages": [{"role": "user", "content": "hi"}]}, config)
        app.invoke(Command(resume="more"), config)
    reads = []
    for _ in range(2):
        with il.SqliteSaver(tmp_path / "ids.db") as saver:
            reads.append([m.id for m in quickstart(saver, []).get_state(config).values["messages"]])
    assert reads[0] == reads[1]
