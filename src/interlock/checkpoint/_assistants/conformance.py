"""Assistants: the part of the store conformance suite for their room (`SaverConformance`
includes every part).

Versions, metadata merges, the order of searches (names without regard to case) and the
containment of metadata filters are those LangGraph's Agent Server (langgraph-api 0.16,
in-memory runtime) gives for the same calls, except that making an older version current
restores every field of it (LangGraph keeps the graph and the context)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from interlock.checkpoint._assistants.protocol import AssistantChange, AssistantQuery
from interlock.checkpoint._testkit import StoreTests
from interlock.checkpoint.base import BaseSaver
from interlock.errors import SerializationError

__all__ = ["AssistantsConformance"]


def _make(saver: BaseSaver, assistant_id: str, **kw: Any) -> Any:
    fields: dict[str, Any] = {
        "graph_id": "agent",
        "name": "Untitled",
        "config": {},
        "context": {},
        "metadata": {},
        "actor": "root",
    }
    fields.update(kw)
    made, created = saver.create_assistant(assistant_id, **fields)
    assert created
    return made


def _actions(saver: BaseSaver) -> list[str]:
    return [e.action for e in saver.list_audit(after="", limit=1000).items]


class AssistantsConformance(StoreTests):
    """Assistant tests every store passes. Subclasses provide a `saver` fixture."""

    def test_create_once_per_id(self, saver: BaseSaver) -> None:
        assert saver.get_assistant("a1") is None
        made = _make(
            saver,
            "a1",
            name="Alpha",
            description="d",
            config={"configurable": {"model": "a"}, "recursion_limit": 7},
            context={"model": "a"},
            metadata={"team": "x"},
        )
        assert (made.version, made.name, made.description) == (1, "Alpha", "d")
        assert made.created_at == made.updated_at
        assert saver.get_assistant("a1") == made
        again, created = saver.create_assistant(
            "a1",
            graph_id="other",
            name="Zed",
            config={},
            context={},
            metadata={},
            actor="eve",
        )
        assert not created and again == made  # the stored one, unchanged
        [entry] = saver.list_audit(after="").items
        assert (entry.action, entry.actor, entry.thread_id) == ("assistant.created", "root", None)
        assert entry.detail["config"] == {"configurable": {"model": "a"}, "recursion_limit": 7}
        assert entry.detail["assistant_id"] == "a1" and entry.detail["version"] == 1
        [v1] = saver.list_assistant_versions("a1")
        assert (v1.version, v1.config, v1.metadata) == (1, made.config, {"team": "x"})

    def test_an_unstorable_value_writes_nothing(self, saver: BaseSaver) -> None:
        with pytest.raises(SerializationError):
            saver.create_assistant(
                "bad",
                graph_id="agent",
                name="n",
                config={"configurable": {"f": object()}},
                context={},
                metadata={},
                actor="root",
            )
        assert saver.get_assistant("bad") is None and _actions(saver) == []

    def test_updates_make_versions_and_merge_metadata(self, saver: BaseSaver) -> None:
        made = _make(saver, "a1", config={"configurable": {"m": 1}}, metadata={"team": "x"})
        time.sleep(0.002)  # (distinct timestamps on coarse clocks)
        v2 = saver.update_assistant(
            "a1", AssistantChange(metadata={"team": "y", "new": 1}, name="Beta"), actor="root"
        )
        assert v2 is not None and v2.version == 2 and v2.name == "Beta"
        assert v2.metadata == {"team": "y", "new": 1} and v2.config == {"configurable": {"m": 1}}
        assert v2.created_at == made.created_at and v2.updated_at > made.updated_at
        v3 = saver.update_assistant(
            "a1",
            AssistantChange(config={"configurable": {"m": 2}}, context={"m": 2}, graph_id="b"),
            actor="root",
        )
        assert v3 is not None and (v3.version, v3.graph_id, v3.name) == (3, "b", "Beta")
        assert (v3.config, v3.context) == ({"configurable": {"m": 2}}, {"m": 2})
        assert saver.get_assistant("a1") == v3
        versions = saver.list_assistant_versions("a1")
        assert [v.version for v in versions] == [3, 2, 1]
        assert [v.graph_id for v in versions] == ["b", "agent", "agent"]
        assert [v.version for v in saver.list_assistant_versions("a1", limit=1, offset=1)] == [2]
        found = saver.list_assistant_versions("a1", metadata={"new": 1})
        assert [v.version for v in found] == [3, 2]
        assert saver.list_assistant_versions("a1", metadata={"zz": 1}) == []
        assert saver.list_assistant_versions("nope") == []
        assert saver.update_assistant("nope", AssistantChange(name="n"), actor="root") is None
        assert _actions(saver) == ["assistant.created", "assistant.updated", "assistant.updated"]

    def test_an_older_version_made_current(self, saver: BaseSaver) -> None:
        made = _make(saver, "a1", name="Alpha", config={"recursion_limit": 7}, context={"m": 1})
        saver.update_assistant(
            "a1",
            AssistantChange(name="Beta", context={"m": 2}, graph_id="b", metadata={"k": 1}),
            actor="root",
        )
        back = saver.set_assistant_version("a1", 1, actor="ada")
        assert back is not None and back.version == 1
        assert (back.name, back.graph_id, back.context, back.metadata) == (
            "Alpha",
            "agent",
            {"m": 1},
            {},
        )
        assert back.config == {"recursion_limit": 7} and back.created_at == made.created_at
        assert saver.get_assistant("a1") == back
        assert saver.search_assistants(AssistantQuery(metadata={"k": 1})) == []  # re-indexed
        v3 = saver.update_assistant("a1", AssistantChange(name="Gamma"), actor="root")
        assert v3 is not None and v3.version == 3 and v3.context == {"m": 1}  # from version 1
        assert saver.set_assistant_version("a1", 9, actor="root") is None
        assert saver.set_assistant_version("nope", 1, actor="root") is None
        assert saver.get_assistant("a1") == v3
        entry = saver.list_audit(after="").items[2]
        assert (entry.action, entry.actor, entry.detail["version"]) == (
            "assistant.version_set",
            "ada",
            1,
        )

    def test_delete_drops_every_version(self, saver: BaseSaver) -> None:
        _make(saver, "a1", metadata={"team": "x"})
        saver.update_assistant("a1", AssistantChange(name="B"), actor="root")
        assert saver.delete_assistant("a1", actor="root")
        assert saver.get_assistant("a1") is None
        assert saver.list_assistant_versions("a1") == []
        assert saver.search_assistants(AssistantQuery(metadata={"team": "x"})) == []
        assert not saver.delete_assistant("a1", actor="root")
        assert _actions(saver)[-1] == "assistant.deleted"
        again = _make(saver, "a1")  # the id is free again, from version 1
        assert again.version == 1 and [v.version for v in saver.list_assistant_versions("a1")] == [
            1
        ]

    def test_search_filters_and_counts(self, saver: BaseSaver) -> None:
        _make(saver, "a1", name="Alpha", metadata={"team": "x", "n": {"a": 1, "b": 2}})
        _make(saver, "a2", name="beta", graph_id="other", metadata={"team": "x", "n": 1})
        _make(saver, "a3", name="Gamma", metadata={"team": "y", "tags": ["p", "q"]})

        def ids(query: AssistantQuery, **kw: Any) -> list[str]:
            return [a.assistant_id for a in saver.search_assistants(query, **kw)]

        every = AssistantQuery()
        assert ids(every) == ["a3", "a2", "a1"]  # newest first
        assert ids(every, sort_order="asc") == ["a1", "a2", "a3"]
        assert ids(AssistantQuery(graph_id="agent")) == ["a3", "a1"]
        assert ids(AssistantQuery(name="AMM")) == ["a3"]  # a part, any case
        assert ids(AssistantQuery(name="a", graph_id="agent"), limit=1, offset=1) == ["a1"]
        assert ids(AssistantQuery(metadata={"team": "x"})) == ["a2", "a1"]
        assert ids(AssistantQuery(metadata={"n": {"a": 1}})) == ["a1"]  # contained
        assert ids(AssistantQuery(metadata={"n": {"a": 1, "c": 3}})) == []
        assert ids(AssistantQuery(metadata={"n": True})) == []  # true is not 1
        assert ids(AssistantQuery(metadata={"n": 1.0})) == ["a2"]
        assert ids(AssistantQuery(metadata={"tags": ["p", "q"]})) == ["a3"]
        assert ids(AssistantQuery(metadata={"tags": ["p"]})) == []  # a list must be equal
        assert ids(AssistantQuery(metadata={"team": "x", "n": {"b": 2}}), offset=0) == ["a1"]
        assert saver.count_assistants(every) == 3
        assert saver.count_assistants(AssistantQuery(metadata={"team": "x"})) == 2
        assert saver.count_assistants(AssistantQuery(name="ALPHA")) == 1
        assert saver.count_assistants(AssistantQuery(metadata={"n": {"b": 2}})) == 1
        assert saver.search_assistants(every, limit=0) == []

    def test_search_orders(self, saver: BaseSaver) -> None:
        for i, name in enumerate(["beta", "Alpha", "gamma", "Delta"]):
            _make(saver, f"a{i}", name=name, graph_id="G" if i % 2 else "f")
        saver.update_assistant("a0", AssistantChange(description="touched"), actor="root")

        def names(**kw: Any) -> list[str]:
            return [a.name for a in saver.search_assistants(AssistantQuery(), **kw)]

        assert names(sort_by="name", sort_order="asc") == ["Alpha", "beta", "Delta", "gamma"]
        assert names(sort_by="name") == ["gamma", "Delta", "beta", "Alpha"]
        assert names(sort_by="updated_at", limit=1) == ["beta"]
        assert names(sort_by="assistant_id", sort_order="asc", limit=2) == ["beta", "Alpha"]
        assert names(sort_by="graph_id", sort_order="asc") == ["beta", "gamma", "Alpha", "Delta"]
        checked = saver.search_assistants(
            AssistantQuery(name="a"), sort_by="name", sort_order="asc", limit=2, offset=1
        )
        assert [a.name for a in checked] == ["beta", "Delta"]

    def test_racing_updates_each_make_a_version(self, saver: BaseSaver) -> None:
        _make(saver, "a1")
        barrier = threading.Barrier(6)
        errors: list[BaseException] = []

        def update(i: int) -> None:
            try:
                barrier.wait(10)
                change = AssistantChange(metadata={f"k{i}": i})
                assert saver.update_assistant("a1", change, actor="root") is not None
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=update, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert errors == []
        current = saver.get_assistant("a1")
        assert current is not None and current.version == 7
        # each update applied to the version before it: no merge was lost
        assert current.metadata == {f"k{i}": i for i in range(6)}
        assert [v.version for v in saver.list_assistant_versions("a1", limit=20)] == list(
            range(7, 0, -1)
        )
