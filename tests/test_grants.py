"""Standing grants (issue 22): "approve and allow similar for an hour" from a decision or an
admin, a covered call runs without pausing and is audited as granted, revocation and expiry
take effect for the next call, and K uses are spent exactly K times across processes."""

from __future__ import annotations

import multiprocessing as mp
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import interlock as il
from interlock.agent.grants import grant_matches
from interlock.checkpoint.base import Grant
from interlock.messages import AIMessage, ToolMessage
from interlock.server import create_app

PAID: list[dict[str, Any]] = []


@il.tool
def pay(to: str, amount: int) -> str:
    """Pay someone."""
    PAID.append({"to": to, "amount": amount})
    return "paid"


class Payer:
    """A model that pays `bo` the amount the user names, then says done."""

    def bind_tools(self, tools: Any) -> Payer:
        return self

    def invoke(self, messages: list[Any]) -> AIMessage:
        last = messages[-1]
        if isinstance(last, ToolMessage):
            return AIMessage(content="done")
        call = {"name": "pay", "args": {"to": "bo", "amount": int(str(last.content))}}
        return AIMessage(content="", tool_calls=[{**call, "id": f"c{uuid.uuid4().hex}"}])


KEYS = "k1=ada:approver,requester;k2=root:admin;k3=bob:approver,requester;k4=cy:requester"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, Any]]:
    PAID.clear()
    saver = il.SqliteSaver(tmp_path / "g.db")
    agent = il.create_agent(
        Payer(),
        [pay],
        checkpointer=saver,
        interrupt_on={"pay": True},
        name="payer",
        grant_predicates={"small": lambda args: int(args.get("amount", 0)) <= 50},
    )
    with TestClient(create_app(agent, keys=KEYS)) as client:
        yield client, saver
    saver.close()


def _ask(client: TestClient, amount: int) -> dict[str, Any]:
    made = client.post(
        "/v1/threads",
        json={"agent": "payer", "message": str(amount)},
        headers={"Authorization": "Bearer k4"},
    )
    assert made.status_code == 201, made.text
    return dict(made.json())


def test_approve_and_allow_similar_then_revoke(api: tuple[TestClient, Any]) -> None:
    client, saver = api
    ada = {"Authorization": "Bearer k1"}
    first = _ask(client, 30)
    assert first["status"] == "paused" and PAID == []
    [pending] = first["run"]["interrupts"]
    decided = client.post(
        f"/v1/approvals/{pending['id']}/decision",
        json={"value": {"decisions": [{"type": "approve"}]}, "grant": {"expires_in": 3600}},
        headers=ada,
    )
    assert decided.status_code == 200, decided.text
    [grant] = decided.json()["grants"]
    assert grant["agent"] == "payer" and grant["tool"] == "pay" and grant["granted_by"] == "ada"
    assert grant["match"] == {"kind": "exact", "args": {"to": "bo", "amount": 30}}
    assert PAID == [{"to": "bo", "amount": 30}]
    again = _ask(client, 30)  # covered: runs without pausing
    assert again["status"] != "paused" and len(PAID) == 2
    used = [
        e for e in saver.list_audit(thread_id=again["thread_id"]).items if e.action == "grant.used"
    ]
    assert [(e.actor, e.detail["grant_id"]) for e in used] == [("ada", grant["grant_id"])]
    other = _ask(client, 31)  # other arguments: not covered
    assert other["status"] == "paused" and len(PAID) == 2
    listed = client.get("/v1/grants", headers=ada).json()["grants"]
    assert [g["grant_id"] for g in listed] == [grant["grant_id"]]
    bob = {"Authorization": "Bearer k3"}
    gone = client.delete(f"/v1/grants/{grant['grant_id']}", headers=bob)
    assert gone.status_code == 403  # not his grant, not an admin
    revoked = client.delete(f"/v1/grants/{grant['grant_id']}", headers=ada)
    assert revoked.status_code == 200 and revoked.json()["revoked_by"] == "ada"
    assert _ask(client, 30)["status"] == "paused"  # the next call pauses again
    assert client.get("/v1/grants", headers=ada).json()["grants"] == []
    assert client.delete("/v1/grants/nope", headers=ada).status_code == 404


