"""What an `update_state` would plan, without committing it: the nodes its new checkpoint
would name as next (for a service that lets a caller edit data but not route a thread).

The update is worked out by the same pure code that commits it (`update_graph`), driven
here by a read-only loop: lookups read the store, the cancellation of pending requests is
not carried out, and the commit is caught instead of written. Nothing is stored, no lease
is taken; branch functions run on the updated values, as they do when the update is
committed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from interlock._types import RunnableConfig
from interlock.graph._effects import Clock, Commit, Lookup
from interlock.graph._ids import new_checkpoint_id, utc_now
from interlock.graph._update import update_graph

if TYPE_CHECKING:
    from interlock.graph._compiled import CompiledStateGraph

__all__ = ["planned_next"]

_CLOCK = Clock(now=utc_now, new_checkpoint_id=new_checkpoint_id)


def planned_next(
    graph: CompiledStateGraph, config: RunnableConfig, values: Any, as_node: str | None
) -> tuple[tuple[str, ...], bool, str | None]:
    """The nodes (and `Send` targets) that `graph.update_state(config, values, as_node)`
    would leave to run, whether they would wait at a breakpoint (a pause before a
    breakpoint node stays a pause), and the thread's head this was worked out on (pass it
    as `configurable[EXPECTED_HEAD]` to the update: if the thread moves on meanwhile, the
    update is refused), computed without writing anything. Raises what
    `update_state` raises for an update it refuses (an unknown node or key, a reducer's
    error)."""
    saver = graph._require_saver()
    env = graph._env(config, frozenset())
    start = graph._load(config, env)
    gen = update_graph(graph._spec_at(env), start, values, as_node, env.config, _CLOCK)
    try:
        effect = next(gen)
        while not isinstance(effect, Commit):
            reply: Any = None
            if isinstance(effect, Lookup):
                reply = {iid: saver.get_interrupt(iid) for iid in effect.ids}
            effect = gen.send(reply)  # a `Resolve` (cancelling requests) is not carried out
    except StopIteration:  # (update_graph always commits; kept for a future early return)
        return (), False, start.head_id
    finally:
        gen.close()
    record = effect.record
    nodes = (*record.next, *(node for node, _ in record.sends))
    return nodes, bool(effect.interrupts), start.head_id
