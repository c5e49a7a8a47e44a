"""A process that runs a graph with a node cached in a `SqliteCache` file
(`test_node_cache_review`): prints how often the node ran and whether its update came from
the cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from pydantic import BaseModel


class S(TypedDict, total=False):
    tags: set[str]
    out: list[str]


CALLS = {"n": 0}


class Model(BaseModel):
    """A pydantic state: pickled, it holds its set of fields given (hash-seed order)."""

    alpha: int = 0
    beta: str = ""
    gamma: list[int] = []


@dataclass
class Tagged:
    tags: set[str] = field(default_factory=set)


def sample_key() -> str:
    """The default key of an input with sets, a pydantic model and a dataclass, in hex."""
    from interlock.types import default_cache_key

    value = {
        "tags": {"alpha", "beta", "gamma", "delta", "eps"},
        "f": frozenset({"x", "y", "z"}),
        "d": {"b": 1, "a": {"q", "r", "s"}},
        "model": Model(alpha=1, beta="x", gamma=[1]),
        "tagged": Tagged({"a", "b", "c", "d"}),
    }
    return default_cache_key(value).hex()


def tagged(s: S) -> dict:
    CALLS["n"] += 1
    return {"out": sorted(s["tags"])}


def main(path: str) -> None:
    from interlock import START, CachePolicy, StateGraph
    from interlock.cache import SqliteCache

    with SqliteCache(path=path) as cache:
        g = StateGraph(S).add_node("tagged", tagged, cache_policy=CachePolicy())
        app = g.add_edge(START, "tagged").compile(cache=cache)
        tags = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta"}
        chunks = list(app.stream({"tags": tags}, stream_mode="updates"))
    cached = chunks[0].get("__metadata__") == {"cached": True}
    print(json.dumps({"calls": CALLS["n"], "cached": cached}))


def run_in_process(root: Path, path: Path, *, seed: int) -> Any:
    """Run `main(path)` in a new interpreter with hash seed `seed`; its printed JSON."""
    env = {**os.environ, "PYTHONHASHSEED": str(seed)}
    done = subprocess.run(
        [sys.executable, "-c", f"from tests._node_cache_child import main; main({str(path)!r})"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])
