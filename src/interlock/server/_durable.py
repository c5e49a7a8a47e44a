"""Durable runs: every run the service starts is in the store's run queue before it starts.

A message's run to its pause (`run_input`, and `/v1`'s streamed run: `stream_durably`) and
a decision's resume (`decide_request`) run in the request that asked for them — the caller
waits for, or streams, the result as before — but first `run_durably` queues the run in
the store already claimed by this process (`enqueue_run(owner=..., ttl=...)`), keeps its
lease while it runs (the process's lease keeper, `interlock.graph._heartbeat.keep_alive`)
and records how it ended (`finish_run`).
If the process dies, the lease lapses and the background workers of any process sharing
the store (`interlock.server.runs.RunWorkers`) take the run over, exactly as they take over
a background run whose worker died:

- an **input** run (or a **command**: the Agent Server's `command.update` / `goto` without
  an answer) is invoked again with its run id: the graph applies the input only if no
  checkpoint of the run exists (the input is applied once), else continues from the
  thread's head; a command whose update went with a paused or failed step is found in that
  step's progress, or in the checkpoint that folded it (`metadata["updates_of"]`), and is
  not applied again;
- a **resume** never decides anything: if the decision of its requests is recorded, the
  thread is continued with `graph.invoke(None, config)`, which carries the recorded
  decision out (the paused node runs again and gets it); if the process died before the
  decision was recorded, the request is still pending and the run ends `failed`, saying so
  (a person decides again). A thread that paused again or ended meanwhile is only reported.

The interrupted node runs again on a takeover, as after any crash (the engine's semantics:
wrap side effects in `once()` or make them idempotent). A process that is still alive does
better when only the store went away: if nodes had finished and the store failed as their
step was written (`StepNotSaved`), the process keeps the step and writes it once the store
answers (`save_later`), then gives the run back to the queue, and the workers go on from
the saved step: the nodes do not run again. A resume that carried
`command.update`/`goto` (the Agent Server API) and died after its decision but before its
step committed continues without them: they are not recorded apart from the step.

A run refused before it did anything (a request already decided, an invalid answer, a busy
thread) is discarded (`discard_run`): it is not listed and never taken over.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from interlock._types import Command
from interlock.checkpoint.base import BaseSaver, RunRecord, new_audit_id
from interlock.errors import (
    InputRejected,
    InvalidUpdate,
    ResumeError,
    RunStopped,
    SerializationError,
    StepNotSaved,
    StoreUnavailable,
    ThreadBusy,
    VersionChanged,
)
from interlock.graph import CompiledStateGraph
from interlock.graph._heartbeat import keep_alive
from interlock.graph._run import EXPECTED_PENDING, PASSABLE
from interlock.graph._stop import STOP
from interlock.graph._unsaved import HOLD
from interlock.server._stops import StopCheck, stop_check

__all__ = [
    "DEFAULT_LEASE",
    "LoggedRunner",
    "RunLogOptions",
    "Runner",
    "committed",
    "continues",
    "current",
    "decision_state",
    "finish_saves",
    "run_durably",
    "save_later",
    "set_run_lease",
    "stopped_view",
    "stream_durably",
    "takeover_config",
    "takeover_input",
    "takeover_kwargs",
]

_log = logging.getLogger("interlock.server.durable")

Runner = Callable[[CompiledStateGraph, Any, dict[str, Any]], dict[str, Any]]
"""`run(graph, input, config)`: how a run is executed (default `graph.invoke`)."""
View = Callable[[CompiledStateGraph, str, Any], dict[str, Any]]
"""`view(graph, thread_id, result)`: a run's result as its record keeps it."""

DEFAULT_LEASE = 60.0
"""Seconds a run executed in a request holds its lease without renewing (the server's
`run_lease`, set with `set_run_lease`)."""

_LEASES: dict[int, float] = {}

_KEPT = ("user_id", "requested_by")
"""Configurable keys a takeover needs again (the others are callables or the service's)."""


