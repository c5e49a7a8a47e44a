"""Each room's audit entries as stored, pinned to the byte: the crons, grants, assistants
and requests rooms write their entries in their own transaction through one audit path, and
every store keeps the same actor, action, thread, request and detail text, chained."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from interlock.checkpoint._assistants.protocol import AssistantChange
from interlock.checkpoint._audit.chain import GENESIS, row_hash
from interlock.checkpoint._audit.verify import verify_store
from interlock.checkpoint._crons.protocol import CronJob
from interlock.checkpoint._grants.protocol import Grant
from interlock.checkpoint._testkit import make_interrupt, make_record
from tests.conftest import make_saver

T0 = datetime(2026, 1, 2, 3, 4, 5, 600_000, tzinfo=UTC)

EXPECTED = [
    (None, "cron.created", None, None, '{"cron_id":"c1","agent":"g","schedule":"* * * * *",'
     '"timezone":null,"payload":{"input":{"x":1}},"metadata":{"m":"ü"},'
     '"on_run_completed":"keep","end_time":"2026-01-02T03:04:05.600000+00:00",'
     '"enabled":true,"next_run_date":null}'),
    ("ada", "cron.updated", None, None, '{"cron_id":"c1","enabled":false}'),
    ("ada", "cron.deleted", None, None, '{"cron_id":"c1"}'),
    ("ada", "grant.created", None, "i-9", '{"grant_id":"g1","agent":"a","tool":"send",'
     '"match":{"kind":"any"},"expires_at":null,"uses":2,"interrupt_id":"i-9"}'),
    ("ada", "grant.revoked", None, "i-9", '{"grant_id":"g1","interrupt_id":"i-9"}'),
    ("ada", "assistant.created", None, None, '{"assistant_id":"as1","graph_id":"g",'
     '"version":1,"name":"n","description":null,"config":{},"context":{},'
     '"metadata":{"k":"v"}}'),
    ("bob", "assistant.updated", None, None, '{"assistant_id":"as1","graph_id":"g",'
     '"version":2,"name":"m","description":null,"config":{},"context":{},'
     '"metadata":{"k":"v"}}'),
    (None, "assistant.version_set", None, None, '{"assistant_id":"as1","graph_id":"g",'
     '"version":1,"name":"n","description":null,"config":{},"context":{},'
     '"metadata":{"k":"v"}}'),
    ("ada", "assistant.deleted", None, None, '{"assistant_id":"as1","graph_id":"g",'
     '"version":1}'),
]  # fmt: skip
"""The thread-less chain: (actor, action, thread_id, interrupt_id, detail text)."""

THREAD = [
    ("bob", "approval.requested", "t1", "i-1", '{"value":{"to":"zoë"}}'),
    ("ada", "approval.decided", "t1", "i-1", '{"value":{"to":"zoë"},"decision":{"ok":true}}'),
    ("ada", "grant.used", "t1", None, '{"grant_id":"g1","tool":"send","call_id":"k1"}'),
    ("ada", "cron.created", "t1", None, None),
    (None, "cron.deleted", "t1", None, '{"cron_id":"c2","reason":"thread_deleted"}'),
]
"""Thread t1's chain (its cron's creation detail is not compared)."""


@pytest.fixture(params=["sqlite", "postgres"])
def sql_saver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    s = make_saver(request.param, tmp_path)
    try:
        yield s
    finally:
        s.close()


def _cron(cron_id: str, thread_id: str | None, **kw: Any) -> CronJob:
    return CronJob(
        cron_id=cron_id,
        agent="g",
        thread_id=thread_id,
        schedule="* * * * *",
        created_at=T0,
        updated_at=T0,
        **kw,
    )


def test_every_rooms_entry_is_stored_as_before_and_chained(sql_saver: Any) -> None:
    s = sql_saver
    extra = {"payload": {"input": {"x": 1}}, "metadata": {"m": "ü"}}
    s.add_cron(_cron("c1", None, on_run_completed="keep", end_time=T0, **extra), actor=None)
    s.update_cron("c1", {"enabled": False}, actor="ada")
    s.delete_cron("c1", actor="ada")
    grant = Grant(
        grant_id="g1", agent="a", tool="send", granted_by="ada", created_at=T0, uses_left=2
    )
    s.add_grant(Grant(**{**_fields(grant), "interrupt_id": "i-9"}))
    rec = make_record("t1", None, [("n", 1)], {"n": 1})
    ask = make_interrupt(
        "t1",
        rec.checkpoint_id,
        interrupt_id="i-1",
        value={"to": "zoë"},
        metadata={"requested_by": "bob"},
    )
    s.put_checkpoint(rec, expected_head=None, interrupts=[ask])
    s.resolve_interrupts("t1", {"i-1": {"ok": True}}, decided_by="ada")
    assert s.use_grant("g1", call_id="k1", thread_id="t1", now=T0)
    s.revoke_grant("g1", revoked_by="ada")
    common = {"graph_id": "g", "config": {}, "context": {}, "metadata": {"k": "v"}}
    s.create_assistant("as1", name="n", actor="ada", **common)
    s.update_assistant("as1", AssistantChange(name="m"), actor="bob")
    s.set_assistant_version("as1", 1, actor=None)
    assert s.delete_assistant("as1", actor="ada")
    s.add_cron(_cron("c2", "t1"), actor="ada")
    s.delete_thread("t1")

    rows = s.audit_rows(limit=100)
    assert all(r.hash == row_hash(r) for r in rows)
    chains: dict[str, list[Any]] = {}
    for r in sorted(rows, key=lambda r: (r.chain, r.seq)):
        chains.setdefault(r.chain, []).append(r)
    assert set(chains) == {"", "t1"}
    for chain in chains.values():
        assert [r.seq for r in chain] == list(range(1, len(chain) + 1))
        assert chain[0].prev == GENESIS
        assert all(b.prev == a.hash for a, b in itertools.pairwise(chain))
    exact = s.dialect.name == "sqlite"  # PostgreSQL keeps the detail as jsonb
    assert [_shape(r, exact) for r in chains[""]] == [_want(e, exact) for e in EXPECTED]
    got = [_shape(r, exact) for r in chains["t1"]]
    assert [g if want[4] else (*g[:4], None) for g, want in zip(got, THREAD, strict=True)] == [
        _want(e, exact) for e in THREAD
    ]
    report = verify_store(s, [])
    assert not report.problems, report.problems
    assert report.entries == len(EXPECTED) + len(THREAD)


def _shape(r: Any, exact: bool) -> tuple[Any, ...]:
    return (r.actor, r.action, r.thread_id, r.interrupt_id, _detail(r.detail, exact))


def _want(entry: tuple[Any, ...], exact: bool) -> tuple[Any, ...]:
    return (*entry[:4], _detail(entry[4], exact))


def _detail(text: str | None, exact: bool) -> Any:
    return text if exact or text is None else json.loads(text)


def _fields(grant: Grant) -> dict[str, Any]:
    return {name: getattr(grant, name) for name in Grant.__dataclass_fields__}
