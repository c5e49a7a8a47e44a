"""Votes of the store protocol: N-of-M quorum on a request for a person.

A request raised with `interrupt(..., quorum=N)` (its `metadata["quorum"]`) is decided by
votes, not by one answer. Each vote is one conditional write on the request (`cast_vote`):
the request must still be pending, and the voter must not have voted on what is being
decided (one vote per person). The count is worked out by `tally` from the votes cast since
the request was last reopened:

- an answer equal to the current proposal (the same JSON) adds one approval to it;
- a different approving answer (an edit: other arguments) is a new proposal, and the count
  restarts at one — approvals of other arguments do not count, and everyone may vote again;
- a reject (`vote == "reject"`) decides the request at once with that answer (a veto).

The vote that brings a proposal to N approvals resolves the request with it, in the same
write, so exactly one vote does, however many land together.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from interlock.checkpoint._async import to_thread
from interlock.errors import AlreadyVoted

if TYPE_CHECKING:
    from interlock.checkpoint._interrupts.protocol import InterruptRecord

__all__ = [
    "VOTE_KINDS",
    "Tally",
    "VoteKind",
    "VoteOutcome",
    "VoteRecord",
    "Votes",
    "epoch_of",
    "quorum_of",
    "tally",
]

VoteKind = Literal["approve", "reject", "edit"]
VOTE_KINDS = ("approve", "reject", "edit")


@dataclass(frozen=True, slots=True, kw_only=True)
class VoteRecord:
    """One person's vote on a request."""

    interrupt_id: str
    thread_id: str
    seq: int
    """The vote's place among the request's votes (1, 2, ...)."""
    voter: str
    vote: VoteKind
    answer: Any
    """The answer voted for (what the paused `interrupt()` returns if it wins)."""
    digest: str
    """SHA-256 of the answer's canonical JSON: votes count together when it is equal."""
    epoch: int
    """How many times the request had been reopened when the vote was cast (votes of an
    earlier epoch no longer count)."""
    proposal: int
    """Which proposal of its epoch it counted for (an edit starts the next one)."""
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Tally:
    """Where a request stands after a vote (`tally`)."""

    proposal: int
    approvals: int
    """Votes for the current proposal (a veto: 0)."""
    decided: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class VoteOutcome:
    """What `cast_vote` did."""

    record: InterruptRecord
    """The request after the vote: still pending, or resolved by it."""
    vote: VoteRecord
    tally: Tally
    required: int


def quorum_of(record: InterruptRecord) -> int:
    """How many approvals `record` needs (`metadata["quorum"]`; 1 without one)."""
    value = record.metadata.get("quorum")
    return value if type(value) is int and value > 1 else 1


def epoch_of(record: InterruptRecord) -> int:
    """How many times `record` was reopened (its votes from before no longer count)."""
    reopened = record.metadata.get("reopened")
    count = reopened.get("count") if isinstance(reopened, Mapping) else 0
    return count if type(count) is int else 0


def tally(
    votes: Sequence[VoteRecord],
    *,
    voter: str,
    vote: VoteKind,
    digest: str,
    epoch: int,
    required: int,
) -> Tally:
    """Count a new vote against the earlier `votes` of a request (any order, any epoch).
    Raises `AlreadyVoted` when `voter` already voted on the current proposal."""
    mine = sorted((v for v in votes if v.epoch == epoch), key=lambda v: v.seq)
    proposal, current, voters = -1, "", set[str]()
    for v in mine:
        if v.vote == "reject":
            continue  # a veto decided the request: nothing is counted after it
        if v.proposal != proposal:
            proposal, current, voters = v.proposal, v.digest, set()
        voters.add(v.voter)
    if voter in voters:
        raise AlreadyVoted(
            f"{voter} already voted on this request; one vote per person (an edit by someone "
            "else restarts the count)"
        )
    if vote == "reject":
        return Tally(proposal=max(proposal, 0), approvals=0, decided=True)
    if proposal >= 0 and digest == current:
        return Tally(
            proposal=proposal, approvals=len(voters) + 1, decided=len(voters) + 1 >= required
        )
    return Tally(proposal=proposal + 1, approvals=1, decided=required <= 1)


class Votes(ABC):
    """Votes on quorum requests: cast one at a time, each a conditional write."""

    @abstractmethod
    def cast_vote(
        self,
        thread_id: str,
        interrupt_id: str,
        answer: Any,
        *,
        voter: str,
        vote: VoteKind,
        binding: Mapping[str, Any] | None = None,
    ) -> VoteOutcome:
        """Record `voter`'s vote on a pending request and, when it completes the quorum
        (`metadata["quorum"]` approvals of one answer) or vetoes it (`vote="reject"`),
        resolve the request with `answer` (`decided_by=voter`, `metadata["decision"] =
        binding`) in the same transaction. Audited `approval.voted` (and `approval.decided`
        when it decides). Raises `ResumeError` for an unknown request, `ResumeConflict`
        when it is no longer pending or `voter` already voted on the current proposal;
        nothing changes then."""

    @abstractmethod
    def list_votes(self, interrupt_id: str) -> tuple[VoteRecord, ...]:
        """Every vote on a request, oldest first (all epochs)."""

    async def acast_vote(
        self,
        thread_id: str,
        interrupt_id: str,
        answer: Any,
        *,
        voter: str,
        vote: VoteKind,
        binding: Mapping[str, Any] | None = None,
    ) -> VoteOutcome:
        """Async twin of `cast_vote`."""
        return await to_thread(
            self.cast_vote,
            thread_id,
            interrupt_id,
            answer,
            voter=voter,
            vote=vote,
            binding=binding,
        )

    async def alist_votes(self, interrupt_id: str) -> tuple[VoteRecord, ...]:
        """Async twin of `list_votes`."""
        return await to_thread(self.list_votes, interrupt_id)


def vote_detail(vote: VoteRecord, result: Tally, required: int) -> dict[str, Any]:
    """The detail of an `approval.voted` audit entry (every store writes the same)."""
    return {
        "vote": vote.vote,
        "answer": vote.answer,
        "digest": vote.digest,
        "proposal": vote.proposal,
        "approvals": result.approvals,
        "required": required,
        "decided": result.decided,
    }
