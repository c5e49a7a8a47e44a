"""No detour past a review: running nodes off the graph's own routes is an operator's act.

`_guard` keeps a review that waits; this module keeps one that was decided. A thread with
nothing pending may still be made to run a node no person reviewed: routed there
(`command.goto`), planned there by a state change (`update_state` as a node, or inferred,
whose edges now lead on), re-run with state someone changed (`input: null` after an
update), or re-run from before a decision (a replay of an older checkpoint). So, for a
caller without the role `admin` (`Principal.can("admin")`):

1. `command.goto` (without `resume`) is refused;
2. a state change (`POST /threads/{id}/state`, `command.update`) is allowed only when the
   thread has no node left to run after it — a data edit on a finished thread. Nodes that
   would wait at a breakpoint (a pause before a breakpoint node stays a pause) do not
   count: they run only after someone decides that request. The resulting plan is worked
   out before anything is written (`planned_next`, a dry run of the same update);
3. `input: null` on a thread with nodes to run (and no request pending) continues only a
   head that the graph's own step wrote (`metadata.source` `input`, `loop`, `migrate`: a
   cancelled run, a step that failed, with state nobody changed since); a replay (`input: null` from
   an older checkpoint, Agent Chat UI's "regenerate") only from a checkpoint the graph's
   own step wrote, on a thread that is not a copy (a copy's decisions stay with the thread
   they were made on), with no request decided before it in its turn (its ancestors back
   to the turn's input checkpoint) and no breakpoint decided at it. A request decided at
   the checkpoint itself is asked again by the replay (its node runs again and asks anew);
   decisions of earlier turns are behind the turn's input, from which the turn's nodes ran
   as a new input's would;
4. a state change on a thread where a request was ever decided (resolved or expired) is
   refused even when nothing is left to run: its state may hold what the decision settled
   (an approved limit that a later turn's own routes trust, a reviewed draft).

A refusal is 403 `detour_forbidden`, audited as `state.refused`, and changes nothing. An
admin's detour is allowed and audited as `state.detour` with the actor — once it was
carried out: each check hands the entry back (`AuditLater`) for its caller to record after
the change succeeded, so a change that then fails (409 `conflict`, 422) leaves none. Runs with input
(from START, or a fork with input) are not detours. Without authentication (`ANONYMOUS`,
who holds every role) nothing changes: no refusal, no extra audit entry. `/v1`'s
`{"continue": true}` takes rule 3 too (`check_head_continues`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from interlock._types import RunnableConfig
from interlock.checkpoint.base import BaseSaver, InterruptStatus
from interlock.graph import CompiledStateGraph
from interlock.graph._update_preview import planned_next
from interlock.server._audit_later import AuditLater, record_all
from interlock.server._errors import ApiError
from interlock.server._operations import continue_thread, record_audit, run_config
from interlock.server.auth import ANONYMOUS, Principal

__all__ = [
    "OWN_STEPS",
    "check_continue",
    "check_edit",
    "check_goto",
    "check_head_continues",
    "check_leaves",
    "check_replay",
    "continue_checked",
    "decided_on_branch",
    "update_leaves",
]

OWN_STEPS = frozenset({"input", "loop", "migrate"})
"""The sources of checkpoints the graph's own steps write (a version migration's is its
registered code's, applied with a decision): not `update`, `fork`."""

_DECIDED: tuple[InterruptStatus, ...] = ("resolved", "expired")


def _refuse(
    saver: BaseSaver,
    who: Principal,
    thread_id: str,
    change: str,
    detail: Mapping[str, Any],
    why: str,
) -> NoReturn:
    record_audit(
        saver,
        who,
        "state.refused",
        thread_id,
        detail={"reason": "detour_forbidden", "change": change, **detail},
    )
    raise ApiError(
        403,
        "detour_forbidden",
        f"{why}: that takes the role admin ({who.name} lacks it)",
    )


def _detour(
    saver: BaseSaver,
    who: Principal,
    thread_id: str,
    change: str,
    detail: Mapping[str, Any],
    why: str,
) -> AuditLater | None:
    """Refuse a detour to a non-admin; an admin's is allowed: its `state.detour` entry, to
    record once the change was made (none for the anonymous developer)."""
    if not who.can("admin"):
        _refuse(saver, who, thread_id, change, detail, why)
    if who is ANONYMOUS:
        return None
    return AuditLater(
        who=who, action="state.detour", thread_id=thread_id, detail={"change": change, **detail}
    )


def check_goto(
    saver: BaseSaver, who: Principal, thread_id: str, detail: Mapping[str, Any]
) -> AuditLater | None:
    """Rule 1: a `command.goto` routes the thread where its caller says (the admin's
    detour entry to record once it ran, see `_detour`)."""
    why = f"command.goto {detail.get('goto')!r} routes thread {thread_id!r} past its edges"
    return _detour(saver, who, thread_id, "state.command", detail, why)


def update_leaves(
    graph: CompiledStateGraph, config: RunnableConfig, values: Any, as_node: str | None
) -> tuple[tuple[str, ...], str | None]:
    """The nodes `update_state` would leave to run, free to run (not held at a breakpoint),
    from a dry run that writes nothing, and the head it read (the update must find it
    still the head: `EXPECTED_HEAD`). Raises what `update_state` raises."""
    nodes, held, head = planned_next(graph, config, values, as_node)
    return (() if held else nodes), head


