"""Ported from langgraph: libs/langgraph/tests/test_pregel.py
(test_pending_writes_resume: a failed step's finished tasks and retries;
test_in_one_fan_out_state_graph_waiting_edge: breakpoints, `update_state` at one and the
`get_state` that follows) and libs/langgraph/tests/test_large_cases.py
(test_dynamic_interrupt, test_partial_pending_checkpoint, test_dynamic_interrupt_subgraph:
`interrupt()`, resume, `get_state` shapes, `update_state(..., as_node=END)`)."""

import operator
import time
from typing import Annotated, Any

import pytest
from typing_extensions import TypedDict

from interlock import END, START, CheckpointerRequired, StateGraph
from interlock.checkpoint.base import BaseSaver as BaseCheckpointSaver
from interlock.graph import Durability
from interlock.types import (
    Command,
    Interrupt,
    PregelTask,
    RetryPolicy,
    RunnableConfig,
    Send,
    StateSnapshot,
    interrupt,
)
from tests.ported.conftest import AnyStr

PULL = "__pregel_pull"


def _meta(metadata: dict) -> dict:
    """The metadata keys LangGraph and interlock share (see the DIFFERENCE notes)."""
    return {k: metadata[k] for k in ("source", "step")}


def breakpoint(when: str, node: str) -> Interrupt:
    """interlock's request for a breakpoint (LangGraph's breakpoints have none)."""
    return Interrupt(value={"type": "breakpoint", "when": when, "nodes": [node]}, id=AnyStr())