def set_run_lease(saver: BaseSaver, ttl: float) -> None:
    """Runs on `saver` executed in requests hold their lease for `ttl` seconds (renewed
    every third of it); `create_app` sets its `run_lease` here."""
    _LEASES[id(saver)] = float(ttl)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunLogOptions:
    """How a run logs its stream into the run event log (the Agent Server API), kept with
    its record so that a takeover logs on under the same run id."""

    run_id: str
    modes: Sequence[str] = ()
    configurable: Mapping[str, Any] = field(default_factory=dict)
    """The client's own configurable keys."""
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    """`interrupt_before` / `interrupt_after`."""
    info: Mapping[str, Any] = field(default_factory=dict)
    """The `run` event: what the run was asked."""
    fmt: str | None = None
    """How requests are shown (`interrupt_formats`)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "modes": sorted(self.modes),
            "configurable": dict(self.configurable),
            "kwargs": dict(self.kwargs),
            "info": dict(self.info),
            "fmt": self.fmt,
        }


class LoggedRunner:
    """A `Runner` that logs into the run event log, with the options a takeover needs."""

    def __init__(self, run: Runner, log: RunLogOptions) -> None:
        self.run, self.log = run, log

    def __call__(
        self, graph: CompiledStateGraph, input: Any, config: dict[str, Any]
    ) -> dict[str, Any]:
        return self.run(graph, input, config)


def _invoke(graph: CompiledStateGraph, input: Any, config: dict[str, Any]) -> dict[str, Any]:
    return graph.invoke(input, config)


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def run_durably(
    saver: BaseSaver,
    graph: CompiledStateGraph,
    input: Any,
    config: dict[str, Any],
    run: Runner | None = None,
    *,
    view: View,
    agent: str | None = None,
) -> dict[str, Any]:
    """`(run or graph.invoke)(graph, input, config)` as a durable run (see the module
    docstring): queued claimed before it starts, its lease kept while it runs, its end
    recorded (`view(graph, thread_id, result)` is the recorded result). Returns, and
    raises, what the run does. `input` is a state update or a `Command` answering
    requests by id; anything else runs as before, without a record. `agent`: the
    registered name of `graph` (default its graph name)."""
    runner = run or _invoke
    log = runner.log if isinstance(runner, LoggedRunner) else None
    begun = _begin(saver, graph, input, config, log, agent)
    if begun is None:
        return runner(graph, input, config)
    record, owner, ttl, tagged = begun
    try:
        with (
            keep_alive(_renewer(saver, record.run_id, owner, ttl), ttl, f"run {record.run_id}"),
            stop_check(saver, record) as check,
        ):
            result = runner(graph, input, _with_stop(tagged, check))
    except StepNotSaved as exc:  # the step is written when the store is back; then a takeover
        save_later(saver, exc, record.run_id, owner)
        raise
    except StoreUnavailable:  # not recorded: the lease lapses and the run is taken over
        raise
    except RunStopped:  # asked to stop (`_stops`): its steps are saved
        now = stopped_view(view(graph, record.thread_id, current(graph, record.thread_id)))
        _finish(saver, record, owner, now, stopped=True)
        raise
    except BaseException as exc:
        _settle_failure(saver, record, owner, exc)
        raise
    _finish(saver, record, owner, view(graph, record.thread_id, result))
    return result


def stream_durably(
    saver: BaseSaver,
    graph: CompiledStateGraph,
    input: Any,
    config: dict[str, Any],
    *,
    stream_mode: list[str],
    view: View,
    agent: str | None = None,
) -> Iterator[Any]:
    """`graph.stream(input, config, stream_mode=...)` as a durable run (as `run_durably`);
    the run's end is recorded once the stream is read to its end (its result: the
    thread's state then). The stream may be read on by another thread."""
    begun = _begin(saver, graph, input, config, None, agent)
    if begun is None:
        yield from graph.stream(input, config, stream_mode=stream_mode)
        return
    record, owner, ttl, tagged = begun
    try:
        with (
            keep_alive(_renewer(saver, record.run_id, owner, ttl), ttl, f"run {record.run_id}"),
            stop_check(saver, record) as check,
        ):
            yield from graph.stream(input, _with_stop(tagged, check), stream_mode=stream_mode)
    except StepNotSaved as exc:
        save_later(saver, exc, record.run_id, owner)
        raise
    except StoreUnavailable:
        raise
    except RunStopped:
        now = stopped_view(view(graph, record.thread_id, current(graph, record.thread_id)))
        _finish(saver, record, owner, now, stopped=True)
        raise
    except BaseException as exc:
        _settle_failure(saver, record, owner, exc)
        raise
    _finish(saver, record, owner, view(graph, record.thread_id, current(graph, record.thread_id)))


