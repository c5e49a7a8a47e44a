"""The chained, signed audit log (issue 22): every store chains its entries, a signed
manifest seals the heads, and a verifier names each kind of tampering done with plain SQL,
from the store or from an export read offline."""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from interlock.checkpoint._audit.chain import GENESIS, AuditManifest, row_hash
from interlock.checkpoint._audit.export import read_export, write_export
from interlock.checkpoint._audit.manifest import seal_audit
from interlock.checkpoint._audit.signing import (
    AuditSigner,
    generate_key,
    load_public_key,
    load_signer,
)
from interlock.checkpoint._audit.verify import verify_audit, verify_store
from interlock.checkpoint._testkit import make_interrupt, make_record
from interlock.checkpoint.base import AuditEntry

Sql = Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]


@pytest.fixture(scope="module")
def key_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "audit.key"
    generate_key(path)
    return path


@pytest.fixture
def signer(key_path: Path) -> AuditSigner:
    return load_signer(key_path)


def _activity(saver: Any, threads: tuple[str, ...] = ("a", "b", "c")) -> None:
    """Per thread: a checkpoint with two pauses, both decided; and a thread-less entry."""
    for t in threads:
        heads = saver.__dict__.setdefault("_test_heads", {})
        parent = heads.get(t)
        rec = heads[t] = make_record(t, parent, [("n", 1)], {"n": 1})
        first = make_interrupt(t, rec.checkpoint_id, metadata={"requested_by": "bob"})
        second = make_interrupt(t, rec.checkpoint_id, 1, value={"to": "zoë\n"})
        saver.put_checkpoint(
            rec,
            expected_head=None if parent is None else parent.checkpoint_id,
            interrupts=[first, second],
        )
        saver.resolve_interrupts(t, {first.interrupt_id: {"ok": True}}, decided_by="ada")
        saver.resolve_interrupts(t, {second.interrupt_id: None}, status="expired")
    saver.append_audit([AuditEntry(at=datetime.now(UTC), actor="ops", action="key.rotated")])


