"""The graph-versions schema: a store created before it (migration 11) upgrades in place,
and threads paused before versions existed resume as before, with an audit note."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, TypedDict

import pytest

from interlock import START, Command, StateGraph, interrupt
from interlock.checkpoint import _sql_core
from interlock.checkpoint._migrations import MIGRATIONS
from tests._release_store import migrations_before


class State(TypedDict, total=False):
    amount: int
    paid: str


def _graph(saver: Any) -> Any:
    def pay(state: State) -> dict[str, Any]:
        return {"paid": f"{interrupt({'amount': state['amount']})}:{state['amount']}"}

    g = StateGraph(State)
    g.add_node("pay", pay)
    g.add_edge(START, "pay")
    return g.compile(checkpointer=saver)


def _check_upgrade(open_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = {"configurable": {"thread_id": "t"}}
    with monkeypatch.context() as m:
        m.setattr(_sql_core, "MIGRATIONS", migrations_before(11))
        old = open_store()
        try:
            assert 11 not in old.schema_versions()
            before = _graph(old)
            before.spec = replace(before.spec, version=None)  # as written before versions
            before.version_info.stored_on.append(old)  # no graph_versions table yet
            (pending,) = before.invoke({"amount": 5}, cfg)["__interrupt__"]
        finally:
            old.close()
    new = open_store()
    try:
        assert new.schema_versions() == [v for v, _, _ in MIGRATIONS]
        assert 11 in new.schema_versions()
        [waiting] = new.list_interrupts(status="pending").items  # the pause still waits
        assert waiting.interrupt_id == pending.id and "graph_version" not in waiting.metadata
        after = _graph(new)
        assert after.invoke(Command(resume="yes"), cfg)["paid"] == "yes:5"
        actions = [e.action for e in new.list_audit(thread_id="t").items]
        assert "version.unrecorded" in actions and "approval.decided" in actions
        stored = new.get_graph_version(after.name, after.version)
        assert stored is not None and stored.manifest["nodes"] == ["pay"]
    finally:
        new.close()


def test_a_sqlite_store_at_migration_10_upgrades(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interlock.checkpoint.sqlite import SqliteSaver

    _check_upgrade(lambda: SqliteSaver(tmp_path / "old.db"), monkeypatch)


@pytest.mark.postgres
def test_a_postgres_store_at_migration_10_upgrades(monkeypatch: pytest.MonkeyPatch) -> None:
    from interlock.checkpoint.postgres import PostgresSaver
    from tests.pg import DSN, new_schema

    schema = new_schema()
    _check_upgrade(lambda: PostgresSaver(DSN, schema=schema), monkeypatch)