def test_a_grant_needs_an_approved_call_and_a_failed_decision_keeps_none(
    api: tuple[TestClient, Any],
) -> None:
    client, saver = api
    ada = {"Authorization": "Bearer k1"}
    [pending] = _ask(client, 10)["run"]["interrupts"]
    rejected = client.post(
        f"/v1/approvals/{pending['id']}/decision",
        json={
            "value": {"decisions": [{"type": "reject", "message": "no"}]},
            "grant": {"uses": 3},
        },
        headers=ada,
    )
    assert rejected.status_code == 422 and rejected.json()["error"] == "invalid_grant"
    assert saver.get_interrupt(pending["id"]).status == "pending"  # the run still waits
    assert saver.list_grants(active_at=None) == ()
    ok = client.post(
        f"/v1/approvals/{pending['id']}/decision",
        json={"value": {"decisions": [{"type": "approve"}]}},
        headers=ada,
    )
    assert ok.status_code == 200 and "grants" not in ok.json()


def test_an_admin_grant_with_a_predicate_and_uses(api: tuple[TestClient, Any]) -> None:
    client, _ = api
    body = {
        "agent": "payer",
        "tool": "pay",
        "uses": 2,
        "match": {"kind": "predicate", "name": "small"},
    }
    refused = client.post("/v1/grants", json=body, headers={"Authorization": "Bearer k1"})
    assert refused.status_code == 403  # approvers grant through their decisions
    made = client.post("/v1/grants", json=body, headers={"Authorization": "Bearer k2"})
    assert made.status_code == 201 and made.json()["uses_left"] == 2
    assert _ask(client, 50)["status"] != "paused"
    assert _ask(client, 51)["status"] == "paused"  # the predicate says no
    assert _ask(client, 5)["status"] != "paused"
    assert _ask(client, 5)["status"] == "paused"  # used up
    assert len(PAID) == 2
    bad = client.post(
        "/v1/grants",
        json={**body, "match": {"kind": "predicate"}},
        headers={"Authorization": "Bearer k2"},
    )
    assert bad.status_code == 422


def test_grant_matching() -> None:
    now = datetime.now(UTC)

    def g(match: dict[str, Any]) -> Grant:
        return Grant(grant_id="g", agent="a", tool="t", match=match, granted_by="x", created_at=now)

    args = {"to": "bo", "amount": 30}
    assert grant_matches(g({"kind": "any"}), args, {})
    assert grant_matches(g({"kind": "exact", "args": {"to": "bo"}}), args, {})
    assert not grant_matches(g({"kind": "exact", "args": {"to": "al"}}), args, {})
    schema = {"type": "object", "properties": {"amount": {"type": "integer", "maximum": 40}}}
    assert grant_matches(g({"kind": "schema", "schema": schema}), args, {})
    assert not grant_matches(g({"kind": "schema", "schema": schema}), {"amount": 41}, {})
    assert not grant_matches(g({"kind": "predicate", "name": "unknown"}), args, {})
    assert not grant_matches(g({"kind": "something"}), args, {})
    expired = Grant(
        grant_id="g", agent="a", tool="t", granted_by="x", created_at=now, expires_at=now
    )
    assert not expired.active(now) and expired.active(now - timedelta(seconds=1))


def _spend(args: tuple[str, str, int]) -> int:
    spec, tag, n = args
    saver = _open(spec)
    try:
        now = datetime.now(UTC)
        return sum(
            saver.use_grant("g", call_id=f"{tag}-{i}", thread_id="t", now=now) for i in range(n)
        )
    finally:
        saver.close()


