"""Every store passes the same conformance suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from interlock.checkpoint.conformance import SaverConformance


class TestInMemorySaver(SaverConformance):
    @pytest.fixture
    def saver(self) -> Iterator[Any]:
        from interlock.checkpoint.memory import InMemorySaver

        yield InMemorySaver()


class TestSqliteSaver(SaverConformance):
    @pytest.fixture
    def saver(self, tmp_path: Path) -> Iterator[Any]:
        from interlock.checkpoint.sqlite import SqliteSaver

        with SqliteSaver(tmp_path / "conformance.db") as s:
            yield s


class TestSqliteInMemoryDatabase(SaverConformance):
    @pytest.fixture
    def saver(self) -> Iterator[Any]:
        from interlock.checkpoint.sqlite import SqliteSaver

        with SqliteSaver(":memory:") as s:
            yield s


@pytest.mark.postgres
class TestPostgresSaver(SaverConformance):
    @pytest.fixture
    def saver(self) -> Iterator[Any]:
        from tests.pg import fresh_postgres_saver

        s = fresh_postgres_saver()
        try:
            yield s
        finally:
            s.close()
