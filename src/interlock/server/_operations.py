"""What the HTTP API and the inbox do, apart from HTTP: find the graph of a thread or a
request, run and decide (with the audit trail), expire due requests, render records."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from interlock._types import Command
from interlock.checkpoint.base import BaseSaver, InterruptRecord, RunRecord, VoteRecord
from interlock.errors import (
    InputRejected,
    InvalidUpdate,
    ResumeBusy,
    ResumeConflict,
    ResumeError,
    RunStopped,
    SerializationError,
    StoreUnavailable,
    ThreadBusy,
)
from interlock.graph import CompiledStateGraph, is_expired_answer
from interlock.graph._run import PASSABLE
from interlock.server._audit_later import record_audit, record_made
from interlock.server._durable import current as state_now
from interlock.server._durable import run_durably, stopped_view
from interlock.server._errors import ApiError
from interlock.server._plain import plain
from interlock.server.auth import ANONYMOUS, Principal, auth_age_problem, may_decide

__all__ = ["MAX_OFFSET", "decide_request", "record_audit", "record_made"]

_log = logging.getLogger("interlock.server")


MAX_OFFSET = 2**31 - 1
"""The largest `offset` a listing accepts (larger ones are 422, whatever the store)."""


def decide_request(
    saver: BaseSaver,
    registry: Mapping[str, CompiledStateGraph],
    interrupt_id: str | Mapping[str, Any],
    value: Any,
    who: Principal,
    *,
    allow_self_approval: bool,
    run: Callable[[CompiledStateGraph, Any, dict[str, Any]], dict[str, Any]] | None = None,
    update: Any = None,
    goto: Any = (),
    valid_for: float | None = None,
    before_resume: Callable[[InterruptRecord], None] | None = None,
) -> dict[str, Any]:
    """Decide a request as `who` and resume its run (shared by the API, the inbox and the
    Agent Server API). Raises `ApiError` (or an interlock error the handlers map) when it is
    refused. `run(graph, command, config)` runs the resume (default: `graph.invoke`; the
    Agent Server streams it into the run event log); `update` goes with the resume in the
    same `Command` (applied in the same step); a `goto` there is refused by the graph
    (`InvalidUpdate`) before anything is decided. On a quorum request the decision is
    `who`'s vote: the answer's `approval.status` stays `pending` until the N-th approval
    (see `approval.quorum`). `valid_for` (seconds): a run that would carry the decision
    out later than that reopens the request instead. `before_resume(record)` runs for each
    request once the decision is authorised, before the run resumes (standing grants are
    made there).

    `interrupt_id` may instead be a map `{interrupt_id: answer, ...}` of several requests of
    one thread (`value` is then unused): they are decided together in one resume, all or
    nothing — each is checked as a single one is (approver rule, no self-approval, 409 when
    already decided, audit) before anything runs, and one refusal refuses them all."""
    answers = dict(interrupt_id) if isinstance(interrupt_id, Mapping) else {interrupt_id: value}
    if not answers:
        raise ApiError(422, "invalid_decision", "name at least one request to decide")
    records = {i: interrupt_or_404(saver, i) for i in answers}
    record = next(iter(records.values()))
    threads = {r.thread_id for r in records.values()}
    if len(threads) > 1:
        raise ApiError(
            422, "invalid_decision", f"decide requests of one thread at a time (got {threads})"
        )
    for rid, current in records.items():
        requester = current.metadata.get("requested_by")
        if requester == who.name and not allow_self_approval and who is not ANONYMOUS:
            record_audit(
                saver,
                who,
                "approval.refused",
                current.thread_id,
                rid,
                {"reason": "self_approval", "decision": answers[rid]},
            )
            raise ApiError(
                403, "self_approval", f"{who.name} started this run and may not decide it"
            )
    requester = record.metadata.get("requested_by")  # (a thread's requests share theirs)

    def authorize(current: InterruptRecord) -> None:
        """Refuse `who` unless the request's approver rule names them (checked first, then
        again inside the run on the record read under the thread's lease, which an
        escalation also takes)."""
        answer = answers.get(current.interrupt_id)
        approvers = current.metadata.get("approvers")
        if may_decide(who, approvers):
            stale = auth_age_problem(who, current.metadata.get("max_auth_age"), time.time())
            if stale is None:
                return
            record_audit(
                saver,
                who,
                "approval.refused",
                current.thread_id,
                current.interrupt_id,
                {"reason": "stale_authentication", **auth_detail(who, current), "decision": answer},
            )
            fresh = current.metadata.get("max_auth_age")
            age = int(fresh) if isinstance(fresh, int | float) else 0
            challenge = f'Bearer error="insufficient_user_authentication", max_age={age}'
            raise ApiError(
                401,
                "insufficient_user_authentication",
                stale,
                headers={"WWW-Authenticate": challenge},
            )
        record_audit(
            saver,
            who,
            "approval.refused",
            current.thread_id,
            current.interrupt_id,
            {"reason": "not_an_approver", "approvers": approvers, "decision": answer},
        )
        rule = ", ".join(map(str, approvers)) if isinstance(approvers, list | tuple) else "admins"
        raise ApiError(403, "not_an_approver", f"only {rule} may decide this request")

    for current in records.values():
        authorize(current)
        refuse_uncounted(saver, who, current, answers[current.interrupt_id])
    for rid, current in records.items():
        if current.status != "pending":
            raise ApiError(
                409,
                "already_decided",
                f"request {rid} was already {current.status}"
                + (f" by {current.decided_by}" if current.decided_by else ""),
            )
    for answer in answers.values():
        if is_expired_answer(answer):
            raise ApiError(422, "invalid_decision", "that value is reserved for expiry")
        check_shape(answer, "value")
    _, graph = graph_of(saver, registry, record.thread_id, record.metadata.get("graph"))
    if before_resume is not None:  # authorised, still pending: e.g. make standing grants
        for current in records.values():
            before_resume(current)
    config = run_config(
        record.thread_id,
        user_id=who.name,
        requested_by=requester,
        authorize_decision=authorize,
        allow_self_approval=allow_self_approval,
        valid_for=valid_for,
    )
    failure: Exception | None = None
    result: dict[str, Any] = {}
    stopped = False
    try:
        command: Command[Any] = Command(resume=answers, update=update, goto=goto)
        votes = any(isinstance(r.metadata.get("quorum"), int) for r in records.values())
        result = _patiently(
            lambda: run_durably(saver, graph, command, config, run, view=run_view),
            wait=VOTE_WAIT if votes else 0.0,
        )
    except (ResumeError, ThreadBusy, ApiError):
        raise  # refused: nothing happened
    except RunStopped:  # cancelled under way: the decision was carried out, then it stopped
        stopped, result = True, state_now(graph, record.thread_id)
    except StoreUnavailable as exc:  # the store went away: before or after the decision?
        try:
            seen = [saver.get_interrupt(i) for i in answers]
        except StoreUnavailable:
            raise exc from None
        if all(r is None or r.status == "pending" for r in seen):
            raise
        raise ApiError(
            503,
            "store_unavailable",
            f"the decision was recorded; the run stopped before it finished: {exc}",
        ) from exc
    except Exception as exc:  # the decision may be recorded and the run failed after it
        failure = exc
    decided = [interrupt_or_404(saver, i) for i in answers]  # (the store audited each)
    if failure is not None:
        if all(d.status == "pending" for d in decided):
            raise failure
        raise ApiError(
            500,
            "run_failed",
            f"the decision was recorded, then the run failed: {type(failure).__name__}: {failure}",
        ) from failure
    for now in decided:
        if now.decided_by == who.name and (who.auth_time is not None or who.amr):
            # how the decider authenticated (a step-up's proof); the store's own entry for
            # the decision cannot carry it yet, so it follows in its own entry
            record_made(
                saver,
                who,
                "approval.authenticated",
                now.thread_id,
                now.interrupt_id,
                auth_detail(who, now),
            )
    out: dict[str, Any] = {
        "approval": approval_view(decided[0], votes=votes_of(saver, decided[0])),
        "run": run_view(graph, record.thread_id, result),
    }
    if stopped:
        out["run"] = stopped_view(out["run"])
    if len(decided) > 1:
        out["approvals"] = [approval_view(d, votes=votes_of(saver, d)) for d in decided]
    return out


VOTE_WAIT = 10.0
"""Seconds a vote waits for its thread while another vote on it is being counted (two
votes landing together both count: the second runs once the first has released the
thread, instead of answering 409 `thread_busy`)."""


def _patiently(run: Callable[[], dict[str, Any]], *, wait: float) -> dict[str, Any]:
    """`run()`, tried again while the thread is busy (`ThreadBusy`, `ResumeBusy`) for up to
    `wait` seconds, backing off from 20 ms to 250 ms; the error once that is spent, or at
    once with `wait=0`."""
    end = time.monotonic() + wait
    pause = 0.02
    while True:
        try:
            return run()
        except (ThreadBusy, ResumeBusy):
            if time.monotonic() + pause > end:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.25)


def refuse_uncounted(saver: BaseSaver, who: Principal, record: InterruptRecord, value: Any) -> None:
    """A service (an API key declared `service`) never counts as a person: it may not vote
    on a quorum request (403 `not_a_person`, audited)."""
    if not who.service or not isinstance(record.metadata.get("quorum"), int):
        return
    record_audit(
        saver,
        who,
        "approval.refused",
        record.thread_id,
        record.interrupt_id,
        {"reason": "not_a_person", "decision": value},
    )
    raise ApiError(
        403,
        "not_a_person",
        f"{who.name} is a service key: a quorum of people decides this request",
    )


def votes_of(saver: BaseSaver, record: InterruptRecord) -> tuple[VoteRecord, ...] | None:
    """The votes of a quorum request (None for a request without a quorum)."""
    if not isinstance(record.metadata.get("quorum"), int):
        return None
    return saver.list_votes(record.interrupt_id)


def quorum_view(
    record: InterruptRecord, votes: tuple[VoteRecord, ...] | None
) -> dict[str, Any] | None:
    """`{"required": N, "votes": [{"by", "vote", "at"}]}` for a quorum request: the votes
    that count now (those since the request was last reopened, for the proposal being
    decided, and a veto); None for a request without a quorum."""
    required = record.metadata.get("quorum")
    if not isinstance(required, int) or votes is None:
        return None
    reopened = record.metadata.get("reopened")
    epoch = reopened.get("count", 0) if isinstance(reopened, dict) else 0
    mine = [v for v in votes if v.epoch == epoch]
    current = max((v.proposal for v in mine if v.vote != "reject"), default=-1)
    shown = [v for v in mine if v.proposal == current or v.vote == "reject"]
    return {
        "required": required,
        "votes": [{"by": v.voter, "vote": v.vote, "at": v.at.isoformat()} for v in shown],
    }


def auth_detail(who: Principal, record: InterruptRecord) -> dict[str, Any]:
    """How `who` authenticated, for the audit: credential, `auth_time`, `amr`, and the
    request's `max_auth_age`."""
    at = who.auth_time
    return {
        "credential": who.credential,
        "auth_time": datetime.fromtimestamp(at, UTC).isoformat() if at is not None else None,
        "amr": list(who.amr),
        "max_auth_age": record.metadata.get("max_auth_age"),
    }