def check_edit(
    saver: BaseSaver, who: Principal, thread_id: str, change: str, detail: Mapping[str, Any]
) -> AuditLater | None:
    """Rule 4: a state change (`update_state`, `command.update`) on a thread where a person
    decided a request: its state may hold what the decision settled (an approved limit, a
    reviewed draft), which the graph's own routes trust in later turns."""
    for status in _DECIDED:
        page = saver.list_interrupts(status=status, thread_id=thread_id, limit=1)
        if page.items:
            why = (
                f"thread {thread_id!r} has a decided request ({page.items[0].interrupt_id}): "
                "a change of its state may change what that decision settled (an "
                "operator's act)"
            )
            return _detour(saver, who, thread_id, change, detail, why)
    return None


def check_leaves(
    saver: BaseSaver,
    who: Principal,
    thread_id: str,
    change: str,
    detail: Mapping[str, Any],
    nodes: Sequence[str],
) -> AuditLater | None:
    """Rule 2: a state change after which `nodes` would run."""
    if not nodes:
        return None
    why = f"after this change thread {thread_id!r} would run {list(nodes)}"
    return _detour(saver, who, thread_id, change, detail, why)


def check_continue(
    saver: BaseSaver, who: Principal, thread_id: str, source: Any, nodes: Sequence[str]
) -> AuditLater | None:
    """Rule 3: `input: null` running the head's `nodes`, the head written by `source`."""
    if source in OWN_STEPS:
        return None
    why = (
        f"thread {thread_id!r} would run {list(nodes)} from a checkpoint written by "
        f"{source!r}, not by the graph's own step"
    )
    return _detour(saver, who, thread_id, "run.continued", {"next": list(nodes)}, why)


def check_head_continues(
    saver: BaseSaver, who: Principal, graph: CompiledStateGraph, thread_id: str
) -> AuditLater | None:
    """Rule 3 for `/v1`'s `{"continue": true}`: the thread's head's next nodes."""
    head = graph.get_state(run_config(thread_id))
    if not head.next:
        return None
    source = (head.metadata or {}).get("source")
    return check_continue(saver, who, thread_id, source, head.next)


def continue_checked(
    saver: BaseSaver, who: Principal, graph: CompiledStateGraph, name: str, thread_id: str
) -> dict[str, Any]:
    """`/v1`'s `{"continue": true}`: rule 3 (`check_head_continues`), then the run
    (`continue_thread`); an admin's detour is audited once the run went (ended, paused,
    stopped, or failed in a step), not when it was refused."""
    detour = check_head_continues(saver, who, graph, thread_id)
    try:
        out = continue_thread(saver, graph, name, thread_id, who)
    except ApiError as exc:
        if exc.code == "run_failed":  # it ran, then failed
            record_all(saver, [detour])
        raise
    record_all(saver, [detour])
    return out


def check_replay(
    saver: BaseSaver, who: Principal, thread_id: str, checkpoint_id: str
) -> AuditLater | None:
    """Rule 3: `input: null` from the older checkpoint `checkpoint_id` (a replay)."""
    why = _replay_refusal(saver, thread_id, checkpoint_id)
    if why is None:
        return None
    detail = {"checkpoint_id": checkpoint_id}
    return _detour(saver, who, thread_id, "run.forked", detail, why)


def _replay_refusal(saver: BaseSaver, thread_id: str, checkpoint_id: str) -> str | None:
    """Why a replay from `checkpoint_id` could run a node no person reviewed; None if it
    cannot (the graph's own step wrote it, and nothing was decided on its branch)."""
    records = {r.checkpoint_id: r for r in saver.list_checkpoints(thread_id)}
    found = records.get(checkpoint_id)
    if found is None or found.source not in OWN_STEPS:
        source = found.source if found is not None else None
        return f"checkpoint {checkpoint_id!r} was written by {source!r}, not the graph's own step"
    decided = decided_on_branch(saver, thread_id, checkpoint_id, records=records)
    if decided is not None:
        return (
            f"request {decided} was decided at or before checkpoint "
            f"{checkpoint_id!r}: a replay would act on that decision again"
        )
    first = saver.list_audit(thread_id=thread_id, after="", limit=10).items
    if any(e.action == "thread.copied" for e in first):
        return f"thread {thread_id!r} is a copy: the decisions on its history were not made here"
    return None


def decided_on_branch(
    saver: BaseSaver,
    thread_id: str,
    checkpoint_id: str,
    *,
    at_itself: bool = False,
    records: Mapping[str, Any] | None = None,
) -> str | None:
    """The id of a request decided before checkpoint `checkpoint_id` in its turn (on its
    ancestors back to the turn's input checkpoint), of a breakpoint decided at it (with
    `at_itself`, of any request decided at it), or of any decided request of a subgraph
    (not placed on the root's branch); None when there is none. Running the checkpoint's
    next nodes again would act on that decision a second time."""
    if records is None:
        records = {r.checkpoint_id: r for r in saver.list_checkpoints(thread_id)}
    found = records.get(checkpoint_id)
    turn: set[str] = set()  # its ancestors back to its turn's input (inclusive)
    at = found.parent_id if found is not None and found.source != "input" else None
    while at is not None and at not in turn:
        turn.add(at)
        parent = records.get(at)
        if parent is None or parent.source == "input":
            break  # the turn began here: earlier turns' decisions are behind its input
        at = parent.parent_id
    for status in _DECIDED:
        cursor = None
        while True:
            page = saver.list_interrupts(
                status=status, thread_id=thread_id, limit=500, cursor=cursor
            )
            for r in page.items:
                if (
                    r.checkpoint_ns  # a subgraph's: not placed on the root's branch
                    or r.checkpoint_id in turn
                    or (r.checkpoint_id == checkpoint_id and (at_itself or r.kind == "breakpoint"))
                ):
                    return r.interrupt_id
            cursor = page.next_cursor
            if cursor is None:
                break
    return None
