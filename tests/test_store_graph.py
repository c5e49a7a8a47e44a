"""Graphs with long-term memory: nodes write and read items across threads, around a pause,
through `store` parameters, `runtime.store` and `get_store()`, on every saver (the items in
the saver's own database, `store_of(saver)`), sync and async; and the functional API's
`entrypoint(store=...)`.

Expected values come from running the same program on LangGraph 1.2.22 with its
`InMemoryStore` (/tmp/benchvenv; only the imports switched): the same results per thread."""

from __future__ import annotations

from typing import Any, TypedDict

from interlock import END, START, Command, StateGraph, interrupt
from interlock.config import get_store
from interlock.func import entrypoint, task
from interlock.runtime import Runtime
from interlock.store import store_of
from interlock.store.memory import InMemoryStore
from tests.conftest import Runner


class S(TypedDict, total=False):
    user: str
    fact: str
    recalled: list[str]


def _graph(saver: Any, store: Any) -> Any:
    def remember(state: S, store: Any) -> dict[str, Any]:
        fact = interrupt({"ask": "what to remember?"})
        store.put(("memories", state["user"]), fact, {"text": fact})
        return {"fact": fact}

    def recall(state: S, runtime: Runtime) -> dict[str, Any]:
        items = runtime.store.search(("memories", state["user"]))
        spaces = get_store().list_namespaces(prefix=("memories",))
        return {"recalled": [*sorted(i.value["text"] for i in items), str(spaces)]}

    b = StateGraph(S)
    b.add_node("remember", remember)
    b.add_node("recall", recall)
    b.add_edge(START, "remember")
    b.add_edge("remember", "recall")
    b.add_edge("recall", END)
    return b.compile(checkpointer=saver, store=store)


def test_memories_persist_across_threads_and_pauses(saver: Any, run: Runner) -> None:
    graph = _graph(saver, store_of(saver))
    results = []
    for thread, user, fact in [("t1", "ada", "tea"), ("t2", "ada", "jazz"), ("t3", "bo", "cats")]:
        config = {"configurable": {"thread_id": thread}}
        paused = run.invoke(graph, {"user": user}, config)
        assert sorted(paused) == ["__interrupt__", "user"]
        results.append(run.invoke(graph, Command(resume=fact), config))
    assert results == [  # as LangGraph gives them
        {"user": "ada", "fact": "tea", "recalled": ["tea", "[('memories', 'ada')]"]},
        {"user": "ada", "fact": "jazz", "recalled": ["jazz", "tea", "[('memories', 'ada')]"]},
        {
            "user": "bo",
            "fact": "cats",
            "recalled": ["cats", "[('memories', 'ada'), ('memories', 'bo')]"],
        },
    ]
    # the items are in the saver's database: a second graph object over it sees them
    again = _graph(saver, store_of(saver))
    config = {"configurable": {"thread_id": "t4"}}
    run.invoke(again, {"user": "ada"}, config)
    final = run.invoke(again, Command(resume="rain"), config)
    assert final["recalled"][:3] == ["jazz", "rain", "tea"]


def test_a_store_parameter_is_none_without_a_store_and_any_object_is_passed(
    run: Runner,
) -> None:
    seen: list[Any] = []

    def node(state: S, store: Any, runtime: Runtime) -> dict[str, Any]:
        seen.append((store, runtime.store, get_store()))
        return {}

    b = StateGraph(S)
    b.add_node("n", node)
    b.add_edge(START, "n")
    run.invoke(b.compile(), {"user": "x"})
    marker = object()  # a store of another library is handed through as it is
    run.invoke(b.compile(store=marker), {"user": "x"})
    assert seen == [(None, None, None), (marker, marker, marker)]