def make_registry(
    agents: Mapping[str, CompiledStateGraph] | CompiledStateGraph,
) -> dict[str, CompiledStateGraph]:
    registry = (
        {agents.name or "agent": agents}
        if isinstance(agents, CompiledStateGraph)
        else {str(k): v for k, v in agents.items()}
    )
    if not registry:
        raise ValueError("create_app needs at least one compiled graph")
    for name, graph in registry.items():
        if not isinstance(graph, CompiledStateGraph):
            raise TypeError(f"agent {name!r} is {type(graph).__name__}, not a compiled graph")
        if graph.checkpointer is None:
            raise ValueError(f"agent {name!r} has no checkpointer: a server needs a durable store")
        if graph.spec.schema.kind == "root":
            raise ValueError(
                f"agent {name!r} has a root state schema ({graph.builder.state_schema!r}: one "
                "value, not keys), which the server does not host: its thread state, input "
                "and inbox read keys. Give the graph a TypedDict state with one key instead"
            )
    names = [g.name for g in registry.values()]
    if len(set(names)) != len(names):
        raise ValueError(
            f"agents need distinct graph names (compile(name=...)) to route their requests; "
            f"got {names}"
        )
    return registry


def shared_saver(registry: Mapping[str, CompiledStateGraph]) -> BaseSaver:
    savers = {id(g.checkpointer): g.checkpointer for g in registry.values()}
    if len(savers) != 1:
        raise ValueError("all agents of one server must share one checkpointer (one store)")
    (saver,) = savers.values()
    assert saver is not None
    return saver


