"""create_agent: the model ⇄ tools loop, tools that interrupt, approval policies."""

from __future__ import annotations

from typing import Any

import pytest

from interlock import (
    AIMessage,
    Command,
    HumanInTheLoopMiddleware,
    HumanMessage,
    InvalidResumeValue,
    RecursionLimit,
    ScriptedChatModel,
    ToolMessage,
    create_agent,
    interrupt,
    tool,
)


def cfg(thread: str = "a1") -> dict:
    return {"configurable": {"thread_id": thread}}


def call(name: str, args: dict, cid: str) -> dict:
    return {"name": name, "args": args, "id": cid, "type": "tool_call"}


def reply_with_tool_results(messages: list[Any]) -> AIMessage:
    """A scripted model turn that summarises the tool results it was given."""
    results = [m.content for m in messages if isinstance(m, ToolMessage)]
    return AIMessage(content=" | ".join(results))


ran: list[tuple[str, dict]] = []


@tool
def delete_course(course_name: str) -> str:
    """Delete course (requires approval).

    Args:
        course_name: The name of the course to delete
    """
    approval = interrupt({"action": "delete_course", "course": course_name})
    if approval.get("confirmed"):
        ran.append(("delete_course", {"course_name": course_name}))
        return f'Course "{course_name}" has been deleted'
    return "Deletion operation cancelled"


@tool
def send_email(to: str, subject: str) -> str:
    """Send an email.

    Args:
        to: Recipient address
        subject: Subject line
    """
    ran.append(("send_email", {"to": to, "subject": subject}))
    return f"sent to {to}"


@tool
def lookup(term: str) -> str:
    """Look a term up.

    Args:
        term: What to look up
    """
    ran.append(("lookup", {"term": term}))
    return f"{term}: found"


@pytest.fixture(autouse=True)
def _clear_ran() -> None:
    ran.clear()


def test_tutorial_flow_tool_interrupt_and_resume(run, saver) -> None:
    model = ScriptedChatModel(
        [
            AIMessage(
                content="",
                tool_calls=[call("delete_course", {"course_name": "Outdated Java Tutorial"}, "c1")],
            ),
            reply_with_tool_results,
        ]
    )
    agent = create_agent(
        model=model,
        tools=[delete_course],
        checkpointer=saver,
        system_prompt="You are the administrator assistant.",
    )
    run.invoke(agent, {"messages": [HumanMessage(content="delete the course")]}, cfg())
    state = run.get_state(agent, cfg())
    assert state.next == ("tools",)
    assert state.tasks[0].interrupts[0].value == {
        "action": "delete_course",
        "course": "Outdated Java Tutorial",
    }
    result = run.invoke(agent, Command(resume={"confirmed": True}), cfg())
    assert result["messages"][-1].content == 'Course "Outdated Java Tutorial" has been deleted'
    assert ran == [("delete_course", {"course_name": "Outdated Java Tutorial"})]
    kinds = [type(m).__name__ for m in result["messages"]]
    assert kinds == ["HumanMessage", "AIMessage", "ToolMessage", "AIMessage"]
    # the system prompt went to the model but is not stored in the thread
    assert model.calls[0][0].content == "You are the administrator assistant."


def test_parallel_tool_calls_pause_only_the_interrupting_call(run, saver) -> None:
    model = ScriptedChatModel(
        [
            AIMessage(
                content="",
                tool_calls=[
                    call("delete_course", {"course_name": "A"}, "c1"),
                    call("lookup", {"term": "B"}, "c2"),
                    call("delete_course", {"course_name": "C"}, "c3"),
                ],
            ),
            reply_with_tool_results,
        ]
    )
    agent = create_agent(model=model, tools=[delete_course, lookup], checkpointer=saver)
    paused = run.invoke(agent, {"messages": [HumanMessage(content="go")]}, cfg())
    pending = paused["__interrupt__"]
    assert sorted(i.value["course"] for i in pending) == ["A", "C"]
    assert len({i.id for i in pending}) == 2
    assert ran == [("lookup", {"term": "B"})]
    by_course = {i.value["course"]: i.id for i in pending}
    result = run.invoke(
        agent,
        Command(resume={by_course["A"]: {"confirmed": True}, by_course["C"]: {"confirmed": False}}),
        cfg(),
    )
    final = result["messages"][-1].content
    assert 'Course "A" has been deleted' in final and "cancelled" in final
    assert ran.count(("lookup", {"term": "B"})) == 1  # the finished call never re-ran