def _open(spec: str) -> Any:
    if spec.startswith("sqlite:"):
        return il.SqliteSaver(spec.removeprefix("sqlite:"))
    from interlock.checkpoint.postgres import PostgresSaver

    dsn, schema = spec.removeprefix("postgres:").split("|")
    return PostgresSaver(dsn, schema=schema)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_two_processes_spend_exactly_k_uses(kind: str, tmp_path: Path) -> None:
    if kind == "sqlite":
        spec = f"sqlite:{tmp_path / 'k.db'}"
    else:
        pytest.importorskip("psycopg")
        from tests.pg import postgres_spec

        spec = postgres_spec()
    saver = _open(spec)
    saver.add_grant(
        Grant(
            grant_id="g", agent="a", tool="t", granted_by="ada", created_at=datetime.now(UTC),
            uses_left=25,
        )
    )  # fmt: skip
    saver.close()
    with mp.get_context("spawn").Pool(2) as pool:
        spent = pool.map(_spend, [(spec, "p1", 40), (spec, "p2", 40)])
    assert sum(spent) == 25
    saver = _open(spec)
    try:
        assert saver.get_grant("g").uses_left == 0
        used = [e for e in saver.list_audit(thread_id="t", limit=1000).items]
        assert len(used) == 25 and {e.action for e in used} == {"grant.used"}
    finally:
        saver.close()


def test_a_grant_never_stands_in_for_a_quorum(tmp_path: Path) -> None:
    """A quorum needs N people each time: a decision of a quorum request cannot make a
    grant (422, no vote recorded), and an admin's grant for a quorum-gated tool covers
    nothing (the call still waits for its votes)."""
    PAID.clear()
    saver = il.SqliteSaver(tmp_path / "q.db")
    agent = il.create_agent(
        Payer(),
        [pay],
        checkpointer=saver,
        interrupt_on={"pay": {"allowed_decisions": ["approve", "reject"], "quorum": 2}},
        name="payer",
    )
    try:
        with TestClient(create_app(agent, keys=KEYS)) as client:
            first = _ask(client, 30)
            [pending] = first["run"]["interrupts"]
            refused = client.post(
                f"/v1/approvals/{pending['id']}/decision",
                json={"value": {"decisions": [{"type": "approve"}]}, "grant": {}},
                headers={"Authorization": "Bearer k1"},
            )
            assert refused.status_code == 422, refused.text
            assert "cannot stand in for a quorum" in refused.json()["message"]
            assert saver.list_votes(pending["id"]) == ()  # nothing was recorded
            assert (
                client.get("/v1/grants", headers={"Authorization": "Bearer k1"}).json()["grants"]
                == []
            )
            made = client.post(
                "/v1/grants",
                json={"agent": "payer", "tool": "pay", "expires_in": 3600},
                headers={"Authorization": "Bearer k2"},
            )
            assert made.status_code == 201, made.text
            again = _ask(client, 30)
            assert again["status"] == "paused" and PAID == []  # still waits for two people
    finally:
        saver.close()


def test_the_inbox_approves_and_allows_the_same_call_for_an_hour(
    api: tuple[TestClient, Any],
) -> None:
    import re

    client, saver = api
    first = _ask(client, 40)
    [pending] = first["run"]["interrupts"]
    assert client.post("/inbox/login", data={"key": "k1"}).status_code in (200, 303)
    page = client.get(f"/inbox/{pending['id']}").text
    assert 'id="grant"' in page  # offered on a one-call review that may be approved
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert csrf is not None
    done = client.post(
        f"/inbox/{pending['id']}",
        data={"csrf": csrf.group(1), "form": "actions", "decision_0": "approve", "grant": "3600"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    assert PAID == [{"to": "bo", "amount": 40}]
    [grant] = saver.list_grants(agent="payer", tool="pay", active_at=None)
    assert grant.granted_by == "ada" and grant.expires_at is not None
    assert (grant.expires_at - grant.created_at).total_seconds() == pytest.approx(3600, abs=5)
    again = _ask(client, 40)  # the same call: runs at once
    assert again["status"] != "paused" and len(PAID) == 2
    assert _ask(client, 41)["status"] == "paused"  # other arguments still ask
