"""LangChain's `ChatOpenAI` (langchain-openai) and langchain-core `@tool`s in interlock,
against the local server speaking OpenAI's protocol over real HTTP: the tutorial's
programs pause, resume, edit and reject; tokens stream; usage, ids and errors map."""

from __future__ import annotations

import functools
import json
import operator
import runpy
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from langchain_core import messages as lc
from langchain_core.tools import tool as lc_tool
from langchain_openai import ChatOpenAI

from interlock import (
    AIMessage,
    Command,
    HumanMessage,
    InMemorySaver,
    ToolMessage,
    create_agent,
    tool,
)
from interlock.agent.langchain import LangChainChatModel, from_langchain
from interlock.agent.models import (
    ModelAuthError,
    ModelRateLimited,
    ModelTimeout,
    ModelUnavailable,
)
from interlock.agent.models.testing import FakeProvider, Reply

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "langchain_approval.py"
COURSE = "Outdated Java Tutorial"


@pytest.fixture
def server() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        yield fake


@pytest.fixture
def deepseek(server: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-local-test")
    monkeypatch.setenv("DEEPSEEK_BASE_URL", server.url)
    return server


def chat(server: FakeProvider, **kw: Any) -> ChatOpenAI:
    return ChatOpenAI(
        model="gpt-test", api_key="sk-local-test", base_url=server.url, max_retries=0, **kw
    )


def cfg(thread: str = "oa-1") -> dict:
    return {"configurable": {"thread_id": thread}}


def sent(request: dict, role: str) -> list[dict]:
    return [m for m in request["json"]["messages"] if m["role"] == role]


ran: list[tuple[str, dict]] = []


@pytest.fixture(autouse=True)
def _clear_ran() -> None:
    ran.clear()


@lc_tool
def send_email(to: str, subject: str) -> str:
    """Send an email.

    Args:
        to: Recipient address
        subject: Subject line
    """
    ran.append(("send_email", {"to": to, "subject": subject}))
    return f"sent to {to}"


@lc_tool
def delete_course(course_name: str) -> str:
    """Delete course.

    Args:
        course_name: The name of the course to delete
    """
    ran.append(("delete_course", {"course_name": course_name}))
    return f'Course "{course_name}" has been deleted'


@tool
def lookup(term: str) -> str:
    """Look a term up.

    Args:
        term: What to look up
    """
    ran.append(("lookup", {"term": term}))
    return f"{term}: found"


def test_the_tutorials_approval_workflow_with_langchain_objects(deepseek: FakeProvider) -> None:
    deepseek.replies += [
        Reply.openai_calls([("delete_course", {"course_name": COURSE})]),
        Reply.openai_text(f'Course "{COURSE}" has been deleted.'),
    ]
    out = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    assert "Status: ('tools',)" in out.stdout
    assert "Interrupt Info: (Interrupt(value={'action': 'delete_course', 'course': " in out.stdout
    assert f'Final Response: Course "{COURSE}" has been deleted.' in out.stdout
    first, second = deepseek.requests
    body = first["json"]
    assert body["model"] == "deepseek-v4-flash" and body["temperature"] == 0
    assert body["messages"][0] == {
        "role": "system",
        "content": "You are the administrator assistant for Tutorial TUTORIAL.",
    }
    [spec] = body["tools"]  # LangChain's own rendering of its tool
    assert spec["function"]["name"] == "delete_course"
    assert spec["function"]["parameters"]["required"] == ["course_name"]
    [call] = sent(second, "assistant")[0]["tool_calls"]
    [result] = sent(second, "tool")
    assert result == {
        "role": "tool",
        "tool_call_id": call["id"],
        "content": f'Course "{COURSE}" has been deleted',
    }


def test_the_tutorials_backend_pauses_and_a_refusal_resumes_it(deepseek: FakeProvider) -> None:
    deepseek.replies += [
        Reply.openai_calls([("delete_course", {"course_name": COURSE})]),
        Reply.openai_text("The deletion was cancelled."),
    ]
    backend = runpy.run_path(str(EXAMPLE), run_name="backend")
    pending = backend["handle_user_message"]("web-1", f'Please delete the course "{COURSE}"')
    assert pending["status"] == "pending_approval" and pending["thread_id"] == "web-1"
    assert pending["interrupt"]["course"] == COURSE
    done = backend["handle_approval"]("web-1", approved=False, reason="still in use")
    assert done == {"status": "completed", "reply": "The deletion was cancelled."}
    [result] = sent(deepseek.requests[1], "tool")
    assert result["content"] == "Deletion operation cancelled: still in use"


def test_breakpoint_before_tools_with_a_langchain_model(server: FakeProvider) -> None:
    server.replies += [
        Reply.openai_calls([("delete_course", {"course_name": COURSE})]),
        Reply.openai_text("Deleted as requested."),
    ]
    agent = create_agent(
        model=chat(server),
        tools=[delete_course],
        checkpointer=InMemorySaver(),
        interrupt_before=["tools"],
    )
    paused = agent.invoke({"messages": [lc.HumanMessage(f'Delete "{COURSE}"')]}, cfg())
    assert "__interrupt__" in paused and ran == []
    state = agent.get_state(cfg())
    assert state.next == ("tools",)
    assert state.values["messages"][-1].tool_calls[0]["args"] == {"course_name": COURSE}
    done = agent.invoke(None, cfg())
    assert ran == [("delete_course", {"course_name": COURSE})]
    assert done["messages"][-1].content == "Deleted as requested."


def test_approve_edit_and_reject_calls_of_a_langchain_model(server: FakeProvider) -> None:
    server.replies += [
        Reply.openai_calls(
            [
                ("send_email", {"to": "a@x.org", "subject": "hi"}),
                ("send_email", {"to": "b@x.org", "subject": "yo"}),
                ("lookup", {"term": "q"}),
            ]
        ),
        Reply.openai_text("Handled."),
    ]
    agent = create_agent(
        chat(server),
        [send_email, lookup],
        checkpointer=InMemorySaver(),
        interrupt_on={"send_email": {"allowed_decisions": ["approve", "edit", "reject"]}},
    )
    paused = agent.invoke({"messages": [HumanMessage("mail both, look q up")]}, cfg())
    [request] = paused["__interrupt__"]
    first, second = request.value["action_requests"]
    assert (first["name"], first["args"]) == ("send_email", {"to": "a@x.org", "subject": "hi"})
    assert ran == [("lookup", {"term": "q"})]  # the ungated call did not wait
    decisions = {
        first["tool_call_id"]: {
            "type": "edit",
            "edited_action": {"name": "send_email", "args": {"to": "c@x.org", "subject": "hi"}},
        },
        second["tool_call_id"]: {"type": "reject", "message": "b left the company"},
    }
    done = agent.invoke(Command(resume=decisions), cfg())
    assert ran[1:] == [("send_email", {"to": "c@x.org", "subject": "hi"})]
    assert done["messages"][-1].content == "Handled."
    follow_up = server.requests[1]
    [assistant] = sent(follow_up, "assistant")
    args = [json.loads(c["function"]["arguments"]) for c in assistant["tool_calls"]]
    assert args[0] == {"to": "c@x.org", "subject": "hi"}  # the model sees what really ran
    results = {m["tool_call_id"]: m["content"] for m in sent(follow_up, "tool")}
    assert results[first["tool_call_id"]].startswith("sent to c@x.org")
    assert "b left the company" in results[second["tool_call_id"]]
    assert len(results) == 3


def test_tokens_stream_and_add_up_to_what_langchain_itself_would_make(
    server: FakeProvider,
) -> None:
    reply = Reply.openai_calls(
        [("lookup", {"term": "alpha"}), ("send_email", {"to": "a@x.org", "subject": "s"})],
        text="Working on it",
        stream=True,
    )
    server.replies += [reply, Reply.openai_text("All good here", stream=True), reply]
    model = chat(server)
    agent = create_agent(model, [lookup, send_email])
    parts = list(
        agent.stream({"messages": [HumanMessage("hi")]}, stream_mode=["messages", "values"])
    )
    chunks = [item[0] for mode, item in parts if mode == "messages"]
    final = [item for mode, item in parts if mode == "values"][-1]["messages"]
    first_turn = [c for c in chunks if c.id == final[1].id]
    assert "".join(c.content for c in first_turn) == "Working on it"
    assert any(c.tool_call_chunks for c in first_turn)  # argument fragments stream too
    assert "".join(c.content for c in chunks if c.id == final[-1].id) == "All good here"
    # LangChain's own aggregation of the same streamed reply, read as ours
    theirs = from_langchain(functools.reduce(operator.add, model.stream("hi"))).to_message()
    ours = final[1]
    assert isinstance(ours, AIMessage)
    assert ours.content == theirs.content == "Working on it"
    assert [(c["name"], c["args"]) for c in ours.tool_calls] == [
        (c["name"], c["args"]) for c in theirs.tool_calls
    ]
    assert ours.usage_metadata == theirs.usage_metadata
    assert ours.usage_metadata["total_tokens"] == 18
    assert ours.response_metadata == theirs.response_metadata
    assert server.requests[0]["json"]["stream"] is True
    assert sorted(ran, key=str) == [
        ("lookup", {"term": "alpha"}),
        ("send_email", {"to": "a@x.org", "subject": "s"}),
    ]


def test_usage_ids_and_metadata_of_a_plain_answer(server: FakeProvider) -> None:
    server.replies.append(Reply.openai_text("hello"))
    model = LangChainChatModel(chat(server))
    reply = model.invoke([HumanMessage("hi", id="h1", name="ada")])
    assert isinstance(reply, AIMessage) and reply.content == "hello"
    assert reply.usage_metadata is not None
    assert (reply.usage_metadata["input_tokens"], reply.usage_metadata["output_tokens"]) == (11, 7)
    assert reply.response_metadata["model_name"] == "gpt-test"
    assert reply.response_metadata["finish_reason"] == "stop"
    assert reply.id and reply.id.startswith("lc_run-")  # LangChain's id, kept
    assert reply.response_metadata["id"].startswith("chatcmpl-")  # the provider's
    assert server.requests[0]["json"]["messages"] == [
        {"role": "user", "content": "hi", "name": "ada"}
    ]


def test_our_messages_reach_the_provider_as_langchain_sends_them(server: FakeProvider) -> None:
    server.replies.append(Reply.openai_text("ok"))
    history = [
        HumanMessage([{"type": "text", "text": "look"}]),
        AIMessage("", tool_calls=[{"name": "lookup", "args": {"term": "x"}, "id": "c1"}]),
        ToolMessage("x: found", tool_call_id="c1"),
    ]
    LangChainChatModel(chat(server)).invoke(history)
    [body] = [r["json"] for r in server.requests]
    assert body["messages"][0] == {"role": "user", "content": [{"type": "text", "text": "look"}]}
    assert body["messages"][1]["tool_calls"] == [
        {
            "type": "function",
            "id": "c1",
            "function": {"name": "lookup", "arguments": json.dumps({"term": "x"})},
        }
    ]
    assert body["messages"][2] == {"role": "tool", "content": "x: found", "tool_call_id": "c1"}


@pytest.mark.parametrize(
    ("reply", "error", "cause"),
    [
        (Reply.status(429), ModelRateLimited, openai.RateLimitError),
        (Reply.status(401), ModelAuthError, openai.AuthenticationError),
        (Reply.status(503), ModelUnavailable, openai.InternalServerError),
        (Reply.drop(), ModelUnavailable, openai.APIConnectionError),
    ],
)
def test_provider_failures_are_interlock_model_errors(
    server: FakeProvider, reply: Reply, error: type, cause: type, run
) -> None:
    server.replies.append(reply)
    agent = create_agent(chat(server), [lookup], checkpointer=InMemorySaver())
    with pytest.raises(error) as caught:
        run.invoke(agent, {"messages": [HumanMessage("hi")]}, cfg())
    assert isinstance(caught.value.__cause__, cause)
    assert "ChatOpenAI failed" in str(caught.value)


def test_a_provider_that_does_not_answer_in_time_is_a_model_timeout(server: FakeProvider) -> None:
    server.replies.append(Reply.hang(3))
    agent = create_agent(chat(server, timeout=0.3), [])
    with pytest.raises(ModelTimeout) as caught:
        agent.invoke({"messages": [HumanMessage("hi")]})
    assert isinstance(caught.value.__cause__, openai.APITimeoutError)


def test_streamed_failures_are_mapped_too(server: FakeProvider) -> None:
    server.replies.append(Reply.status(429))
    agent = create_agent(chat(server), [])
    with pytest.raises(ModelRateLimited):
        list(agent.stream({"messages": [HumanMessage("hi")]}, stream_mode="messages"))


def test_an_interlock_model_runs_langchain_tools_over_http(server: FakeProvider) -> None:
    from interlock import init_chat_model

    server.replies += [
        Reply.openai_calls([("send_email", {"to": "a@x.org", "subject": "s"})]),
        Reply.openai_text("sent"),
    ]
    model = init_chat_model("openai-compatible:any", base_url=server.url, api_key="k")
    done = create_agent(model, [send_email]).invoke({"messages": [lc.HumanMessage("mail")]})
    [spec] = server.requests[0]["json"]["tools"]
    assert spec["function"]["parameters"]["properties"]["to"]["type"] == "string"
    assert ran == [("send_email", {"to": "a@x.org", "subject": "s"})]
    assert done["messages"][-1].content == "sent"