def policy_agent(saver: Any, turn: list[dict], **kw: Any):
    model = ScriptedChatModel([AIMessage(content="", tool_calls=turn), reply_with_tool_results])
    return create_agent(model=model, tools=[send_email, lookup], checkpointer=saver, **kw), model


def test_approval_policy_one_request_per_turn_and_ungated_calls_run(run, saver) -> None:
    agent, _ = policy_agent(
        saver,
        [
            call("send_email", {"to": "a@x.org", "subject": "hi"}, "e1"),
            call("lookup", {"term": "t"}, "l1"),
            call("send_email", {"to": "b@x.org", "subject": "yo"}, "e2"),
        ],
        interrupt_on={"send_email": True},
    )
    paused = run.invoke(agent, {"messages": [HumanMessage(content="go")]}, cfg())
    [request] = paused["__interrupt__"]
    assert [a["tool_call_id"] for a in request.value["action_requests"]] == ["e1", "e2"]
    assert request.value["action_requests"][0]["args"] == {"to": "a@x.org", "subject": "hi"}
    assert request.value["review_configs"][0] == {
        "action_name": "send_email",
        "allowed_decisions": ["approve", "edit", "reject", "respond"],
    }
    assert ran == [("lookup", {"term": "t"})]  # ungated call did not wait
    # the ungated `tools` task finished in the paused step: as in LangGraph, `next` shows
    # what is still to run, and the task (with its result) stays in `tasks`
    state = run.get_state(agent, cfg())
    assert state.next == ("review",)
    assert sorted(t.name for t in state.tasks) == ["review", "tools"]
    assert next(t for t in state.tasks if t.name == "tools").result is not None
    result = run.invoke(
        agent,
        Command(
            resume={
                "decisions": [
                    {"type": "approve"},
                    {"type": "reject", "message": "not this one."},
                ]
            }
        ),
        cfg(),
    )
    assert ran == [("lookup", {"term": "t"}), ("send_email", {"to": "a@x.org", "subject": "hi"})]
    tool_msgs = {m.tool_call_id: m for m in result["messages"] if isinstance(m, ToolMessage)}
    assert tool_msgs["e2"].status == "success"  # a decision, not an error to retry
    assert "rejected" in tool_msgs["e2"].content and "not this one" in tool_msgs["e2"].content
    assert "do not retry" in tool_msgs["e2"].content
    assert "not this one. This is a final decision" in tool_msgs["e2"].content  # no ".."
    assert tool_msgs["e1"].content == "sent to a@x.org"


def test_edit_runs_new_args_and_rewrites_the_ai_message(run, saver) -> None:
    agent, _ = policy_agent(
        saver,
        [call("send_email", {"to": "a@x.org", "subject": "hi"}, "e1")],
        interrupt_on={"send_email": True},
    )
    run.invoke(agent, {"messages": [HumanMessage(content="go")]}, cfg())
    result = run.invoke(
        agent,
        Command(
            resume={
                "e1": {
                    "type": "edit",
                    "edited_action": {
                        "name": "send_email",
                        "args": {"to": "c@x.org", "subject": "hi"},
                    },
                }
            }
        ),
        cfg(),
    )
    assert ran == [("send_email", {"to": "c@x.org", "subject": "hi"})]
    ai = next(m for m in result["messages"] if isinstance(m, AIMessage) and m.tool_calls)
    assert ai.tool_calls[0]["args"] == {"to": "c@x.org", "subject": "hi"}
    tool_msg = next(m for m in result["messages"] if isinstance(m, ToolMessage))
    assert "edited" in tool_msg.content and "a@x.org" in tool_msg.content


