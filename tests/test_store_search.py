"""Semantic search on interlock's long-term memory stores (in memory, SQLite, PostgreSQL),
sync and async: `index=` settings, `put(index=...)`, `search(query=...)`.

Expected scores, orders and embedded texts were observed by running the same programs on
LangGraph 1.2.22's `InMemoryStore` (/tmp/benchvenv; its SQLite store cannot load
sqlite-vec on this Python, and PostgreSQL has no pgvector here), with the same embedding
function: `bag_of_words` (a hashed bag of words, 16 numbers). Where interlock differs on
purpose, the test says so: an item with no vectors (`index=False`) is not returned by a
query (LangGraph's `InMemoryStore` appends such items, unscored, to fill `limit`; its SQL
stores leave them out, as interlock does)."""

from __future__ import annotations

import asyncio
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from interlock.errors import EmbeddingError, SerializationError, StoreFeatureUnsupported
from interlock.store import BaseStore, PutOp, SearchOp
from interlock.store._fields import field_texts, tokenize
from interlock.store.memory import InMemoryStore
from tests._memory_stores import KINDS, Calls, open_store
from tests.fakes.openai_server import bag_of_words

DIMS = 16


class Recorder:
    """An embed function recording the texts it was given."""

    def __init__(self, dims: int = DIMS) -> None:
        self.dims = dims
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        return [bag_of_words(t, self.dims) for t in texts]


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def embed() -> Recorder:
    return Recorder()


@pytest.fixture
def store(kind: str, tmp_path: Path, embed: Recorder) -> Iterator[BaseStore]:
    index = {"embed": embed, "dims": DIMS, "fields": ["text"]}
    with open_store(kind, tmp_path, index=index) as s:
        yield s


@pytest.fixture(params=["sync", "async"])
def calls(request: pytest.FixtureRequest, store: BaseStore) -> Calls:
    return Calls(store, request.param)


def _docs(calls: Calls) -> None:
    calls.put(("docs",), "d1", {"text": "I like pizza and pasta", "n": 1})
    calls.put(("docs",), "d2", {"text": "I play chess on sundays", "n": 2})
    calls.put(("docs",), "d3", {"text": "pizza is my favourite food", "n": 3})
    calls.put(("docs", "sub"), "d4", {"text": "food preferences: sushi", "n": 4})
    calls.put(("docs",), "d5", {"text": "no vectors pizza", "n": 5}, index=False)
    calls.put(("other",), "d6", {"text": "pizza pizza", "n": 6})


def _ranked(found: list[Any]) -> list[tuple[str, float | None]]:
    return [(i.key, None if i.score is None else round(i.score, 6)) for i in found]


def test_a_query_ranks_as_langgraph(calls: Calls) -> None:
    _docs(calls)
    found = calls.search(("docs",), query="pizza food")
    # LangGraph: the same, then ("d5", None) appended to fill the limit
    assert _ranked(found) == [("d4", 0.816497), ("d3", 0.801784), ("d1", 0.267261), ("d2", 0.0)]
    assert found[0].namespace == ("docs", "sub") and found[0].value["n"] == 4
    assert _ranked(calls.search(("docs",), query="pizza food", limit=2)) == [
        ("d4", 0.816497),
        ("d3", 0.801784),
    ]
    assert _ranked(calls.search(("docs",), query="pizza food", limit=2, offset=1)) == [
        ("d3", 0.801784),
        ("d1", 0.267261),
    ]
    filtered = calls.search(("docs",), query="pizza food", filter={"n": {"$gte": 2}})
    assert _ranked(filtered) == [("d4", 0.816497), ("d3", 0.801784), ("d2", 0.0)]
    assert _ranked(calls.search(("docs",), query="chess", limit=10)) == [
        ("d2", 0.447214),
        ("d1", 0.0),
        ("d3", 0.0),
        ("d4", 0.0),
    ]
    assert _ranked(calls.search((), query="pizza", limit=10)) == [
        ("d6", 1.0),
        ("d4", 0.57735),
        ("d1", 0.377964),
        ("d3", 0.377964),
        ("d2", 0.0),
    ]
    plain = calls.search(("docs",))  # no query: newest first, no score
    assert [i.key for i in plain] == ["d5", "d4", "d3", "d2", "d1"]
    assert all(i.score is None for i in plain)
    assert calls.search(("docs",), query="") == plain  # an empty query is no query
    assert found[0].dict()["score"] == found[0].score