def only_agent(registry: Mapping[str, CompiledStateGraph]) -> str:
    if len(registry) != 1:
        raise ApiError(422, "agent_required", f"name the agent: one of {sorted(registry)}")
    return next(iter(registry))


def graph_of(
    saver: BaseSaver,
    registry: Mapping[str, CompiledStateGraph],
    thread_id: str,
    spec_name: str | None = None,
) -> tuple[str, CompiledStateGraph]:
    """The registered graph that runs `thread_id` (from its checkpoints' `graph` name)."""
    if not plausible_id(thread_id):
        raise ApiError(404, "unknown_thread", "no such thread")
    if spec_name is None:
        head = next(iter(saver.list_checkpoints(thread_id, limit=1)), None)
        if head is None:  # created without a first turn: its agent is in the audit log
            created = [
                e
                for e in saver.list_audit(thread_id=thread_id, limit=100).items
                if e.action == "thread.created"
            ]
            name = str(created[-1].detail.get("agent")) if created else ""
            if name in registry:
                return name, registry[name]
            raise ApiError(404, "unknown_thread", f"thread {thread_id!r} does not exist")
        spec_name = (head.metadata or {}).get("graph")
    matches = [(n, g) for n, g in registry.items() if g.name == spec_name]
    if len(matches) == 1:
        return matches[0]
    if spec_name is None and len(registry) == 1:  # written before graphs were named
        return next(iter(registry.items()))
    raise ApiError(409, "unknown_agent", f"no agent here serves graph {spec_name!r}")