def test_respond_gives_the_persons_answer_to_the_model(run, saver) -> None:
    agent, _ = policy_agent(
        saver, [call("lookup", {"term": "q"}, "l1")], interrupt_on={"lookup": True}
    )
    run.invoke(agent, {"messages": [HumanMessage(content="go")]}, cfg())
    result = run.invoke(
        agent,
        Command(resume={"decisions": [{"type": "respond", "message": "the answer is 42"}]}),
        cfg(),
    )
    assert ran == []
    assert result["messages"][-1].content == "the answer is 42"


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        ({"decisions": []}, "at least 1"),
        ({"decisions": [{"type": "approve"}, {"type": "approve"}]}, "at most 1"),
        ({"decisions": [{"type": "explode"}]}, "type"),
        ({"decisions": [{"type": "respond"}]}, "one of"),
        (
            {
                "decisions": [
                    {"type": "edit", "edited_action": {"name": "send_email", "args": {"to": 5}}}
                ]
            },
            "to",
        ),
        ({"nope-call-id": {"type": "approve"}}, "e1"),
    ],
)
def test_bad_decisions_are_refused_and_the_request_stays_pending(saver, answer, match) -> None:
    agent, _ = policy_agent(
        saver,
        [call("send_email", {"to": "a@x.org", "subject": "s"}, "e1")],
        interrupt_on={"send_email": {"allowed_decisions": ["approve", "edit", "reject"]}},
    )
    paused = agent.invoke({"messages": [HumanMessage(content="go")]}, cfg())
    with pytest.raises(InvalidResumeValue, match=match):
        agent.invoke(Command(resume=answer), cfg())
    state = agent.get_state(cfg())
    assert [i.id for i in state.interrupts] == [paused["__interrupt__"][0].id]
    assert ran == []
    agent.invoke(Command(resume={"decisions": [{"type": "approve"}]}), cfg())
    assert ran == [("send_email", {"to": "a@x.org", "subject": "s"})]


def test_when_predicate_and_fail_closed(run, saver) -> None:
    def boom(args: dict) -> bool:
        raise RuntimeError("predicate bug")

    agent, _ = policy_agent(
        saver,
        [
            call("send_email", {"to": "me@corp.com", "subject": "internal"}, "e1"),
            call("lookup", {"term": "x"}, "l1"),
        ],
        interrupt_on={
            "send_email": {"when": lambda args: not args["to"].endswith("@corp.com")},
            "lookup": {"when": boom},
        },
    )
    paused = run.invoke(agent, {"messages": [HumanMessage(content="go")]}, cfg())
    [request] = paused["__interrupt__"]
    assert [a["name"] for a in request.value["action_requests"]] == ["lookup"]
    assert ran == [("send_email", {"to": "me@corp.com", "subject": "internal"})]


def test_middleware_form_is_accepted(run, saver) -> None:
    agent, _ = policy_agent(
        saver,
        [call("send_email", {"to": "a@x.org", "subject": "s"}, "e1")],
        middleware=[HumanInTheLoopMiddleware(interrupt_on={"send_email": True})],
    )
    paused = run.invoke(agent, {"messages": [HumanMessage(content="go")]}, cfg())
    assert paused["__interrupt__"][0].value["action_requests"][0]["name"] == "send_email"


def test_interrupt_before_tools_then_edit_state_then_continue(run, saver) -> None:
    model = ScriptedChatModel(
        [
            AIMessage(
                content="",
                id="ai-1",
                tool_calls=[call("send_email", {"to": "a@x.org", "subject": "s"}, "e1")],
            ),
            reply_with_tool_results,
        ]
    )
    agent = create_agent(
        model=model, tools=[send_email], checkpointer=saver, interrupt_before=["tools"]
    )
    paused = run.invoke(agent, {"messages": [HumanMessage(content="go")]}, cfg())
    assert "__interrupt__" in paused
    state = run.get_state(agent, cfg())
    assert state.next == ("tools",)
    ai = state.values["messages"][-1]
    edited = AIMessage(
        content="",
        id=ai.id,
        tool_calls=[call("send_email", {"to": "b@x.org", "subject": "s"}, "e1")],
    )
    run.update_state(agent, cfg(), {"messages": [edited]})
    assert run.get_state(agent, cfg()).next == ("tools",)
    result = run.invoke(agent, None, cfg())
    assert ran == [("send_email", {"to": "b@x.org", "subject": "s"})]
    assert result["messages"][-1].content == "sent to b@x.org"


def test_tool_errors_become_tool_messages(run, saver) -> None:
    @tool
    def fragile(n: int) -> str:
        """Fails on purpose.

        Args:
            n: a number
        """
        raise ValueError("disk on fire")

    model = ScriptedChatModel(
        [
            AIMessage(
                content="",
                tool_calls=[
                    call("fragile", {"n": 1}, "f1"),
                    call("fragile", {"n": "not a number"}, "f2"),
                    call("missing_tool", {}, "m1"),
                ],
            ),
            reply_with_tool_results,
        ]
    )
    agent = create_agent(model=model, tools=[fragile], checkpointer=saver)
    result = run.invoke(agent, {"messages": [HumanMessage(content="go")]}, cfg())
    msgs = {m.tool_call_id: m for m in result["messages"] if isinstance(m, ToolMessage)}
    assert all(m.status == "error" for m in msgs.values())
    assert "disk on fire" in msgs["f1"].content
    assert "n" in msgs["f2"].content
    assert "missing_tool" in msgs["m1"].content


