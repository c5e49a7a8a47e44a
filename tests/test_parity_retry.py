"""`add_node(..., retry_policy=RetryPolicy(...))` and `durability=` on invoke/stream."""

from __future__ import annotations

import operator
import threading
from typing import Annotated, Any, TypedDict

import pytest

from interlock import (
    START,
    Command,
    GraphError,
    InvalidGraph,
    ResumeConflict,
    RetryPolicy,
    Runtime,
    StateGraph,
    interrupt,
    once,
)
from interlock.graph._runtime import default_retry_on


class S(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    out: Any


def cfg(thread: str = "t1") -> dict:
    return {"configurable": {"thread_id": thread}}


FAST = {"initial_interval": 0.0, "jitter": False}


class Flaky:
    """Fails its first `failures` calls with `exc`, then returns an update."""

    def __init__(self, failures: int, exc: type[Exception] = ConnectionError) -> None:
        self.failures = failures
        self.exc = exc
        self.calls = 0
        self.attempts: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, state: S, runtime: Runtime) -> dict:
        with self.lock:
            self.calls += 1
            assert runtime.execution_info is not None
            self.attempts.append(runtime.execution_info.node_attempt)
            if self.calls <= self.failures:
                raise self.exc(f"failure {self.calls}")
        return {"log": ["flaky ok"]}


def graph_with(node: Any, policy: Any, saver: Any = None):
    g = StateGraph(S)
    g.add_node("flaky", node, retry_policy=policy)
    g.add_node("after", lambda s: {"log": ["after"]})
    g.add_edge(START, "flaky")
    g.add_edge("flaky", "after")
    return g.compile(checkpointer=saver)


def test_a_failing_node_is_retried_until_it_succeeds(run, saver) -> None:
    flaky = Flaky(2)
    graph = graph_with(flaky, RetryPolicy(max_attempts=3, **FAST), saver)
    assert run.invoke(graph, {"log": []}, cfg()) == {"log": ["flaky ok", "after"]}
    assert flaky.attempts == [1, 2, 3]


def test_attempts_are_bounded_and_the_last_error_is_raised(run, saver) -> None:
    flaky = Flaky(5)
    graph = graph_with(flaky, RetryPolicy(max_attempts=3, **FAST), saver)
    with pytest.raises(ConnectionError, match="failure 3"):
        run.invoke(graph, {"log": []}, cfg())
    assert flaky.calls == 3
    [task] = run.get_state(graph, cfg()).tasks
    assert task.name == "flaky" and task.error == "ConnectionError('failure 3')"
    # continuing after the final failure is a new set of attempts
    assert run.invoke(graph, None, cfg()) == {"log": ["flaky ok", "after"]}
    assert flaky.attempts == [1, 2, 3, 1, 2, 3]  # calls 4 and 5 fail, 6 succeeds


def test_errors_not_matched_by_retry_on_are_not_retried(run) -> None:
    flaky = Flaky(1, ValueError)
    graph = graph_with(flaky, RetryPolicy(max_attempts=3, **FAST))
    with pytest.raises(ValueError):
        run.invoke(graph, {"log": []})
    assert flaky.calls == 1  # the default retry_on leaves ValueError alone
    flaky = Flaky(1, ValueError)
    graph = graph_with(flaky, RetryPolicy(max_attempts=3, retry_on=ValueError, **FAST))
    assert run.invoke(graph, {"log": []}) == {"log": ["flaky ok", "after"]}


def test_the_first_matching_policy_applies(run) -> None:
    flaky = Flaky(3, KeyError)
    policies = [
        RetryPolicy(max_attempts=2, retry_on=ValueError, **FAST),
        RetryPolicy(max_attempts=4, retry_on=lambda e: isinstance(e, KeyError), **FAST),
    ]
    assert run.invoke(graph_with(flaky, policies), {"log": []}) == {"log": ["flaky ok", "after"]}
    assert flaky.attempts == [1, 2, 3, 4]


def test_default_retry_on_matches_langgraph() -> None:
    assert default_retry_on(ConnectionError())
    assert default_retry_on(Exception("transient?"))
    for exc in (ValueError(), TypeError(), KeyError(), OSError(), RuntimeError()):
        assert not default_retry_on(exc)

    class HTTPStatusError(Exception):
        def __init__(self, status: int) -> None:
            self.response = type("R", (), {"status_code": status})()

    assert default_retry_on(HTTPStatusError(503))
    assert not default_retry_on(HTTPStatusError(404))


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(initial_interval=0.5, backoff_factor=3.0, max_interval=2.0)
    assert [policy.delay(n) for n in (1, 2, 3)] == [0.5, 1.5, 2.0]


def test_a_bad_retry_policy_is_refused_at_add_node() -> None:
    with pytest.raises(InvalidGraph, match="RetryPolicy"):
        StateGraph(S).add_node("n", lambda s: {}, retry_policy={"max_attempts": 3})
    with pytest.raises(InvalidGraph, match="max_attempts"):
        StateGraph(S).add_node("n", lambda s: {}, retry_policy=RetryPolicy(max_attempts=0))


def test_once_results_of_a_failed_attempt_are_not_recomputed(run, saver) -> None:
    effects: list[str] = []
    attempts: list[int] = []

    def charge() -> str:
        effects.append("charged")
        return "receipt-1"

    def node(state: S, runtime: Runtime) -> dict:
        assert runtime.execution_info is not None
        attempts.append(runtime.execution_info.node_attempt)
        receipt = once(charge)
        if len(attempts) < 3:
            raise ConnectionError("mail server down")
        return {"out": receipt}

    graph = graph_with(node, RetryPolicy(max_attempts=3, **FAST), saver)
    assert run.invoke(graph, {"log": []}, cfg())["out"] == "receipt-1"
    assert effects == ["charged"] and attempts == [1, 2, 3]


