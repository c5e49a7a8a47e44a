"""Hand-back between real `interlock serve` processes on one store (SQLite, PostgreSQL).

B serves v1 of an agent, C serves v2 (its paying node renamed). A serves v1 too and is
killed with SIGKILL right after it records a decision. Whichever of B and C takes the run
over first, the decision is carried out once, by v1 (B): C hands the run back rather than
reopening it. With B stopped, the same crash leaves C to take the run over alone, and the
request returns to pending with the reason.
"""

from __future__ import annotations

import sqlite3
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests._served_store import served_store
from tests.test_runs_takeover import _serve

pytestmark = pytest.mark.slow

AGENTS = textwrap.dedent(
    """
    import os
    import signal
    import sqlite3
    from typing import TypedDict

    import interlock as il

    ROLE, VERSION = os.environ["ROLE"], os.environ["VERSION"]


    class Pay(TypedDict, total=False):
        item: str
        paid: str


    def make(checkpointer):
        resolve = checkpointer.resolve_interrupts

        def resolve_then_die(*args, **kwargs):
            out = resolve(*args, **kwargs)
            if ROLE.startswith("A"):
                os.kill(os.getpid(), signal.SIGKILL)
            return out

        checkpointer.resolve_interrupts = resolve_then_die

        def pay(state, config):
            answer = il.interrupt({"pay": state["item"]})
            with sqlite3.connect(os.environ["LEDGER"], timeout=30) as db:
                db.execute("CREATE TABLE IF NOT EXISTS paid (key TEXT, role TEXT, version TEXT)")
                key = config["configurable"]["thread_id"]
                db.execute("INSERT INTO paid VALUES (?, ?, ?)", (key, ROLE, VERSION))
            return {"paid": f"{answer}:{state['item']}"}

        node = "pay" if VERSION == "v1" else "charge"
        g = il.StateGraph(Pay)
        g.add_node(node, pay)
        g.add_edge(il.START, node)
        graph = g.compile(checkpointer=checkpointer, name="pay")
        graph.lease_ttl = 2.0  # a dead process's thread lease lapses soon
        return {"pay": graph}
    """
)
BOB = {"Authorization": "Bearer k-bob"}
ADA = {"Authorization": "Bearer k-ada"}


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """(`--db` URL, a saver on the same store for the test's own reads)."""
    with served_store(request.param, tmp_path) as pair:
        yield pair


def _until(check: Any, what: str, limit: float = 90.0) -> Any:
    deadline = time.monotonic() + limit
    while not (got := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return got


def _paid(ledger: Path) -> list[tuple[str, str, str]]:
    if not ledger.exists():
        return []
    with sqlite3.connect(ledger) as db:
        return sorted(db.execute("SELECT key, role, version FROM paid").fetchall())


def _decide_in_a_dying_process(tmp_path: Path, db: str, env: dict[str, str], thread: str) -> str:
    """A (v1) pauses `thread`, records the decision and is killed; the request's id."""
    with _serve(tmp_path, db, {**env, "ROLE": "A", "VERSION": "v1"}) as (a, proc_a):
        made = httpx.post(
            f"{a}/v1/threads", json={"thread_id": thread, "input": {"item": thread}}, headers=BOB
        )
        assert made.status_code == 201, made.text
        iid = str(made.json()["run"]["interrupts"][0]["id"])
        with pytest.raises(httpx.TransportError):
            httpx.post(
                f"{a}/v1/approvals/{iid}/decision", json={"value": "yes"}, headers=ADA, timeout=60
            )
        proc_a.wait(timeout=30)
        assert proc_a.returncode == -9  # killed right after recording the decision
    return iid


def test_v1_carries_out_its_decision_and_without_v1_v2_reopens_it(
    tmp_path: Path, store: tuple[str, Any]
) -> None:
    db, saver = store
    (tmp_path / "agents.py").write_text(AGENTS)
    ledger = tmp_path / "ledger.db"
    env = {"LEDGER": str(ledger)}
    with _serve(tmp_path, db, {**env, "ROLE": "C", "VERSION": "v2"}) as (c, _):
        with _serve(tmp_path, db, {**env, "ROLE": "B", "VERSION": "v1"}) as (b, _):
            iid = _decide_in_a_dying_process(tmp_path, db, env, "t1")

            def carried_out() -> bool:
                thread = httpx.get(f"{b}/v1/threads/t1", headers=BOB, timeout=10).json()
                runs = saver.list_runs(thread_id="t1")
                return thread["next"] == [] and all(r.status == "done" for r in runs[:1])

            _until(carried_out, "v1 to carry the decision out")
            assert _paid(ledger) == [("t1", "B", "v1")]  # once, by v1
            request = saver.get_interrupt(iid)
            assert (request.status, request.resume, request.decided_by) == (
                "resolved",
                "yes",
                "ada",
            )
            assert "reopened" not in request.metadata
            handed = [e for e in saver.list_audit(thread_id="t1").items]
            assert "approval.reopened" not in {e.action for e in handed}
            assert all(
                e.detail["to_version"] != e.detail["version"]
                for e in handed
                if e.action == "run.handed_back"
            )
        # B stopped (its adverts withdrawn); only v2 is left
        iid2 = _decide_in_a_dying_process(tmp_path, db, env, "t2")

        def reopened() -> Any:
            approval = httpx.get(f"{c}/v1/approvals/{iid2}", headers=ADA, timeout=10).json()
            return approval["status"] == "pending" and approval

        _until(reopened, "v2 to return the request to pending")
        reopened_as = saver.get_interrupt(iid2).metadata["reopened"]
        assert reopened_as["decision"] == "yes"
        assert "node `pay` was removed (and `charge` added)" in reopened_as["reason"]
        [run] = [r for r in saver.list_runs(thread_id="t2") if r.kind == "resume"]
        assert run.status == "failed" and "VersionChanged" in (run.error or "")
    assert _paid(ledger) == [("t1", "B", "v1")]  # nothing was paid under v2
