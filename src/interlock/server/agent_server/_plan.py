"""What a run request asks, checked before anything runs, and how it is carried out: new
input (`run_input`), an answer (`decide_request`: the one decision path), or a state change
by command (refused past a pending review unless the caller may decide it, and refused to a
non-admin when it routes the thread or leaves nodes to run: `_detour`).

Every kind streams into the run event log through `logged_invoke`; the terminal event is
written by `carry_out`'s caller, who knows how the run ended.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from interlock._types import Command
from interlock.checkpoint.base import BaseSaver
from interlock.errors import RunStopped
from interlock.graph import CompiledStateGraph
from interlock.graph._run import PASSABLE
from interlock.server._audit_later import AuditLater, record_all
from interlock.server._durable import LoggedRunner, RunLogOptions, run_durably
from interlock.server._errors import ApiError
from interlock.server._operations import (
    check_shape,
    decide_request,
    input_of,
    record_audit,
    run_config,
    run_input,
    run_view,
)
from interlock.server._plain import plain
from interlock.server.agent_server._assistant import CONFIG_KEYS, RESERVED, Resolved
from interlock.server.agent_server._context import Context
from interlock.server.agent_server._detour import (
    check_continue,
    check_edit,
    check_goto,
    check_leaves,
)
from interlock.server.agent_server._fork import check_fork, fork_point, run_fork
from interlock.server.agent_server._guard import (
    check_state_change,
    from_agent_inbox,
    resume_target,
)
from interlock.server.agent_server._log import EventWriter, logged_invoke, wire_modes
from interlock.server.agent_server._requests import quorums
from interlock.server.agent_server._wire import interrupt_view
from interlock.server.auth import Principal

__all__ = ["Plan", "RunBody", "carry_out", "decision_answers", "plan_run", "result_values"]


class RunBody(BaseModel):
    """A run request as the SDKs send it (fields we do not act on are listed in the docs)."""

    model_config = ConfigDict(extra="ignore")

    assistant_id: str
    input: dict[str, Any] | None = None
    command: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    stream_mode: str | list[str] | None = None
    stream_subgraphs: bool = False
    stream_resumable: bool = False
    interrupt_before: Literal["*"] | list[str] | None = None
    interrupt_after: Literal["*"] | list[str] | None = None
    multitask_strategy: Literal["reject", "interrupt", "rollback", "enqueue"] = "reject"
    if_not_exists: Literal["create", "reject"] = "reject"
    on_completion: Literal["delete", "keep"] | None = None
    on_disconnect: Literal["cancel", "continue"] | None = None
    durability: Literal["sync", "async", "exit"] | None = None
    checkpoint_id: str | None = None
    checkpoint: dict[str, Any] | None = None
    webhook: str | None = None
    after_seconds: float | None = None


@dataclass(slots=True, kw_only=True)
class Plan:
    """A checked run request."""

    who: Principal
    thread_id: str
    name: str
    graph: CompiledStateGraph
    modes: frozenset[str]
    """The modes the client streams (every run logs them all)."""
    kind: Literal["input", "decision", "command", "continue", "fork"]
    """`continue`: `input: null` on a thread stopped between steps (a cancelled run, no
    request pending): its next nodes run. `fork`: from an older checkpoint (`_fork`)."""
    fork: str | None = None
    """A fork's checkpoint id."""
    cancels: list[str] = field(default_factory=list)
    """The requests a fork cancels (pending on the old head)."""
    passes: list[str] = field(default_factory=list)
    """The breakpoints a command may pass: those pending when its caller was allowed."""
    input: Any = None
    answers: dict[str, Any] = field(default_factory=dict)
    """A decision's answers by request id (one or several requests of the thread)."""
    update: Any = None
    goto: Any = ()
    configurable: dict[str, Any] = field(default_factory=dict)
    kwargs: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    subgraphs: bool = False
    """`stream_subgraphs`: the client's stream carries the subgraphs' chunks."""
    audits: list[AuditLater | None] = field(default_factory=list)
    """Entries for what the run does (`state.command`, `run.forked`, an admin's
    `state.detour`), recorded once it is under way (`carry_out`): a run refused before it
    started (a busy thread, a conflict) leaves none."""