def _begin(
    saver: BaseSaver,
    graph: CompiledStateGraph,
    input: Any,
    config: dict[str, Any],
    log: RunLogOptions | None,
    agent: str | None,
) -> tuple[RunRecord, str, float, dict[str, Any]] | None:
    """Queue the run claimed by a new owner: (the run, its owner, the lease's seconds, the
    config tagged with the run id); None for an input not kept durable."""
    conf = dict(config.get("configurable") or {})
    thread_id = str(conf["thread_id"])
    kind, payload, after = _what(saver, thread_id, input)
    if kind is None:
        return None
    options: dict[str, Any] = {"config": {k: conf[k] for k in _KEPT if conf.get(k)}}
    if PASSABLE in conf:  # kept even empty: a takeover passes no breakpoint it was not asked to
        options["config"][PASSABLE] = list(conf[PASSABLE])
    if EXPECTED_PENDING in conf:  # kept even empty: a takeover's fork cancels only what was
        options["config"][EXPECTED_PENDING] = list(conf[EXPECTED_PENDING])  # checked
    if conf.get("checkpoint_id"):  # a fork: a takeover starts there until the run committed
        options["fork"] = str(conf["checkpoint_id"])
    if log is not None:
        options["log"] = log.to_json()
    owner, ttl = _owner(), _LEASES.get(id(saver), DEFAULT_LEASE)
    record = saver.enqueue_run(
        thread_id=thread_id,
        agent=agent or graph.name or "agent",
        input=payload,
        created_by=conf.get("user_id"),
        after=after,
        run_id=log.run_id if log is not None else new_audit_id(),
        kind=kind,
        options=options,
        owner=owner,
        ttl=ttl,
    )
    tagged = {**conf, "run_id": record.run_id, HOLD: True}  # a held step: `save_later`
    if kind != "resume" and after is not None:
        tagged["run_after"] = after
    return record, owner, ttl, {**config, "configurable": tagged}


def _what(saver: BaseSaver, thread_id: str, input: Any) -> tuple[Any, Any, str | None]:
    """(kind, the record's input, the thread's head) of a run of `input`; kind None: not
    a run kept durable."""
    if isinstance(input, Command) and input.has_resume:
        resume = input.resume
        if not isinstance(resume, Mapping) or not resume:
            return None, None, None
        return "resume", {"interrupt_ids": [str(k) for k in resume]}, None
    if input is None:  # the thread goes on from its head (stopped between two steps)
        return "resume", {"interrupt_ids": [], "continue": True}, None
    if isinstance(input, Command):
        goto = input.goto_targets()
        if not all(isinstance(g, str) for g in goto):  # a `Send` is not kept as JSON
            return None, None, None
        kind, payload = "command", {"update": input.update, "goto": list(goto)}
    elif isinstance(input, Mapping):
        kind, payload = "input", dict(input)
    else:
        return None, None, None
    head = next(iter(saver.list_checkpoints(thread_id, limit=1)), None)
    return kind, payload, head.checkpoint_id if head else None


def _renewer(saver: BaseSaver, run_id: str, owner: str, ttl: float) -> Callable[[], bool]:
    def renew() -> bool:
        return saver.renew_run(run_id, owner, ttl=ttl)

    return renew


def continues(run: RunRecord) -> bool:
    """Whether `run` goes on from its thread's head (`input: null` on a thread stopped
    between steps): a resume with no requests, marked `continue`."""
    return (
        run.kind == "resume"
        and isinstance(run.input, Mapping)
        and run.input.get("continue") is True
    )


def _did_something(saver: BaseSaver, record: RunRecord, exc: BaseException) -> bool:
    """Whether the run changed anything: a resume, whether a decision of it is recorded; an
    input run, whether a checkpoint of it was committed; a run that goes on from the head
    (or a command on a thread with nodes still to run, which passes its breakpoint and runs
    the step with its update before its first commit), whether it got past the refusals."""
    if continues(record):
        refused = isinstance(exc, ThreadBusy | ResumeError | VersionChanged)
        return committed(saver, record) or not refused
    if record.kind == "command":
        refused = isinstance(
            exc,
            ThreadBusy | ResumeError | InputRejected | InvalidUpdate | SerializationError,
        )
        return committed(saver, record) or not refused
    if record.kind == "resume":
        ids = (record.input or {}).get("interrupt_ids") or []
        found = [saver.get_interrupt(i) for i in ids]
        return any(r is not None and r.status != "pending" for r in found)
    return committed(saver, record)