def test_in_one_fan_out_state_graph_waiting_edge(
    sync_checkpointer: BaseCheckpointSaver,
) -> None:
    def sorted_add(x: list[str], y: list[str] | list[tuple[str, str]]) -> list[str]:
        if isinstance(y[0], tuple):
            for rem, _ in y:
                x.remove(rem)
            y = [t[1] for t in y]
        return sorted(operator.add(x, y))

    class State(TypedDict, total=False):
        query: str
        answer: str
        docs: Annotated[list[str], sorted_add]

    workflow = StateGraph(State)

    @workflow.add_node
    def rewrite_query(data: State) -> State:
        return {"query": f"query: {data['query']}"}

    def analyzer_one(data: State) -> State:
        return {"query": f"analyzed: {data['query']}"}

    def retriever_one(data: State) -> State:
        return {"docs": ["doc1", "doc2"]}

    def retriever_two(data: State) -> State:
        time.sleep(0.1)  # to ensure stream order
        return {"docs": ["doc3", "doc4"]}

    def qa(data: State) -> State:
        return {"answer": ",".join(data["docs"])}

    workflow.add_node(analyzer_one)
    workflow.add_node(retriever_one)
    workflow.add_node(retriever_two)
    workflow.add_node(qa)

    workflow.set_entry_point("rewrite_query")
    workflow.add_edge("rewrite_query", "analyzer_one")
    workflow.add_edge("analyzer_one", "retriever_one")
    workflow.add_edge("rewrite_query", "retriever_two")
    workflow.add_edge(["retriever_one", "retriever_two"], "qa")
    workflow.set_finish_point("qa")

    app = workflow.compile()

    # DIFFERENCE: no syrupy snapshot of the drawing (interlock's drawing has tests of its own).

    assert app.invoke({"query": "what is weather in sf"}) == {
        "query": "analyzed: query: what is weather in sf",
        "docs": ["doc1", "doc2", "doc3", "doc4"],
        "answer": "doc1,doc2,doc3,doc4",
    }

    assert [*app.stream({"query": "what is weather in sf"})] == [
        {"rewrite_query": {"query": "query: what is weather in sf"}},
        {"analyzer_one": {"query": "analyzed: query: what is weather in sf"}},
        {"retriever_two": {"docs": ["doc3", "doc4"]}},
        {"retriever_one": {"docs": ["doc1", "doc2"]}},
        {"qa": {"answer": "doc1,doc2,doc3,doc4"}},
    ]

    app_w_interrupt = workflow.compile(
        checkpointer=sync_checkpointer,
        interrupt_after=["retriever_one"],
    )
    config = {"configurable": {"thread_id": "1"}}

    assert [c for c in app_w_interrupt.stream({"query": "what is weather in sf"}, config)] == [
        {"rewrite_query": {"query": "query: what is weather in sf"}},
        {"analyzer_one": {"query": "analyzed: query: what is weather in sf"}},
        {"retriever_two": {"docs": ["doc3", "doc4"]}},
        {"retriever_one": {"docs": ["doc1", "doc2"]}},
        # DIFFERENCE (here and below): a breakpoint is a request with an id (docs/parity.md,
        # "A breakpoint is a request"); LangGraph's `__interrupt__` for it is empty.
        {"__interrupt__": (breakpoint("after", "retriever_one"),)},
    ]

    assert [c for c in app_w_interrupt.stream(None, config)] == [
        {"qa": {"answer": "doc1,doc2,doc3,doc4"}},
    ]

    app_w_interrupt = workflow.compile(
        checkpointer=sync_checkpointer,
        interrupt_before=["qa"],
    )
    config = {"configurable": {"thread_id": "2"}}

    assert [c for c in app_w_interrupt.stream({"query": "what is weather in sf"}, config)] == [
        {"rewrite_query": {"query": "query: what is weather in sf"}},
        {"analyzer_one": {"query": "analyzed: query: what is weather in sf"}},
        {"retriever_two": {"docs": ["doc3", "doc4"]}},
        {"retriever_one": {"docs": ["doc1", "doc2"]}},
        {"__interrupt__": (breakpoint("before", "qa"),)},
    ]

    app_w_interrupt.update_state(config, {"docs": ["doc5"]})
    # DIFFERENCE: the saver has interlock's protocol, not LangGraph's `list(config, limit)`
    # (docs/parity.md, "Savers"); the graph's history gives the same checkpoint.
    expected_parent_config = list(app_w_interrupt.get_state_history(config, limit=2))[-1].config
    state = app_w_interrupt.get_state(config)
    # DIFFERENCE: the metadata's step is 3, not 4 (one input checkpoint: docs/parity.md), it
    # has no "parents" and has interlock's "graph" and "graph_version" (docs/parity.md,
    # "Checkpoint metadata"); the pause before qa stays a pause, so its breakpoint request is
    # made again at the new checkpoint (a breakpoint is a request, see above).
    assert state.metadata["source"] == "update" and state.metadata["step"] == 3
    assert state == StateSnapshot(
        values={
            "query": "analyzed: query: what is weather in sf",
            "docs": ["doc1", "doc2", "doc3", "doc4", "doc5"],
        },
        tasks=(PregelTask(AnyStr(), "qa", (PULL, "qa"), interrupts=(breakpoint("before", "qa"),)),),
        next=("qa",),
        config={
            "configurable": {
                "thread_id": "2",
                "checkpoint_ns": "",
                "checkpoint_id": AnyStr(),
            }
        },
        created_at=AnyStr(),
        metadata=state.metadata,
        parent_config=expected_parent_config,
        interrupts=(breakpoint("before", "qa"),),
    )

    assert [c for c in app_w_interrupt.stream(None, config, debug=1)] == [
        {"qa": {"answer": "doc1,doc2,doc3,doc4,doc5"}},
    ]


