"""The graph-versions part of the store conformance suite (`SaverConformance` includes it)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from interlock.checkpoint._testkit import StoreTests
from interlock.checkpoint._versions.protocol import GraphVersion
from interlock.checkpoint.base import BaseSaver
from interlock.errors import SerializationError

__all__ = ["GraphVersionsConformance"]

_T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _version(graph: str, vid: str, nodes: list[str], at: datetime = _T0) -> GraphVersion:
    return GraphVersion(
        graph=graph,
        version_id=vid,
        fingerprint="f" * 64,
        manifest={"graph": graph, "nodes": nodes, "state": {"amount": "last_value"}},
        explicit=vid.startswith("v"),
        created_at=at,
    )


class GraphVersionsConformance(StoreTests):
    """Graph-version tests every store passes. Subclasses provide a `saver` fixture."""

    def test_a_version_is_stored_once_and_the_first_write_wins(self, saver: BaseSaver) -> None:
        assert saver.get_graph_version("g", "v1") is None
        assert saver.put_graph_version(_version("g", "v1", ["pay"])) is True
        assert saver.put_graph_version(_version("g", "v1", ["charge"])) is False
        got = saver.get_graph_version("g", "v1")
        assert got is not None
        assert (got.graph, got.version_id, got.explicit) == ("g", "v1", True)
        assert got.manifest == {"graph": "g", "nodes": ["pay"], "state": {"amount": "last_value"}}
        assert got.fingerprint == "f" * 64 and got.created_at == _T0

    def test_versions_are_per_graph_and_listed_oldest_first(self, saver: BaseSaver) -> None:
        saver.put_graph_version(_version("g", "v2", ["b"], _T0 + timedelta(seconds=5)))
        saver.put_graph_version(_version("g", "v1", ["a"]))
        saver.put_graph_version(_version("h", "v1", ["x"], _T0 + timedelta(seconds=1)))
        assert [v.version_id for v in saver.list_graph_versions("g")] == ["v1", "v2"]
        assert [(v.graph, v.version_id) for v in saver.list_graph_versions()] == [
            ("g", "v1"),
            ("h", "v1"),
            ("g", "v2"),
        ]
        other = saver.get_graph_version("h", "v1")
        assert other is not None and other.manifest["nodes"] == ["x"]
        assert saver.list_graph_versions("nobody") == ()

    def test_an_unserialisable_manifest_fails_before_anything_is_stored(
        self, saver: BaseSaver
    ) -> None:
        bad = GraphVersion(
            graph="g", version_id="x", fingerprint="0", manifest={"o": object()}, created_at=_T0
        )
        with pytest.raises(SerializationError):
            saver.put_graph_version(bad)
        assert saver.get_graph_version("g", "x") is None

    def test_graph_versions_async_twins(self, saver: BaseSaver) -> None:
        async def go() -> None:
            assert await saver.aput_graph_version(_version("g", "abc", ["n"])) is True
            got = await saver.aget_graph_version("g", "abc")
            assert got is not None and got.explicit is False
            assert len(await saver.alist_graph_versions("g")) == 1

        asyncio.run(go())