def test_entrypoint_takes_a_store(saver: Any, run: Runner) -> None:
    store = InMemoryStore()

    @task
    def keep(text: str) -> str:
        get_store().put(("fn",), text, {"text": text})
        return text

    @entrypoint(checkpointer=saver, store=store)
    def workflow(text: str, *, store: Any, runtime: Runtime) -> list[str]:
        keep(text).result()
        assert runtime.store is store
        return sorted(i.key for i in store.search(("fn",)))

    assert run.invoke(workflow, "x", {"configurable": {"thread_id": "f1"}}) == ["x"]
    assert run.invoke(workflow, "y", {"configurable": {"thread_id": "f2"}}) == ["x", "y"]


def test_create_agent_hands_its_store_to_tools(saver: Any, run: Runner) -> None:
    from interlock import AIMessage, ScriptedChatModel, create_agent, tool

    @tool
    def remember(text: str) -> str:
        """Remember a fact.

        Args:
            text: the fact
        """
        get_store().put(("facts",), text, {"text": text})
        return "kept"

    @tool
    def count(runtime: Runtime) -> str:
        """Count the facts kept."""
        return str(len(runtime.store.search(("facts",))))

    keep = [{"name": "remember", "args": {"text": "tea"}, "id": "c1", "type": "tool_call"}]
    ask = [{"name": "count", "args": {}, "id": "c2", "type": "tool_call"}]
    model = ScriptedChatModel(
        [AIMessage(content="", tool_calls=keep), AIMessage(content="", tool_calls=ask), "done"]
    )
    store = store_of(saver)
    agent = create_agent(model, [remember, count], checkpointer=saver, store=store)
    out = run.invoke(agent, {"messages": [("user", "hi")]}, {"configurable": {"thread_id": "a"}})
    assert [m.content for m in out["messages"]] == ["hi", "", "kept", "", "1", "done"]
    assert store.get(("facts",), "tea") is not None


def test_a_node_recalls_memories_by_meaning(saver: Any, run: Runner) -> None:
    """LangGraph's memory tutorial shape: facts stored after a person gives them, recalled
    by `get_store().search(..., query=...)`. LangGraph 1.2.22 (its `InMemoryStore` with the
    same index) gives the same results, scores included."""
    from tests.fakes.openai_server import bag_of_words

    class Q(TypedDict, total=False):
        user: str
        question: str
        recalled: list[tuple[str, float]]

    def remember(state: Q) -> dict[str, Any]:
        facts = interrupt({"ask": "what should I remember?"})
        for i, fact in enumerate(facts):
            get_store().put(("user", state["user"], "memories"), f"m{i}", {"text": fact})
        return {}

    def answer(state: Q) -> dict[str, Any]:
        where = ("user", state["user"], "memories")
        found = get_store().search(where, query=state["question"], limit=2)
        return {"recalled": [(i.value["text"], round(i.score or 0, 6)) for i in found]}

    b = StateGraph(Q)
    b.add_node("remember", remember)
    b.add_node("answer", answer)
    b.add_edge(START, "remember")
    b.add_edge("remember", "answer")
    b.add_edge("answer", END)
    index = {"embed": lambda ts: [bag_of_words(t, 16) for t in ts], "dims": 16, "fields": ["text"]}
    graph = b.compile(checkpointer=saver, store=store_of(saver, index=index))
    first = {"configurable": {"thread_id": "t1"}}
    run.invoke(graph, {"user": "ada", "question": "what food do I like"}, first)
    facts = ["I like pizza", "I play chess", "my favourite food is sushi"]
    assert run.invoke(graph, Command(resume=facts), first)["recalled"] == [
        ("I like pizza", 0.516398),
        ("my favourite food is sushi", 0.507093),
    ]
    second = {"configurable": {"thread_id": "t2"}}  # another thread, the same memories
    run.invoke(graph, {"user": "ada", "question": "which games do I play"}, second)
    assert run.invoke(graph, Command(resume=[]), second)["recalled"] == [
        ("I like pizza", 0.516398),
        ("I play chess", 0.516398),
    ]