def test_fields_and_what_is_embedded(calls: Calls, embed: Recorder) -> None:
    calls.put(("a",), "k", {"text": "tea", "other": "chess"})
    calls.put(("a",), "j", {"text": "jazz", "other": "cats"}, index=["other"])
    calls.put(("a",), "i", {"text": "tea"}, index=False)
    calls.put(("a",), "h", {"other": "no text field"})  # nothing at `text`: no vector
    calls.put(("a",), "k", None)  # a delete embeds nothing
    assert embed.calls == [["tea"], ["cats"]]
    assert [i.key for i in calls.search(("a",), query="cats")] == ["j"]
    assert [i.key for i in calls.search(("a",), query="jazz")] == ["j"]  # scored 0
    assert calls.search(("a",), query="jazz")[0].score == 0.0
    assert calls.get(("a",), "i").value == {"text": "tea"}  # stored, just not embedded
    assert embed.calls[2:] == [["cats"], ["jazz"], ["jazz"]]  # each query, once


def test_a_value_that_cannot_be_stored_costs_no_model_call(
    store: BaseStore, embed: Recorder
) -> None:
    with pytest.raises(SerializationError, match=r"item 'k'\.when"):
        store.put(("s",), "k", {"text": "tea", "when": object()})
    assert embed.calls == [] and store.get(("s",), "k") is None


def test_one_embedding_call_per_batch_and_every_write_replaces_vectors(
    store: BaseStore, embed: Recorder
) -> None:
    store.batch(
        [
            PutOp(("b",), "x", {"text": "green tea"}),
            PutOp(("b",), "y", {"text": "green tea"}),  # the same text: embedded once
            SearchOp(("b",), query="tea"),
            PutOp(("b",), "z", {"text": "dark coffee"}),
        ]
    )
    assert embed.calls == [["green tea", "dark coffee"], ["tea"]]
    store.put(("b",), "x", {"text": "dark coffee"})  # its old vector goes
    found = store.search(("b",), query="green", limit=5)
    assert [(i.key, round(i.score or 0, 6)) for i in found] == [
        ("y", 0.707107),
        ("x", 0.0),
        ("z", 0.0),
    ]  # LangGraph keeps x's stale "green tea" vector: it would rank x first


def test_paths_reach_the_texts_langgraph_reaches() -> None:
    value = {
        "a": [{"c": "one"}, {"c": "two"}, {"d": 3}],
        "b": [{"c": "first"}, {"c": "mid"}, {"c": "last"}],
        "tags": ["x", "y"],
        "n": 7,
        "flag": False,
        "x": "X",
        "y": [1],
        "arr": [1, None, "z", {"q": 1}],
        "m": {"b": "bee", "c": {"d": "deep"}},
        "f": 1.0,
        "e": "",
        "nul": None,
    }
    expected = {  # langgraph.store.base.embed.get_text_at_path on the same value
        "a.b": [],
        "a[*].c": ["one", "two"],
        "tags": ['["x", "y"]'],
        "tags[*]": ["x", "y"],
        "n": ["7"],
        "flag": ["False"],
        "missing": [],
        "b[0].c": ["first"],
        "b[-1].c": ["last"],
        "b[5].c": [],
        "b[x].c": [],
        "{x,y}": ["X", "[1]"],
        "{x,m.c.d,zz}": ["X", "deep"],
        "arr[*]": ["1", "z", '{"q": 1}'],
        "m.b": ["bee"],
        "m": ['{"b": "bee", "c": {"d": "deep"}}'],
        "m.*": ["bee", '{"d": "deep"}'],
        "m.c.d": ["deep"],
        "f": ["1.0"],
        "e": [""],
        "nul": [],
        "a[*]": ['{"c": "one"}', '{"c": "two"}', '{"d": 3}'],
        "[0]": [],
        "m..b": ["bee"],
        "a[*].c[0]": [],
        "m[*]": [],
        "b[ 1 ].c": ["mid"],
        "m{b,c}": ["bee", '{"d": "deep"}'],
    }
    for path, texts in expected.items():
        got = field_texts(value, [path])
        assert [t for _, t in got] == texts, path
        names = [path] if len(texts) == 1 else [f"{path}.{i}" for i in range(len(texts))]
        assert [n for n, _ in got] == names, path
    assert tokenize("a.b[*].{c,d}") == ["a", "b", "[*]", "{c,d}"]
    whole = {"text": "Hello", "n": 1, "nested": {"b": 2.0, "t": True}, "none": None, "uni": "é"}
    langgraph = '{"n": 1, "nested": {"b": 2.0, "t": true}, "none": null, "text": "Hello", '
    assert field_texts(whole, ["$"]) == [("$", langgraph + '"uni": "é"}')]


