"""A message written without an id (a dict, a `(role, content)` tuple, a string, or a message
object with `id=None`) gets its id once, when the write is made: every later read of the
thread, in this process or another, shows the same id, as LangGraph's stored channel values
do. Streams keep showing the write as the node returned it (LangGraph's `updates` chunk is
the node's own value)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest

import interlock as il
from interlock import START, Command, HumanMessage, MessagesState, StateGraph, interrupt
from interlock.messages import RemoveMessage
from tests.pg import DSN, new_schema


@contextmanager
def _reopenable(kind: str, tmp_path: Path) -> Iterator[Callable[[], Any]]:
    """A factory of savers that all open the same store (a new connection each)."""
    opened: list[Any] = []
    if kind == "sqlite":
        path = tmp_path / "ids.db"

        def make() -> Any:
            opened.append(il.SqliteSaver(path))
            return opened[-1]
    else:
        from interlock.checkpoint.postgres import PostgresSaver

        schema = new_schema()

        def make() -> Any:
            opened.append(PostgresSaver(DSN, schema=schema))
            return opened[-1]

    try:
        yield make
    finally:
        for s in opened:
            s.close()


def chat(saver: Any) -> Any:
    """Each way of writing a message without an id: input, node return, resume update."""

    def reply(state: MessagesState) -> dict[str, Any]:
        return {
            "messages": [
                {"role": "assistant", "content": "a dict"},
                ("ai", "a tuple"),
                "a string",
                HumanMessage("an object"),
            ]
        }

    def ask(state: MessagesState) -> dict[str, Any]:
        return {"messages": [{"role": "user", "content": interrupt("more?")}]}

    graph = StateGraph(MessagesState)
    graph.add_node("reply", reply)
    graph.add_node("ask", ask)
    graph.add_edge(START, "reply")
    graph.add_edge("reply", "ask")
    return graph.compile(checkpointer=saver)


def _ids(app: Any, config: dict[str, Any]) -> list[str]:
    return [m.id for m in app.get_state(config).values["messages"]]


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_ids_are_the_same_at_every_read_in_new_processes(kind: str, tmp_path: Path) -> None:
    config = {"configurable": {"thread_id": "t"}}
    with _reopenable(kind, tmp_path) as make:
        app = chat(make())
        paused = app.invoke({"messages": [{"role": "user", "content": "hi"}]}, config)
        ids_in_result = [m.id for m in paused["messages"]]
        assert len(ids_in_result) == 5 and None not in ids_in_result
        assert len(set(ids_in_result)) == 5
        assert _ids(chat(make()), config) == ids_in_result
        assert _ids(chat(make()), config) == ids_in_result

        done = chat(make()).invoke(
            Command(resume="more", update={"messages": [("user", "an update")]}), config
        )
        ids_done = [m.id for m in done["messages"]]
        assert ids_done[:5] == ids_in_result and len(ids_done) == 7
        assert [m.content for m in done["messages"]][5:] == ["an update", "more"]
        reads = [_ids(chat(make()), config) for _ in range(2)]
        assert reads == [ids_done, ids_done]
        chat(make()).update_state(config, {"messages": [{"role": "user", "content": "edited"}]})
        edited = [_ids(chat(make()), config) for _ in range(2)]
        assert edited[0] == edited[1] and edited[0][:7] == ids_done and len(edited[0]) == 8
        history = list(chat(make()).get_state_history(config))
        again = list(chat(make()).get_state_history(config))
        assert [[m.id for m in s.values["messages"]] for s in history] == [
            [m.id for m in s.values["messages"]] for s in again
        ]


def test_the_updates_stream_shows_what_the_node_returned(saver: Any, run: Any) -> None:
    app = chat(saver)
    config = {"configurable": {"thread_id": "s"}}
    chunks = run.stream(app, {"messages": ["hi"]}, config, stream_mode="updates")
    returned = chunks[0]["reply"]["messages"]
    assert returned[:3] == [
        {"role": "assistant", "content": "a dict"},
        ("ai", "a tuple"),
        "a string",
    ]
    stored = run.get_state(app, config).values["messages"]
    assert [m.content for m in stored] == ["hi", "a dict", "a tuple", "a string", "an object"]
    # the object the node returned is the one stored: its id was set on it
    assert returned[3].id == stored[4].id


def test_a_constant_dict_returned_twice_gives_two_messages(saver: Any, run: Any) -> None:
    constant = {"role": "assistant", "content": "same"}

    def say(state: MessagesState) -> dict[str, Any]:
        return {"messages": [constant]}

    app = StateGraph(MessagesState).add_node("say", say).add_edge(START, "say")
    app = app.compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "c"}}
    run.invoke(app, {"messages": []}, config)
    out = run.invoke(app, {"messages": []}, config)
    assert [m.content for m in out["messages"]] == ["same", "same"]
    assert len({m.id for m in out["messages"]}) == 2
    assert "id" not in constant


# ---- reducers that wrap add_messages, and threads stored without ids ------------------------


def last10(left: Any, right: Any) -> list[Any]:
    """A common trimming reducer: it wraps add_messages, so it has no `prepare`."""
    return il.add_messages(left, right)[-10:]


class Trimmed(TypedDict, total=False):
    messages: Annotated[list, last10]


def trimmed(saver: Any, state: Any = Trimmed) -> Any:
    def draft(state: Trimmed) -> dict[str, Any]:
        return {"messages": [("ai", "draft")]}

    def drop(state: Trimmed) -> dict[str, Any]:
        return {"messages": [RemoveMessage(id=state["messages"][-1].id)]}

    def ask(state: Trimmed) -> dict[str, Any]:
        return {"messages": [("user", interrupt("ok?"))]}

    g = StateGraph(state).add_node("draft", draft).add_node("drop", drop).add_node("ask", ask)
    g.add_edge(START, "draft").add_edge("draft", "drop").add_edge("drop", "ask")
    return g.compile(checkpointer=saver)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_reducer_wrapping_add_messages_reads_back_the_same(kind: str, tmp_path: Path) -> None:
    config = {"configurable": {"thread_id": "w"}}
    with _reopenable(kind, tmp_path) as make:
        trimmed(make()).invoke({"messages": [("user", "start")]}, config)
        reads = [trimmed(make()).get_state(config).values["messages"] for _ in range(2)]
        assert [m.content for m in reads[0]] == ["start"]
        assert [m.id for m in reads[0]] == [m.id for m in reads[1]]
        done = trimmed(make()).invoke(Command(resume="fine"), config)
        assert [m.content for m in done["messages"]] == ["start", "fine"]
        assert done["messages"][0].id == reads[0][0].id


def test_messages_stored_without_ids_get_the_same_ids_at_every_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The previous release stored a node's dict and tuple messages as returned (no ids):
    each read gave them new ids, so an edit by id appended a copy. They now read with the
    same ids everywhere, so editing by id replaces."""
    path, config = tmp_path / "old.db", {"configurable": {"thread_id": "o"}}
    with monkeypatch.context() as old_release:
        old_release.delattr(il.add_messages, "prepare")
        with il.SqliteSaver(path) as saver:
            chat(saver).invoke({"messages": [{"role": "user", "content": "hi"}]}, config)
    reads = []
    for _ in range(2):
        with il.SqliteSaver(path) as saver:
            reads.append([m.id for m in chat(saver).get_state(config).values["messages"]])
    assert reads[0] == reads[1] and len(set(reads[0])) == 5
    with il.SqliteSaver(path) as saver:
        chat(saver).update_state(config, {"messages": [il.AIMessage("edited", id=reads[0][1])]})
    with il.SqliteSaver(path) as saver:
        after = chat(saver).get_state(config).values["messages"]
    assert [m.content for m in after] == ["hi", "edited", "a tuple", "a string", "an object"]


def test_a_stored_removal_of_an_id_no_message_has_leaves_the_thread_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under the previous release a removal by an id read in one process could name an id
    the next read never gave (random ids per read): such a thread raised at every read. The
    replay now skips that removal; a live run still refuses it, as LangGraph does."""
    path, config = tmp_path / "rm.db", {"configurable": {"thread_id": "r"}}
    import interlock.agent.messages as messages_module

    with monkeypatch.context() as old_release:
        old_release.delattr(il.add_messages, "prepare")
        old_release.setattr(messages_module, "_stable_id", lambda prev, m: str(uuid.uuid4()))
        with il.SqliteSaver(path) as saver:
            trimmed(saver, MessagesState).invoke({"messages": [("user", "start")]}, config)
    with il.SqliteSaver(path) as saver:
        values = trimmed(saver, MessagesState).get_state(config).values["messages"]
    assert [m.content for m in values] == ["start", "draft"]  # the lost removal is skipped
    with pytest.raises(ValueError, match="no message has that id"):
        il.add_messages([il.HumanMessage("a", id="1")], [RemoveMessage(id="2")])