def committed(saver: BaseSaver, record: RunRecord) -> bool:
    """Whether a checkpoint of the run (tagged with its id, or holding its command's
    update) was committed on its thread."""
    for checkpoint in saver.list_checkpoints(record.thread_id, limit=20):
        if checkpoint.checkpoint_id == record.after:
            break
        meta = checkpoint.metadata or {}
        if meta.get("run_id") == record.run_id or record.run_id in (meta.get("updates_of") or ()):
            return True  # (a command's update folded into another run's step: `updates_of`)
    return False


def _settle_failure(saver: BaseSaver, record: RunRecord, owner: str, exc: BaseException) -> None:
    """The run raised: refused before it did anything (discarded), or failed after."""
    try:
        if not _did_something(saver, record, exc):
            saver.discard_run(record.run_id, owner)
            return
        error = f"{type(exc).__name__}: {exc}"
        saver.finish_run(record.run_id, owner, status="failed", error=error)
    except Exception:  # the store failed too: the lease lapses, a takeover settles it
        _log.warning("could not record how run %s ended", record.run_id, exc_info=True)


def current(graph: CompiledStateGraph, thread_id: str) -> dict[str, Any]:
    """The thread's values now, with `__interrupt__` (a run's result when it stopped)."""
    snapshot = graph.get_state({"configurable": {"thread_id": thread_id}})
    return {**snapshot.values, "__interrupt__": list(snapshot.interrupts)}


def stopped_view(view: dict[str, Any]) -> dict[str, Any]:
    """A run's view when it stopped as asked: status `stopped` (its thread's next nodes are
    still to run), not `finished`."""
    return {**view, "status": "stopped"} if not view.get("interrupts") else view


def _with_stop(config: dict[str, Any], check: StopCheck) -> dict[str, Any]:
    return {**config, "configurable": {**config["configurable"], STOP: check}}


def _finish(
    saver: BaseSaver,
    record: RunRecord,
    owner: str,
    view: dict[str, Any],
    *,
    stopped: bool = False,
) -> None:
    status: Literal["done", "interrupted", "cancelled"]
    status = "cancelled" if stopped else "interrupted" if view.get("interrupts") else "done"
    try:
        if not saver.finish_run(record.run_id, owner, status=status, result=view):
            _log.warning("run %s was taken over; its outcome is the new owner's", record.run_id)
    except Exception:  # the run ended; a takeover finds it so and records it
        _log.warning("could not record the end of run %s", record.run_id, exc_info=True)


SAVE_RETRY = 0.5
"""Seconds between attempts to write a step the store could not take (`save_later`)."""
SAVE_FOR = 900.0
"""Seconds `save_later` keeps trying before it lets the step go (a takeover then runs its
nodes again: it will have taken the thread long before, unless no other process runs)."""

_saving: dict[int, tuple[threading.Event, set[threading.Thread]]] = {}
"""Per store (`id(saver)`): what stops its saves, and the threads saving."""
_saving_lock = threading.Lock()


def save_later(saver: BaseSaver, unsaved: StepNotSaved, run_id: str, owner: str) -> None:
    """Write `unsaved`'s step once the store answers again, in a thread of its own, then
    give run `run_id` back to the queue (if `owner` still holds it) so that the workers go
    on from that step at once rather than after its lease lapses. Nothing is lost if this
    process dies first: the lease lapses and the run is taken over as before. The app's
    shutdown waits a while for these (`finish_saves`)."""
    with _saving_lock:
        stop, threads = _saving.setdefault(id(saver), (threading.Event(), set()))
        thread = threading.Thread(
            target=_save_then_give_back,
            args=(saver, unsaved, run_id, owner, stop, threads),
            name=f"interlock-save-{run_id}",
            daemon=True,
        )
        threads.add(thread)
    thread.start()


def finish_saves(saver: BaseSaver, timeout: float) -> int:
    """At shutdown: wait up to `timeout` seconds for the steps `save_later` is still writing
    to `saver`, then stop trying (their runs are taken over once their leases lapse). How
    many were left unwritten."""
    with _saving_lock:
        entry = _saving.pop(id(saver), None)
    if entry is None:
        return 0
    stop, threads = entry
    deadline = time.monotonic() + timeout
    for thread in list(threads):
        thread.join(max(0.0, deadline - time.monotonic()))
    stop.set()
    left = sum(thread.is_alive() for thread in list(threads))
    if left:
        _log.warning("%d step(s) the store could not take were not written before shutdown", left)
    return left


