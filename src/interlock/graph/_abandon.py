"""Requests a write leaves behind: those that waited on the thread's head before a run (or
`update_state`) started from an older checkpoint — once the fork commits, the head is the
new branch and they can never be carried out — and those an `update_state` replaces. The
write cancels them, exactly once (a request decided meanwhile makes it fail with
`ResumeConflict`), as the Agent Server's forks do.

The cancel and the write are two store calls. So that a write that does not happen cancels
nothing, the driver (`put_cancelling`) first checks that the record can be serialised, then
cancels, then writes; if the write still fails (the store refused it, the head moved, the
store went away), it gives the requests back: pending again (`reopen_interrupt`, audited
`approval.reopened` with the reason), unless someone else changed them meanwhile.

Not when the write may have happened: one that reached the store before its reply was
lost (the record is there) keeps them cancelled, and so does one the store went away
during (it cannot be read back, or the give-back cannot be written): the run holds that
step (`StepNotSaved`), and its `save()` writes the same `Commit` again later; the
requests this write cancelled and kept (`_HELD`, by the record's checkpoint id) are then
not cancelled a second time (which would refuse the held write and leave the old head
waiting on cancelled requests)."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from interlock.checkpoint import serde
from interlock.errors import InterlockError, ResumeConflict, StoreError
from interlock.graph._effects import NS_SEP
from interlock.graph._run import EXPECTED_PENDING

if TYPE_CHECKING:
    from interlock.checkpoint.base import BaseSaver, CheckpointRecord, InterruptRecord
    from interlock.graph._effects import Commit
    from interlock.graph._run import _Run

__all__ = [
    "apending_ids",
    "aput_cancelling",
    "check_expected",
    "pending_ids",
    "put_cancelling",
    "take_abandons",
]

_GIVEN_BACK = "the write that cancelled it did not happen: {error}"
"""The reason a cancelled request is pending again (`metadata["reopened"]["reason"]`)."""

_HELD: dict[str, frozenset[str]] = {}
"""Requests a write cancelled and kept cancelled after it failed with its outcome unknown,
by the write's checkpoint id: its retry (`StepNotSaved.save`) does not cancel them again."""
_HELD_LOCK = threading.Lock()
_UNKNOWN: Any = object()
"""Whether a failed write reached the store could not be read (the store away)."""


def _within(record: InterruptRecord, ns: str) -> bool:
    """Whether the request waits in the namespace `ns` or below it ("": the whole thread)."""
    got = record.checkpoint_ns
    return not ns or got == ns or got.startswith(ns + NS_SEP)


def pending_ids(saver: BaseSaver, thread_id: str, ns: str = "") -> tuple[str, ...]:
    """The ids of every request of the thread that waits for a decision (all pages), or of
    those waiting in the subgraph namespace `ns` and below."""
    ids: list[str] = []
    cursor: str | None = None
    while True:
        page = saver.list_interrupts(thread_id=thread_id, limit=500, cursor=cursor)
        ids.extend(r.interrupt_id for r in page.items if _within(r, ns))
        cursor = page.next_cursor
        if cursor is None:
            return tuple(ids)


async def apending_ids(saver: BaseSaver, thread_id: str, ns: str = "") -> tuple[str, ...]:
    """Async twin of `pending_ids`."""
    ids: list[str] = []
    cursor: str | None = None
    while True:
        page = await saver.alist_interrupts(thread_id=thread_id, limit=500, cursor=cursor)
        ids.extend(r.interrupt_id for r in page.items if _within(r, ns))
        cursor = page.next_cursor
        if cursor is None:
            return tuple(ids)


def check_expected(config: Mapping[str, Any], thread_id: str, ids: Iterable[str]) -> None:
    """Raise `ResumeConflict` when `config` names the requests its caller checked it may
    cancel (`EXPECTED_PENDING`) and `ids`, those it would cancel, hold another (a request
    asked since the check): nothing is changed."""
    expected = (config.get("configurable") or {}).get(EXPECTED_PENDING)
    if expected is None:
        return
    new = sorted(set(ids) - set(expected))
    if new:
        raise ResumeConflict(
            f"thread {thread_id!r} waits on requests asked since it was read ({', '.join(new)}); "
            "nothing was changed: read it again"
        )


