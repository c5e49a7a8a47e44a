"""Runs from an older checkpoint of a thread (a fork): `checkpoint`, `checkpoint_id` or
`config.configurable.checkpoint_id` on a run request, as LangGraph's Agent Server takes
them (Agent Chat UI's "regenerate" and "edit message", useStream's branches).

`input: null` replays from that checkpoint: a copy of it becomes the thread's head
(`metadata.source == "fork"`) and its next nodes run; new input is applied on top of it
(the checkpoint's own plan is dropped, as in LangGraph). Either way the thread's head
moves to the new branch; the old branch stays in the history, and every new checkpoint
names its parent (`parent_checkpoint`).

Requests that wait on the thread's old head can never be carried out once the head moved:
a fork cancels them with its first write (status `cancelled`, exactly once: a decision
recorded first, or a request asked after the check below, makes the fork a 409 `conflict`
and changes nothing; a decision sent after it is a 409), and is allowed
only to a caller who may decide every one of them (403 otherwise, audited: a fork must not
skip a review). A replay (`input: null`) by a caller without the role admin is allowed
only where it cannot repeat a decided action (`_detour`: 403 `detour_forbidden`). Each
fork is audited (`run.forked`, with the checkpoint and the requests it
cancelled) once the run is under way (a fork refused as it starts, e.g. a busy thread, is
not). A checkpoint the thread does not have (another thread's, or none) is a 404.
"""

from __future__ import annotations

from typing import Any

from interlock.errors import InputRejected, ResumeConflict, ResumeError, ThreadBusy
from interlock.graph import CompiledStateGraph
from interlock.graph._run import EXPECTED_PENDING
from interlock.server._audit_later import AuditLater
from interlock.server._durable import Runner, run_durably
from interlock.server._errors import ApiError
from interlock.server._operations import check_input, run_config, run_view
from interlock.server.agent_server._context import Context
from interlock.server.agent_server._detour import check_replay
from interlock.server.agent_server._guard import check_state_change
from interlock.server.auth import Principal

__all__ = ["check_fork", "fork_point", "run_fork"]


def fork_point(
    ctx: Context,
    thread_id: str,
    checkpoint_id: str | None,
    checkpoint: dict[str, Any] | None,
    config: dict[str, Any] | None,
) -> str | None:
    """The checkpoint a run request starts from, when it is not the thread's head (None:
    an ordinary run). 422 for a subgraph's checkpoint or ids that disagree, 404 for a
    checkpoint the thread does not have."""
    given = checkpoint or {}
    configurable = (config or {}).get("configurable") or {}
    ids = {
        str(v)
        for v in (checkpoint_id, given.get("checkpoint_id"), configurable.get("checkpoint_id"))
        if v
    }
    if not ids:
        return None
    if len(ids) > 1:
        raise ApiError(422, "invalid_request", f"several checkpoint ids given: {sorted(ids)}")
    if given.get("checkpoint_ns") or configurable.get("checkpoint_ns"):
        raise ApiError(
            422,
            "not_supported",
            "checkpoint_ns: a run starts from a checkpoint of the root graph only",
        )
    if given.get("thread_id") and str(given["thread_id"]) != thread_id:
        raise ApiError(
            422, "invalid_request", f"checkpoint.thread_id is not this thread ({thread_id!r})"
        )
    (found,) = ids
    saver = ctx.saver
    if saver.get_checkpoint(thread_id, "", found) is None:
        raise ApiError(
            404, "checkpoint_not_found", f"thread {thread_id!r} has no checkpoint {found!r}"
        )
    head = next(iter(saver.list_checkpoints(thread_id, limit=1)), None)
    if head is not None and head.checkpoint_id == found:
        return None  # the head itself: an ordinary run
    return found


def check_fork(
    ctx: Context,
    who: Principal,
    thread_id: str,
    graph: CompiledStateGraph,
    checkpoint_id: str,
    input: Any,
    command: dict[str, Any] | None,
) -> tuple[list[str], AuditLater | None]:
    """Check a fork (roles, its input; the requests it would cancel: `check_state_change`,
    without a side effect); the ids of the requests it cancels, and an admin's replay's
    detour entry (`_detour`) to record once the fork is under way, with its `run.forked`."""
    if command:
        raise ApiError(
            422,
            "not_supported",
            "a command from an older checkpoint: send `input` (or none) with the checkpoint",
        )
    ctx.need(who, "requester")
    if input is not None:
        check_input(graph, input)
    elif not graph.get_state(run_config(thread_id, checkpoint_id=checkpoint_id)).next:
        raise ApiError(
            409,
            "nothing_to_continue",
            f"checkpoint {checkpoint_id!r} has no step left to run: send input to fork from it",
        )
    detail = {"checkpoint_id": checkpoint_id, "input": input}
    cancels = check_state_change(
        ctx.saver,
        who,
        thread_id,
        "run.forked",
        detail,
        allow_self_approval=ctx.allow_self_approval,
    )
    detour = None
    if input is None:  # a replay runs the checkpoint's own next nodes again
        detour = check_replay(ctx.saver, who, thread_id, checkpoint_id)
    return cancels, detour


def run_fork(
    ctx: Context,
    who: Principal,
    thread_id: str,
    graph: CompiledStateGraph,
    name: str,
    checkpoint_id: str,
    input: Any,
    cancels: list[str],
    runner: Runner,
) -> None:
    """Run from the fork point as a durable run (its record carries the checkpoint: a
    takeover before the run's first commit starts from it again), cancelling with its
    first write the requests waiting on the old head: `cancels`, those checked, and no
    other (a request asked since, or one decided since, is a 409 `conflict`:
    `EXPECTED_PENDING`). `runner` audits the fork (`run.forked`) once the run is under way
    (`carry_out`)."""
    saver = ctx.saver
    config = run_config(thread_id, user_id=who.name, checkpoint_id=checkpoint_id)
    config["configurable"][EXPECTED_PENDING] = list(cancels)  # cancelled with its first write
    try:
        run_durably(saver, graph, input, config, runner, view=run_view, agent=name)
    except (ThreadBusy, InputRejected, ResumeConflict) as exc:
        raise ApiError(409, "conflict", str(exc)) from exc
    except ResumeError as exc:  # a replay of a checkpoint with nothing left to run
        raise ApiError(409, "nothing_to_continue", str(exc)) from exc
