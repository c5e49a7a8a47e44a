"""`interlock threads list --version V`: the threads paused under a graph version."""

from __future__ import annotations

import json
from typing import Any

import pytest

from interlock import SqliteSaver
from tests.test_cli_local import cli, store, where

__all__ = ["store"]  # the fixture, shared with the other terminal tests


def test_threads_list_by_version(store: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    with SqliteSaver(store["path"]) as saver:
        version = store["module"].make(saver)["payments"].version
        assert saver.get_interrupt(store["id"]).metadata["graph_version"] == version
    code, out, _ = cli(capsys, "threads", "list", "--version", version, "--json", *where(store))
    assert code == 0
    [row] = json.loads(out)
    assert row["thread_id"] == "t-1" and row["agent"] == "payments"
    assert (row["graph_version"], row["pending"]) == (version, 1)
    code, out, _ = cli(capsys, "threads", "list", "--version", "0123abcd", "--json", *where(store))
    assert code == 0 and json.loads(out) == []
    code, out, _ = cli(capsys, "threads", "list", "--version", version, *where(store))
    assert code == 0 and "1 thread(s) paused under version" in out
    assert version in out and "t-1" in out
    code, _, err = cli(capsys, "threads", "show", "t-1", "--version", version, *where(store))
    assert code == 2 and "--version is for `threads list`" in err


def test_threads_show_names_the_version(
    store: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    with SqliteSaver(store["path"]) as saver:
        version = store["module"].make(saver)["payments"].version
    code, out, _ = cli(capsys, "threads", "show", "t-1", "--json", *where(store))
    view = json.loads(out)
    assert code == 0 and view["graph_version"] == version == view["agent_version"]
    code, out, _ = cli(capsys, "threads", "show", "t-1", *where(store))
    assert code == 0 and f"version: {version}" in out
