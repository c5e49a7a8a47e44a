"""A run's stream in the store's event log: writing it as the run goes, following it from
any process.

Every run the service starts — over the Agent Server API, in the request or as a background
run, and the background runs of `/v1` — appends its stream to the run event log
(`saver.append_events`): a `run` event with what the run was asked (not streamed), then
`metadata` with its run id, one event per chunk, when it paused an `interrupts` event with
its requests (not streamed by the runs API; the thread protocol's `input.requested` events
come from it), and `end` (with the run's status) or `error` last.

Every run logs every mode of `LOGGED_MODES`, whatever its client asked to stream (a later
thread-protocol stream may subscribe to any channel): `values`, `updates`, `messages`,
`custom`, `tasks`, `checkpoints`, `debug` (slim: `_stream_modes`), and the subgraphs'
chunks too. A chunk is named by its
mode, and a subgraph's by its mode and namespace as LangGraph names subgraph events on the
wire: `updates|review:<task id>` (`event_name`). Two chunks are logged slim, since the log
has their content just before: a `checkpoints` chunk without its `values` when they are
those of the `values` chunk before it in the same namespace, and a task's start (`tasks`)
without its `input` when it is that state (`_chunks`).

Readers (`follow`) replay the log from any position and then wait for more, sending a
client the modes it asked for (`tasks`, `checkpoints` and `debug` in the Agent Server's
shape, made whole from the run's earlier events: `_stream_modes`), so a stream is joined,
or reconnected with Last-Event-ID, from any server process. A process wakes its own
followers at once after an append; followers of a run written by another process look
every `POLL` seconds.

A run logs at most `MAX_CHUNKS` chunks (a runaway run must not fill the store); its
terminal event is always logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator
from typing import Any

from interlock.checkpoint.base import TERMINAL_EVENTS, BaseSaver
from interlock.graph import CompiledStateGraph
from interlock.server._operations import run_config
from interlock.server._plain import plain
from interlock.server.agent_server._chunks import Slimmer, event_name, split_event
from interlock.server.agent_server._requests import namespace_of, quorum_of
from interlock.server.agent_server._stream_modes import Shaper, slim_debug
from interlock.server.agent_server._wire import frame, interrupt_view

__all__ = [
    "ALL_MODES",
    "LOGGED_MODES",
    "MAX_CHUNKS",
    "UNSTREAMED",
    "EventWriter",
    "follow",
    "logged_invoke",
    "sent_as",
    "wire_modes",
]

_log = logging.getLogger("interlock.server.agent_server")

POLL = 0.2
"""Seconds between looks at the store for events another process appended."""
BATCH = 200
"""Chunks appended in one store write at most."""
LINGER = 0.02
"""Seconds a chunk waits at most for others to join its batch."""
HEARTBEAT = 15.0
"""Seconds of silence after which a stream sends an SSE comment."""
MAX_CHUNKS = 10_000
ALL_MODES = frozenset({"values", "updates", "messages", "custom"})
"""The modes a join of the runs API streams when it names none."""
LOGGED_MODES = ALL_MODES | {"tasks", "checkpoints", "debug"}
"""The modes every run logs (a client of the runs API may ask for any of them; the
thread protocol has a channel for each but `debug`)."""

UNSTREAMED = ("run", "interrupts")
"""Logged events the runs API does not stream (what a run was asked; its requests)."""

_WIRE = {
    "values": "values",
    "updates": "updates",
    "messages-tuple": "messages",
    "custom": "custom",
    "tasks": "tasks",
    "checkpoints": "checkpoints",
    "debug": "debug",
}
"""The client's stream modes we speak, by the event each is sent as."""


def wire_modes(requested: str | Collection[str] | None, default: Collection[str]) -> frozenset[str]:
    """The event names for a client's `stream_mode` (`messages-tuple` is sent as
    `messages`); `ValueError` naming the modes we do not stream."""
    if requested is None:
        return frozenset(default)
    asked = [requested] if isinstance(requested, str) else list(requested)
    unknown = [m for m in asked if m not in _WIRE and m != "messages"]
    if unknown:
        raise ValueError(
            f"stream_mode {unknown} is not supported here; use {sorted(_WIRE)} (see the docs)"
        )
    return frozenset(_WIRE.get(m, m) for m in asked)


