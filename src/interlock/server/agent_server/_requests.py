"""What the Agent Server faces add to a request beyond its `{"value", "id"}`, read from the
store: the votes of a quorum request, and the namespace of a subgraph's request.

A request raised with `interrupt(..., quorum=N)` is shown with `quorum` beside its value
(the value stays what `interrupt()` was called with; the SDKs keep unknown keys of an
interrupt or ignore them):

    {"value": ..., "id": ...,
     "quorum": {"required": 2, "approvals": 1,
                "votes": [{"by": "ada", "vote": "approve", "at": "..."}]}}

`votes` are `/v1`'s (`GET /v1/approvals/{id}`): those that count now — cast since the
request was last reopened, for the answer being decided (an edit restarts the count).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from interlock.checkpoint.base import BaseSaver, InterruptRecord
from interlock.server._operations import quorum_view, votes_of

__all__ = ["namespace_of", "quorum_of", "quorums"]

_NS_SEP = "|"
"""Between the levels of a `checkpoint_ns` (`outer:<task id>|inner:<task id>`)."""


def quorum_of(saver: BaseSaver, record: InterruptRecord) -> dict[str, Any] | None:
    """The votes of a quorum request as the Agent Server shows them (None for a request
    decided by one answer)."""
    view = quorum_view(record, votes_of(saver, record))
    if view is None:
        return None
    approvals = sum(1 for v in view["votes"] if v["vote"] in ("approve", "edit"))
    return {"required": view["required"], "approvals": approvals, "votes": view["votes"]}


def quorums(saver: BaseSaver, requests: Iterable[str | InterruptRecord]) -> dict[str, Any]:
    """`{request id: its quorum view}` for the quorum requests among `requests` (ids, or
    records already read); requests decided by one answer are left out."""
    out: dict[str, Any] = {}
    for item in requests:
        record = saver.get_interrupt(item) if isinstance(item, str) else item
        if record is None or not isinstance(record.metadata.get("quorum"), int):
            continue
        view = quorum_of(saver, record)
        if view is not None:
            out[record.interrupt_id] = view
    return out


def namespace_of(record: InterruptRecord | None) -> list[str]:
    """Where a request was asked, as the stream names namespaces: `[]` at the root graph,
    `["review:<task id>"]` inside a subgraph run by the task `review`, and so on."""
    if record is None or not record.checkpoint_ns:
        return []
    return record.checkpoint_ns.split(_NS_SEP)
