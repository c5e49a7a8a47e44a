"""The public surface: exports, porting aliases, light import, sync/async parity, layering."""

from __future__ import annotations

import inspect
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import interlock

ROOT = Path(__file__).resolve().parents[1]


def test_every_exported_name_resolves() -> None:
    for name in interlock.__all__:
        assert getattr(interlock, name) is not None, name


def test_porting_aliases() -> None:
    from interlock.checkpoint.memory import InMemorySaver
    from interlock.checkpoint.sqlite import SqliteSaver
    from interlock.messages import AIMessage, HumanMessage
    from interlock.types import Command, Interrupt, interrupt

    assert interrupt is interlock.interrupt and Command is interlock.Command
    assert Interrupt is interlock.Interrupt
    assert InMemorySaver is interlock.InMemorySaver and SqliteSaver is interlock.SqliteSaver
    assert HumanMessage is interlock.HumanMessage and AIMessage is interlock.AIMessage
    from interlock.runtime import Runtime, get_runtime
    from interlock.types import Durability, RetryPolicy

    assert Runtime is interlock.Runtime and get_runtime is interlock.get_runtime
    assert RetryPolicy is interlock.RetryPolicy and Durability is interlock.Durability
    from interlock.prebuilt import ToolNode, tools_condition

    assert ToolNode is interlock.ToolNode and tools_condition is interlock.tools_condition
    from interlock.config import get_config, get_store, get_stream_writer

    assert get_store is interlock.get_store and get_config is interlock.get_config
    assert get_stream_writer is interlock.get_stream_writer
    from interlock.cache.base import BaseCache
    from interlock.cache.memory import InMemoryCache
    from interlock.cache.sqlite import SqliteCache
    from interlock.types import CachePolicy

    assert CachePolicy is interlock.CachePolicy and InMemoryCache is interlock.InMemoryCache
    assert SqliteCache is interlock.SqliteCache and issubclass(SqliteCache, BaseCache)


def test_import_is_light() -> None:
    code = (
        "import sys, interlock\n"
        "heavy = [m for m in ('fastapi', 'psycopg', 'httpx', 'pydantic', 'starlette',"
        " 'uvicorn', 'rich', 'openai', 'anthropic', 'interlock.cli', 'interlock.cache')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def _public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(fn)
        for name, fn in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


@pytest.mark.parametrize(
    "cls", [interlock.CompiledStateGraph, interlock.BaseSaver, interlock.InMemoryCache]
)
def test_every_async_method_has_a_sync_twin_with_the_same_parameters(cls: type) -> None:
    methods = _public_methods(cls)
    async_names = [
        n
        for n, fn in inspect.getmembers(cls, inspect.iscoroutinefunction)
        if n.startswith("a") and not n.startswith("_")
    ]
    async_names += [
        n for n, fn in inspect.getmembers(cls, inspect.isasyncgenfunction) if n.startswith("a")
    ]
    assert async_names
    for name in async_names:
        twin = name[1:]
        assert twin in methods, f"{cls.__name__}.{name} has no sync twin {twin}"
        a_params = list(methods[name].parameters)
        s_params = list(methods[twin].parameters)
        assert a_params == s_params, (name, a_params, s_params)


def test_layers_are_respected() -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "import-linter is part of the test extra"
    out = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_clean() -> None:
    exe = shutil.which("ruff", path=str(Path(sys.executable).parent))
    assert exe, "ruff is part of the test extra"
    out = subprocess.run(
        [exe, "check", "src", "tests", "bench", "examples"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.slow
def test_mypy_clean() -> None:
    exe = shutil.which("mypy", path=str(Path(sys.executable).parent))
    assert exe, "mypy is part of the test extra"
    out = subprocess.run([exe, "src/interlock"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_savers_open_from_connection_strings_as_context_managers(tmp_path: Path) -> None:
    from interlock.checkpoint.sqlite import SqliteSaver

    with SqliteSaver.from_conn_string(str(tmp_path / "a.db")) as saver:
        assert saver.get_checkpoint("nobody") is None
    with pytest.raises(interlock.StoreUnavailable):
        saver.get_checkpoint("nobody")  # closed on exit
