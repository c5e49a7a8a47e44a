"""`create_agent`: the model ⇄ tools loop, with approval policies, on the graph runtime.

Nodes: `model` (calls the chat model), `tools` (one task per tool call, so calls run in
parallel and a call that pauses pauses only itself), and `review` (present when approval
policies are given: one request per model turn for the calls that need a person).

LangChain chat models and tools are accepted too: they are wrapped at the edge
(`interlock.agent.langchain`), and LangChain messages in the state are read as ours.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, TypedDict

from interlock._types import Command, Send
from interlock.agent.approval import (
    HumanInTheLoopMiddleware,
    apply_decisions,
    build_request,
    expired_decisions,
    gated_calls,
    normalise_policies,
    review_approvers,
    review_deadline,
    review_escalation,
    review_max_auth_age,
    review_quorum,
)
from interlock.agent.grants import GrantPredicate, cover_calls
from interlock.agent.langchain._detect import is_langchain_chat_model, is_langchain_runnable
from interlock.agent.langchain._tools import as_tool
from interlock.agent.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    SystemMessage,
    ToolMessage,
    add_messages,
    as_messages,
)
from interlock.checkpoint.base import BaseSaver
from interlock.graph import (
    END,
    START,
    CompiledStateGraph,
    StateGraph,
    get_config,
    get_message_writer,
    interrupt,
)

__all__ = ["AgentState", "create_agent"]


class AgentState(TypedDict, total=False):
    """The state of an agent: its conversation."""

    messages: Annotated[list[BaseMessage], add_messages]


def _last_ai(messages: Sequence[Any]) -> tuple[int, AIMessage | None]:
    for i in range(len(messages) - 1, -1, -1):
        if isinstance(messages[i], AIMessage):
            return i, messages[i]
    return -1, None


def _open_calls(messages: Sequence[Any]) -> list[dict[str, Any]]:
    """Tool calls of the last AI message that have no tool result yet."""
    messages = as_messages(messages)
    index, ai = _last_ai(messages)
    if ai is None or not ai.tool_calls:
        return []
    answered = {m.tool_call_id for m in messages[index + 1 :] if isinstance(m, ToolMessage)}
    return [dict(c) for c in ai.tool_calls if c.get("id") not in answered]


def _chunks_to_message(chunks: list[Any]) -> AIMessage:
    total = chunks[0]
    for c in chunks[1:]:
        total = total + c
    if isinstance(total, AIMessageChunk):
        return total.to_message()
    return total


def _resolve_model(model: Any) -> Any:
    if isinstance(model, str):
        from interlock.agent.models import init_chat_model

        return init_chat_model(model)
    if is_langchain_chat_model(model):
        from interlock.agent.langchain._model import LangChainChatModel

        return LangChainChatModel(model)
    if is_langchain_runnable(model):
        raise TypeError(
            f"model is a LangChain {type(model).__name__}, not a chat model; pass the chat "
            "model itself (create_agent binds the tools to it)"
        )
    if not hasattr(model, "invoke"):
        raise TypeError(f"model must be a chat model or a 'provider:model' string, not {model!r}")
    return model


def _tool_call_hooks(middleware: Any) -> list[str]:
    """The tool-call hooks (`wrap_tool_call`, `awrap_tool_call`) a LangChain middleware
    defines itself (its base `AgentMiddleware` has both, doing nothing)."""
    own = [c for c in type(middleware).__mro__ if c.__name__ not in ("AgentMiddleware", "object")]
    return [h for h in ("wrap_tool_call", "awrap_tool_call") if any(h in vars(c) for c in own)]


def create_agent(
    model: Any,
    tools: Sequence[Any] | None = None,
    *,
    system_prompt: str | SystemMessage | None = None,
    checkpointer: BaseSaver | None = None,
    store: Any = None,
    interrupt_before: Sequence[str] | None = None,
    interrupt_after: Sequence[str] | None = None,
    interrupt_on: Mapping[str, Any] | None = None,
    middleware: Sequence[Any] = (),
    state_schema: Any = None,
    name: str | None = None,
    version: str | None = None,
    on_version_change: str | None = None,
    grant_predicates: Mapping[str, GrantPredicate] | None = None,
    cache: Any = None,
    **_ignored: Any,
) -> CompiledStateGraph:
    """Build a tool-calling agent: the model runs, its tool calls run, repeat until it answers.

    The agent's version covers its tools' argument schemas; `version` and
    `on_version_change` are `StateGraph.compile`'s (see the safe-deploys guide).

    `interrupt_on={"tool": True | {"allowed_decisions": [...], "description": ..., "when":
    predicate}}` (or `middleware=[HumanInTheLoopMiddleware(interrupt_on=...)]`) makes calls
    to those tools wait for a person's decision; see `interlock.agent.approval`. A call a
    standing grant in the checkpointer covers runs without waiting; `grant_predicates`
    names the predicates grants may refer to (see `interlock.agent.grants`). `store` (a
    long-term memory store, `interlock.store`) reaches tools as `runtime.store` and
    `get_store()`. `cache` is `compile(cache=...)`'s, as LangChain's (the agent's own nodes
    have no cache policy, so it caches nothing by itself).

    Example:
        >>> from interlock import ScriptedChatModel, InMemorySaver  # doctest: +SKIP
        >>> agent = create_agent(ScriptedChatModel(["hi"]), [], checkpointer=InMemorySaver())
    """
    chat = _resolve_model(model)
    tool_list = [as_tool(t) for t in (tools or ())]
    by_name = {t.name: t for t in tool_list}
    policy_spec: dict[str, Any] = dict(interrupt_on or {})
    for mw in middleware:
        if isinstance(mw, HumanInTheLoopMiddleware):
            policy_spec.update(mw.interrupt_on)
        elif hooks := _tool_call_hooks(mw):
            raise TypeError(
                f"unsupported middleware {type(mw).__name__}: interlock's create_agent does "
                f"not run its {' and '.join(hooks)} hook; build the graph with "
                "interlock.prebuilt.ToolNode(tools, wrap_tool_call=...), which does (see "
                "docs/porting.md)"
            )
        else:
            raise TypeError(
                f"unsupported middleware {type(mw).__name__}; interlock supports "
                "HumanInTheLoopMiddleware (or pass interrupt_on=...)"
            )
    policies = normalise_policies(policy_spec, list(by_name))
    params = {t.name: t.json_schema()["parameters"] for t in tool_list}
    bound = chat.bind_tools(tool_list) if tool_list else chat
    prompt = system_prompt.content if isinstance(system_prompt, SystemMessage) else system_prompt

    def call_model(state: Mapping[str, Any]) -> dict[str, Any]:
        messages = list(as_messages(state.get("messages") or []))
        if prompt:
            messages = [SystemMessage(content=prompt), *messages]
        writer = get_message_writer()
        if writer is None:
            reply = bound.invoke(messages)
        else:
            chunks = []
            for chunk in bound.stream(messages):
                writer(chunk, {"ls_model": type(chat).__name__})
                chunks.append(chunk)
            reply = _chunks_to_message(chunks) if chunks else AIMessage(content="")
        if name and not reply.name:
            reply.name = name
        for call in reply.tool_calls:  # answers are routed by id: every call needs one
            if not call.get("id"):
                call["id"] = f"call_{uuid.uuid4().hex[:16]}"
        return {"messages": [reply]}

    def route_model(state: Mapping[str, Any]) -> list[Any]:
        calls = _open_calls(state.get("messages") or [])
        if not calls:
            return [END]
        gated = gated_calls(calls, policies)
        gated_ids = {c.get("id") for c in gated}
        targets: list[Any] = [
            Send("tools", {"tool_call": c}) for c in calls if c.get("id") not in gated_ids
        ]
        if gated:
            targets.append("review")
        return targets

    def review(state: Mapping[str, Any]) -> Command:
        messages = as_messages(state.get("messages") or [])
        calls = gated_calls(_open_calls(messages), policies)
        granted: list[Any] = []
        if calls and checkpointer is not None and name:
            covered = cover_calls(
                checkpointer,
                name,
                [c for c in calls if not policies[c["name"]].quorum],  # never for a quorum
                get_config().get("configurable", {}).get("thread_id"),
                grant_predicates or {},
            )
            granted = [Send("tools", {"tool_call": c}) for c in calls if c.get("id") in covered]
            calls = [c for c in calls if c.get("id") not in covered]
            if granted and not calls:
                return Command(goto=granted)
        if not calls:
            return Command(goto="model")
        request, schema = build_request(calls, policies, params)
        deadline = review_deadline(calls, policies)
        approvers = review_approvers(calls, policies)
        fresh = review_max_auth_age(calls, policies)
        quorum = review_quorum(calls, policies)
        if deadline is None:
            answer = interrupt(
                request,
                response_schema=schema,
                approvers=approvers,
                max_auth_age=fresh,
                quorum=quorum,
            )
        else:
            answer = interrupt(
                request,
                response_schema=schema,
                approvers=approvers,
                max_auth_age=fresh,
                quorum=quorum,
                deadline=deadline,
                escalate=review_escalation(calls, policies),
                on_expiry=expired_decisions(calls),
            )
        outcome = apply_decisions(answer, calls)
        updates: list[Any] = []
        if outcome.edits:
            index, ai = _last_ai(messages)
            assert ai is not None
            edited: Any = dataclasses.replace(
                ai,
                tool_calls=[
                    {**c, "args": outcome.edits[str(c.get("id"))]}
                    if c.get("id") in outcome.edits
                    else c
                    for c in ai.tool_calls
                ],
            )
            if state["messages"][index] is not ai:  # a LangChain message stays one
                from interlock.agent.langchain._messages import to_langchain

                edited = to_langchain(edited)
            updates.append(edited)
        for result in outcome.results:
            updates.append(
                ToolMessage(
                    content=result["content"],
                    tool_call_id=result["tool_call_id"],
                    name=result["name"],
                    status="success",
                    artifact={"decision": result["decision"]},
                )
            )
        gotos: list[Any] = [
            Send("tools", {"tool_call": call, "note": outcome.notes.get(call.get("id", ""))})
            for call in outcome.run
        ]
        gotos += granted
        return Command(update={"messages": updates}, goto=gotos or ["model"])

    def run_tool(arg: Mapping[str, Any]) -> dict[str, Any]:
        call = arg["tool_call"]
        tool = by_name.get(call["name"])
        if tool is None:
            missing = (
                f"Error: there is no tool named {call['name']!r}; "
                f"available tools: {sorted(by_name)}"
            )
            message = ToolMessage(
                content=missing, tool_call_id=call.get("id", ""), name=call["name"], status="error"
            )
            return {"messages": [message]}
        result = tool.run_safely({**call, "args": call.get("args") or {}})
        content: str | list[Any] = result.content
        if arg.get("note"):
            if isinstance(content, str):
                content = f"{content}\n{arg['note']}"
            else:
                content = [*content, {"type": "text", "text": arg["note"]}]
        message = ToolMessage(
            content=content,
            tool_call_id=call.get("id", ""),
            name=call["name"],
            status=result.status,
            artifact=result.artifact,
        )
        return {"messages": [message]}

    def route_tools(state: Mapping[str, Any]) -> str:
        messages = as_messages(state.get("messages") or [])
        if _open_calls(messages):
            return END  # other calls of this turn are still waiting (e.g. for review)
        _, ai = _last_ai(messages)
        if ai is not None and any(
            getattr(by_name.get(c["name"]), "return_direct", False) for c in ai.tool_calls
        ):
            return END
        return "model"

    graph = StateGraph(state_schema or AgentState)
    graph.add_node("model", call_model)
    graph.add_node("tools", run_tool)
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", route_model)
    graph.add_conditional_edges("tools", route_tools)
    if policies:
        graph.add_node("review", review)
    return graph.compile(
        checkpointer=checkpointer,
        store=store,
        interrupt_before=interrupt_before,
        interrupt_after=interrupt_after,
        name=name or "agent",
        tools=tool_list,
        version=version,
        on_version_change=on_version_change,
        cache=cache,
    )