def test_dynamic_interrupt(sync_checkpointer: BaseCheckpointSaver) -> None:
    class State(TypedDict):
        my_key: Annotated[str, operator.add]
        market: str

    tool_two_node_count = 0

    def tool_two_node(s: State) -> State:
        nonlocal tool_two_node_count
        tool_two_node_count += 1
        if s["market"] == "DE":  # noqa: SIM108 - upstream's code
            answer = interrupt("Just because...")
        else:
            answer = " all good"
        return {"my_key": answer}

    tool_two_graph = StateGraph(State)
    tool_two_graph.add_node("tool_two", tool_two_node, retry_policy=RetryPolicy())
    tool_two_graph.add_edge(START, "tool_two")
    tool_two = tool_two_graph.compile()

    # DIFFERENCE: no LangChain tracer callbacks (interlock has none); its assertions on
    # the traced run are left out.
    # DIFFERENCE: `interrupt()` in a graph without a checkpointer raises
    # CheckpointerRequired (docs/parity.md, "An interrupt needs a checkpointer"): the paused
    # run could never be resumed. LangGraph returns the values and the request.
    with pytest.raises(CheckpointerRequired):
        tool_two.invoke({"my_key": "value", "market": "DE"})
    assert tool_two_node_count == 1, "interrupts aren't retried"

    assert tool_two.invoke({"my_key": "value", "market": "US"}) == {
        "my_key": "value all good",
        "market": "US",
    }

    tool_two = tool_two_graph.compile(checkpointer=sync_checkpointer)

    # missing thread_id
    with pytest.raises(ValueError, match="thread_id"):
        tool_two.invoke({"my_key": "value", "market": "DE"})

    # flow: interrupt -> resume with answer
    thread2 = {"configurable": {"thread_id": "2"}}
    # stop when about to enter node
    assert [c for c in tool_two.stream({"my_key": "value ⛰️", "market": "DE"}, thread2)] == [
        {
            "__interrupt__": (
                Interrupt(
                    value="Just because...",
                    id=AnyStr(),
                ),
            )
        },
    ]
    # resume with answer
    assert [c for c in tool_two.stream(Command(resume=" my answer"), thread2)] == [
        {"tool_two": {"my_key": " my answer"}},
    ]

    # flow: interrupt -> clear tasks
    thread1 = {"configurable": {"thread_id": "1"}}
    # stop when about to enter node
    assert tool_two.invoke({"my_key": "value ⛰️", "market": "DE"}, thread1, durability="exit") == {
        "my_key": "value ⛰️",
        "market": "DE",
        "__interrupt__": [Interrupt(value="Just because...", id=AnyStr())],
    }

    # DIFFERENCE: the saver has interlock's protocol (no `list(config)`): the graph's
    # history lists the same checkpoints. Under "exit" the one checkpoint is interlock's
    # input checkpoint, which plans the first step (docs/parity.md, "One input checkpoint"):
    # source "input", step -1; metadata has no "parents" and has "graph", "graph_version".
    assert [_meta(c.metadata) for c in tool_two.get_state_history(thread1)] == [
        {
            "source": "input",
            "step": -1,
        },
    ]

    state = tool_two.get_state(thread1)
    assert _meta(state.metadata) == {"source": "input", "step": -1}  # DIFFERENCE: see above
    assert state == StateSnapshot(
        values={"my_key": "value ⛰️", "market": "DE"},
        next=("tool_two",),
        tasks=(
            PregelTask(
                AnyStr(),
                "tool_two",
                (PULL, "tool_two"),
                interrupts=(
                    Interrupt(
                        value="Just because...",
                        id=AnyStr(),
                    ),
                ),
            ),
        ),
        config={
            "configurable": {
                "thread_id": "1",
                "checkpoint_ns": "",
                "checkpoint_id": AnyStr(),
            }
        },
        created_at=AnyStr(),
        metadata=state.metadata,
        parent_config=None,
        interrupts=(
            Interrupt(
                value="Just because...",
                id=AnyStr(),
            ),
        ),
    )
    # clear the interrupt and next tasks
    tool_two.update_state(thread1, None, as_node=END)
    # interrupt and next tasks are cleared
    state = tool_two.get_state(thread1)
    # DIFFERENCE: step 0, not 1 (one input checkpoint, see above)
    assert _meta(state.metadata) == {"source": "update", "step": 0}
    assert state == StateSnapshot(
        values={"my_key": "value ⛰️", "market": "DE"},
        next=(),
        tasks=(),
        config={
            "configurable": {
                "thread_id": "1",
                "checkpoint_ns": "",
                "checkpoint_id": AnyStr(),
            }
        },
        created_at=AnyStr(),
        metadata=state.metadata,
        parent_config=(list(tool_two.get_state_history(thread1, limit=2))[-1].config),
        interrupts=(),
    )


