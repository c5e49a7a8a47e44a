"""Votes in Python structures: a mixin of `InMemorySaver`, under the saver's lock."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from interlock.checkpoint import serde
from interlock.checkpoint._audit.audited import AuditedMemory
from interlock.checkpoint._time import utc_now
from interlock.checkpoint._votes.protocol import (
    VoteKind,
    VoteOutcome,
    VoteRecord,
    epoch_of,
    quorum_of,
    tally,
    vote_detail,
)
from interlock.errors import ResumeConflict, ResumeError

if TYPE_CHECKING:
    from interlock.checkpoint._interrupts.memory import StoredInterrupt
    from interlock.checkpoint._interrupts.protocol import InterruptRecord

__all__ = ["MemoryVotes"]


class MemoryVotes(AuditedMemory):
    """Votes by request id; a vote and the decision it completes are one critical section."""

    if TYPE_CHECKING:
        _interrupts: dict[str, StoredInterrupt]

        def _decode_interrupt(self, item: StoredInterrupt) -> InterruptRecord: ...

        def resolve_interrupts(
            self,
            thread_id: str,
            decisions: Mapping[str, Any],
            *,
            decided_by: str | None = None,
            status: Any = "resolved",
            bindings: Mapping[str, Mapping[str, Any]] | None = None,
        ) -> tuple[InterruptRecord, ...]: ...

    def _init_votes(self) -> None:
        self._votes: dict[str, list[VoteRecord]] = {}

    def _forget_votes(self, thread_id: str) -> None:
        for iid in [k for k, vs in self._votes.items() if vs and vs[0].thread_id == thread_id]:
            del self._votes[iid]

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
        """Record a vote and, if it decides the request, resolve it (see `Votes`)."""
        stored = serde.loads(serde.dumps(answer, f"vote on {interrupt_id}"))
        digest = serde.digest(answer)
        with self._lock:
            item = self._interrupts.get(interrupt_id)
            if item is None or item.record.thread_id != thread_id:
                raise ResumeError(
                    f"interrupt {interrupt_id!r} does not exist on thread {thread_id!r}"
                )
            if item.record.status != "pending":
                raise ResumeConflict(f"interrupt {interrupt_id!r} was already {item.record.status}")
            record = self._decode_interrupt(item)
            required, epoch = quorum_of(record), epoch_of(record)
            prior = self._votes.setdefault(interrupt_id, [])
            result = tally(
                prior, voter=voter, vote=vote, digest=digest, epoch=epoch, required=required
            )
            cast = VoteRecord(
                interrupt_id=interrupt_id,
                thread_id=thread_id,
                seq=len(prior) + 1,
                voter=voter,
                vote=vote,
                answer=stored,
                digest=digest,
                epoch=epoch,
                proposal=result.proposal,
                at=utc_now(),
            )
            prior.append(cast)
            detail = vote_detail(cast, result, required)
            self._audited(thread_id, interrupt_id, "approval.voted", voter, detail)
            if result.decided:
                bindings = None if binding is None else {interrupt_id: binding}
                (record,) = self.resolve_interrupts(
                    thread_id, {interrupt_id: answer}, decided_by=voter, bindings=bindings
                )
            return VoteOutcome(record=record, vote=cast, tally=result, required=required)

    def list_votes(self, interrupt_id: str) -> tuple[VoteRecord, ...]:
        """Every vote on a request, oldest first."""
        with self._lock:
            return tuple(self._votes.get(interrupt_id, ()))