def test_failed_attempts_are_recorded_so_a_takeover_goes_on_counting(saver) -> None:
    """A process that dies between attempts leaves the attempts it made in the task's
    writes: the run that takes the thread over continues the count."""
    attempts: list[int] = []
    crash = {"armed": True}

    class Crash(BaseException):
        """Stands for the process dying (not an Exception: no retry catches it)."""

    def node(state: S, runtime: Runtime) -> dict:
        assert runtime.execution_info is not None
        attempts.append(runtime.execution_info.node_attempt)
        if runtime.execution_info.node_attempt == 2 and crash["armed"]:
            crash["armed"] = False
            raise Crash()
        if runtime.execution_info.node_attempt < 3:
            raise ConnectionError("down")
        return {"out": "ok"}

    graph = graph_with(node, RetryPolicy(max_attempts=3, **FAST), saver)
    with pytest.raises(Crash):
        graph.invoke({"log": []}, cfg())
    out = graph.invoke(None, cfg())
    assert out["out"] == "ok"
    assert attempts == [1, 2, 2, 3]  # attempt 1's failure was recorded: no fresh budget


def test_a_paused_sibling_keeps_a_retried_success(run, saver) -> None:
    flaky = Flaky(1)
    g = StateGraph(S)
    g.add_node("flaky", flaky, retry_policy=RetryPolicy(**FAST))
    g.add_node("ask", lambda s: {"out": interrupt("ok?")})
    g.add_edge(START, "flaky")
    g.add_edge(START, "ask")
    graph = g.compile(checkpointer=saver)
    assert "__interrupt__" in run.invoke(graph, {"log": []}, cfg())
    out = run.invoke(graph, Command(resume="yes"), cfg())
    assert out == {"log": ["flaky ok"], "out": "yes"}
    assert flaky.calls == 2  # one failure, one success; the resume did not run it again


# ---- durability ----------------------------------------------------------------------------


def chain(saver: Any, ask: bool = False):
    g = StateGraph(S)
    g.add_node("a", lambda s: {"log": ["a"]})
    g.add_node("b", lambda s: {"log": ["b"]})
    if ask:
        g.add_node("c", lambda s: {"log": [f"c:{interrupt('ok?')}"]})
    else:
        g.add_node("c", lambda s: {"log": ["c"]})
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", "c")
    return g.compile(checkpointer=saver)


@pytest.mark.parametrize("durability", ["sync", "async", None])
def test_sync_and_async_durability_write_every_step(run, saver, durability) -> None:
    graph = chain(saver)
    out = run.invoke(graph, {"log": []}, cfg(), durability=durability)
    assert out == {"log": ["a", "b", "c"]}
    history = run.history(graph, cfg())
    assert [h.metadata["step"] for h in history] == [2, 1, 0, -1]


def test_exit_durability_writes_only_when_the_run_stops(run, saver) -> None:
    graph = chain(saver)
    out = run.invoke(graph, {"log": []}, cfg(), durability="exit")
    assert out == {"log": ["a", "b", "c"]}
    [final] = run.history(graph, cfg())
    assert final.values == {"log": ["a", "b", "c"]} and final.next == ()
    assert final.metadata["step"] == 2 and final.parent_config is None
    # the next turn folds onto it as usual
    out = run.invoke(graph, {"log": ["again"]}, cfg(), durability="exit")
    assert out["log"] == ["a", "b", "c", "again", "a", "b", "c"]
    assert len(run.history(graph, cfg())) == 2


def test_exit_durability_still_saves_the_pause_and_the_decision(run, saver) -> None:
    graph = chain(saver, ask=True)
    paused = run.invoke(graph, {"log": []}, cfg(), durability="exit")
    [intr] = paused["__interrupt__"]
    state = run.get_state(graph, cfg())
    assert state.next == ("c",) and state.values == {"log": ["a", "b"]}
    assert [i.id for i in state.interrupts] == [intr.id]
    assert len(run.history(graph, cfg())) == 1  # the steps before the pause, as one
    out = run.invoke(graph, Command(resume="yes"), cfg(), durability="exit")
    assert out == {"log": ["a", "b", "c:yes"]}
    with pytest.raises(ResumeConflict):
        run.invoke(graph, Command(resume="again"), cfg())


def test_exit_durability_saves_where_a_failing_run_stopped(run, saver) -> None:
    boom = {"on": True}

    def c(state: S) -> dict:
        if boom["on"]:
            raise RuntimeError("c failed")
        return {"log": ["c"]}

    g = StateGraph(S)
    g.add_sequence([("a", lambda s: {"log": ["a"]}), ("b", lambda s: {"log": ["b"]}), ("c", c)])
    g.add_edge(START, "a")
    graph = g.compile(checkpointer=saver)
    with pytest.raises(RuntimeError):
        run.invoke(graph, {"log": []}, cfg(), durability="exit")
    state = run.get_state(graph, cfg())
    assert state.next == ("c",) and state.values == {"log": ["a", "b"]}
    assert state.tasks[0].error == "RuntimeError('c failed')"
    boom["on"] = False
    assert run.invoke(graph, None, cfg()) == {"log": ["a", "b", "c"]}


def test_an_unknown_durability_is_refused(run, saver) -> None:
    with pytest.raises(GraphError, match="durability"):
        run.invoke(chain(saver), {"log": []}, cfg(), durability="never")