def test_partial_pending_checkpoint(sync_checkpointer: BaseCheckpointSaver) -> None:
    class State(TypedDict):
        my_key: Annotated[str, operator.add]
        market: str

    def tool_one(s: State) -> State:
        return {"my_key": " one"}

    tool_two_node_count = 0

    def tool_two_node(s: State) -> State:
        nonlocal tool_two_node_count
        tool_two_node_count += 1
        if s["market"] == "DE":
            time.sleep(0.1)
            answer = interrupt("Just because...")
        else:
            answer = " all good"
        return {"my_key": answer}

    def start(state: State) -> list[Send | str]:
        return ["tool_two", Send("tool_one", state)]

    tool_two_graph = StateGraph(State)
    tool_two_graph.add_node("tool_two", tool_two_node, retry_policy=RetryPolicy())
    tool_two_graph.add_node("tool_one", tool_one)
    tool_two_graph.set_conditional_entry_point(start)
    tool_two = tool_two_graph.compile()

    # DIFFERENCE: no LangChain tracer callbacks (interlock has none), and `interrupt()`
    # without a checkpointer raises CheckpointerRequired (see test_dynamic_interrupt).
    with pytest.raises(CheckpointerRequired):
        tool_two.invoke({"my_key": "value", "market": "DE"})
    assert tool_two_node_count == 1, "interrupts aren't retried"

    assert tool_two.invoke({"my_key": "value", "market": "US"}) == {
        "my_key": "value all good one",
        "market": "US",
    }

    tool_two = tool_two_graph.compile(checkpointer=sync_checkpointer)

    # missing thread_id
    with pytest.raises(ValueError, match="thread_id"):
        tool_two.invoke({"my_key": "value", "market": "DE"})

    # flow: interrupt -> resume with answer
    thread2 = {"configurable": {"thread_id": "2"}}
    # stop when about to enter node
    assert [c for c in tool_two.stream({"my_key": "value ⛰️", "market": "DE"}, thread2)] == [
        {
            "tool_one": {"my_key": " one"},
        },
        {
            "__interrupt__": (
                Interrupt(
                    value="Just because...",
                    id=AnyStr(),
                ),
            )
        },
    ]
    # resume with answer
    assert [c for c in tool_two.stream(Command(resume=" my answer"), thread2)] == [
        {"tool_one": {"my_key": " one"}, "__metadata__": {"cached": True}},
        {"tool_two": {"my_key": " my answer"}},
    ]

    # flow: interrupt -> clear tasks
    thread1 = {"configurable": {"thread_id": "1"}}
    # stop when about to enter node
    assert tool_two.invoke({"my_key": "value ⛰️", "market": "DE"}, thread1, durability="exit") == {
        "my_key": "value ⛰️ one",
        "market": "DE",
        "__interrupt__": [Interrupt(value="Just because...", id=AnyStr())],
    }
    # DIFFERENCE: history, not the saver's `list`; interlock's input checkpoint (see
    # test_dynamic_interrupt).
    assert [_meta(c.metadata) for c in tool_two.get_state_history(thread1)] == [
        {
            "source": "input",
            "step": -1,
        },
    ]

    state = tool_two.get_state(thread1)
    # DIFFERENCE: metadata: step -1, not 0, source "input", not "loop" (one input
    # checkpoint, see test_dynamic_interrupt)
    assert _meta(state.metadata) == {"source": "input", "step": -1}
    assert state == StateSnapshot(
        values={"my_key": "value ⛰️ one", "market": "DE"},
        next=("tool_two",),
        tasks=(
            PregelTask(
                id=AnyStr(),
                name="tool_one",
                path=("__pregel_push", 0, False),
                result={"my_key": " one"},
            ),
            PregelTask(
                AnyStr(),
                "tool_two",
                (PULL, "tool_two"),
                interrupts=(
                    Interrupt(
                        value="Just because...",
                        id=AnyStr(),
                    ),
                ),
            ),
        ),
        config={
            "configurable": {
                "thread_id": "1",
                "checkpoint_ns": "",
                "checkpoint_id": AnyStr(),
            }
        },
        created_at=AnyStr(),
        metadata=state.metadata,
        parent_config=None,
        interrupts=(
            Interrupt(
                value="Just because...",
                id=AnyStr(),
            ),
        ),
    )

    # clear the interrupt and next tasks
    tool_two.update_state(thread1, None, as_node=END)

    # interrupt and unresolved tasks are cleared, finished tasks are kept
    state = tool_two.get_state(thread1)
    # DIFFERENCE: metadata: step 0, not 1 (one input checkpoint, see test_dynamic_interrupt)
    assert _meta(state.metadata) == {"source": "update", "step": 0}
    assert state == StateSnapshot(
        values={"my_key": "value ⛰️ one", "market": "DE"},
        next=(),
        tasks=(),
        config={
            "configurable": {
                "thread_id": "1",
                "checkpoint_ns": "",
                "checkpoint_id": AnyStr(),
            }
        },
        created_at=AnyStr(),
        metadata=state.metadata,
        parent_config=([*tool_two.get_state_history(thread1, limit=2)][-1].config),
        interrupts=(),
    )


