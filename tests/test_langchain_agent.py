"""create_agent with langchain-core's own chat models and tools (its scripted fake models),
mixed with interlock's tools and plain functions."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import pytest
from langchain_core import messages as lc
from langchain_core.language_models import FakeMessagesListChatModel, GenericFakeChatModel
from langchain_core.tools import BaseTool, InjectedToolCallId, StructuredTool, ToolException
from langchain_core.tools import tool as lc_tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, Field

from interlock import (
    AIMessage,
    Command,
    HumanMessage,
    ScriptedChatModel,
    ToolArgumentsError,
    ToolMessage,
    create_agent,
    init_chat_model,
    interrupt,
    tool,
)
from interlock.agent.langchain import LangChainChatModel, LangChainTool

ran: list[tuple[str, Any]] = []


@pytest.fixture(autouse=True)
def _clear_ran() -> None:
    ran.clear()


def cfg(thread: str = "lc-1") -> dict:
    return {"configurable": {"thread_id": thread}}


def calls(*items: tuple[str, dict, str]) -> lc.AIMessage:
    """A LangChain AI message asking for these tool calls `(name, args, id)`."""
    return lc.AIMessage(
        "",
        tool_calls=[{"name": n, "args": a, "id": i, "type": "tool_call"} for n, a, i in items],
    )


def fake(*replies: Any) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter(replies))


@lc_tool
def delete_course(course_name: str) -> str:
    """Delete course (requires approval).

    Args:
        course_name: The name of the course to delete
    """
    approval = interrupt({"action": "delete_course", "course": course_name})
    if approval.get("confirmed"):
        ran.append(("delete_course", course_name))
        return f'Course "{course_name}" has been deleted'
    return f"Deletion operation cancelled: {approval.get('reason', 'User cancelled')}"


class EmailArgs(BaseModel):
    to: str = Field(description="Recipient address")
    subject: str = Field(description="Subject line")


@lc_tool(args_schema=EmailArgs)
def send_email(to: str, subject: str) -> str:
    """Send an email."""
    ran.append(("send_email", {"to": to, "subject": subject}))
    return f"sent to {to}"


@tool
def lookup(term: str) -> str:
    """Look a term up (an interlock tool).

    Args:
        term: What to look up
    """
    ran.append(("lookup", term))
    return f"{term}: found"


def shout(text: str) -> str:
    """Say it louder (a plain function)."""
    ran.append(("shout", text))
    return text.upper()


def _count(word: str) -> int:
    ran.append(("count", word))
    return len(word)


count = StructuredTool.from_function(_count, name="count", description="Count the letters.")


def test_a_langchain_tool_that_calls_interrupt_pauses_and_resumes(run, saver) -> None:
    model = fake(calls(("delete_course", {"course_name": "Java"}, "c1")), "Done.")
    agent = create_agent(model, [delete_course], checkpointer=saver)
    paused = run.invoke(agent, {"messages": [lc.HumanMessage("delete Java")]}, cfg())
    [pending] = paused["__interrupt__"]
    assert pending.value == {"action": "delete_course", "course": "Java"}
    assert run.get_state(agent, cfg()).next == ("tools",)
    assert ran == []
    done = run.invoke(agent, Command(resume={"confirmed": True}), cfg())
    assert ran == [("delete_course", "Java")]
    result = next(m for m in done["messages"] if isinstance(m, ToolMessage))
    assert (result.content, result.tool_call_id, result.status) == (
        'Course "Java" has been deleted',
        "c1",
        "success",
    )
    assert done["messages"][-1].content == "Done."
    assert type(done["messages"][0]) is lc.HumanMessage  # what was sent in stays as it was


def test_a_langchain_tool_that_interrupts_can_be_refused(run, saver) -> None:
    model = fake(calls(("delete_course", {"course_name": "Java"}, "c1")), "Kept it.")
    agent = create_agent(model, [delete_course], checkpointer=saver)
    run.invoke(agent, {"messages": [HumanMessage("delete Java")]}, cfg())
    done = run.invoke(agent, Command(resume={"confirmed": False, "reason": "in use"}), cfg())
    assert ran == []
    assert done["messages"][-2].content == "Deletion operation cancelled: in use"


def test_approval_policies_edit_and_reject_langchain_tools(run, saver) -> None:
    model = fake(
        calls(
            ("send_email", {"to": "a@x.org", "subject": "hi"}, "e1"),
            ("send_email", {"to": "b@x.org", "subject": "yo"}, "e2"),
        ),
        "Handled.",
    )
    agent = create_agent(model, [send_email], checkpointer=saver, interrupt_on={"send_email": True})
    paused = run.invoke(agent, {"messages": [HumanMessage("mail them")]}, cfg())
    [request] = paused["__interrupt__"]
    assert [a["args"] for a in request.value["action_requests"]] == [
        {"to": "a@x.org", "subject": "hi"},
        {"to": "b@x.org", "subject": "yo"},
    ]
    edit = {"type": "edit", "edited_action": {"name": "send_email", "args": {"to": "c@x.org"}}}
    with pytest.raises(Exception, match="subject"):  # the edit is checked against their schema
        run.invoke(agent, Command(resume={"decisions": [edit, {"type": "approve"}]}), cfg())
    edit["edited_action"]["args"] = {"to": "c@x.org", "subject": "hi"}
    reject = {"type": "reject", "message": "not b"}
    done = run.invoke(agent, Command(resume={"decisions": [edit, reject]}), cfg())
    assert ran == [("send_email", {"to": "c@x.org", "subject": "hi"})]
    ai = next(m for m in done["messages"] if isinstance(m, AIMessage) and m.tool_calls)
    assert ai.tool_calls[0]["args"] == {"to": "c@x.org", "subject": "hi"}
    results = {m.tool_call_id: m for m in done["messages"] if isinstance(m, ToolMessage)}
    assert results["e1"].content.startswith("sent to c@x.org") and "edited" in results["e1"].content
    assert "rejected" in results["e2"].content and "not b" in results["e2"].content
    assert results["e2"].status == "success"


def test_an_edit_of_a_langchain_ai_message_keeps_it_a_langchain_message(saver) -> None:
    agent = create_agent(
        fake("Sent."), [send_email], checkpointer=saver, interrupt_on={"send_email": True}
    )
    agent.update_state(
        cfg(),
        {"messages": [calls(("send_email", {"to": "a@x.org", "subject": "hi"}, "e1"))]},
        as_node="model",
    )
    assert agent.invoke(None, cfg())["__interrupt__"]
    edit = {
        "type": "edit",
        "edited_action": {"name": "send_email", "args": {"to": "z@x.org", "subject": "hi"}},
    }
    done = agent.invoke(Command(resume={"decisions": [edit]}), cfg())
    ai = done["messages"][0]
    assert type(ai) is lc.AIMessage and ai.tool_calls[0]["args"]["to"] == "z@x.org"
    assert ran == [("send_email", {"to": "z@x.org", "subject": "hi"})]
    assert done["messages"][-1].content == "Sent."


def test_mixed_tools_run_in_parallel_from_one_turn(run, saver) -> None:
    model = fake(
        calls(
            ("send_email", {"to": "a@x.org", "subject": "hi"}, "t1"),
            ("lookup", {"term": "q"}, "t2"),
            ("shout", {"text": "hey"}, "t3"),
            ("count", {"word": "four"}, "t4"),
        ),
        "All four ran.",
    )
    agent = create_agent(model, [send_email, lookup, shout, count], checkpointer=saver)
    done = run.invoke(agent, {"messages": [HumanMessage("go")]}, cfg())
    assert sorted(ran, key=str) == sorted(
        [
            ("send_email", {"to": "a@x.org", "subject": "hi"}),
            ("lookup", "q"),
            ("shout", "hey"),
            ("count", "four"),
        ],
        key=str,
    )
    results = {m.tool_call_id: m.content for m in done["messages"] if isinstance(m, ToolMessage)}
    assert results == {"t1": "sent to a@x.org", "t2": "q: found", "t3": "HEY", "t4": "4"}
    assert done["messages"][-1].content == "All four ran."


class CityArgs(BaseModel):
    city: str = Field(description="The city")


class Weather(BaseTool):
    """A tool written as a `BaseTool` subclass, as toolkits write theirs."""

    name: str = "weather"
    description: str = "Weather for a city."
    args_schema: type[BaseModel] = CityArgs

    def _run(self, city: str) -> str:
        ran.append(("weather", city))
        return f"sunny in {city}"


def test_a_basetool_subclass_runs_like_any_tool(run, saver) -> None:
    model = fake(calls(("weather", {"city": "Oslo"}, "w1")), "Sunny.")
    agent = create_agent(model, [Weather()], checkpointer=saver)
    done = run.invoke(agent, {"messages": [HumanMessage("weather?")]}, cfg())
    assert ran == [("weather", "Oslo")]
    assert done["messages"][2].content == "sunny in Oslo"
    params = LangChainTool(Weather()).json_schema()["parameters"]
    assert params["properties"]["city"]["description"] == "The city"


def test_tool_errors_become_error_results_the_model_sees(run, saver) -> None:
    @lc_tool
    def explode(reason: str) -> str:
        """Fail with a ToolException."""
        raise ToolException(f"cannot: {reason}")

    def _handled(reason: str) -> str:
        raise ToolException(f"handled: {reason}")

    handled = StructuredTool.from_function(
        _handled, name="handled", description="Fail; LangChain reports it.", handle_tool_error=True
    )

    @lc_tool
    def crash(n: int) -> str:
        """Fail with a bug."""
        raise KeyError(n)

    model = fake(
        calls(
            ("explode", {"reason": "disk"}, "x1"),
            ("handled", {"reason": "net"}, "x2"),
            ("crash", {"n": 3}, "x3"),
            ("send_email", {"to": "a@x.org"}, "x4"),
            ("nope", {}, "x5"),
        ),
        "Reported.",
    )
    agent = create_agent(model, [explode, handled, crash, send_email], checkpointer=saver)
    done = run.invoke(agent, {"messages": [HumanMessage("try")]}, cfg())
    results = {m.tool_call_id: m for m in done["messages"] if isinstance(m, ToolMessage)}
    assert all(results[i].status == "error" for i in ("x1", "x2", "x3", "x4", "x5"))
    assert results["x1"].content == "Error: ToolException: cannot: disk"
    assert results["x2"].content == "handled: net"
    assert results["x3"].content == "Error: KeyError: 3"
    assert "invalid arguments for tool 'send_email'" in results["x4"].content
    assert "subject" in results["x4"].content and "fix the arguments" in results["x4"].content
    assert "no tool named 'nope'" in results["x5"].content
    assert ran == [] and done["messages"][-1].content == "Reported."


def test_artifacts_injected_call_ids_and_content_blocks(saver) -> None:
    @lc_tool(response_format="content_and_artifact")
    def search(query: str, tool_call_id: Annotated[str, InjectedToolCallId]) -> tuple:
        """Search, returning blocks and the raw hits."""
        return [{"type": "text", "text": f"hits for {query}"}], {
            "hits": [1, 2],
            "call": tool_call_id,
        }

    schema = LangChainTool(search).json_schema()
    assert list(schema["parameters"]["properties"]) == ["query"]  # the injected id is hidden
    model = fake(calls(("search", {"query": "q"}, "s1")), "Found two.")
    agent = create_agent(model, [search], checkpointer=saver)
    done = agent.invoke({"messages": [HumanMessage("find")]}, cfg())
    result = done["messages"][2]
    assert isinstance(result, ToolMessage)
    assert result.content == [{"type": "text", "text": "hits for q"}]
    assert result.artifact == {"hits": [1, 2], "call": "s1"}


def test_an_interlock_model_is_told_each_tools_own_schema() -> None:
    bound = ScriptedChatModel(["ok"]).bind_tools([send_email, lookup])
    theirs = convert_to_openai_tool(send_email)["function"]
    assert bound.tools[0] == {
        "name": "send_email",
        "description": "Send an email.",
        "parameters": theirs["parameters"],
    }
    assert bound.tools[0]["parameters"]["properties"]["to"]["description"] == "Recipient address"
    assert bound.tools[1]["parameters"]["properties"]["term"]["description"] == "What to look up"


def test_an_interlock_model_reads_langchain_messages_as_its_own() -> None:
    received: list[list[Any]] = []

    def answer(messages: list) -> str:
        received.append(messages)
        return "hello"

    agent = create_agent(ScriptedChatModel([answer]), [], system_prompt="Be kind.")
    done = agent.invoke({"messages": [lc.HumanMessage("hi", id="h1"), ("user", "again")]})
    [messages] = received
    assert [m.type for m in messages] == ["system", "human", "human"]
    assert all(type(m).__module__ == "interlock.agent.messages" for m in messages)
    assert messages[1] == HumanMessage("hi", id="h1")
    assert type(done["messages"][0]) is lc.HumanMessage


def test_messages_stream_the_langchain_models_tokens(run) -> None:
    agent = create_agent(fake("Tokens arrive one by one"), [])
    parts = run.stream(agent, {"messages": [HumanMessage("hi")]}, stream_mode="messages")
    tokens = [chunk.content for chunk, meta in parts]
    assert "".join(tokens) == "Tokens arrive one by one"
    assert len(tokens) == 9  # GenericFakeChatModel splits on whitespace, keeping it
    assert {meta["langgraph_node"] for _, meta in parts} == {"model"}
    assert all(type(chunk).__name__ == "AIMessageChunk" for chunk, _ in parts)


def test_a_model_that_does_not_stream_gives_one_chunk_with_its_tool_calls() -> None:
    model = FakeMessagesListChatModel(
        responses=[calls(("lookup", {"term": "x"}, "l1")), lc.AIMessage("done")]
    )
    agent = create_agent(model, [lookup])
    parts = list(
        agent.stream({"messages": [HumanMessage("hi")]}, stream_mode=["messages", "values"])
    )
    chunks = [item[0] for mode, item in parts if mode == "messages"]
    assert chunks[0].tool_calls == [
        {"name": "lookup", "args": {"term": "x"}, "id": "l1", "type": "tool_call"}
    ]
    final = [item for mode, item in parts if mode == "values"][-1]
    assert ran == [("lookup", "x")] and final["messages"][-1].content == "done"


def test_async_agent_with_an_async_langchain_tool(saver) -> None:
    async def _fetch(url: str) -> str:
        answer = interrupt({"fetch": url})
        ran.append(("fetch", url))
        return f"{url}: {answer}"

    fetch = StructuredTool.from_function(
        coroutine=_fetch, name="fetch", description="Fetch a page."
    )
    model = fake(calls(("fetch", {"url": "https://x"}, "f1")), "Fetched.")
    agent = create_agent(model, [fetch], checkpointer=saver)

    async def scenario() -> dict:
        paused = await agent.ainvoke({"messages": [HumanMessage("get it")]}, cfg())
        assert paused["__interrupt__"][0].value == {"fetch": "https://x"}
        return await agent.ainvoke(Command(resume="200 OK"), cfg())

    done = asyncio.run(scenario())
    assert ran == [("fetch", "https://x")]
    assert done["messages"][2].content == "https://x: 200 OK"


def test_init_chat_model_wraps_a_langchain_model() -> None:
    model = init_chat_model(fake("hi there"))
    assert isinstance(model, LangChainChatModel)
    reply = model.invoke([lc.HumanMessage("hi")])
    assert isinstance(reply, AIMessage) and reply.content == "hi there"
    with pytest.raises(TypeError, match="configure a chat model object itself"):
        init_chat_model(fake("x"), temperature=0)
    with pytest.raises(TypeError, match="configure a chat model object itself"):
        init_chat_model(fake("x"), top_p=0.5)
    with pytest.raises(TypeError, match="'provider:model' or a chat model object"):
        init_chat_model(object())
    with pytest.raises(TypeError, match="not a chat model"):
        create_agent(fake("x").with_config(tags=["a"]), [])


def test_the_model_wrapper_has_async_twins() -> None:
    model = LangChainChatModel(fake("async answer", "streamed async answer"))

    async def scenario() -> tuple[AIMessage, list[Any]]:
        reply = await model.ainvoke([lc.HumanMessage("hi")])
        chunks = [c async for c in model.astream("hi")]
        return reply, chunks

    reply, chunks = asyncio.run(scenario())
    assert isinstance(reply, AIMessage) and reply.content == "async answer"
    assert "".join(c.content for c in chunks) == "streamed async answer" and len(chunks) == 5


def test_a_langchain_tool_on_its_own() -> None:
    wrapped = LangChainTool(send_email)
    assert wrapped.name == "send_email" and wrapped.description == "Send an email."
    assert wrapped.validate_args({"to": "a@x.org", "subject": "s"}) == {
        "to": "a@x.org",
        "subject": "s",
    }
    with pytest.raises(ToolArgumentsError, match="subject"):
        wrapped.validate_args({"to": "a@x.org"})
    assert wrapped.invoke({"to": "a@x.org", "subject": "s"}) == "sent to a@x.org"
    result = asyncio.run(wrapped.arun_safely({"name": "send_email", "args": {}, "id": "z"}))
    assert result.status == "error" and "invalid arguments" in result.content
    assert ran == [("send_email", {"to": "a@x.org", "subject": "s"})]
    with pytest.raises(TypeError, match=r"not a langchain_core\.tools\.BaseTool"):
        LangChainTool(lookup)
