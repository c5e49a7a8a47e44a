"""A process that runs a graph with a node cached in a `SqliteCache` file
(`test_node_cache_review`): prints how often the node ran and whether its update came from
the cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, TypedDict


class S(TypedDict, total=False):
    tags: set[str]
    out: list[str]


CALLS = {"n": 0}


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
