"""A resume that votes: answering a request raised with `interrupt(..., quorum=N)`.

Such an answer is one person's vote (`configurable.user_id`), cast as one conditional write
(`Vote` → `saver.cast_vote`). A vote that does not decide the request stops the run where
it is — the thread stays interrupted, nothing else is written — and the vote that completes
the quorum (or vetoes) resolves the request in the same write, so the run goes on exactly
once. Pure: the engine calls `cast_votes` from its resume and performs its effects.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

from interlock._types import Command, Interrupt
from interlock.checkpoint.base import InterruptRecord, VoteOutcome
from interlock.errors import ResumeConflict, ResumeError
from interlock.graph._binding import binding_of, valid_for_of, vote_kind
from interlock.graph._effects import Effect, RunResult, Vote
from interlock.graph._interrupt import is_expired_answer
from interlock.graph._run import _Run

__all__ = ["cast_votes", "needs_votes"]


def needs_votes(record: InterruptRecord) -> bool:
    """Whether `record` is decided by votes (`metadata["quorum"]` above one)."""
    quorum = record.metadata.get("quorum")
    return type(quorum) is int and quorum > 1


def cast_votes(
    run: _Run,
    records: list[InterruptRecord],
    decisions: dict[str, Any],
    command: Command,
) -> Generator[Effect, Any, RunResult | None]:
    """Cast the vote among `decisions`, if one answers a quorum request (it is then taken
    out of `decisions`). Returns the result to stop with when the vote does not decide
    the request; None to go on (no vote, or the vote decided it: applied to `run`)."""
    by_id = {r.interrupt_id: r for r in records}
    voted = [
        iid
        for iid, answer in decisions.items()
        if needs_votes(by_id[iid]) and not is_expired_answer(answer)
    ]
    if not voted:
        return None
    if len(decisions) != 1:
        raise ResumeError(
            f"request {voted[0]} is decided by a quorum: vote on it in a call of its own"
        )
    if command.update is not None or command.goto:
        raise ResumeError("a vote on a quorum request cannot carry update= or goto=")
    conf = run.config.get("configurable") or {}
    voter = conf.get("user_id") or conf.get("decided_by")
    ((iid, answer),) = decisions.items()
    record = by_id[iid]
    if not voter:
        raise ResumeError(
            f"request {iid} is decided by {record.metadata['quorum']} people's votes: say who "
            'votes with config={"configurable": {"user_id": ...}}'
        )
    requester = record.metadata.get("requested_by")
    if str(voter) == requester and not conf.get("allow_self_approval"):
        raise ResumeConflict(
            f"{voter} asked for request {iid} and may not vote on it (allow_self_approval is off)"
        )
    binding = binding_of(record, str(voter), run.clock.now(), valid_for_of(run.config))
    outcome: VoteOutcome = yield Vote(iid, answer, str(voter), vote_kind(answer), binding)
    del decisions[iid]
    if outcome.record.status == "pending":
        run.interrupts = [outcome.record if r.interrupt_id == iid else r for r in run.interrupts]
        assert run.record is not None
        waiting = tuple(Interrupt(value=r.value, id=r.interrupt_id) for r in run.waiting())
        return RunResult(
            values=run.values, interrupts=waiting, checkpoint_id=run.record.checkpoint_id
        )
    run.apply_decisions({iid: outcome.record.resume}, "resolved", {iid: binding})
    return None


def bindings_for(
    run: _Run, records: list[InterruptRecord], decisions: Mapping[str, Any], command: Command
) -> dict[str, dict[str, Any]]:
    """What each decision of a resume records of itself (`_binding.binding_of`). A resume
    that carries `update=` is bound like any other: if the update makes the node ask
    something else, the answer is not carried over (on a quorum request, one person's
    update must never carry the others' votes to a question they did not see)."""
    conf = run.config.get("configurable") or {}
    by = conf.get("user_id") or conf.get("decided_by")
    by_id = {r.interrupt_id: r for r in records}
    valid_for, now = valid_for_of(run.config), run.clock.now()
    del command  # (kept for the callers: every resume is bound the same way)
    return {
        iid: binding_of(by_id[iid], None if by is None else str(by), now, valid_for)
        for iid in decisions
        if iid in by_id
    }