def _unsupported(body: RunBody) -> None:
    refusals = {
        "multitask_strategy": body.multitask_strategy in ("interrupt", "rollback"),
        "webhook": body.webhook is not None,
        "after_seconds": bool(body.after_seconds),
        "config": bool(set(body.config or {}) - CONFIG_KEYS),
    }
    names = [name for name, refused in refusals.items() if refused]
    if names:
        raise ApiError(
            422,
            "not_supported",
            f"{', '.join(names)}: not supported by interlock's Agent Server API (see the docs)",
        )


def plan_run(
    ctx: Context,
    who: Principal,
    thread_id: str,
    body: RunBody,
    *,
    default_modes: frozenset[str],
) -> Plan:
    """Check a run request (roles, assistant, fields, the decision's target); raises the
    4xx it deserves before anything runs or is logged."""
    _unsupported(body)
    found = ctx.assistant(body.assistant_id)
    name, graph = found.name, found.graph
    current = ctx.graph(thread_id)
    if ctx.saver.get_thread(thread_id) is not None and current and current[0] != name:
        raise ApiError(409, "wrong_assistant", f"thread {thread_id!r} runs {current[0]!r}")
    try:
        modes = wire_modes(body.stream_mode, default_modes)
    except ValueError as exc:
        raise ApiError(422, "invalid_stream_mode", str(exc)) from exc
    own_conf = _configurable((body.config or {}).get("configurable"))
    check_shape(own_conf, "config")
    check_shape(body.context, "context")
    check_shape(body.metadata, "metadata")
    configurable, context = _merged(found, own_conf, body.context)
    kwargs: dict[str, Any] = {
        k: v
        for k, v in (
            ("interrupt_before", body.interrupt_before),
            ("interrupt_after", body.interrupt_after),
            ("context", context),
            ("durability", body.durability),
        )
        if v is not None
    }
    for where, compiled in (
        ("interrupt_before", graph.spec.interrupt_before),
        ("interrupt_after", graph.spec.interrupt_after),
    ):
        names = kwargs.get(where)
        if not isinstance(names, list):
            continue
        missing = sorted(set(names) - set(graph.nodes))
        if missing:  # a misspelt breakpoint would let the run go on past a review
            raise ApiError(422, "invalid_request", f"{where}: {name!r} has no node {missing[0]!r}")
        if compiled:  # a caller adds breakpoints, never lifts the graph's own reviews
            kwargs[where] = sorted(set(names) | set(compiled))
    limit = (body.config or {}).get("recursion_limit")
    if limit is not None:
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 10_000:
            raise ApiError(422, "invalid_request", "config.recursion_limit: 1 to 10000")
    else:  # the assistant's, if it has one
        limit = found.config.get("recursion_limit")
    if limit is not None:
        kwargs["recursion_limit"] = limit
    info = {
        "assistant_id": found.assistant_id,
        "metadata": plain(body.metadata),
        "multitask_strategy": body.multitask_strategy,
        "kwargs": {"stream_mode": sorted(modes), **plain(kwargs)},
        "created_by": who.name,
    }
    plan = Plan(
        who=who,
        thread_id=thread_id,
        name=name,
        graph=graph,
        modes=modes,
        kind="input",
        configurable=configurable,
        kwargs=kwargs,
        info=info,
        subgraphs=body.stream_subgraphs,
    )
    command = body.command or {}
    unknown = set(command) - {"resume", "update", "goto"}
    if unknown:
        raise ApiError(422, "invalid_command", f"unknown command fields {sorted(unknown)}")
    if command and body.input is not None:
        raise ApiError(422, "invalid_request", "send `input` or `command`, not both")
    plan.update, plan.goto = command.get("update"), command.get("goto") or ()
    if "resume" in command and plan.goto:  # LangGraph runs it beside the resumed step
        raise ApiError(
            422, "invalid_command", "`goto` with `resume` is not supported: resume first"
        )
    check_shape(command, "command")
    if isinstance(plan.update, dict):  # a state key the graph lacks: 422, as for input
        graph.spec.schema.to_updates(plan.update, "__input__", strict=True)
    fork = fork_point(ctx, thread_id, body.checkpoint_id, body.checkpoint, body.config)
    if fork is not None:
        plan.cancels, detour = check_fork(
            ctx, who, thread_id, graph, fork, body.input, body.command
        )
        plan.kind, plan.fork, plan.input = "fork", fork, input_of(body.input, None)
        forked = {"checkpoint_id": fork, "input": plan.input, "pending": plan.cancels}
        plan.audits = [
            detour,
            AuditLater(who=who, action="run.forked", thread_id=thread_id, detail=forked),
        ]
        return plan
    pending = ctx.saver.list_interrupts(status="pending", thread_id=thread_id, limit=2).items
    if "resume" in command or (
        not command and body.input is None and len(pending) == 1 and pending[0].kind != "interrupt"
    ):
        # an answer, or `input: null` continuing a breakpoint: the one decision path
        answers = resume_target(ctx.saver, thread_id, command.get("resume"))
        plan.kind = "decision"
        plan.answers = decision_answers(ctx, who, thread_id, answers)
        return plan
    if command:
        plan.kind = "command"
        detail = {"update": command.get("update"), "goto": command.get("goto")}
        plan.passes = check_state_change(
            ctx.saver,
            who,
            thread_id,
            "state.command",
            detail,
            allow_self_approval=ctx.allow_self_approval,
        )
        if plan.goto:
            plan.audits.append(check_goto(ctx.saver, who, thread_id, detail))
        else:  # the update goes with the step still to run, if there is one
            plan.audits.append(check_edit(ctx.saver, who, thread_id, "state.command", detail))
            nodes = graph.get_state(run_config(thread_id)).next
            plan.audits.append(
                check_leaves(ctx.saver, who, thread_id, "state.command", detail, nodes)
            )
        commanded = {**detail, "pending": plan.passes}
        plan.audits.append(
            AuditLater(who=who, action="state.command", thread_id=thread_id, detail=commanded)
        )
        return plan
    ctx.need(who, "requester")
    if body.input is None and not pending:
        head = graph.get_state(run_config(thread_id))
        if head.next:  # stopped between steps (a cancelled run, a failed step): go on
            source = (head.metadata or {}).get("source")
            plan.audits.append(check_continue(ctx.saver, who, thread_id, source, head.next))
            plan.kind = "continue"
            return plan
    if body.input is None:
        raise ApiError(422, "invalid_request", "send `input` (or a `command`)")
    plan.input = input_of(body.input, None)
    return plan


