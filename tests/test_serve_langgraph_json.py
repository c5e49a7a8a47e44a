"""`interlock serve path/to/langgraph.json`: a LangGraph project's graphs served as its
config names them — files and modules, compiled graphs, builders and factories — each
given the service's store and its entry's name; its `.env` read; keys interlock does not
use named. And `graph.copy(update=...)`, which hands a compiled graph its store."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import interlock as il
from interlock._dotenv import parse_dotenv, read_dotenv
from interlock.checkpoint.memory import InMemorySaver
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.cli._langgraph_json import load_langgraph_json

GRAPH = textwrap.dedent(
    """
    import os
    from typing import TypedDict

    from interlock import START, StateGraph, interrupt


    class State(TypedDict, total=False):
        item: str
        approved: object
        greeting: str


    def ask(state: State) -> dict:
        answer = interrupt({"ship": state["item"]})
        return {"approved": answer, "greeting": os.environ["SHOP_GREETING"]}


    builder = StateGraph(State)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    graph = builder.compile()
    """
)

FACTORIES = textwrap.dedent(
    """
    from agent.graph import builder


    def make_graph(config):
        assert config == {"configurable": {}}
        return builder.compile()


    def make_builder():
        return builder


    def make(checkpointer):
        return builder.compile(checkpointer=checkpointer, name="ignored")


    async def make_async(config):
        return builder.compile()
    """
)


def _project(root: Path, graphs: dict[str, Any], **extra: Any) -> Path:
    (root / "src" / "agent").mkdir(parents=True)
    (root / "src" / "agent" / "__init__.py").write_text("")
    (root / "src" / "agent" / "graph.py").write_text(GRAPH)
    (root / "src" / "shop_factories.py").write_text(FACTORIES)
    (root / ".env").write_text('# the shop\nexport SHOP_GREETING="hello there"\nOTHER=1 # note\n')
    config = {"dependencies": ["./src"], "graphs": graphs, "env": ".env", **extra}
    path = root / "langgraph.json"
    path.write_text(json.dumps(config))
    return path


@pytest.fixture(autouse=True)
def _clean_imports() -> Iterator[None]:
    path, modules = list(sys.path), set(sys.modules)
    env = dict(os.environ)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        del sys.modules[name]
    os.environ.clear()
    os.environ.update(env)


def test_every_kind_of_graph_entry_is_served_on_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _project(
        tmp_path,
        {
            "file": "./src/agent/graph.py:graph",
            "module": "agent.graph:graph",
            "builder": "agent.graph:builder",
            "factory": {"path": "shop_factories:make_graph", "description": "LangGraph's"},
            "made": "shop_factories:make_builder",
            "own": "shop_factories:make",
        },
        auth={"path": "./auth.py:auth"},
        http={"cors": {}},
    )
    saver = SqliteSaver(tmp_path / "s.db")
    try:
        graphs = load_langgraph_json(str(path), saver)
        assert list(graphs) == ["file", "module", "builder", "factory", "made", "own"]
        for name, graph in graphs.items():
            assert graph.checkpointer is saver and graph.name == name
            config = {"configurable": {"thread_id": f"t-{name}"}}
            paused = graph.invoke({"item": "vase"}, config)
            assert paused["__interrupt__"][0].value == {"ship": "vase"}
            done = graph.invoke(il.Command(resume="yes"), config)
            assert done == {"item": "vase", "approved": "yes", "greeting": "hello there"}
            decided = saver.list_interrupts(status="resolved", thread_id=f"t-{name}").items
            assert [(r.status, r.metadata["graph"]) for r in decided] == [("resolved", name)]
        # the module's own graph is left as it was: no store, its default name
        from agent.graph import graph as original  # type: ignore[import-not-found]

        assert original.checkpointer is None and original.name == "LangGraph"
    finally:
        saver.close()
    err = capsys.readouterr().err
    assert "its `auth` handlers are not run here" in err and "not used here: http" in err


TICKET = textwrap.dedent(
    """
    from dataclasses import dataclass
    from typing import TypedDict

    from interlock import START, StateGraph


    @dataclass
    class Ticket:
        title: str


    class State(TypedDict, total=False):
        ticket: Ticket


    def open_ticket(state: State) -> dict:
        return {"ticket": Ticket("printer")}


    builder = StateGraph(State)
    builder.add_node("open_ticket", open_ticket)
    builder.add_edge(START, "open_ticket")
    graph = builder.compile()
    """
)


@pytest.mark.parametrize("dependencies", [["./src"], []])
def test_classes_of_a_graph_file_are_read_back_under_another_key(
    tmp_path: Path, dependencies: list[str]
) -> None:
    # the store records a dataclass by its module: the module's name must not depend on
    # the entry's key (with the file under `dependencies`, it is its importable name)
    (tmp_path / "src" / "desk").mkdir(parents=True)
    (tmp_path / "src" / "desk" / "tickets.py").write_text(TICKET)
    path = tmp_path / "langgraph.json"
    config = {"dependencies": dependencies, "graphs": {"agent": "./src/desk/tickets.py:graph"}}
    path.write_text(json.dumps(config))
    thread = {"configurable": {"thread_id": "t"}}
    with SqliteSaver(tmp_path / "s.db") as saver:
        graph = load_langgraph_json(str(path), saver)["agent"]
        graph.invoke({}, thread)
        kind = type(graph.get_state(thread).values["ticket"])
    if dependencies:
        assert kind.__module__ == "desk.tickets"
    for name in [m for m in sys.modules if "tickets" in m]:
        del sys.modules[name]  # as in another process
    config["graphs"] = {"support": "./src/desk/tickets.py:graph"}
    path.write_text(json.dumps(config))
    with SqliteSaver(tmp_path / "s.db") as saver:
        again = load_langgraph_json(str(path), saver)["support"]
        assert again.get_state(thread).values["ticket"].title == "printer"


def test_a_renamed_copy_has_the_version_compile_would_give(tmp_path: Path) -> None:
    g = il.StateGraph(dict).add_node("a", lambda s: {}).add_edge(il.START, "a")
    saver = InMemorySaver()
    copied = g.compile().copy(update={"checkpointer": saver, "name": "shop"})
    compiled = g.compile(checkpointer=saver, name="shop")
    assert (copied.name, copied.version, copied.checkpointer) == ("shop", compiled.version, saver)
    assert g.compile().version != compiled.version  # the manifest names the graph
    pinned = g.compile(version="v7").copy(update={"name": "shop"})
    assert pinned.version == "v7"
    with pytest.raises(ValueError, match="no attribute 'nodes_x'"):
        g.compile().copy(update={"nodes_x": 1})
    with pytest.raises(ValueError, match="'version' cannot be set"):
        g.compile().copy(update={"version": "v2"})
    original = g.compile()
    sized = original.copy(update={"state_cache_size": 0})
    assert (sized.state_cache_size, original.state_cache_size) == (0, 256)
    plain = original.copy()
    plain.version_info.migrations["x"] = None  # type: ignore[assignment]
    assert "x" not in original.version_info.migrations


@pytest.mark.parametrize(
    ("graphs", "message"),
    [
        ({"a": "agent/graph.py"}, "give it as 'path/to/file.py:attr'"),
        ({"a": "./src/agent/graph.py:nothing"}, "has no 'nothing'"),
        ({"a": "./src/agent/missing.py:graph"}, "cannot load"),
        ({"a": "no_such_module:graph"}, "cannot load"),
        ({"a": "shop_factories:make_async"}, "async graph factory is not supported"),
        ({"a": "os:sep"}, "is not a graph"),
        ({}, "names no graph"),
    ],
)
def test_a_config_that_cannot_be_served_stops_with_one_line(
    tmp_path: Path, graphs: dict[str, Any], message: str
) -> None:
    path = _project(tmp_path, graphs)
    with pytest.raises(SystemExit, match=message):
        load_langgraph_json(str(path), InMemorySaver())


def test_env_files_read_as_python_dotenv_reads_them(tmp_path: Path) -> None:
    # each expected value is python-dotenv 1.x's reading of the same lines
    env = tmp_path / "x.env"
    env.write_text(
        'OPENAI_API_KEY="sk-abc" # prod key\n'
        "TOKEN='t1' # note\n"
        'GREETING="hello\\nworld"\n'
        "BASE=http://x\n"
        "URL=${BASE}/v1\n"
        'PEM="-----BEGIN\nabc\n-----END"\n'
        "export PLAIN = 3 # three\n"
        "RAW='${BASE}'\n"
        "not a line\n"
    )
    assert read_dotenv(env) == {
        "OPENAI_API_KEY": "sk-abc",
        "TOKEN": "t1",
        "GREETING": "hello\nworld",
        "BASE": "http://x",
        "URL": "http://x/v1",
        "PEM": "-----BEGIN\nabc\n-----END",
        "PLAIN": "3",
        "RAW": "${BASE}",
    }
    assert parse_dotenv("A=${HOME_X:-none}", environ={}) == {"A": "none"}
    assert parse_dotenv("A=${HOME_X}", environ={"HOME_X": "/h"}) == {"A": "/h"}


def test_bad_configs_stop_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(SystemExit, match="cannot read"):
        load_langgraph_json(str(bad), InMemorySaver())
    bad.write_text('{"graphs": []}')
    with pytest.raises(SystemExit, match="no `graphs` object"):
        load_langgraph_json(str(bad), InMemorySaver())
    bad.write_text('{"graphs": {"a": "x:y"}, "env": "missing.env"}')
    with pytest.raises(SystemExit, match=r"missing\.env' does not exist"):
        load_langgraph_json(str(bad), InMemorySaver())
    broken = tmp_path / "broken.py"
    for text, kind in (
        ("def (:\n", "SyntaxError"),
        ("import os\nos.environ['NOPE_X']\n", "KeyError"),
    ):
        broken.write_text(text)
        bad.write_text('{"graphs": {"b": "./broken.py:graph"}}')
        with pytest.raises(SystemExit, match=f"graph 'b': cannot load './broken.py': {kind}"):
            load_langgraph_json(str(bad), InMemorySaver())
        assert not [m for m in sys.modules if m.endswith("broken")]  # no half-made module


def test_a_variable_already_set_wins_over_the_env_file(tmp_path: Path) -> None:
    path = _project(tmp_path, {"agent": "./src/agent/graph.py:graph"})
    os.environ["SHOP_GREETING"] = "from the shell"
    graph = load_langgraph_json(str(path), InMemorySaver())["agent"]
    config = {"configurable": {"thread_id": "t"}}
    graph.invoke({"item": "x"}, config)
    assert graph.invoke(il.Command(resume=1), config)["greeting"] == "from the shell"
    assert os.environ["OTHER"] == "1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_interlock_serve_langgraph_json_answers_langgraph_sdk(tmp_path: Path) -> None:
    from langgraph_sdk import get_sync_client

    path = _project(tmp_path, {"shop": "./src/agent/graph.py:graph"})
    port = _free_port()
    exe = Path(sys.executable).with_name("interlock")
    keys = "k-bob=bob:requester;k-ada=ada:approver"
    command = [
        str(exe), "serve", str(path), "--db", f"sqlite:///{tmp_path / 'serve.db'}",
        "--port", str(port), "--keys", keys,
    ]  # fmt: skip
    proc = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        while True:  # readiness: the first answered health check (bounded by the test timeout)
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                if httpx.get(f"{url}/ok", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
        with get_sync_client(url=url, api_key="k-bob") as bob:
            assert [a["graph_id"] for a in bob.assistants.search()] == ["shop"]
            tid = bob.threads.create()["thread_id"]
            paused = bob.runs.wait(tid, "shop", input={"item": "vase"})
            (request,) = paused["__interrupt__"]
        with get_sync_client(url=url, api_key="k-ada") as ada:
            done = ada.runs.wait(tid, "shop", command={"resume": {request["id"]: "yes"}})
        assert done == {"item": "vase", "approved": "yes", "greeting": "hello there"}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


def test_the_terminal_decides_with_the_agents_of_a_langgraph_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from interlock.cli import main

    monkeypatch.delenv("INTERLOCK_URL", raising=False)
    path = _project(tmp_path, {"shop": "./src/agent/graph.py:graph"})
    with SqliteSaver(tmp_path / "t.db") as saver:
        graph = load_langgraph_json(str(path), saver)["shop"]
        config = {"configurable": {"thread_id": "t-1", "user_id": "ann"}}
        (pending,) = graph.invoke({"item": "lamp"}, config)["__interrupt__"]
    db = f"sqlite:///{tmp_path / 't.db'}"
    where = ["--db", db, "--app", str(path), "--as", "cy"]
    code = main(["approvals", "decide", pending.id, "--value", '"ok"', "--json", *where])
    out = capsys.readouterr().out
    assert code == 0, out
    assert json.loads(out)["run"]["values"] == {
        "item": "lamp",
        "approved": "ok",
        "greeting": "hello there",
    }
