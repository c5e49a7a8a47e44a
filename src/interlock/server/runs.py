"""Background runs: worker threads that claim queued runs from the store and execute them.

`POST /v1/threads/{id}/runs` with `"background": true` queues the input in the store
(`saver.enqueue_run`) and answers 202 at once. Every server process runs `RunWorkers`
(`interlock serve --workers N`): N threads that claim the oldest claimable run
(`saver.claim_run`, under a lease), run it with its agent, renew the lease while it runs, and
record how it ended — `done`, `interrupted` (paused for a person; the result lists the
pending requests) or `failed` (with the error). The queue lives in the store, so a run
survives the process that queued it, and any process sharing the store may execute it.

Takeover and exactly-once input. A worker that dies stops renewing; once its lease expires
another worker claims the run (`attempts` > 1). The run is invoked with
`configurable.run_id` (and `run_after`, the thread's head when it was queued): the graph
stamps the run id on every checkpoint the run commits, and before applying the input it
looks — under the thread's lease — for a checkpoint of that run. If the dead worker had
committed the input, the taker-over continues from the thread's last checkpoint (the steps
that did not commit run again, as after any crash: a node that ran partially may run again;
wrap side effects in `once()`), or reports the pause or end the dead worker reached; if not,
it applies the input. So the input is applied exactly once. We chose the run-id tag over
"remember the head before the run" because a head comparison cannot tell this run's commit
from another caller's, while the tag names the run in the checkpoint that applied it (and
stays visible in the thread's history).

One thread never runs twice at once: the thread lease refuses a second run (`ThreadBusy`);
such a run is given back to the queue and retried after a short delay, not failed. The
dead worker's thread lease expires after `graph.lease_ttl` seconds, so a takeover waits for
the longer of the two leases.

The run's stream (every mode) is appended to the store's run event log as it goes, then
its end (`interlock.server.agent_server._log`), so a client joins it from any process.

Idle workers wait on a condition: woken at once when this process queues a run or stops,
otherwise they poll the store every `poll` seconds (runs queued by other processes).

The same workers take over the runs the service executes in requests (`_durable`): a
message's run to its pause, a decision's resume. A resume is carried on with
`invoke(None)` only once its decision is recorded; it never decides. And every
`sweep_every` seconds one thread of the set looks for threads left decided but not carried
out by anyone — a library process that died mid-resume, say (`saver.stranded_threads`:
one indexed query over the decisions since the last look, overlapping it by
`SWEEP_OVERLAP`, and over the last `SWEEP_LOOKBACK` at start) — and queues a resume run for
each (audited `run.queued` with the reason).

Hand-back between versions. A process running workers advertises, per agent, the graph
version it runs (`saver.advertise_versions`, under a lease of `ttl` seconds the lease
renewer renews; withdrawn when the workers stop, lapsed when the process dies). Before a
worker runs a run that goes on from a checkpoint (a resume, a takeover), it asks the graph
whether its version check would refuse it (`refusal_sync`: the thread paused, or was
decided, under a version whose changes this code cannot take). If so and a live process
advertises that version, the worker does not run it — nothing is reopened — but gives it
back to the queue marked for that version (`release_run(for_version=...)`, audited
`run.handed_back`), and only workers running that version claim it (`claim_run(versions=
...)`, filtered in the store's claim). Once no live process advertises it, any worker claims
it again and the graph's check applies: the request returns to pending with the reason.
A worker that runs several versions of one graph (agents registered under several names)
runs a marked run with the matching one.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from interlock.checkpoint.base import BaseSaver, RunRecord, WorkerVersion
from interlock.errors import (
    InputRejected,
    ResumeConflict,
    RunStopped,
    RunSuperseded,
    StepNotSaved,
    StoreUnavailable,
    ThreadBusy,
)
from interlock.graph import CompiledStateGraph
from interlock.graph._stop import STOP
from interlock.graph._version_check import refusal_sync
from interlock.server._audit_later import delete_thread_audited
from interlock.server._durable import (
    committed,
    continues,
    current,
    decision_state,
    save_later,
    set_run_lease,
    stopped_view,
    takeover_config,
    takeover_input,
    takeover_kwargs,
)
from interlock.server._operations import record_made, run_config, run_view
from interlock.server._stops import stop_check
from interlock.server.agent_server._log import EventWriter, logged_invoke
from interlock.server.auth import Principal

__all__ = ["RunWorkers"]

_log = logging.getLogger("interlock.server.runs")
_SYSTEM = frozenset[str]()
SWEEP_OVERLAP = timedelta(minutes=10)
"""Each sweep looks again at the decisions of the last this-long before the previous one."""
SWEEP_LOOKBACK = timedelta(days=7)
"""The first sweep of a process looks at the decisions of this long ago and since."""
UNRECORDED = (
    "the process running this resume stopped before the decision was recorded: the "
    "request is still pending (decide it again)"
)


class RunWorkers:
    """`workers` threads executing the store's queued runs with the agents of `registry`.

    `ttl`: seconds a claimed run's lease lasts (renewed every `ttl / 3` while it runs).
    `poll`: seconds an idle worker waits before looking for runs queued elsewhere.
    `busy_delay`: seconds before a run whose thread was busy is tried again (the first
    times; a run queued more than 5 s ago waits `busy_delay` x its age / 5 s, at most 30 s).
    `max_attempts`: a run taken over this many times (its workers died running it each
    time, e.g. killed for memory) is recorded `failed` instead of being tried again.
    `sweep_every`: seconds between looks for threads decided but not carried out.
    `draining`: agents of `registry` this process starts no new runs of: their workers
    carry out decisions (resume runs, and runs given back for their version, see the module
    docstring) and leave the others to other processes.

    Example:
        >>> workers = RunWorkers(saver, {"support": graph}, workers=2)  # doctest: +SKIP
        >>> workers.start(); ...; workers.stop()  # doctest: +SKIP
    """

    def __init__(
        self,
        saver: BaseSaver,
        registry: Mapping[str, CompiledStateGraph],
        *,
        workers: int = 1,
        ttl: float = 60.0,
        poll: float = 1.0,
        busy_delay: float = 0.5,
        max_attempts: int = 5,
        sweep_every: float = 10.0,
        draining: Collection[str] = (),
    ) -> None:
        if workers < 0 or ttl <= 0 or poll <= 0 or max_attempts < 1 or sweep_every <= 0:
            raise ValueError(
                "workers must be >= 0, ttl, poll and sweep_every positive, max_attempts >= 1"
            )
        self.saver, self.registry = saver, dict(registry)
        self.draining = frozenset(draining)
        self.versions = frozenset((g.name, g.version) for g in self.registry.values())
        """The `(graph, version)` pairs this process runs (its claims take their runs)."""
        self.sweep_every = sweep_every
        set_run_lease(saver, ttl)  # the runs executed in requests hold leases this long
        self.max_attempts = max_attempts
        self.workers, self.ttl, self.poll, self.busy_delay = workers, ttl, poll, busy_delay
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        """This process's worker id prefix (each thread appends its number)."""
        self._cond = threading.Condition()
        self._wakeups = 0
        self._stopping = False
        self._stopped = threading.Event()
        """Set with `_stopping`: what the lease renewer waits on."""
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._active: dict[str, str] = {}
        """run id -> owner of the runs being executed (the renewer's list)."""
        self._ticks: list[tuple[str, float, Callable[[], object]]] = []
        """`every`'s periodic jobs: (thread name, seconds, job)."""

    # ---- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker threads (and the lease renewer); none when `workers` is 0."""
        if not self.workers:
            return
        with self._cond:  # a stopped set of workers may be started again (a new lifespan)
            self._stopping = False
            self._stopped.clear()
        try:
            self.advertise()
        except Exception:  # the renewer tries again
            _log.exception("advertising this process's graph versions failed")
        for i in range(self.workers):
            thread = threading.Thread(
                target=self._work, args=(f"{self.owner}:{i}",), name=f"interlock-run-{i}"
            )
            thread.daemon = True
            thread.start()
            self._threads.append(thread)
        renewer = threading.Thread(target=self._renew, name="interlock-run-leases", daemon=True)
        renewer.start()
        self._threads.append(renewer)
        sweeper = threading.Thread(target=self._sweep, name="interlock-run-sweep", daemon=True)
        sweeper.start()
        self._threads.append(sweeper)
        for name, seconds, job in self._ticks:
            ticker = threading.Thread(
                target=self._tick, args=(seconds, job), name=name, daemon=True
            )
            ticker.start()
            self._threads.append(ticker)

    def every(self, seconds: float, job: Callable[[], object], name: str) -> None:
        """Call `job()` every `seconds` (the first time at start) in a thread named `name`
        of this set, from its `start` to its `stop`: where the workers run (none with
        `workers=0`). A failing call is logged and the job called again at the next tick.
        The crons' scheduler runs so (`agent_server._cron_fire`)."""
        if not seconds > 0:
            raise ValueError(f"every: seconds must be positive, not {seconds}")
        self._ticks.append((name, seconds, job))

    def _tick(self, seconds: float, job: Callable[[], object]) -> None:
        while True:
            try:
                job()
            except Exception:
                _log.exception("%s failed; trying again in %s s", threading.current_thread().name,
                               seconds)  # fmt: skip
            if self._stopped.wait(seconds):
                return

    def alive(self) -> tuple[int, int]:
        """`(expected, alive)`: how many threads this set should run (the workers, the
        lease renewer, the sweeper and `every`'s jobs; none with `workers=0`) and how many
        are alive."""
        expected = self.workers + 2 + len(self._ticks) if self.workers else 0
        return expected, sum(1 for thread in self._threads if thread.is_alive())

    def wake(self) -> None:
        """A run was queued: wake one idle worker now instead of at its next poll."""
        with self._cond:
            self._wakeups += 1
            self._cond.notify()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop: idle workers return at once; a worker in a run gets `timeout` seconds to
        finish it. A run still going then is left to its lease: it expires and another
        process takes the run over."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._stopped.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._threads:
            try:
                self.saver.withdraw_versions(self.owner)
            except Exception:  # they lapse with their lease
                _log.warning("could not withdraw this process's graph versions", exc_info=True)
        self._threads.clear()

    def advertise(self) -> None:
        """Advertise (or renew) the graph versions this process runs, for `ttl` seconds."""
        self.saver.advertise_versions(
            [
                WorkerVersion(
                    owner=self.owner,
                    agent=name,
                    graph=graph.name,
                    version_id=graph.version,
                    fingerprint=graph.version_info.fingerprint,
                )
                for name, graph in sorted(self.registry.items())
            ],
            ttl=self.ttl,
        )

    def _idle(self) -> bool:
        """Wait for a wake-up, a stop or the poll period; False once stopping."""
        with self._cond:
            if not self._wakeups and not self._stopping:
                self._cond.wait(self.poll)
            self._wakeups = max(0, self._wakeups - 1)
            return not self._stopping

    # ---- the workers --------------------------------------------------------------------

    def _work(self, owner: str) -> None:
        while not self._stopping:
            try:
                run = self.saver.claim_run(owner, ttl=self.ttl, versions=self.versions)
            except Exception:
                _log.exception("claiming a run failed; retrying in %s s", self.poll)
                run = None
            if run is None:
                if not self._idle():
                    return
                continue
            if self._stopping:  # claimed as we were told to stop: give it back untouched
                self._give_back(run, owner, 0.0, "this worker is stopping")
                return
            with self._lock:
                self._active[run.run_id] = owner
            try:
                self.execute(run, owner)
            except BaseException:  # the store failed: the lease expires and the run is retried
                _log.exception("run %s could not be recorded", run.run_id)
            finally:
                with self._lock:
                    self._active.pop(run.run_id, None)

    def _renew(self) -> None:
        while not self._stopped.wait(self.ttl / 3):
            try:
                self.advertise()
            except Exception:
                _log.exception("renewing this process's graph versions failed")
            with self._lock:
                active = dict(self._active)
            for run_id, owner in active.items():
                try:
                    if not self.saver.renew_run(run_id, owner, ttl=self.ttl):
                        _log.warning("run %s was taken over by another worker", run_id)
                except Exception:
                    _log.exception("renewing the lease of run %s failed", run_id)

    def _sweep(self) -> None:
        since = datetime.now(UTC) - SWEEP_LOOKBACK
        while True:
            started = datetime.now(UTC)
            try:
                self.sweep(since)
                since = started - SWEEP_OVERLAP
            except Exception:
                _log.exception("the sweep for stranded decisions failed; retrying")
            if self._stopped.wait(self.sweep_every):
                return

    def sweep(self, since: datetime) -> list[str]:
        """Queue a resume run for each thread left decided but not carried out (among the
        decisions recorded since `since`) whose graph this process serves; the run ids
        queued. Two processes sweeping at once queue one run (its id is the stranded
        state's)."""
        queued = []
        for found in self.saver.stranded_threads(since=since, limit=100):
            name = self._name_of(found.graph)
            if name is None:  # another process may serve it
                continue
            ids = sorted(found.interrupt_ids)
            key = "\0".join([found.thread_id, found.checkpoint_id, *ids])
            run_id = hashlib.sha256(key.encode()).hexdigest()[:32]
            first = self.saver.get_interrupt(ids[0])
            requester = first.metadata.get("requested_by") if first is not None else None
            config = {"user_id": found.decided_by, "requested_by": requester}
            try:
                self.saver.enqueue_run(
                    thread_id=found.thread_id,
                    agent=name,
                    input={"interrupt_ids": ids},
                    created_by=found.decided_by,
                    run_id=run_id,
                    kind="resume",
                    options={"config": {k: v for k, v in config.items() if v}},
                )
            except Exception:  # queued by another process's sweep meanwhile
                _log.debug("stranded thread %s: run %s not queued", found.thread_id, run_id)
                continue
            detail = {
                "run_id": run_id,
                "reason": "decided but not carried out",
                "interrupt_ids": ids,
            }
            record_made(
                self.saver, Principal("system", _SYSTEM), "run.queued", found.thread_id,
                detail=detail,
            )  # fmt: skip
            queued.append(run_id)
        if queued:
            self.wake()
        return queued

    def _name_of(self, agent: str | None) -> str | None:
        """The registered name of `agent` (a registered name, or a graph's name)."""
        if agent in self.registry:
            return agent
        names = [n for n, g in self.registry.items() if g.name == agent]
        return names[0] if len(names) == 1 else None

    def _graph_for(self, run: RunRecord) -> tuple[str | None, CompiledStateGraph | None]:
        """The agent that runs `run` here: the one of the version it was given back for,
        if this process runs that version, else the one named by its agent."""
        if run.for_version is not None:
            for each, graph in sorted(self.registry.items()):
                if (graph.name, graph.version) == (run.for_graph, run.for_version):
                    return each, graph
        name = self._name_of(run.agent)
        return name, self.registry.get(name) if name is not None else None

    def execute(self, run: RunRecord, owner: str) -> None:
        """Run one claimed run to its end (or back to the queue) and record the outcome."""
        saver = self.saver
        who = Principal(run.created_by or "system", _SYSTEM)
        name, graph = self._graph_for(run)
        if graph is None:  # another process may serve it (a rolling deploy): not ours to fail
            self._give_back(run, owner, self._delay(run), f"no agent {run.agent!r} here")
            return
        mine = (graph.name, graph.version) == (run.for_graph, run.for_version)
        if name in self.draining and run.kind != "resume" and not mine:
            # draining here: decisions are carried out, new runs are left to others
            self._give_back(run, owner, self._delay(run), f"agent {name!r} drains here")
            return
        if run.attempts > self.max_attempts:
            self._fail(
                run,
                owner,
                who,
                f"gave up after {run.attempts - 1} attempts: each worker running it stopped "
                "(crashed or was killed) before it ended",
            )
            return
        undecided = run.kind != "resume" or continues(run)  # no decision to carry out first
        if run.stop_asked and undecided:  # asked to stop, then given back or its process died
            self._end_stopped(run, owner, who, EventWriter(saver, run.thread_id, run.run_id))
            return
        if run.kind == "resume" and (state := decision_state(saver, run)) != "recorded":
            why = UNRECORDED if state == "unrecorded" else "its requests were deleted"
            self._fail(run, owner, who, why)
            return
        config = takeover_config(run, saver)
        if not (run.kind == "resume" and _stopped(graph, run)) and self._hand_back(
            run, owner, who, graph
        ):
            return
        log = (run.options or {}).get("log") or {} if isinstance(run.options, Mapping) else {}
        # the run's stream goes to the store's run event log (joinable from any process)
        writer = EventWriter(saver, run.thread_id, run.run_id)
        info = log.get("info") if log and saver.run_log(run.thread_id, run.run_id) is None else None
        try:
            if run.kind == "resume" and _stopped(graph, run):
                result = current(graph, run.thread_id)  # it paused again or ended: only report it
            else:
                with stop_check(saver, run) as check:
                    conf = {**config["configurable"], STOP: check}
                    result = logged_invoke(
                        writer,
                        graph,
                        takeover_input(run),
                        {**config, "configurable": conf},
                        attempt=run.attempts,
                        info=info,
                        fmt=log.get("fmt"),
                        **takeover_kwargs(run),
                    )
        except RunStopped:  # asked to stop (`_stops`): its steps are saved
            self._end_stopped(run, owner, who, writer)
            return
        except RunSuperseded:  # it ran before, and others used the thread since: report it
            result = _outcome_in_history(graph, run)
        except StepNotSaved as exc:  # written when the store is back, then given back
            save_later(saver, exc, run.run_id, owner)
            return
        except (ThreadBusy, ResumeConflict, StoreUnavailable, InputRejected) as exc:
            # busy, raced, the store hiccupped, or the thread waits for a person's decision
            # (a run queued behind one that paused): nothing of this attempt is lost (the
            # input is applied once whatever happens), so give it back and try again later
            self._give_back(run, owner, self._delay(run), str(exc))
            return
        except BaseException as exc:  # a node's SystemExit must not end this worker
            self._fail(run, owner, who, f"{type(exc).__name__}: {exc}", writer)
            return
        view = run_view(graph, run.thread_id, result)
        status: Literal["done", "interrupted"] = "interrupted" if view["interrupts"] else "done"
        if saver.finish_run(run.run_id, owner, status=status, result=view):
            writer.end("interrupted" if status == "interrupted" else "success")
            detail = {"run_id": run.run_id, "status": status, "attempts": run.attempts}
            record_made(saver, who, "run.finished", run.thread_id, detail=detail)
            if status == "done":
                self._on_completion(run, who)
        else:
            _log.warning("run %s was taken over; its outcome is the new owner's", run.run_id)

    def _end_stopped(self, run: RunRecord, owner: str, who: Principal, writer: EventWriter) -> None:
        """End a run asked to stop where its thread is: `cancelled` with its result the
        thread's state now, unless a step of it paused (`interrupted`) or ended the graph
        (`done`) before its process could record that."""
        graph = self._graph_for(run)[1]
        assert graph is not None
        view = run_view(graph, run.thread_id, current(graph, run.thread_id))
        status: Literal["done", "interrupted", "cancelled"] = "cancelled"
        if view["interrupts"]:
            status = "interrupted"
        elif committed(self.saver, run) and not graph.get_state(run_config(run.thread_id)).next:
            status = "done"
        else:
            view = stopped_view(view)
        if self.saver.finish_run(run.run_id, owner, status=status, result=view):
            if status == "done":
                writer.end("success")
            else:
                writer.end("interrupted", cancelled=status == "cancelled")
            detail = {"run_id": run.run_id, "status": status, "attempts": run.attempts}
            record_made(self.saver, who, "run.finished", run.thread_id, detail=detail)

    def _hand_back(
        self, run: RunRecord, owner: str, who: Principal, graph: CompiledStateGraph
    ) -> bool:
        """Give `run` back for the version its thread paused under, when `graph` would refuse
        to go on with it and a live process runs that version; whether it did (or lost the
        run meanwhile)."""
        try:
            refused = refusal_sync(graph, takeover_input(run), takeover_config(run))
        except StoreUnavailable:
            raise
        except Exception:  # running it raises the same, and records it
            _log.debug("run %s: the version check failed", run.run_id, exc_info=True)
            return False
        if refused is None or refused.from_version in (None, graph.version):
            return False
        target = (graph.name, str(refused.from_version))
        live = sorted(
            v.owner
            for v in self.saver.list_worker_versions(graph.name)
            if v.version_id == target[1]
        )
        if not live:  # none left: the graph's check reopens the request, with the reason
            return False
        if self.saver.release_run(run.run_id, owner, for_version=target):
            detail: dict[str, Any] = {
                "run_id": run.run_id,
                "graph": graph.name,
                "version": graph.version,
                "to_version": target[1],
                "processes": live,
                "reason": str(refused),
            }
            record_made(self.saver, who, "run.handed_back", run.thread_id, detail=detail)
            _log.info("run %s handed back to version %s of %s", run.run_id, *target[::-1])
            if target in self.versions:
                self.wake()
        return True

    def _delay(self, run: RunRecord) -> float:
        """Seconds before a run given back is tried again: `busy_delay`, growing with the
        run's age (at most 30 s)."""
        waited = (datetime.now(UTC) - run.created_at).total_seconds()
        return min(30.0, self.busy_delay * max(1.0, waited / 5))

    def _give_back(self, run: RunRecord, owner: str, delay: float, why: str) -> None:
        _log.info("run %s: %s; retrying in %.1f s", run.run_id, why, delay)
        self.saver.release_run(run.run_id, owner, delay=delay)

    def _fail(
        self,
        run: RunRecord,
        owner: str,
        who: Principal,
        error: str,
        writer: EventWriter | None = None,
    ) -> None:
        """Record the run failed, and log its `error` (with `writer`, the run's own: the
        chunks it still holds go first)."""
        if self.saver.finish_run(run.run_id, owner, status="failed", error=error):
            (writer or EventWriter(self.saver, run.thread_id, run.run_id)).error(error)
            detail: dict[str, Any] = {"run_id": run.run_id, "error": error}
            record_made(self.saver, who, "run.failed", run.thread_id, detail=detail)
            self._on_completion(run, who)

    def _on_completion(self, run: RunRecord, who: Principal) -> None:
        """A run queued with `options["on_completion"] == "delete"` (a cron's run on a
        thread of its own) deletes its thread once it ended done or failed — unless a
        request waits there (deleting would drop it). Audited `thread.deleted`."""
        options = run.options if isinstance(run.options, Mapping) else {}
        if options.get("on_completion") != "delete":
            return
        thread_id = run.thread_id
        if self.saver.list_interrupts(status="pending", thread_id=thread_id, limit=1).items:
            return
        detail = {"reason": "on_completion", "run_id": run.run_id}
        delete_thread_audited(self.saver, who, thread_id, detail)