def _configurable(value: Any) -> dict[str, Any]:
    """A configurable's keys but those interlock sets itself (422 for one not an object)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ApiError(422, "invalid_request", "config.configurable must be an object")
    return {k: v for k, v in value.items() if k not in RESERVED}


def _merged(
    found: Resolved, own_conf: dict[str, Any], own_ctx: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The run's configurable and context: the assistant's, with the run's own on top (each
    top-level key of the run's replaces the assistant's, as LangGraph merges them). With a
    created assistant a run's `config.configurable` is also its context and its `context`
    also its configurable, as on LangGraph's server (unless the run sends both); with a
    graph's default assistant each goes where it was sent."""
    if found.stored is None:
        return own_conf, own_ctx
    conf_layer, ctx_layer = own_conf, dict(own_ctx or {})
    if not (own_conf and own_ctx):
        conf_layer = own_conf or _configurable(dict(own_ctx or {}))
        ctx_layer = dict(own_ctx or {}) or dict(own_conf)
    configurable = {**_configurable(found.config.get("configurable")), **conf_layer}
    context = {**found.context, **ctx_layer}
    return configurable, context or None


def decision_answers(
    ctx: Context, who: Principal, thread_id: str, answers: Mapping[str, Any]
) -> dict[str, Any]:
    """Check that `who` may answer at all (the role approver, as `/v1` asks; a refusal is
    audited: a try to skip a review), and read Agent Inbox answers as decisions."""
    out: dict[str, Any] = {}
    for interrupt_id, answer in answers.items():
        record = ctx.saver.get_interrupt(interrupt_id)
        if record is None:
            raise ApiError(404, "unknown_approval", f"no request {interrupt_id!r} here")
        if not who.can("approver"):
            detail = {"reason": "forbidden", "decision": plain(answer)}
            record_audit(ctx.saver, who, "approval.refused", thread_id, interrupt_id, detail)
            raise ApiError(403, "forbidden", f"{who.name} needs the role approver to decide")
        out[interrupt_id] = from_agent_inbox(answer, record, who)
    return out