def take_abandons(run: _Run) -> tuple[str, ...]:
    """The old head's requests a fork's first write cancels (then none: once)."""
    ids, run.abandons = run.abandons, ()
    return ids


def _check_storable(record: CheckpointRecord) -> None:
    """Serialise what the write will (raising `SerializationError` before anything is
    cancelled); a store's own refusals (PostgreSQL's NUL) are met by giving back."""
    serde.dumps([[w.node, w.channel, w.value] for w in record.writes], "writes")
    serde.dumps(dict(record.metadata), "metadata")
    serde.dumps([[n, a] for n, a in record.sends], "sends")
    if record.values is not None:
        serde.dumps(dict(record.values), "values")


def _take_held(effect: Commit) -> frozenset[str]:
    """The requests an earlier attempt of this write cancelled and kept (then forgotten)."""
    with _HELD_LOCK:
        return _HELD.pop(effect.record.checkpoint_id, frozenset())


def _hold(effect: Commit, ids: Iterable[str]) -> None:
    """Remember that this write's requests `ids` stay cancelled for its retry."""
    kept = frozenset(ids)
    if kept:
        with _HELD_LOCK:
            _HELD[effect.record.checkpoint_id] = kept | _HELD.get(
                effect.record.checkpoint_id, frozenset()
            )


def _cancel_first(effect: Commit, held: frozenset[str]) -> dict[str, None]:
    """What to cancel now: the write's requests but those an earlier attempt kept."""
    return dict.fromkeys(i for i in effect.cancels if i not in held)


def put_cancelling(
    saver: BaseSaver, effect: Commit, thread_id: str, by: str | None, put: Callable[[], None]
) -> None:
    """`put()` (the effect's write), cancelling `effect.cancels` first (module docstring)."""
    if not effect.cancels:
        put()
        return
    _check_storable(effect.record)
    held = _take_held(effect)
    try:
        if todo := _cancel_first(effect, held):
            saver.resolve_interrupts(thread_id, todo, decided_by=by, status="cancelled")
    except BaseException:
        _hold(effect, held)
        raise
    try:
        put()
    except BaseException as exc:
        record = effect.record
        try:
            landed = saver.get_checkpoint(
                record.thread_id, record.checkpoint_ns, record.checkpoint_id
            )
        except ResumeConflict:
            landed = None
        except StoreError:  # away: the write's outcome is unknown, its retry may land it
            landed = _UNKNOWN
        if landed is _UNKNOWN:
            _hold(effect, effect.cancels)
            raise
        if landed is not None:  # it reached the store; only its reply was lost
            raise
        reason = _GIVEN_BACK.format(error=type(exc).__name__)
        kept: list[str] = []
        for interrupt_id in effect.cancels:
            try:
                saver.reopen_interrupt(
                    interrupt_id, reason=reason, expected_status="cancelled", by=by
                )
            except InterlockError:  # (the store gone: it stays cancelled, for the retry)
                kept.append(interrupt_id)
        _hold(effect, kept)
        raise


async def aput_cancelling(
    saver: BaseSaver,
    effect: Commit,
    thread_id: str,
    by: str | None,
    put: Callable[[], Awaitable[None]],
) -> None:
    """Async twin of `put_cancelling`."""
    if not effect.cancels:
        await put()
        return
    _check_storable(effect.record)
    held = _take_held(effect)
    try:
        if todo := _cancel_first(effect, held):
            await saver.aresolve_interrupts(thread_id, todo, decided_by=by, status="cancelled")
    except BaseException:
        _hold(effect, held)
        raise
    try:
        await put()
    except BaseException as exc:
        record = effect.record
        try:
            landed = await saver.aget_checkpoint(
                record.thread_id, record.checkpoint_ns, record.checkpoint_id
            )
        except ResumeConflict:
            landed = None
        except StoreError:
            landed = _UNKNOWN
        if landed is _UNKNOWN:
            _hold(effect, effect.cancels)
            raise
        if landed is not None:
            raise
        reason = _GIVEN_BACK.format(error=type(exc).__name__)
        kept: list[str] = []
        for interrupt_id in effect.cancels:
            try:
                await saver.areopen_interrupt(
                    interrupt_id, reason=reason, expected_status="cancelled", by=by
                )
            except InterlockError:
                kept.append(interrupt_id)
        _hold(effect, kept)
        raise
