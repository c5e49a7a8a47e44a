"""`interlock audit keygen | seal | export | verify` and the server's signed audit: a key
pair, manifests signed by the CLI and by `interlock serve`, an export verified offline after
the database is gone, and the first bad entry named."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from interlock import SqliteSaver
from interlock.checkpoint._testkit import make_interrupt, make_record
from interlock.cli import main


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A SQLite store with two threads' pauses and decisions."""
    monkeypatch.delenv("INTERLOCK_URL", raising=False)
    monkeypatch.delenv("INTERLOCK_AUDIT_KEY", raising=False)
    path = tmp_path / "app.db"
    with SqliteSaver(path) as saver:
        for t in ("t-1", "t-2"):
            rec = make_record(t, None, [("n", 1)], {"n": 1})
            pause = make_interrupt(t, rec.checkpoint_id, metadata={"requested_by": "ann"})
            saver.put_checkpoint(rec, expected_head=None, interrupts=[pause])
            saver.resolve_interrupts(t, {pause.interrupt_id: "yes"}, decided_by="cy")
    return path


def test_keygen_seal_export_and_verify_offline(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "audit.key"
    code, out, _ = cli(capsys, "audit", "keygen", "--out", str(key))
    assert code == 0 and "audit.key.pub" in out
    assert (
        os.stat(key).st_mode & 0o777 == 0o600
        and "PUBLIC KEY" in (tmp_path / "audit.key.pub").read_text()
    )
    code, _, err = cli(capsys, "audit", "keygen", "--out", str(key))
    assert code == 2 and "refusing to overwrite" in err
    url = f"sqlite:///{db}"
    code, out, _ = cli(capsys, "audit", "seal", "--db", url, "--audit-key", str(key))
    assert code == 0 and out.startswith("sealed: manifest")
    pub = f"{key}.pub"
    code, out, _ = cli(capsys, "audit", "verify", "--db", url, "--public-key", pub, "--json")
    report = json.loads(out)
    assert code == 0 and report["chain"]["ok"] and report["chain"]["manifests"] == 1
    export = tmp_path / "audit.jsonl"
    code, _, err = cli(
        capsys, "audit", "export", "--db", url, "--out", str(export), "--public-key", pub
    )
    assert code == 0 and "exported 4 entr(ies)" in err
    first_two = [json.loads(x)["entry_id"] for x in export.read_text().splitlines()[1:3]]
    part = tmp_path / "part.jsonl"
    code, _, err = cli(
        capsys, "audit", "export", "--db", url, "--out", str(part), "--since", first_two[0]
    )
    assert code == 0 and "exported 3 entr(ies)" in err  # t-1 from its seq 2
    code, _, err = cli(capsys, "audit", "export", "--db", url, "--since", "last tuesday")
    assert code == 2 and "--since" in err
    code, out, _ = cli(capsys, "audit", "verify", "--file", str(part), "--public-key", pub)
    assert code == 0 and "partial export" in out and "ok: every chain links" in out
    db.unlink()  # the database is gone; the export and the public key are enough
    code, out, _ = cli(capsys, "audit", "verify", "--file", str(export), "--public-key", pub)
    assert code == 0 and "ok: every chain links" in out
    lines = export.read_text().splitlines()
    entry = json.loads(lines[3])
    entry["actor"] = "mallory"
    lines[3] = json.dumps(entry)
    export.write_text("\n".join(lines) + "\n")
    code, out, _ = cli(capsys, "audit", "verify", "--file", str(export), "--public-key", pub)
    assert code == 1 and f"broken: entry {entry['entry_id']}" in out
    code, _, err = cli(capsys, "audit", "verify", "--file", str(export))
    assert code == 2 and "--public-key" in err
    code, _, err = cli(capsys, "audit", "verify", "--file", str(export), "--public-key", str(key))
    assert code == 2 and "private key" in err


def test_verify_on_a_store_names_an_edited_entry(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{db}"
    code, out, _ = cli(capsys, "audit", "verify", "--db", url)
    assert code == 0 and "ok: every chain links" in out
    with sqlite3.connect(db) as conn:
        [(entry_id,)] = conn.execute(
            "SELECT entry_id FROM audit_log WHERE thread_id = 't-2' AND seq = 1"
        ).fetchall()
        conn.execute("UPDATE audit_log SET actor = 'bob' WHERE entry_id = ?", (entry_id,))
    conn.close()
    code, out, _ = cli(capsys, "audit", "verify", "--db", url)
    assert code == 1 and f"broken: entry {entry_id} (chain 't-2', seq 1)" in out
    code, _, err = cli(capsys, "audit", "seal", "--db", url)
    assert code == 2 and "--audit-key" in err


def test_the_server_seals_publishes_its_keys_and_verifies(db: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    import interlock as il
    from interlock.checkpoint._audit.signing import generate_key
    from interlock.server import create_app

    old = generate_key(tmp_path / "old.key")
    generate_key(tmp_path / "new.key")

    def build(saver: Any) -> Any:
        g = il.StateGraph(dict)
        g.add_node("n", lambda s: {})
        g.add_edge(il.START, "n")
        return g.compile(checkpointer=saver, name="a")

    with SqliteSaver(db) as saver:
        app = create_app(
            build(saver),
            keys="k1=ada:admin;k2=bob:approver",
            audit_key=tmp_path / "new.key",
            audit_old_keys=[tmp_path / "old.key.pub"],
        )
        with TestClient(app) as client:
            admin = {"Authorization": "Bearer k1"}
            keys = client.get("/v1/audit/public-key", headers=admin).json()["keys"]
            assert [k["key_id"] for k in keys][1] == old.key_id and len(keys) == 2
            assert (
                client.get("/v1/audit/verify", headers={"Authorization": "Bearer k2"}).status_code
                == 403
            )
            report = client.get("/v1/audit/verify", headers=admin).json()
            assert report["ok"] and report["entries"] == 4
        # the sealer signed at start: the heads are sealed
        assert saver.last_audit_manifest() is not None and report["unsealed"] == 0