def carry_out(
    ctx: Context,
    plan: Plan,
    writer: EventWriter,
    *,
    on_started: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Run the plan, streaming into `writer`'s log; returns the run's values (with
    `__interrupt__` when it paused). Refusals raise before anything is logged."""

    box: list[dict[str, Any]] = []

    def started() -> None:  # under way: what the plan does is audited now, once
        audits, plan.audits = plan.audits, []
        record_all(ctx.saver, audits)
        if on_started is not None:
            on_started()

    kwargs = dict(plan.kwargs)
    limit = kwargs.pop("recursion_limit", None)

    def run(graph: CompiledStateGraph, input: Any, config: dict[str, Any]) -> dict[str, Any]:
        conf = {**plan.configurable, **(config.get("configurable") or {})}
        extra = {"recursion_limit": limit} if limit is not None else {}
        result = logged_invoke(
            writer,
            graph,
            input,
            {**config, **extra, "configurable": conf},
            info=plan.info,
            on_started=started,
            fmt=ctx.formats.get(plan.name),
            **kwargs,
        )
        box.append(result)  # the full result (the callers keep only a view of it)
        return result

    # durable: a takeover of this run (its process died) logs on under the same run id
    logged = RunLogOptions(
        run_id=writer.run_id,
        modes=sorted(plan.modes),
        configurable=plan.configurable,
        kwargs=plan.kwargs,
        info=plan.info,
        fmt=ctx.formats.get(plan.name),
    )
    runner = LoggedRunner(run, logged)
    if plan.kind == "decision":
        decide_request(
            ctx.saver,
            ctx.registry,
            plan.answers,
            None,
            plan.who,
            allow_self_approval=ctx.allow_self_approval,
            run=runner,
            update=plan.update,
            goto=plan.goto,
        )
        return _ran(box, writer)
    if plan.kind == "fork":
        assert plan.fork is not None
        run_fork(
            ctx,
            plan.who,
            plan.thread_id,
            plan.graph,
            plan.name,
            plan.fork,
            plan.input,
            plan.cancels,
            runner,
        )
        return _ran(box, writer)
    if plan.kind in ("command", "continue"):
        config = run_config(plan.thread_id, user_id=plan.who.name)
        # a breakpoint that paused after the check is not passed (a continue passes none)
        config["configurable"][PASSABLE] = list(plan.passes) if plan.kind == "command" else []
        command: Command[Any] | None = (
            Command(update=plan.update, goto=plan.goto) if plan.kind == "command" else None
        )
        run_durably(ctx.saver, plan.graph, command, config, runner, view=run_view, agent=plan.name)
        return box[-1]
    run_input(
        ctx.saver,
        plan.graph,
        plan.name,
        plan.thread_id,
        plan.input,
        plan.who,
        run=runner,
        detail={"via": "agent_server", "run_id": writer.run_id},
    )
    return _ran(box, writer)


def _ran(box: list[dict[str, Any]], writer: EventWriter) -> dict[str, Any]:
    """The run's full result; none when it stopped as asked (`decide_request` and
    `run_input` answer a stopped run as such rather than raise)."""
    if not box:
        raise RunStopped(f"run {writer.run_id} stopped between two steps, as asked")
    return box[-1]


def result_values(
    result: Mapping[str, Any], fmt: str | None = None, saver: BaseSaver | None = None
) -> dict[str, Any]:
    """A run's values as `runs.wait` answers them (`__interrupt__` when it paused, with the
    votes of its quorum requests read from `saver`)."""
    values = {k: v for k, v in result.items() if k != "__interrupt__"}
    out = plain(values)
    interrupts = result.get("__interrupt__") or []
    if interrupts:
        votes = quorums(saver, [i.id for i in interrupts]) if saver is not None else {}
        out["__interrupt__"] = [
            interrupt_view(i.value, i.id, fmt, votes.get(i.id)) for i in interrupts
        ]
    return out