class _Bell:
    """Wakes this process's followers when this process appended events."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._rung = 0

    def ring(self) -> None:
        with self._cond:
            self._rung += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        with self._cond:
            if self._rung == seen:
                self._cond.wait(timeout)
            return self._rung

    @property
    def rung(self) -> int:
        with self._cond:
            return self._rung


BELL = _Bell()


class EventWriter:
    """Appends one run's events to the log (chunks up to `MAX_CHUNKS`).

    Chunks are appended in batches: at most `BATCH` at once, and none waits longer than
    `LINGER` seconds (a timer flushes a batch the run is slow to fill), so a run that
    streams tokens does not pay a store write per token. `run`, `metadata` and the terminal
    event are appended at once, after what is waiting; order is kept."""

    def __init__(self, saver: BaseSaver, thread_id: str, run_id: str) -> None:
        self.saver, self.thread_id, self.run_id = saver, thread_id, run_id
        self.chunks = 0
        self.started = False
        """Whether the run's `metadata` is logged (it started: its end must be logged too)."""
        self.ended = False
        self._lock = threading.Lock()
        self._waiting: list[tuple[str, Any]] = []
        self._timer: threading.Timer | None = None

    def write(self, event: str, data: Any) -> None:
        """Append one event (a chunk past the bound is dropped; others never are)."""
        chunk = event not in (*UNSTREAMED, "metadata", *TERMINAL_EVENTS)
        with self._lock:
            if chunk:
                self.chunks += 1
                if self.chunks > MAX_CHUNKS:
                    return
            self._waiting.append((event, data))
            if chunk and len(self._waiting) < BATCH:
                if self._timer is None:
                    self._timer = threading.Timer(LINGER, self._flush_later)
                    self._timer.daemon = True
                    self._timer.start()
                return
            self._flush()
            self.started = self.started or event == "metadata"
            self.ended = self.ended or event in TERMINAL_EVENTS

    def _flush(self) -> None:
        """Under the lock: append what waits, in one transaction."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._waiting:
            return
        batch, self._waiting = self._waiting, []
        self.saver.append_events(self.thread_id, self.run_id, batch)
        BELL.ring()

    def _flush_later(self) -> None:
        with self._lock:
            try:
                self._flush()
            except Exception:  # the store failed: these chunks are lost, the run goes on
                _log.exception("logging run %s's stream failed", self.run_id)

    def end(self, status: str, *, cancelled: bool = False) -> None:
        """The run ended: `success` or `interrupted` (`cancelled`: it was cancelled, and
        ended the thread's exchange rather than paused it)."""
        if not self.ended:
            data: dict[str, Any] = {"run_id": self.run_id, "status": status}
            if cancelled:
                data["cancelled"] = True
            self.write("end", data)

    def error(self, exc: BaseException | str) -> None:
        """The run failed."""
        if self.ended:
            return
        if isinstance(exc, BaseException):
            body = {"error": type(exc).__name__, "message": str(exc)}
        else:
            body = {"error": "RunFailed", "message": exc}
        self.write("error", body)


def _chunk(mode: str, chunk: Any, fmt: str | None) -> Any:
    if mode == "messages":
        message, meta = chunk
        return [plain(message), plain(meta)]
    if mode == "updates" and isinstance(chunk, dict) and "__interrupt__" in chunk:
        pause = [interrupt_view(i.value, i.id, fmt) for i in chunk["__interrupt__"]]
        return {**plain(chunk), "__interrupt__": pause}
    return plain(chunk)


def _pause(saver: BaseSaver, interrupts: Any, fmt: str | None) -> list[dict[str, Any]]:
    """The requests a run paused on, as the `interrupts` event logs them: their views
    with the votes of a quorum request, and `namespace` for a subgraph's request."""
    out = []
    for i in interrupts:
        record = saver.get_interrupt(i.id)
        quorum = quorum_of(saver, record) if record is not None else None
        view = interrupt_view(i.value, i.id, fmt, quorum)
        namespace = namespace_of(record)
        if namespace:
            view["namespace"] = namespace
        out.append(view)
    return out


def logged_invoke(
    writer: EventWriter,
    graph: CompiledStateGraph,
    input: Any,
    config: dict[str, Any],
    *,
    attempt: int = 1,
    info: dict[str, Any] | None = None,
    on_started: Callable[[], None] | None = None,
    fmt: str | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """`graph.invoke(input, config)`, logging its stream (every mode of `LOGGED_MODES`,
    subgraphs' chunks too) as it goes: `run` (with `info`) and `metadata` at the first
    chunk — a run refused before it starts (a busy thread, an answered request) logs
    nothing — then a chunk per event. Returns what `invoke` returns. The terminal event is
    the caller's (`writer.end` / `writer.error`): only the caller knows whether a failure
    is final or will be retried. `on_started` is called once the run is under way (its
    first chunk, or its end); `fmt` how requests are shown (see `interrupt_view`)."""
    started = False

    def start() -> None:
        nonlocal started
        if started:
            return
        started = True
        if info is not None:
            writer.write("run", info)
        writer.write("metadata", {"run_id": writer.run_id, "attempt": attempt})
        if on_started is not None:
            on_started()

    slim = Slimmer()
    modes = sorted(LOGGED_MODES)
    for namespace, mode, chunk in graph.stream(
        input, config, stream_mode=modes, subgraphs=True, **kwargs
    ):
        start()
        if mode == "values" and isinstance(chunk, dict) and "__interrupt__" in chunk:
            continue  # the pause's last `values` is written below, with the requests' views
        data = slim(mode, namespace, _chunk(mode, chunk, fmt))
        if mode == "debug":
            data = slim_debug(data)
        writer.write(event_name(mode, namespace), data)
    start()
    thread_id = str(config["configurable"]["thread_id"])
    snapshot = graph.get_state(run_config(thread_id))
    if snapshot.interrupts:
        pause = _pause(writer.saver, snapshot.interrupts, fmt)
        shown = [{k: v for k, v in p.items() if k != "namespace"} for p in pause]
        writer.write("values", {**plain(snapshot.values), "__interrupt__": shown})
        writer.write("interrupts", pause)
    return {**snapshot.values, "__interrupt__": list(snapshot.interrupts)}


def sent_as(event: str, modes: Collection[str] | None, subgraphs: bool) -> str | None:
    """The name a runs-API follower sends a logged event under, None if not at all: the
    chunks of `modes` (None: `ALL_MODES`), a subgraph's only with `subgraphs` (LangGraph's
    `stream_subgraphs`) — but its `messages` and `custom` chunks always, under their mode,
    as a graph's `stream` sends them without `subgraphs=True`."""
    if event in UNSTREAMED:
        return None
    if event in ("metadata", *TERMINAL_EVENTS):
        return event
    mode, namespace = split_event(event)
    if mode not in (ALL_MODES if modes is None else modes):
        return None
    if not namespace or subgraphs:
        return event
    return mode if mode in ("messages", "custom") else None


def follow(
    saver: BaseSaver,
    thread_id: str,
    run_id: str | None,
    *,
    after: int = 0,
    modes: Collection[str] | None = None,
    subgraphs: bool = False,
    gone: Callable[[], bool] | None = None,
) -> Iterator[str]:
    """SSE frames of the logged events after `after` (of one run, or the thread's), then of
    each event as it is appended, until the run's terminal event. `modes` and `subgraphs`:
    what to send (`sent_as`). `gone()`, asked when nothing came for a while, settles a run
    whose writer is gone (its process died: `_lost.settle_lost` logs its end) and says
    whether it did; the stream then sends that end."""
    quiet_since = beat = time.monotonic()
    rung = BELL.rung
    shaper = Shaper(modes)
    if shaper.active and run_id is not None and after:  # the chunks before, to make
        seen = 0  # slim ones whole
        while seen < after:
            done = saver.read_events(thread_id, run_id=run_id, after=seen, limit=500)
            for e in done:
                if e.seq <= after:
                    shaper.feed(e.event, e.data)
            if not done:
                break
            seen = done[-1].seq
    while True:
        events = saver.read_events(thread_id, run_id=run_id, after=after, limit=500)
        frames = []  # sent together: one write to the client per read, not per event
        for e in events:
            after = e.seq
            name = sent_as(e.event, modes, subgraphs)
            data = shaper.feed(e.event, e.data)
            if name is not None:
                frames.append(frame(name, data, e.seq))
            if e.event in TERMINAL_EVENTS and run_id is not None:
                yield "".join(frames)
                return
        if frames:
            yield "".join(frames)
        if events:
            quiet_since = beat = time.monotonic()
            continue
        if time.monotonic() - beat > HEARTBEAT:  # a comment keeps proxies from cutting a
            beat = time.monotonic()  # quiet stream (clients ignore it)
            yield ": heartbeat\n\n"
        if gone is not None and time.monotonic() - quiet_since > 5 * POLL:
            quiet_since = time.monotonic()  # look again after as long
            if gone():
                continue
        rung = BELL.wait(rung, POLL)
