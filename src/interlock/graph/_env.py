"""What a run's drivers need besides the engine generator (`Env`): its graph, saver,
thread, stream modes, lease, and the options of the call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from interlock.checkpoint.base import BaseSaver
from interlock.graph._spec import GraphSpec

__all__ = ["Env"]


@dataclass(slots=True, kw_only=True)
class Env:
    """What the drivers need besides the engine generator."""

    spec: GraphSpec
    saver: BaseSaver | None
    config: dict[str, Any]
    thread_id: str
    checkpoint_ns: str
    modes: frozenset[str]
    """Stream modes the caller asked for."""
    lease_owner: str | None = None
    lease_ttl: float | None = None
    """The lease's time to live: kept while nodes run (`_heartbeat`)."""
    decided_by: str | None = None
    parent_task: str | None = None
    """Set when this graph runs as a subgraph: the id of the parent's task running it."""
    ns_path: tuple[str, ...] = ()
    """The namespace as stream chunks name it: one entry per subgraph level."""
    sink: Callable[[tuple[str, ...], str, Any], None] | None = None
    """A subgraph's way to its caller's stream: `(ns_path, mode, chunk)`."""
    subgraphs: bool = False
    """`stream(..., subgraphs=True)`: subgraphs' chunks reach the caller too."""
    said: set[str] = field(default_factory=set)
    """Ids of the messages the run sent on `messages` (a subgraph shares its root's): a
    message a node returns is not sent again (`_messages_out`)."""
    yields: bool = False
    """A subgraph run by `stream()` inside a node: its chunks come out of its driver, as a
    root graph's do, instead of going up the sink."""
    root_graph: str | None = None
    """A subgraph's: the name of the root graph it runs below."""
    released: bool = False
    """The lease was given back with the run's last write."""
    hold: bool = False
    """The run's owner saves a held step itself (`configurable[HOLD]`, which `_env` takes
    out of the config the nodes see): the lease stays held for it (`StepNotSaved`)."""
    stop: Callable[[], bool] | None = None
    """The run's stop check (`configurable[STOP]`, taken out like `hold`): asked between
    steps; True stops the run with `RunStopped`."""
    context: Any = None
    """`invoke(..., context=...)`, coerced to the graph's `context_schema`."""
    store: Any = None
    """`compile(store=...)`: handed to nodes as `runtime.store`."""
    cache: Any = None
    """`compile(cache=...)`: performs the engine's `CacheGet` / `CacheSet`."""
    live_modes: frozenset[str] = frozenset({"custom", "messages"})
    """Modes whose chunks nodes send while they run (the functional API adds `updates`:
    each task's result as it finishes)."""
    step_progress: bool = True
    """Nodes may save progress inside a step (the functional API's finished tasks); off
    under exit durability, whose step checkpoints are not stored until the run stops."""

    @property
    def live(self) -> bool:
        """Whether chunks from inside nodes must reach the caller while nodes run."""
        wanted = self.subgraphs or bool(self.modes & self.live_modes)
        return wanted and (self.parent_task is None or self.yields)