def test_a_path_named_twice_is_embedded_once(kind: str, tmp_path: Path) -> None:
    embed = Recorder()
    index = {"embed": embed, "dims": DIMS, "fields": ["text", "text"]}
    with open_store(kind, tmp_path, index=index) as store:
        store.put(("t",), "k", {"text": "tea", "other": "jazz"})
        store.put(("t",), "j", {"text": "chess", "other": "jazz"}, index=["other", "other"])
        assert embed.calls == [["tea"], ["jazz"]]
        found = store.search(("t",), query="tea")
        assert [(i.key, i.score) for i in found] == [("k", pytest.approx(1.0)), ("j", 0.0)]


def test_the_whole_value_by_default(kind: str, tmp_path: Path) -> None:
    embed = Recorder()
    with open_store(kind, tmp_path, index={"embed": embed, "dims": DIMS}) as store:
        store.put(("w",), "k", {"text": "Hello", "tags": ["x"]})
        assert embed.calls == [['{"tags": ["x"], "text": "Hello"}']]
        assert [i.key for i in store.search(("w",), query="hello")] == ["k"]


class Duck:
    """A LangChain `Embeddings` by its methods (langchain-core is not needed)."""

    def __init__(self) -> None:
        self.used: list[str] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.used.append("embed_documents")
        return [bag_of_words(t, DIMS) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        self.used.append("embed_query")
        return bag_of_words(text, DIMS)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        self.used.append("aembed_documents")
        return [bag_of_words(t, DIMS) for t in texts]

    async def aembed_query(self, text: str) -> list[float]:
        self.used.append("aembed_query")
        return bag_of_words(text, DIMS)


def test_embedders_as_langgraph_takes_them() -> None:
    duck = Duck()
    store = InMemoryStore(index={"embed": duck, "dims": DIMS, "fields": ["text"]})
    store.put(("e",), "k", {"text": "tea"})
    assert store.search(("e",), query="tea")[0].score == pytest.approx(1.0)
    asyncio.run(store.aput(("e",), "j", {"text": "jazz"}))
    assert asyncio.run(store.asearch(("e",), query="jazz"))[0].key == "j"
    assert duck.used == ["embed_documents", "embed_query", "aembed_documents", "aembed_query"]
    assert store.embeddings is duck and store.index_config == {
        "embed": duck,
        "dims": DIMS,
        "fields": ["text"],
    }

    async def aembed(texts: list[str]) -> list[list[float]]:
        return [bag_of_words(t, DIMS) for t in texts]

    only_async = InMemoryStore(index={"embed": aembed, "dims": DIMS, "fields": ["text"]})
    asyncio.run(only_async.aput(("e",), "k", {"text": "tea"}))
    assert asyncio.run(only_async.asearch(("e",), query="tea"))[0].key == "k"
    with pytest.raises(StoreFeatureUnsupported, match="async methods"):
        only_async.put(("e",), "j", {"text": "jazz"})  # as LangGraph: no sync embedding
    assert only_async.get(("e",), "j") is None

    sync_fn = Recorder()
    plain = InMemoryStore(index={"embed": sync_fn, "dims": DIMS, "fields": ["text"]})
    asyncio.run(plain.aput(("e",), "k", {"text": "tea"}))  # a sync function, in a thread
    assert asyncio.run(plain.asearch(("e",), query="tea"))[0].key == "k"
    assert sync_fn.calls == [["tea"], ["tea"]]


def test_a_provider_string_needs_langchain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "langchain", None)  # as where it is not installed
    with pytest.raises(StoreFeatureUnsupported, match=r"pip install langchain"):
        InMemoryStore(index={"embed": "openai:text-embedding-3-small", "dims": DIMS})
    asked: list[str] = []
    duck = Duck()

    def init_embeddings(name: str) -> Duck:
        asked.append(name)
        return duck

    fake = types.ModuleType("langchain")
    fake_embeddings = types.ModuleType("langchain.embeddings")
    fake_embeddings.init_embeddings = init_embeddings  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "langchain", fake)
    monkeypatch.setitem(sys.modules, "langchain.embeddings", fake_embeddings)
    store = InMemoryStore(index={"embed": "openai:text-embedding-3-small", "dims": DIMS})
    assert asked == ["openai:text-embedding-3-small"] and store.embeddings is duck