def test_dynamic_interrupt_subgraph(sync_checkpointer: BaseCheckpointSaver) -> None:
    class SubgraphState(TypedDict):
        my_key: str
        market: str

    tool_two_node_count = 0

    def tool_two_node(s: SubgraphState) -> SubgraphState:
        nonlocal tool_two_node_count
        tool_two_node_count += 1
        if s["market"] == "DE":  # noqa: SIM108 - upstream's code
            answer = interrupt("Just because...")
        else:
            answer = " all good"
        return {"my_key": answer}

    subgraph = StateGraph(SubgraphState)
    subgraph.add_node("do", tool_two_node, retry_policy=RetryPolicy())
    subgraph.add_edge(START, "do")

    class State(TypedDict):
        my_key: Annotated[str, operator.add]
        market: str

    tool_two_graph = StateGraph(State)
    tool_two_graph.add_node("tool_two", subgraph.compile())
    tool_two_graph.add_edge(START, "tool_two")
    tool_two = tool_two_graph.compile()

    # DIFFERENCE: no LangChain tracer callbacks (interlock has none), and `interrupt()`
    # without a checkpointer raises CheckpointerRequired (see test_dynamic_interrupt).
    with pytest.raises(CheckpointerRequired):
        tool_two.invoke({"my_key": "value", "market": "DE"})
    assert tool_two_node_count == 1, "interrupts aren't retried"

    assert tool_two.invoke({"my_key": "value", "market": "US"}) == {
        "my_key": "value all good",
        "market": "US",
    }

    tool_two = tool_two_graph.compile(checkpointer=sync_checkpointer)

    # missing thread_id
    with pytest.raises(ValueError, match="thread_id"):
        tool_two.invoke({"my_key": "value", "market": "DE"})

    # flow: interrupt -> resume with answer
    thread2 = {"configurable": {"thread_id": "2"}}
    # stop when about to enter node
    assert [c for c in tool_two.stream({"my_key": "value ⛰️", "market": "DE"}, thread2)] == [
        {
            "__interrupt__": (
                Interrupt(
                    value="Just because...",
                    id=AnyStr(),
                ),
            )
        },
    ]
    # resume with answer
    assert [c for c in tool_two.stream(Command(resume=" my answer"), thread2)] == [
        {"tool_two": {"my_key": " my answer", "market": "DE"}},
    ]

    # flow: interrupt -> clear tasks
    thread1 = {"configurable": {"thread_id": "1"}}
    # stop when about to enter node
    assert tool_two.invoke({"my_key": "value ⛰️", "market": "DE"}, thread1, durability="exit") == {
        "my_key": "value ⛰️",
        "market": "DE",
        "__interrupt__": [
            Interrupt(
                value="Just because...",
                id=AnyStr(),
            )
        ],
    }

    # DIFFERENCE: history, not the saver's `list`; interlock's input checkpoint (see
    # test_dynamic_interrupt).
    assert [
        _meta(c.metadata)
        for c in tool_two.get_state_history(
            {"configurable": {"thread_id": "1", "checkpoint_ns": ""}}
        )
    ] == [
        {
            "source": "input",
            "step": -1,
        },
    ]

    state = tool_two.get_state(thread1)
    # DIFFERENCE: metadata: step -1, not 0, source "input", not "loop" (one input
    # checkpoint, see test_dynamic_interrupt)
    assert _meta(state.metadata) == {"source": "input", "step": -1}
    assert state == StateSnapshot(
        values={"my_key": "value ⛰️", "market": "DE"},
        next=("tool_two",),
        tasks=(
            PregelTask(
                AnyStr(),
                "tool_two",
                (PULL, "tool_two"),
                interrupts=(
                    Interrupt(
                        value="Just because...",
                        id=AnyStr(),
                    ),
                ),
                state={
                    "configurable": {
                        "thread_id": "1",
                        "checkpoint_ns": AnyStr("tool_two:"),
                    }
                },
            ),
        ),
        config={
            "configurable": {
                "thread_id": "1",
                "checkpoint_ns": AnyStr(),
                "checkpoint_id": AnyStr(),
            }
        },
        created_at=AnyStr(),
        metadata=state.metadata,
        parent_config=None,
        interrupts=(
            Interrupt(
                value="Just because...",
                id=AnyStr(),
            ),
        ),
    )
    # clear the interrupt and next tasks
    tool_two.update_state(thread1, None, as_node=END)
    # interrupt and next tasks are cleared
    state = tool_two.get_state(thread1)
    # DIFFERENCE: metadata: step 0, not 1 (one input checkpoint, see test_dynamic_interrupt)
    assert _meta(state.metadata) == {"source": "update", "step": 0}
    assert state == StateSnapshot(
        values={"my_key": "value ⛰️", "market": "DE"},
        next=(),
        tasks=(),
        config={
            "configurable": {
                "thread_id": "1",
                "checkpoint_ns": AnyStr(),
                "checkpoint_id": AnyStr(),
            }
        },
        created_at=AnyStr(),
        metadata=state.metadata,
        parent_config=(
            list(
                tool_two.get_state_history(
                    {"configurable": {"thread_id": "1", "checkpoint_ns": ""}}, limit=2
                )
            )[-1].config
        ),
        interrupts=(),
    )