def _stopped(graph: CompiledStateGraph, run: RunRecord) -> bool:
    """Whether a resume's thread waits for a person (a breakpoint too: continuing would
    pass it) or has ended: then there is nothing to carry on."""
    saver = graph.checkpointer
    assert saver is not None
    options = run.options if isinstance(run.options, Mapping) else {}
    if options.get("fork") and not committed(saver, run):  # a replay yet to start there
        return False
    if saver.list_interrupts(status="pending", thread_id=run.thread_id, limit=1).items:
        return True
    return not graph.get_state(run_config(run.thread_id)).next


_FOLDED_WITHIN = 200
"""Newest checkpoints searched for the one that folded a superseded command's update."""


def _outcome_in_history(graph: CompiledStateGraph, run: RunRecord) -> dict[str, Any]:
    """A superseded run's result: the state at its newest checkpoint (tagged with its id,
    or, for a command whose update went with another run's step, the checkpoint that
    folded it: `updates_of`), with the requests that checkpoint raised."""
    config = run_config(run.thread_id)
    for snapshot in graph.get_state_history(config, filter={"run_id": run.run_id}):
        return {**snapshot.values, "__interrupt__": list(snapshot.interrupts)}
    if run.kind == "command":
        for snapshot in graph.get_state_history(config, limit=_FOLDED_WITHIN):
            if run.run_id in ((snapshot.metadata or {}).get("updates_of") or ()):
                return {**snapshot.values, "__interrupt__": list(snapshot.interrupts)}
    raise RunSuperseded(f"run {run.run_id!r}: no checkpoint of it is left in the history")