def run_config(thread_id: str, **extra: Any) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id, **{k: v for k, v in extra.items() if v}}}


def input_of(update: dict[str, Any] | None, message: str | None) -> dict[str, Any] | None:
    if update is not None and message is not None:
        raise ApiError(422, "invalid_request", "send `input` or `message`, not both")
    if message is not None:
        return {"messages": [{"role": "user", "content": message}]}
    return update


def plausible_id(value: str) -> bool:
    return 0 < len(value) <= 256 and value.isprintable()


def check_input(graph: CompiledStateGraph, update: Any) -> None:
    """Refuse new input the HTTP APIs do not take: nested too deep (`check_shape`), or
    naming a state key the graph does not have (`InvalidUpdate`, 422 `invalid_input`; the
    library leaves such keys out, as LangGraph does)."""
    check_shape(update, "input")
    as_state = getattr(graph, "_in", None)  # an entrypoint's input is one value, not keys
    state = as_state(update) if callable(as_state) else update
    graph.spec.schema.to_updates(state, "__input__", strict=True)


def check_shape(value: Any, where: str, limit: int = 32) -> None:
    """Refuse JSON nested deeper than `limit` (it could not be rendered back), and text no
    store can hold: a lone surrogate (`"\\ud800"`: not UTF-8)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise ApiError(422, "too_deep", f"`{where}` is nested deeper than {limit} levels")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
            stack.extend((k, depth + 1) for k in item)
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, str):
            _check_text(item, where)


def check_storable(saver: BaseSaver, value: Any, where: str) -> None:
    """Refuse, before anything is written, text the store would refuse at write time: a NUL
    character on PostgreSQL (422 `not_serialisable`, as the write itself answers). For
    requests that write several records, so that none is written when one would fail."""
    if getattr(getattr(saver, "dialect", None), "name", None) != "postgres":
        return
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
            stack.extend(item)
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and "\x00" in item:
            raise ApiError(
                422, "not_serialisable", f"`{where}` holds a NUL character PostgreSQL cannot store"
            )


def _check_text(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ApiError(
            422, "invalid_request", f"`{where}` holds text that is not UTF-8: {exc.reason}"
        ) from None


def thread_owner(saver: BaseSaver, thread_id: str) -> str | None:
    """Who created the thread over HTTP (recorded with its `thread.created` audit entry),
    or None for a thread made otherwise (by the library)."""
    return saver.thread_owner(thread_id)


def listed_owner(who: Principal, *, shared: bool) -> str | None:
    """Whose threads `who` may see: None for every thread (approvers and admins decide
    their requests; every caller when threads are `shared`), else `who`'s name (a
    requester sees the threads they created)."""
    if shared or who is ANONYMOUS or who.can("approver"):
        return None
    return who.name


def may_see_thread(saver: BaseSaver, who: Principal, thread_id: str, *, shared: bool) -> bool:
    """Whether `who` may read and add to the thread (`listed_owner`'s rule)."""
    owner = listed_owner(who, shared=shared)
    return owner is None or thread_owner(saver, thread_id) == owner


def interrupt_or_404(saver: BaseSaver, interrupt_id: str) -> InterruptRecord:
    if not plausible_id(interrupt_id):
        raise ApiError(404, "unknown_approval", "no such request")
    record = saver.get_interrupt(interrupt_id)
    if record is None:
        raise ApiError(404, "unknown_approval", f"no request {interrupt_id!r}")
    return record


def approval_view(
    r: InterruptRecord, *, votes: tuple[VoteRecord, ...] | None = None
) -> dict[str, Any]:
    """A request as the API shows it; `votes` (`votes_of`) fill `quorum`."""
    return {
        "id": r.interrupt_id,
        "thread_id": r.thread_id,
        "kind": r.kind,
        "status": r.status,
        "value": plain(r.value),
        "requested_by": r.metadata.get("requested_by"),
        "graph": r.metadata.get("graph"),
        "subgraph": r.metadata.get("subgraph"),
        "checkpoint_ns": r.checkpoint_ns,
        "response_schema": r.metadata.get("response_schema"),
        "created_at": r.created_at.isoformat(),
        "deadline": r.deadline.isoformat() if r.deadline else None,
        "approvers": r.metadata.get("approvers"),
        "escalation_level": r.metadata.get("escalation_level", 0),
        "decision": plain(r.resume) if r.status != "pending" else None,
        "decided_by": r.decided_by,
        "decided_at": r.decided_at.isoformat() if r.decided_at else None,
        "quorum": quorum_view(r, votes),
        "binding": r.metadata.get("decision") if r.status != "pending" else None,
        "graph_version": r.metadata.get("graph_version"),
    }


def run_input(
    saver: BaseSaver,
    graph: CompiledStateGraph,
    name: str,
    thread_id: str,
    update: dict[str, Any] | None,
    who: Principal,
    *,
    run: Callable[[CompiledStateGraph, Any, dict[str, Any]], dict[str, Any]] | None = None,
    detail: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run new input on a thread as `who` (audited `run.started`, `run.refused`,
    `run.failed`); `update` None goes on from the thread's head (a thread stopped between
    steps: `continue_thread` checks it is one). `run(graph, input, config)` runs it
    (default: `graph.invoke`; the Agent Server streams it into the run event log);
    `detail` is added to the audit entries."""
    if update is not None:
        check_input(graph, update)
    detail = {"agent": name, "input": update, **(detail or {})}
    record_audit(saver, who, "run.started", thread_id, detail=detail)
    try:
        config = run_config(thread_id, user_id=who.name)
        if update is None:  # a continue passes no breakpoint that paused after its check
            config["configurable"][PASSABLE] = []
        result = run_durably(saver, graph, update, config, run, view=run_view, agent=name)
    except (ResumeConflict, InputRejected, ThreadBusy, SerializationError, InvalidUpdate) as exc:
        record_audit(saver, who, "run.refused", thread_id, detail={**detail, "reason": str(exc)})
        if isinstance(exc, ResumeConflict):  # another run committed on this thread first
            raise ApiError(409, "conflict", str(exc)) from exc
        raise
    except StoreUnavailable:
        raise
    except RunStopped:  # cancelled under way: it stopped between two steps, as asked
        return stopped_view(run_view(graph, thread_id, state_now(graph, thread_id)))
    except Exception as exc:
        record_made(saver, who, "run.failed", thread_id, detail={**detail, "error": str(exc)})
        raise ApiError(500, "run_failed", f"{type(exc).__name__}: {exc}") from exc
    return run_view(graph, thread_id, result)


def continue_thread(
    saver: BaseSaver, graph: CompiledStateGraph, name: str, thread_id: str, who: Principal
) -> dict[str, Any]:
    """Run a thread stopped between steps (a cancelled run) on from its head: its next
    nodes. 409 when a request waits for a person or nothing is left to run."""
    if saver.list_interrupts(status="pending", thread_id=thread_id, limit=1).items:
        raise ApiError(409, "waiting_for_decision", f"thread {thread_id} waits for a decision")
    if not graph.get_state(run_config(thread_id)).next:
        raise ApiError(409, "nothing_to_continue", f"thread {thread_id} has no step left to run")
    return run_input(saver, graph, name, thread_id, None, who, detail={"continue": True})


def queue_run(
    saver: BaseSaver,
    graph: CompiledStateGraph,
    name: str,
    thread_id: str,
    update: dict[str, Any],
    who: Principal,
    *,
    run_id: str | None = None,
    options: Any = None,
    detail: Mapping[str, Any] | None = None,
) -> RunRecord:
    """Check new input as a run would, then queue it as a background run (audited as
    `run.queued`, with `detail` added; `run_id` chosen by the caller, or new — a `run_id`
    queued already is a `ValueError`, nothing audited; `options`: how the worker runs it,
    see `RunRecord.options`). A refused input queues nothing."""
    run = saver.enqueue_run(
        thread_id=thread_id,
        agent=name,
        input=update,
        created_by=who.name,
        after=queue_after(saver, graph, thread_id, update),
        run_id=run_id,
        options=options,
    )
    entry = queued_detail(name, update, run.run_id, options, detail)
    record_made(saver, who, "run.queued", thread_id, detail=entry)
    return run


def queue_after(
    saver: BaseSaver, graph: CompiledStateGraph, thread_id: str, update: dict[str, Any]
) -> str | None:
    """Check new input as a run would (a refused input raises; a thread waiting for a
    decision is a 409); the id of the thread's head checkpoint the run goes after."""
    check_input(graph, update)
    pending = saver.list_interrupts(status="pending", thread_id=thread_id, limit=1).items
    if pending:
        raise ApiError(
            409,
            "waiting_for_decision",
            f"thread {thread_id!r} waits for a decision ({pending[0].interrupt_id}); "
            "decide it before sending new input",
        )
    head = next(iter(saver.list_checkpoints(thread_id, limit=1)), None)
    return head.checkpoint_id if head else None


def queued_detail(
    name: str,
    update: dict[str, Any],
    run_id: str,
    options: Any = None,
    detail: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The detail of a queued run's `run.queued` audit entry."""
    entry = {"agent": name, "input": update, "run_id": run_id, **(detail or {})}
    asked = ((options or {}).get("log") or {}).get("kwargs") if isinstance(options, dict) else None
    if asked:  # how it was asked to run: breakpoints, context, durability, limit
        entry["kwargs"] = asked
    return entry


def run_record_view(run: RunRecord) -> dict[str, Any]:
    """A background run as the API shows it."""
    return {
        "run_id": run.run_id,
        "thread_id": run.thread_id,
        "agent": run.agent,
        "status": run.status,
        "input": plain(run.input),
        "created_by": run.created_by,
        "created_at": run.created_at.isoformat(),
        "updated_at": run.updated_at.isoformat(),
        "attempts": run.attempts,
        "result": plain(run.result),
        "error": run.error,
        # given back for the workers of the version its thread paused under
        "for_version": run.for_version,
        "stop_asked": run.stop_asked,  # cancelled under way: it stops at its next step
    }


def sse_event(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def run_view(
    graph: CompiledStateGraph, thread_id: str, result: Any, pending: Any = None
) -> dict[str, Any]:
    """A run's outcome: `result` as `invoke` returned it (a functional-API entrypoint's may
    be any value), or a thread's state values with its `pending` interrupts."""
    values: Any = result
    interrupts: list[Any] = list(pending or [])
    if pending is None and isinstance(result, dict):
        interrupts = result.get("__interrupt__") or []
        values = {k: v for k, v in result.items() if k != "__interrupt__"}
    return {
        "thread_id": thread_id,
        "status": "paused" if interrupts else "finished",
        "values": plain(values),
        "interrupts": [{"id": i.id, "value": plain(i.value)} for i in interrupts],
    }


def expire_due_requests(
    registry: Mapping[str, CompiledStateGraph],
    saver: BaseSaver,
    now: datetime | None,
) -> dict[str, list[str]]:
    """Expire or escalate the registered graphs' due requests (the store audits each);
    `{"expired": ids, "escalated": ids}`."""
    done: dict[str, list[str]] = {"expired": [], "escalated": []}
    for graph in registry.values():
        graph.expire_due(
            now=now,
            on_expired=lambda record: done["expired"].append(record.interrupt_id),
            on_escalated=lambda record: done["escalated"].append(record.interrupt_id),
        )
    return done


def sweep_forever(
    registry: Mapping[str, CompiledStateGraph],
    saver: BaseSaver,
    every: float,
    stop: threading.Event,
) -> None:
    """Expire due requests every `every` seconds until `stop` is set; a failed sweep (the
    store down, say) is retried at the next tick."""
    while not stop.wait(every):
        try:
            expire_due_requests(registry, saver, None)
        except Exception:
            _log.exception("expiry sweep failed; retrying in %s s", every)
