"""Votes in SQL, written once for SQLite and PostgreSQL: a mixin of `SqlSaver`.

A vote is one transaction: it locks the request's row with a conditional update (`status =
'pending'`; PostgreSQL holds the row lock until commit, SQLite's write transaction holds the
database), reads the votes so far, inserts its own (one per person and proposal, a unique
key), and, when it completes the quorum or vetoes, resolves the request in the same
transaction. A second vote racing on the same request waits for the first and then sees it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from interlock.checkpoint import serde
from interlock.checkpoint._interrupts.protocol import decision_action
from interlock.checkpoint._interrupts.sql import INTERRUPT_COLS
from interlock.checkpoint._sql_core import SqlCore
from interlock.checkpoint._sql_dialect import json_text, utc_now
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
    from interlock.checkpoint._interrupts.protocol import InterruptRecord

__all__ = ["VOTE_COLS", "SqlVotes"]

VOTE_COLS = "interrupt_id, thread_id, seq, voter, vote, answer, digest, epoch, proposal, at"


class SqlVotes(SqlCore):
    """Votes over the `votes` table, deciding requests in the `interrupts` table."""

    if TYPE_CHECKING:

        def _interrupt(self, r: Sequence[Any], *, decoded: bool = False) -> InterruptRecord: ...

        def _with_decision(self) -> str: ...

        def _lock_thread(self, conn: Any, thread_id: str, *, heads: bool = False) -> None: ...

        def _touch_thread(
            self,
            conn: Any,
            thread_id: str,
            head: str | None,
            lease_owner: str | None,
            release: bool = False,
        ) -> None: ...

    def _vote(self, r: Sequence[Any]) -> VoteRecord:
        return VoteRecord(
            interrupt_id=r[0],
            thread_id=r[1],
            seq=r[2],
            voter=r[3],
            vote=r[4],
            answer=serde.loads(r[5]) if isinstance(r[5], str) else r[5],
            digest=r[6],
            epoch=r[7],
            proposal=r[8],
            at=self.dialect.ts_req(r[9]),
        )

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
        text = serde.dumps(answer, f"vote on {interrupt_id}")
        digest = serde.digest(answer)
        bound = None if binding is None else serde.dumps(dict(binding), "binding")
        with self._write() as conn:
            self._lock_thread(conn, thread_id)  # (the one lock order: `_lock_thread`)
            cur = self._x(
                conn,
                "UPDATE interrupts SET status = status WHERE interrupt_id = ? "
                "AND thread_id = ? AND status = 'pending'",
                (interrupt_id, thread_id),
            )
            if self._count(conn, cur) != 1:
                found = self._x(
                    conn,
                    "SELECT status, decided_by FROM interrupts "
                    "WHERE interrupt_id = ? AND thread_id = ?",
                    (interrupt_id, thread_id),
                ).fetchone()
                if found is None:
                    raise ResumeError(
                        f"interrupt {interrupt_id!r} does not exist on thread {thread_id!r}"
                    )
                raise ResumeConflict(
                    f"interrupt {interrupt_id!r} was already {found[0]}"
                    + (f" by {found[1]}" if found[1] else "")
                )
            record = self._read_interrupt(conn, interrupt_id)
            required, epoch = quorum_of(record), epoch_of(record)
            prior = [self._vote(r) for r in self._votes_of(conn, interrupt_id)]
            result = tally(
                prior, voter=voter, vote=vote, digest=digest, epoch=epoch, required=required
            )
            now = utc_now()
            cast = VoteRecord(
                interrupt_id=interrupt_id,
                thread_id=thread_id,
                seq=len(prior) + 1,
                voter=voter,
                vote=vote,
                answer=serde.loads(text),
                digest=digest,
                epoch=epoch,
                proposal=result.proposal,
                at=now,
            )
            self._x(
                conn,
                f"INSERT INTO votes ({VOTE_COLS}) VALUES (?, ?, ?, ?, ?, ?J, ?, ?, ?, ?)",
                (
                    interrupt_id,
                    thread_id,
                    cast.seq,
                    voter,
                    vote,
                    text,
                    digest,
                    epoch,
                    result.proposal,
                    self.dialect.ts(now),
                ),
            )
            detail = vote_detail(cast, result, required)
            self._audit_in(conn, thread_id, interrupt_id, "approval.voted", voter, detail)
            if result.decided:
                record = self._decide(conn, record, text, voter, bound)
        return VoteOutcome(record=record, vote=cast, tally=result, required=required)

    def _read_interrupt(self, conn: Any, interrupt_id: str) -> InterruptRecord:
        row = self._x(
            conn, f"SELECT {INTERRUPT_COLS} FROM interrupts WHERE interrupt_id = ?", (interrupt_id,)
        ).fetchone()
        return self._interrupt(row)

    def _votes_of(self, conn: Any, interrupt_id: str) -> list[Any]:
        return list(
            self._x(
                conn,
                f"SELECT {VOTE_COLS} FROM votes WHERE interrupt_id = ? ORDER BY seq",
                (interrupt_id,),
            ).fetchall()
        )

    def _decide(
        self, conn: Any, record: InterruptRecord, text: str, voter: str, bound: str | None
    ) -> InterruptRecord:
        """Resolve the (locked, pending) request with the winning answer, audited."""
        meta = "metadata" if bound is None else self._with_decision()
        params: tuple[Any, ...] = (text, voter, self.dialect.ts(utc_now()))
        if bound is not None:
            params = (*params, bound)
        self._x(
            conn,
            "UPDATE interrupts SET status = 'resolved', resume = ?J, decided_by = ?, "
            f"decided_at = ?, metadata = {meta} WHERE interrupt_id = ? AND status = 'pending'",
            (*params, record.interrupt_id),
        )
        self._touch_thread(conn, record.thread_id, None, None)
        after = self._read_interrupt(conn, record.interrupt_id)
        self._audit_in(
            conn,
            after.thread_id,
            after.interrupt_id,
            decision_action("resolved"),
            voter,
            '{"value":'
            + serde.dumps(after.value, "value")
            + ',"decision":'
            + json_text(text)
            + "}",
        )
        return after

    def list_votes(self, interrupt_id: str) -> tuple[VoteRecord, ...]:
        """Every vote on a request, oldest first."""
        with self._read() as conn:
            return tuple(self._vote(r) for r in self._votes_of(conn, interrupt_id))