def _save_then_give_back(
    saver: BaseSaver,
    unsaved: StepNotSaved,
    run_id: str,
    owner: str,
    stop: threading.Event,
    threads: set[threading.Thread],
) -> None:
    try:
        if _save(unsaved, run_id, stop):
            try:
                saver.release_run(run_id, owner)
            except Exception:  # the lease lapses and the run is taken over
                _log.warning("run %s could not be given back", run_id, exc_info=True)
    finally:
        with _saving_lock:
            threads.discard(threading.current_thread())


def _save(unsaved: StepNotSaved, run_id: str, stop: threading.Event) -> bool:
    """Try `unsaved.save()` until it answers; whether it did (written, or never to be)."""
    deadline = time.monotonic() + SAVE_FOR
    while True:
        try:
            saved = unsaved.save()
        except StoreUnavailable:
            if time.monotonic() > deadline:
                _log.warning("run %s: a step could not be written in %.0f s", run_id, SAVE_FOR)
                return False
            if stop.wait(SAVE_RETRY):
                return False
            continue
        except Exception:
            _log.exception("run %s: writing a step the store could not take failed", run_id)
            return False
        if saved:
            _log.info("run %s: the step the store could not take is written", run_id)
        else:
            _log.info("run %s: the thread went on without the unwritten step", run_id)
        return True


# ---- takeovers (`RunWorkers`) ----------------------------------------------------------------


def takeover_config(run: RunRecord, saver: BaseSaver | None = None) -> dict[str, Any]:
    """The config a taken-over run is invoked with: the thread, who ran it, its run id
    (and, for input, the head when it was queued), and the client's configurable keys. A
    fork (run from an older checkpoint) starts from that checkpoint again unless a
    checkpoint of it was committed on `saver` (it then goes on from the thread's head)."""
    options = run.options if isinstance(run.options, Mapping) else {}
    fork = options.get("fork")
    log = options.get("log") or {}
    conf: dict[str, Any] = {**(log.get("configurable") or {})}
    conf.update(options.get("config") or {})
    conf.setdefault("user_id", run.created_by)
    conf.update(thread_id=run.thread_id, run_id=run.run_id)
    conf[HOLD] = True  # the workers save a held step (`save_later`)
    if run.kind != "resume" and run.after:
        conf["run_after"] = run.after
    if fork and (saver is None or not committed(saver, run)):
        conf["checkpoint_id"] = fork
    config: dict[str, Any] = {"configurable": {k: v for k, v in conf.items() if v is not None}}
    limit = (log.get("kwargs") or {}).get("recursion_limit")
    if limit is not None:  # asked in the run's `config`: it stays there
        config["recursion_limit"] = limit
    return config


def takeover_kwargs(run: RunRecord) -> dict[str, Any]:
    """The keyword arguments of the run's `stream` as it was asked (`interrupt_before` /
    `interrupt_after`, `context`, `durability`); `recursion_limit` is in its config
    (`takeover_config`)."""
    options = run.options if isinstance(run.options, Mapping) else {}
    kwargs = dict((options.get("log") or {}).get("kwargs") or {})
    kwargs.pop("recursion_limit", None)
    return kwargs


def takeover_input(run: RunRecord) -> Any:
    """What a taken-over run is invoked with: its input, its command, or None (a resume
    continues the thread: the recorded decision is applied, or it goes on from the thread's
    head: `continues`)."""
    if run.kind == "resume":
        return None
    if run.kind == "command":
        payload = run.input or {}
        return Command(update=payload.get("update"), goto=tuple(payload.get("goto") or ()))
    return run.input


def decision_state(saver: BaseSaver, run: RunRecord) -> str:
    """Where a resume run's decisions are: `unrecorded` (a request of it is still pending:
    the process died before recording the decision), `gone` (the requests were deleted with
    their thread) or `recorded`."""
    if continues(run):
        return "recorded"  # no decision to wait for: it goes on from the thread's head
    ids = (run.input or {}).get("interrupt_ids") or []
    found = [saver.get_interrupt(str(i)) for i in ids]
    if not found or any(r is None or r.thread_id != run.thread_id for r in found):
        return "gone"
    if any(r is not None and r.status == "pending" for r in found):
        return "unrecorded"
    return "recorded"