class Rows:
    """What numpy's `ndarray` is to the store: sized and iterable (rows, then numbers),
    but not a `list` nor a registered `Sequence` (numpy is not a test dependency)."""

    def __init__(self, rows: list[list[float]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[Any]:
        return iter(Rows(r) if isinstance(r, list) else r for r in self.rows)

    def __getitem__(self, i: int) -> Any:
        return self.rows[i]


def test_an_embedder_may_answer_arrays(kind: str, tmp_path: Path) -> None:
    # e.g. `embed=lambda texts: model.encode(texts)` of sentence-transformers, which
    # LangGraph's stores take (they only iterate over what the model answers)
    def encode(texts: list[str]) -> Rows:
        return Rows([bag_of_words(t, DIMS) for t in texts])

    index = {"embed": encode, "dims": DIMS, "fields": ["text"]}
    with open_store(kind, tmp_path, index=index) as store:
        store.put(("n",), "k", {"text": "green tea"})
        asyncio.run(store.aput(("n",), "j", {"text": "black coffee"}))
        found = store.search(("n",), query="tea")
        assert [i.key for i in found] == ["k", "j"]
        assert [i.score for i in found] == pytest.approx([2**-0.5, 0.0], rel=1e-6)


def test_a_bad_embedding_writes_nothing(kind: str, tmp_path: Path) -> None:
    def boom(texts: list[str]) -> list[list[float]]:
        raise RuntimeError("the model is down")

    cases: list[tuple[Any, str]] = [
        (lambda texts: [[1.0, 2.0] for _ in texts], r"vector of 2 numbers.*dims=16"),
        (lambda texts: [], r"returned 0 vectors for 2 texts"),
        (lambda texts: [[float("nan")] * DIMS for _ in texts], "NaN"),
        (lambda texts: [["x"] * DIMS for _ in texts], "not a list of numbers"),
        (lambda texts: ["1" * DIMS for _ in texts], "not a list of numbers"),  # a string
        (lambda texts: [["1.0"] * DIMS for _ in texts], "not a list of numbers"),
        (lambda texts: [[True] * DIMS for _ in texts], "not a list of numbers"),
        (lambda texts: {t: [1.0] * DIMS for t in texts}, "returned dict"),
        (lambda texts: None, "returned NoneType"),
        (boom, r"embed failed \(RuntimeError: the model is down\)"),
    ]
    for n, (bad, message) in enumerate(cases):
        index = {"embed": bad, "dims": DIMS, "fields": ["text"]}
        (tmp_path / str(n)).mkdir()
        with open_store(kind, tmp_path / str(n), index=index) as store:
            store.put(("ok",), "plain", {"text": "x"}, index=False)  # nothing to embed
            batch = [
                PutOp(("u",), "a", {"v": 1}, index=False),  # nothing to embed: still unwritten
                PutOp(("u",), "b", {"text": "t"}),
                PutOp(("u",), "c", {"text": "u"}),
            ]
            for attempt in (store.batch, lambda ops: asyncio.run(store.abatch(ops))):
                with pytest.raises(EmbeddingError, match=message) as caught:
                    attempt(batch)
                if bad is boom:
                    assert isinstance(caught.value.__cause__, RuntimeError)
            assert store.search(("u",)) == []  # not even the put before it
            assert [i.key for i in store.search(("ok",))] == ["plain"]
    index = {"embed": boom, "dims": DIMS}
    (tmp_path / "q").mkdir()
    with (
        open_store(kind, tmp_path / "q", index=index) as store,
        pytest.raises(EmbeddingError, match="the model is down"),
    ):
        store.search(("u",), query="anything")


def test_an_index_whose_dims_changed_is_an_embedding_error(tmp_path: Path) -> None:
    from interlock.store.sqlite import SqliteStore

    path = tmp_path / "dims.db"
    with SqliteStore(path, index={"embed": Recorder(DIMS), "dims": DIMS}) as store:
        store.put(("d",), "k", {"text": "tea"})
    with SqliteStore(path, index={"embed": Recorder(8), "dims": 8}) as store:
        # the stored vectors no longer fit the model: the server's doing, not the caller's
        with pytest.raises(EmbeddingError, match="dims changed since the items were written"):
            store.search(("d",), query="tea")
        store.put(("d",), "k", {"text": "tea"})  # written again: re-embedded
        assert [i.key for i in store.search(("d",), query="tea")] == ["k"]


def test_langchain_openai_embeddings_over_loopback(kind: str, tmp_path: Path) -> None:
    import openai
    from langchain_openai import OpenAIEmbeddings

    from tests.fakes import OpenAIServer

    def expected(query: str, texts: dict[str, str]) -> list[tuple[str, float]]:
        q = bag_of_words(query, 64)
        scores = []
        for key, text in texts.items():
            v = bag_of_words(text, 64)
            dot = sum(a * b for a, b in zip(q, v, strict=True))
            norms = (sum(a * a for a in q) * sum(b * b for b in v)) ** 0.5
            scores.append((key, dot / norms if norms else 0.0))
        return sorted(sorted(scores), key=lambda s: -s[1])

    with OpenAIServer() as server:
        aclient = openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key="sk-test")
        embeddings = OpenAIEmbeddings(
            model="text-embedding-3-small",
            base_url=f"{server.url}/v1",
            api_key="sk-test",  # type: ignore[arg-type]
            async_client=aclient.embeddings,
            check_embedding_ctx_length=False,  # send the texts (no tokenizer download)
        )
        index = {"embed": embeddings, "dims": 64, "fields": ["text"]}
        texts = {
            "1": "I love pizza and pasta",
            "2": "I am a plumber",
            "3": "my favourite food is sushi",
        }
        query = "which food is my favourite"
        with open_store(kind, tmp_path, index=index) as store:
            memories = ("user", "memories")
            store.put(memories, "1", {"text": texts["1"]})
            store.put(memories, "2", {"text": texts["2"]})

            async def go() -> list[Any]:
                try:
                    await store.aput(memories, "3", {"text": texts["3"]})
                    return await store.asearch(memories, query=query, limit=3)
                finally:
                    await aclient.close()

            found_async = asyncio.run(go())
            found = store.search(memories, query=query, limit=3)
            assert found[0].key == "3" and found[0].value == {"text": texts["3"]}
            for result in (found, found_async):
                assert [i.key for i in result] == [k for k, _ in expected(query, texts)]
                assert [i.score for i in result] == pytest.approx(
                    [s for _, s in expected(query, texts)], rel=1e-6
                )
        assert {r["path"] for r in server.requests} == {"/v1/embeddings"}
        assert server.requests[0]["json"]["input"] == ["I love pizza and pasta"]