def test_pending_writes_resume(
    sync_checkpointer: BaseCheckpointSaver, durability: Durability
) -> None:
    class State(TypedDict):
        value: Annotated[int, operator.add]

    class AwhileMaker:
        def __init__(self, sleep: float, rtn: dict | Exception) -> None:
            self.sleep = sleep
            self.rtn = rtn
            self.reset()

        def __call__(self, input: State) -> Any:
            self.calls += 1
            time.sleep(self.sleep)
            if isinstance(self.rtn, Exception):
                raise self.rtn
            else:
                return self.rtn

        def reset(self):
            self.calls = 0

    one = AwhileMaker(0.1, {"value": 2})
    two = AwhileMaker(0.2, ConnectionError("I'm not good"))
    builder = StateGraph(State)
    builder.add_node("one", one)
    builder.add_node(
        "two",
        two,
        retry_policy=RetryPolicy(max_attempts=2, initial_interval=0, jitter=False),
    )
    builder.add_edge(START, "one")
    builder.add_edge(START, "two")
    graph = builder.compile(checkpointer=sync_checkpointer)

    thread1: RunnableConfig = {"configurable": {"thread_id": "1"}}
    with pytest.raises(ConnectionError, match="I'm not good"):
        graph.invoke({"value": 1}, thread1, durability=durability)

    # both nodes should have been called once
    assert one.calls == 1
    assert two.calls == 2  # two attempts

    # latest checkpoint should be before nodes "one", "two"
    # but we should have applied the write from "one"
    state = graph.get_state(thread1)
    assert state is not None
    assert state.values == {"value": 3}
    assert state.next == ("two",)
    assert state.tasks == (
        PregelTask(AnyStr(), "one", (PULL, "one"), result={"value": 2}),
        PregelTask(AnyStr(), "two", (PULL, "two"), 'ConnectionError("I\'m not good")'),
    )
    # DIFFERENCE: interlock's input checkpoint plans the first step (docs/parity.md, "One
    # input checkpoint"): source "input", step -1; no "parents", and "graph" keys.
    assert _meta(state.metadata) == {"source": "input", "step": -1}
    # get_state with checkpoint_id should not apply any pending writes
    state = graph.get_state(state.config)
    assert state is not None
    assert state.values == {"value": 1}
    assert state.next == ("one", "two")
    # DIFFERENCE: the checks of the saver's raw `get_tuple(...).pending_writes` are left
    # out (interlock's savers have their own protocol, docs/parity.md "Savers"); the
    # tasks above show the same: one's write and two's error, from different tasks.

    # resume execution
    with pytest.raises(ConnectionError, match="I'm not good"):
        graph.invoke(None, thread1, durability=durability)

    # node "one" succeeded previously, so shouldn't be called again
    assert one.calls == 1
    # node "two" should have been called once again
    assert two.calls == 4  # two attempts before + two attempts now

    # confirm no new checkpoints saved
    state_two = graph.get_state(thread1)
    assert state_two.metadata == state.metadata

    # resume execution, without exception
    two.rtn = {"value": 3}
    # both the pending write and the new write were applied, 1 + 2 + 3 = 6
    assert graph.invoke(None, thread1, durability=durability) == {"value": 6}

    # DIFFERENCE: upstream then compares the saver's raw CheckpointTuples (channel versions,
    # versions_seen, pending writes), LangGraph's storage format; interlock stores its own.
    # What they show at the graph's level: the step ran once more and was committed.
    assert graph.get_state(thread1).values == {"value": 6}
    assert graph.get_state(thread1).next == ()