def test_plain_functions_are_tools_and_loop_ends_without_tool_calls(run) -> None:
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    model = ScriptedChatModel(
        [
            AIMessage(content="", tool_calls=[call("add", {"a": 2, "b": 3}, "x1")]),
            reply_with_tool_results,
        ]
    )
    result = run.invoke(create_agent(model, [add]), {"messages": [HumanMessage(content="2+3")]})
    assert result["messages"][-1].content == "5"


def test_agent_recursion_limit(saver) -> None:
    looping = [
        AIMessage(content="", tool_calls=[call("lookup", {"term": str(i)}, f"l{i}")])
        for i in range(50)
    ]
    agent = create_agent(ScriptedChatModel(looping), [lookup], checkpointer=saver)
    with pytest.raises(RecursionLimit):
        agent.invoke({"messages": [HumanMessage(content="go")]}, {**cfg(), "recursion_limit": 6})


def test_stream_messages_mode_yields_model_tokens(run) -> None:
    agent = create_agent(ScriptedChatModel([AIMessage(content="hello there world")]), [])
    chunks = run.stream(agent, {"messages": [HumanMessage(content="hi")]}, stream_mode="messages")
    text = "".join(c.content for c, meta in chunks)
    assert text == "hello there world"
    assert len(chunks) > 1 and all(meta["langgraph_node"] == "model" for _, meta in chunks)


def test_messages_round_trip_through_the_store(run, saver) -> None:
    agent, _ = policy_agent(saver, [call("lookup", {"term": "z"}, "l1")])
    result = run.invoke(agent, {"messages": [HumanMessage(content="go", id="h1")]}, cfg())
    stored = run.get_state(agent, cfg()).values["messages"]
    assert stored == result["messages"]
    assert stored[0].id == "h1" and all(m.id for m in stored)


def test_interrupt_after_model_lets_a_person_inspect_the_answer(run, saver) -> None:
    model = ScriptedChatModel(
        [
            AIMessage(content="", tool_calls=[call("lookup", {"term": "x"}, "l1")]),
            reply_with_tool_results,
        ]
    )
    agent = create_agent(
        model, [lookup], checkpointer=saver, interrupt_after=["model"], name="inspector"
    )
    paused = run.invoke(agent, {"messages": [HumanMessage(content="go")]}, cfg())
    assert paused["__interrupt__"][0].value["when"] == "after"
    assert run.get_state(agent, cfg()).next == ("tools",)
    assert ran == []  # nothing ran before the person looked
    paused = run.invoke(agent, None, cfg())  # the tools run, then the model answers: pause again
    assert ran == [("lookup", {"term": "x"})]
    final = run.invoke(agent, None, cfg())
    assert final["messages"][-1].content == "x: found"
    assert final["messages"][-1].name == "inspector"


def test_tool_errors_can_propagate_when_configured(saver) -> None:
    @tool(handle_tool_error=False)
    def strict(n: int) -> str:
        """Fails loudly.

        Args:
            n: a number
        """
        raise ValueError("no recovery")

    model = ScriptedChatModel([AIMessage(content="", tool_calls=[call("strict", {"n": 1}, "s1")])])
    agent = create_agent(model, [strict], checkpointer=saver)
    with pytest.raises(ValueError, match="no recovery"):
        agent.invoke({"messages": [HumanMessage(content="go")]}, cfg())
    assert agent.get_state(cfg()).tasks[0].error == "ValueError('no recovery')"


def test_tool_calls_without_ids_get_one(run, saver) -> None:
    model = ScriptedChatModel(
        [
            AIMessage(
                content="",
                tool_calls=[
                    {"name": "lookup", "args": {"term": "a"}, "id": None, "type": "tool_call"}
                ],
            ),
            reply_with_tool_results,
        ]
    )
    agent = create_agent(model, [lookup], checkpointer=saver, interrupt_on={"lookup": True})
    paused = run.invoke(agent, {"messages": [HumanMessage(content="go")]}, cfg())
    [action] = paused["__interrupt__"][0].value["action_requests"]
    assert action["tool_call_id"].startswith("call_")
    result = run.invoke(agent, Command(resume={action["tool_call_id"]: {"type": "approve"}}), cfg())
    assert result["messages"][-1].content == "a: found"