def _chain(saver: Any, thread: str) -> list[Any]:
    return sorted(
        (r for r in saver.audit_rows(limit=10_000) if r.thread_id == thread),
        key=lambda r: r.seq,
    )


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, Sql]]:
    """A SQL store and a way to change its tables with plain SQL, behind its back."""
    if request.param == "sqlite":
        from interlock.checkpoint.sqlite import SqliteSaver

        path = tmp_path / "audit.db"
        saver = SqliteSaver(path)

        def sql(text: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
            conn = sqlite3.connect(path)
            try:
                with conn:
                    return conn.execute(text.replace("%s", "?"), params).fetchall()
            finally:
                conn.close()

        with saver:
            yield saver, sql
        return
    pytest.importorskip("psycopg")
    import psycopg

    from interlock.checkpoint.postgres import PostgresSaver
    from tests.pg import DSN, new_schema

    schema = new_schema()
    pg = PostgresSaver(DSN, schema=schema)

    def pg_sql(text: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{schema}"')
            # an intruder with write access skips the chaining trigger
            conn.execute("SET session_replication_role = replica")
            cur = conn.execute(text.encode(), params)  # type: ignore[call-overload]
            return cur.fetchall() if cur.description else []

    try:
        yield pg, pg_sql
    finally:
        pg.close()


def test_every_store_chains_its_entries_and_a_signed_manifest_seals_the_heads(
    any_saver: Any, signer: AuditSigner
) -> None:
    _activity(any_saver)
    rows = any_saver.audit_rows(limit=1000)
    assert len(rows) == 3 * 4 + 1
    chain = _chain(any_saver, "a")
    assert [r.seq for r in chain] == [1, 2, 3, 4]
    assert chain[0].prev == GENESIS
    assert all(r.prev == before.hash for before, r in itertools.pairwise(chain))
    assert all(r.hash == row_hash(r) for r in rows)
    heads = any_saver.audit_heads()
    assert heads["a"] == (4, chain[-1].hash) and heads[""][0] == 1
    assert verify_store(any_saver, [signer.public_key]).unsealed == 13
    first = seal_audit(any_saver, signer)
    assert first is not None and any_saver.last_audit_manifest() == first
    body = json.loads(first.body)
    assert body["chains"]["a"] == [4, chain[-1].hash] and body["prev"] == GENESIS
    _activity(any_saver, ("a", "d"))
    second = seal_audit(any_saver, signer)
    assert second is not None
    assert any_saver.list_audit_manifests() == (first, second)
    assert any_saver.list_audit_manifests(after=first.manifest_id) == (second,)
    report = verify_store(any_saver, [signer.public_key])
    assert report.ok, report.problems
    assert (report.entries, report.chains, report.manifests, report.unsealed) == (22, 5, 2, 0)
    assert _chain(any_saver, "a")[-1].seq == 8  # a thread's chain goes on across writes


def test_only_one_sealer_at_a_time(any_saver: Any, signer: AuditSigner) -> None:
    assert any_saver.claim_cursor("audit.seal", "other", ttl=60) == ""
    assert seal_audit(any_saver, signer) is None
    assert any_saver.advance_cursor("audit.seal", "other", "", ttl=0)
    assert seal_audit(any_saver, signer) is not None


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def any_saver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "memory":
        from interlock.checkpoint.memory import InMemorySaver

        yield InMemorySaver()
    elif request.param == "sqlite":
        from interlock.checkpoint.sqlite import SqliteSaver

        with SqliteSaver(tmp_path / "s.db") as s:
            yield s
    else:
        pytest.importorskip("psycopg")
        from tests.pg import fresh_postgres_saver

        s = fresh_postgres_saver()
        try:
            yield s
        finally:
            s.close()


def _sealed(store: tuple[Any, Sql], signer: AuditSigner) -> tuple[Any, Sql]:
    saver, sql = store
    _activity(saver)
    assert seal_audit(saver, signer) is not None
    assert verify_store(saver, [signer.public_key]).ok
    return saver, sql


def _first(saver: Any, signer: AuditSigner) -> str:
    report = verify_store(saver, [signer.public_key])
    assert not report.ok
    return report.problems[0]


def test_an_edited_entry_is_named(store: tuple[Any, Sql], signer: AuditSigner) -> None:
    saver, sql = _sealed(store, signer)
    victim = _chain(saver, "b")[2]
    sql("UPDATE audit_log SET actor = 'mallory' WHERE entry_id = %s", (victim.entry_id,))
    problem = _first(saver, signer)
    assert victim.entry_id in problem and "edited" in problem


def test_an_edit_with_its_hash_recomputed_breaks_the_next_link(
    store: tuple[Any, Sql], signer: AuditSigner
) -> None:
    from dataclasses import replace

    saver, sql = _sealed(store, signer)
    victim, after = _chain(saver, "b")[1:3]
    forged = row_hash(replace(victim, action="approval.forged"))
    sql(
        "UPDATE audit_log SET action = 'approval.forged', hash = %s WHERE entry_id = %s",
        (forged, victim.entry_id),
    )
    problem = _first(saver, signer)
    assert after.entry_id in problem and "does not link" in problem


def test_a_deleted_entry_is_named(store: tuple[Any, Sql], signer: AuditSigner) -> None:
    saver, sql = _sealed(store, signer)
    chain = _chain(saver, "a")
    sql("DELETE FROM audit_log WHERE entry_id = %s", (chain[1].entry_id,))
    problem = _first(saver, signer)
    assert chain[2].entry_id in problem and "entries 2..2" in problem and "deleted" in problem


def test_swapped_entries_are_named(store: tuple[Any, Sql], signer: AuditSigner) -> None:
    saver, sql = _sealed(store, signer)
    one, two = _chain(saver, "c")[1:3]
    sql("UPDATE audit_log SET seq = -1 WHERE entry_id = %s", (one.entry_id,))
    sql("UPDATE audit_log SET seq = %s WHERE entry_id = %s", (one.seq, two.entry_id))
    sql("UPDATE audit_log SET seq = %s WHERE entry_id = %s", (two.seq, one.entry_id))
    problem = _first(saver, signer)
    assert two.entry_id in problem and "chain 'c'" in problem


def test_an_inserted_entry_is_named(store: tuple[Any, Sql], signer: AuditSigner) -> None:
    saver, sql = _sealed(store, signer)
    chain = _chain(saver, "a")
    sql("DROP INDEX audit_chain", ())  # the unique (thread, seq) index is in the way
    sql(
        "INSERT INTO audit_log (entry_id, at, actor, action, thread_id, interrupt_id, detail, "
        "seq, prev, hash) SELECT %s, at, 'mallory', 'approval.decided', thread_id, "
        "interrupt_id, detail, seq, prev, hash FROM audit_log WHERE entry_id = %s",
        ("f" * 32, chain[2].entry_id),
    )
    problem = _first(saver, signer)
    assert "chain 'a', seq 3" in problem and ("inserted" in problem or "edited" in problem)


def test_a_deleted_chain_is_named(store: tuple[Any, Sql], signer: AuditSigner) -> None:
    saver, sql = _sealed(store, signer)
    sql("DELETE FROM audit_log WHERE thread_id = 'b'", ())
    sql("DELETE FROM audit_chains WHERE chain = 'b'", ())
    problem = _first(saver, signer)
    assert "chain 'b': deleted" in problem


def test_a_truncated_tail_is_caught_only_once_sealed(
    store: tuple[Any, Sql], signer: AuditSigner
) -> None:
    saver, sql = _sealed(store, signer)
    sealed_tail = _chain(saver, "a")[-1]
    _activity(saver, ("a",))  # four more entries in 'a', one in '', not yet in a manifest
    unsealed = _chain(saver, "a")[-2:]
    assert verify_store(saver, [signer.public_key]).unsealed == 5
    sql(
        "DELETE FROM audit_log WHERE entry_id IN (%s, %s)",
        tuple(r.entry_id for r in unsealed),
    )
    after = verify_store(saver, [signer.public_key])
    assert after.ok and after.unsealed == 3  # not detectable: no manifest covered them
    sql("DELETE FROM audit_log WHERE entry_id = %s", (sealed_tail.entry_id,))
    sql("DELETE FROM audit_log WHERE thread_id = 'a' AND seq > %s", (sealed_tail.seq - 1,))
    problem = _first(saver, signer)
    assert "chain 'a': ends at seq 3" in problem and "tail was deleted" in problem


def test_a_forged_or_deleted_manifest_is_named(
    store: tuple[Any, Sql], signer: AuditSigner, tmp_path: Path
) -> None:
    saver, sql = _sealed(store, signer)
    _activity(saver, ("a",))
    second = seal_audit(saver, signer)
    assert second is not None
    body = json.loads(second.body)
    body["chains"]["a"] = [4, body["chains"]["a"][1]]  # pretend the new entries never were
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    sql("UPDATE audit_manifests SET body = %s WHERE manifest_id = %s", (text, second.manifest_id))
    assert "signature does not verify" in _first(saver, signer)
    mallory = generate_key(tmp_path / "mallory.key")
    sql(
        "UPDATE audit_manifests SET signature = %s WHERE manifest_id = %s",
        (mallory.sign(text.encode()), second.manifest_id),
    )
    assert "signature does not verify" in _first(saver, signer)
    sql("DELETE FROM audit_manifests WHERE manifest_id = %s", (second.manifest_id,))
    assert verify_store(saver, [signer.public_key]).ok  # the newest manifest: not detectable
    _activity(saver, ("e",))
    assert seal_audit(saver, signer) is not None
    first = saver.list_audit_manifests()[0]
    sql("DELETE FROM audit_manifests WHERE manifest_id = %s", (first.manifest_id,))
    problem = _first(saver, signer)
    assert "does not follow the manifest before it" in problem


def test_a_manifest_signed_by_an_unknown_key_is_refused(
    any_saver: Any, signer: AuditSigner, tmp_path: Path
) -> None:
    _activity(any_saver)
    mallory = generate_key(tmp_path / "m.key")
    forged = seal_audit(any_saver, mallory)
    assert forged is not None
    report = verify_store(any_saver, [signer.public_key])
    assert f"signed by unknown key {mallory.key_id}" in report.problems[0]
    assert verify_store(any_saver, [signer.public_key, mallory.public_key]).ok  # rotation


def test_an_export_verifies_offline_after_the_database_is_gone(
    tmp_path: Path, signer: AuditSigner, key_path: Path
) -> None:
    from interlock.checkpoint.sqlite import SqliteSaver

    path = tmp_path / "gone.db"
    with SqliteSaver(path) as saver:
        _activity(saver)
        seal_audit(saver, signer)
        with (tmp_path / "audit.jsonl").open("w") as out:
            assert write_export(saver, out, keys=[signer.public_key]) == 13
    path.unlink()
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    key = load_public_key(f"{key_path}.pub")  # the public key only
    bundle = read_export(lines)
    assert not bundle.partial and verify_audit(bundle.rows, bundle.manifests, [key]).ok
    # tampered in the file: the first bad entry is named
    entry = json.loads(lines[5])
    entry["actor"] = "mallory"
    lines[5] = json.dumps(entry)
    bundle = read_export(lines)
    report = verify_audit(bundle.rows, bundle.manifests, [key])
    assert entry["entry_id"] in report.problems[0]
    with pytest.raises(ValueError, match="line 2"):
        read_export([lines[0], '{"type": "entry"}'])


def test_manifests_are_json_the_verifier_can_read(signer: AuditSigner) -> None:
    manifest = AuditManifest(manifest_id="m", body="{}", key_id=signer.key_id, signature="00")
    report = verify_audit([], [manifest], [signer.public_key])
    assert "signature does not verify" in report.problems[0]


def test_the_canonical_encoding_is_pinned() -> None:
    """The encoding every stored hash depends on: a change here would break every chain
    written before it (the vector was computed by the first release of the chain)."""
    from datetime import UTC, datetime

    from interlock.checkpoint._audit.chain import canonical, entry_hash

    entry = {
        "chain": "t-1",
        "seq": 3,
        "prev": "ab" * 32,
        "entry_id": "0190aa",
        "at": datetime(2026, 12, 6, 16, 0, 0, 123456, tzinfo=UTC),
        "actor": "ada",
        "action": "approval.decided",
        "thread_id": "t-1",
        "interrupt_id": None,
        "detail": '{"value":"é"}',
    }
    assert canonical(**entry) == (
        b"18:interlock-audit-v13:t-11:364:" + b"ab" * 32 + b"6:0190aa16:1796572800123456"
        b"3:ada16:approval.decided3:t-1-13:" + '{"value":"é"}'.encode()
    )
    assert entry_hash(**entry) == (
        "1d57c64c90fd89e934d39ea3cef92ed347ce9a050e833c60d896f81e57ea2c24"
    )
