"""`interlock serve langgraph.json`: serve the graphs of a LangGraph project as its
`langgraph.json` names them, with interlock's store in place of the platform's.

What is read: `graphs` (`"agent": "./src/agent/graph.py:graph"`, a module path
`"my_pkg.graph:graph"`, or `{"path": ...}`), `dependencies` (local directories are put on
`sys.path`) and `env` (a `.env` file or a mapping; variables already set win). Each graph
entry may be a compiled graph (given the store and the entry's name:
`graph.copy(update={"checkpointer": store, "name": ...})`), a `StateGraph` (compiled with
them), interlock's factory `make(checkpointer)`, or
LangGraph's graph factory — a function of no argument or of the run's config — called once
at start with an empty config (LangGraph calls it for every run). Keys interlock does not use
(`auth`, `http`, `store`, `checkpointer`, ...) are named on stderr once.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from interlock._dotenv import read_dotenv
from interlock.checkpoint.base import BaseSaver

__all__ = ["is_langgraph_json", "load_langgraph_json"]

_USED = {"graphs", "dependencies", "env", "python_version", "$schema"}
"""Keys read, or harmless to ignore (`python_version` is the platform image's)."""


def is_langgraph_json(target: str) -> bool:
    """Whether `serve`'s target names a LangGraph project's config (a `.json` file)."""
    return target.endswith(".json")


def load_langgraph_json(target: str, store: BaseSaver) -> dict[str, Any]:
    """The graphs a `langgraph.json` names, each given `store` (see the module docstring);
    `SystemExit` with one line for a config that cannot be served."""
    path = Path(target).expanduser().resolve()
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SystemExit(f"interlock serve: cannot read {target!r}: {exc}") from None
    if not isinstance(config, dict) or not isinstance(config.get("graphs"), dict):
        raise SystemExit(f"interlock serve: {target!r} has no `graphs` object")
    if not config["graphs"]:
        raise SystemExit(f"interlock serve: {target!r} names no graph")
    if config.get("auth"):
        print(
            f"interlock serve: {path.name}: its `auth` handlers are not run here; who may do "
            "what is decided by interlock's roles and approver rules (--keys, --oidc-*: "
            "docs/sign-in.md)",
            file=sys.stderr,
        )
    unused = sorted(set(config) - _USED - {"auth"})
    if unused:
        print(
            f"interlock serve: {path.name}: not used here: {', '.join(unused)} "
            "(see docs/porting.md, serving a LangGraph project)",
            file=sys.stderr,
        )
    base = path.parent
    _add_dependencies(base, config.get("dependencies") or ["."])
    _load_env(base, config.get("env"))
    return {
        str(name): _graph(str(name), spec, base, store) for name, spec in config["graphs"].items()
    }


def _add_dependencies(base: Path, dependencies: Any) -> None:
    """Local directories among `dependencies` go first on `sys.path` (packages named
    there are the platform's to install: interlock expects them installed)."""
    if not isinstance(dependencies, list):
        raise SystemExit("interlock serve: langgraph.json's `dependencies` must be a list")
    for entry in reversed(dependencies):
        if isinstance(entry, str) and (entry.startswith(".") or entry.startswith("/")):
            folder = str((base / entry).resolve())
            if folder not in sys.path:
                sys.path.insert(0, folder)


def _load_env(base: Path, env: Any) -> None:
    if env is None:
        return
    if isinstance(env, str):
        file = base / env
        if not file.is_file():
            raise SystemExit(f"interlock serve: the env file {str(file)!r} does not exist")
        values = read_dotenv(file)  # as python-dotenv reads it
    elif isinstance(env, dict):
        values = {str(k): str(v) for k, v in env.items()}
    else:
        raise SystemExit("interlock serve: langgraph.json's `env` must be a file or an object")
    for key, value in values.items():
        os.environ.setdefault(key, value)


def _graph(name: str, spec: Any, base: Path, store: BaseSaver) -> Any:
    where = spec.get("path") if isinstance(spec, Mapping) else spec
    if not isinstance(where, str) or ":" not in where:
        raise SystemExit(
            f"interlock serve: graph {name!r}: give it as 'path/to/file.py:attr' or "
            f"'package.module:attr', not {where!r}"
        )
    source, _, attr = where.rpartition(":")
    module = _module(name, source, base)
    try:
        value = getattr(module, attr)
    except AttributeError:
        raise SystemExit(f"interlock serve: graph {name!r}: {source} has no {attr!r}") from None
    return _with_store(name, value, store)


def _module(name: str, source: str, base: Path) -> Any:
    """The module of a graph entry. A file under a directory on `sys.path` (`dependencies`)
    is imported by its dotted name, so that the classes it defines are stored under a name
    other processes (the terminal, a `module:factory` server) import too; any other file
    under a name made from its path (stable whatever the entry's key)."""
    if not (source.endswith(".py") or "/" in source):
        return _import(name, source, source)
    file = (base / source).resolve()
    if not file.is_file():
        raise SystemExit(f"interlock serve: graph {name!r}: cannot load {source!r}: no such file")
    dotted = _importable_name(file)
    if dotted is not None:
        module = _import(name, source, dotted)
        if Path(getattr(module, "__file__", "") or "").resolve() == file:
            return module
    relative = file.relative_to(base) if file.is_relative_to(base) else Path(*file.parts[1:])
    module_name = "interlock_graph_" + re.sub(r"\W", "_", str(relative.with_suffix("")))
    if module_name in sys.modules:
        return sys.modules[module_name]
    found = importlib.util.spec_from_file_location(module_name, file)
    if found is None or found.loader is None:
        raise SystemExit(f"interlock serve: graph {name!r}: cannot load {source!r}")
    module = importlib.util.module_from_spec(found)
    sys.modules[module_name] = module  # (dataclasses and the store's serde look it up)
    try:
        found.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise SystemExit(_failed(name, source, exc)) from exc
    return module


def _importable_name(file: Path) -> str | None:
    """The shortest dotted name `file` has under a directory on `sys.path`, if any."""
    best: str | None = None
    for entry in sys.path:
        try:
            parts = file.relative_to(Path(entry or os.getcwd()).resolve()).with_suffix("").parts
        except (ValueError, OSError):
            continue
        if parts and all(part.isidentifier() for part in parts):
            dotted = ".".join(parts)
            if best is None or len(dotted) < len(best):
                best = dotted
    return best


def _import(name: str, source: str, dotted: str) -> Any:
    try:
        return importlib.import_module(dotted)
    except Exception as exc:  # a syntax error, a missing variable: one line, not a trace
        raise SystemExit(_failed(name, source, exc)) from exc


def _failed(name: str, source: str, exc: BaseException) -> str:
    return f"interlock serve: graph {name!r}: cannot load {source!r}: {type(exc).__name__}: {exc}"


def _with_store(name: str, value: Any, store: BaseSaver) -> Any:
    """`value` as a compiled graph named `name` that checkpoints in `store`."""
    from interlock.graph import CompiledStateGraph, StateGraph

    if isinstance(value, CompiledStateGraph):
        return value.copy(update={"checkpointer": store, "name": name})
    if isinstance(value, StateGraph):
        return value.compile(checkpointer=store, name=name)
    if type(value).__module__.startswith("langgraph"):
        raise SystemExit(
            f"interlock serve: graph {name!r} was built with LangGraph's own classes: change "
            "its imports to interlock's (docs/porting.md)"
        )
    if callable(value):
        params = list(inspect.signature(value).parameters)
        if params[:1] == ["checkpointer"]:  # interlock's factory
            return _with_store(name, value(store), store)
        if inspect.iscoroutinefunction(value) or inspect.isasyncgenfunction(value):
            raise SystemExit(
                f"interlock serve: graph {name!r}: an async graph factory is not supported; "
                "build the graph at import, or write def make(checkpointer) -> graph"
            )
        made = value({"configurable": {}}) if params else value()
        if made is value or not (hasattr(made, "invoke") or hasattr(made, "compile")):
            raise SystemExit(f"interlock serve: graph {name!r}: its factory returned {made!r}")
        return _with_store(name, made, store)
    raise SystemExit(f"interlock serve: graph {name!r} is not a graph: {value!r}")
