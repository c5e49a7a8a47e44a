"""The terminal commands against a local store, in this process: `approvals`, `threads`,
`audit`, `db` keep the HTTP API's rules (exactly once, approver rules, no self-approval,
audit) and answer with one-line errors and the documented exit codes."""

from __future__ import annotations

import json
import sqlite3
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from interlock import SqliteSaver
from interlock.cli import main

AGENTS = textwrap.dedent(
    """
    from typing import Any, TypedDict

    import interlock as il

    CALLS = []


    class Pay(TypedDict, total=False):
        amount: int
        answer: Any


    def make(checkpointer):
        def ask(state):
            answer = il.interrupt({"pay": state["amount"]}, approvers=["group:finance"])
            CALLS.append(answer)
            return {"answer": answer}

        g = il.StateGraph(Pay)
        g.add_node("ask", ask)
        g.add_edge(il.START, "ask")
        return {"payments": g.compile(checkpointer=checkpointer, name="payments")}
    """
)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A store with one pending payment request asked by `ann`, and the module serving it."""
    (tmp_path / "cli_agents_mod.py").write_text(AGENTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("INTERLOCK_URL", raising=False)
    sys.modules.pop("cli_agents_mod", None)
    import cli_agents_mod  # type: ignore[import-not-found]

    db = f"sqlite:///{tmp_path / 'app.db'}"
    with SqliteSaver(tmp_path / "app.db") as saver:
        graph = cli_agents_mod.make(saver)["payments"]
        config = {"configurable": {"thread_id": "t-1", "user_id": "ann"}}
        result = graph.invoke({"amount": 120}, config)
    [pending] = result["__interrupt__"]
    return {"db": db, "id": pending.id, "path": tmp_path / "app.db", "module": cli_agents_mod}


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def where(store: dict[str, Any], *more: str) -> list[str]:
    return ["--db", store["db"], "--app", "cli_agents_mod:make", *more]


def test_list_and_show_as_json(store: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "approvals", "list", "--json", *where(store))
    assert code == 0
    [item] = json.loads(out)
    assert item["id"] == store["id"] and item["status"] == "pending"
    assert item["requested_by"] == "ann" and item["graph"] == "payments"
    assert item["approvers"] == ["group:finance"]
    code, out, _ = cli(capsys, "approvals", "list", "--agent", "other", "--json", *where(store))
    assert json.loads(out) == []
    code, out, _ = cli(capsys, "approvals", "show", store["id"], *where(store))
    assert code == 0
    assert "Approval needed" in out and '"pay": 120' in out and "group:finance" in out


def test_mine_applies_the_approver_rule_and_self_approval(
    store: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    def mine(*who: str) -> list[Any]:
        code, out, _ = cli(capsys, "approvals", "--mine", "--json", *where(store, *who))
        assert code == 0
        return list(json.loads(out))

    assert mine("--as", "bob") == []  # not in finance
    assert len(mine("--as", "bob", "--group", "finance")) == 1
    assert mine("--as", "ann", "--group", "finance") == []  # ann asked
    assert len(mine("--as", "ann", "--group", "finance", "--allow-self-approval")) == 1


def test_decide_keeps_the_servers_rules_and_decides_once(
    store: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    rid = store["id"]
    code, _, err = cli(
        capsys, "approvals", "decide", rid, "--value", '"ok"', *where(store, "--as", "bob")
    )
    assert code == 1
    assert err.strip() == "interlock approvals: only group:finance may decide this request"
    code, _, err = cli(
        capsys, "approvals", "decide", rid, "--value", '"ok"',
        *where(store, "--as", "ann", "--group", "finance"),
    )  # fmt: skip
    assert code == 1 and "ann started this run and may not decide it" in err
    code, out, _ = cli(
        capsys, "approvals", "decide", rid, "--value", '"ok"', "--json",
        *where(store, "--as", "cy", "--group", "finance"),
    )  # fmt: skip
    assert code == 0
    decided = json.loads(out)
    assert decided["approval"]["decided_by"] == "cy"
    assert decided["run"]["values"]["answer"] == "ok"
    assert store["module"].CALLS == ["ok"]
    code, _, err = cli(
        capsys, "approvals", "decide", rid, "--value", '"again"',
        *where(store, "--as", "cy", "--group", "finance"),
    )  # fmt: skip
    assert code == 3 and "already resolved by cy" in err
    assert store["module"].CALLS == ["ok"]
    code, out, _ = cli(capsys, "audit", "list", "--request", rid, "--json", *where(store))
    actions = [(e["action"], e["actor"], e["detail"].get("reason")) for e in json.loads(out)]
    assert ("approval.refused", "bob", "not_an_approver") in actions
    assert ("approval.refused", "ann", "self_approval") in actions
    assert ("approval.decided", "cy", None) in actions


def test_agent_decisions_are_checked_against_the_request_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from interlock.cli.demo import build_demo_agent, choose_model

    monkeypatch.delenv("INTERLOCK_URL", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # the demo store lives under ~/.interlock
    monkeypatch.setenv("DEEPSEEK_API_KEY", "")
    monkeypatch.setenv("OPENAI_API_KEY", "")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "")
    path = tmp_path / ".interlock" / "demo.db"
    path.parent.mkdir()
    with SqliteSaver(path) as saver:
        agent = build_demo_agent(choose_model("scripted")[0], saver)
        config = {"configurable": {"thread_id": "d-1", "user_id": "ann"}}
        result = agent.invoke({"messages": [("user", 'delete "Python Basics"')]}, config)
    rid = result["__interrupt__"][0].id
    code, _, err = cli(capsys, "approvals", "decide", rid, "--edit", '{"course_name": 5}')
    assert code == 1
    assert "not sent" in err and "course_name: expected string, got int" in err
    code, _, err = cli(capsys, "approvals", "decide", rid, "--edit", "{nope")
    assert code == 1 and "--edit is not valid JSON" in err
    code, out, _ = cli(capsys, "approvals", "show", rid, "--json")
    assert code == 0 and json.loads(out)["status"] == "pending"  # the refused edits sent nothing
    code, out, _ = cli(
        capsys, "approvals", "decide", rid, "--edit", '{"course_name": "SQL for Analysts"}',
        "--as", "bo",
    )  # fmt: skip
    assert code == 0, out
    assert 'Course "SQL for Analysts" has been deleted.' in out
    with SqliteSaver(path) as saver:
        agent = build_demo_agent(choose_model("scripted")[0], saver)
        state = agent.get_state(config)
    assert state.next == ()
    assert "SQL for Analysts" in state.values["messages"][-1].content


def test_usage_and_one_line_errors(
    store: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, "approvals", "decide", store["id"], *where(store))
    assert code == 2 and "exactly one of --approve" in err
    code, _, err = cli(capsys, "approvals", "show", *where(store))
    assert code == 2
    code, _, err = cli(capsys, "approvals", "show", "no-such-id", *where(store))
    assert (code, err) == (1, "interlock approvals: no request 'no-such-id'\n")
    code, _, err = cli(capsys, "threads", "show", "nope", *where(store))
    assert (code, err) == (1, "interlock threads: no thread 'nope'\n")
    code, _, err = cli(capsys, "approvals", "--db", "mysql://x")
    assert code == 1 and err.count("\n") == 1 and "sqlite:///path or postgresql://" in err
    code, _, err = cli(capsys, "approvals", "decide", store["id"], "--approve", *where(store))
    assert code == 1 and "not an agent's tool call: answer it with --value JSON" in err
    code, _, err = cli(
        capsys, "approvals", "decide", store["id"], "--value", '"x"', "--db", store["db"]
    )
    assert code == 1 and "--app module:factory" in err  # deciding resumes: it needs the agent
    with pytest.raises(SystemExit) as exc:
        main(["approvals", "frobnicate"])
    assert exc.value.code == 2
    capsys.readouterr()


def test_threads_list_show_history(
    store: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "threads", "--json", *where(store))
    assert code == 0 and [t["thread_id"] for t in json.loads(out)] == ["t-1"]
    code, out, _ = cli(capsys, "threads", "show", "t-1", "--json", *where(store))
    view = json.loads(out)
    assert view["status"] == "interrupted" and view["agent"] == "payments"
    assert view["values"] == {"amount": 120} and [p["id"] for p in view["pending"]] == [store["id"]]
    code, out, _ = cli(capsys, "threads", "history", "t-1", "--json", *where(store))
    history = json.loads(out)
    assert code == 0 and len(history) == 1 and history[0]["next"] == ["ask"]
    code, out, _ = cli(capsys, "threads", "history", "t-1", *where(store))
    assert "checkpoint(s), newest first" in out


def test_audit_verify_finds_a_missing_decision_entry(
    store: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    who = ("--as", "cy", "--group", "finance")
    assert (
        cli(capsys, "approvals", "decide", store["id"], "--value", "1", *where(store, *who))[0] == 0
    )
    code, out, _ = cli(capsys, "audit", "verify", "--json", *where(store))
    report = json.loads(out)
    assert code == 0 and report["requests"] == 1 and report["problems"] == []
    assert "after the newest signed manifest" in report["not_checked"] and report["chain"]["ok"]
    with sqlite3.connect(store["path"]) as conn:
        conn.execute("DELETE FROM audit_log WHERE action = 'approval.decided'")
    code, out, _ = cli(capsys, "audit", "verify", *where(store))
    assert code == 1
    assert f"missing: request {store['id']} is resolved: no approval.decided" in out


def test_db_migrate_and_prune(store: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "db", "migrate", "--db", store["db"], "--json")
    assert code == 0 and json.loads(out)["schema_versions"]
    who = ("--as", "cy", "--group", "finance")
    assert (
        cli(capsys, "approvals", "decide", store["id"], "--value", "1", *where(store, *who))[0] == 0
    )
    code, out, _ = cli(
        capsys, "db", "prune", "--db", store["db"], "--finished-before", "1d", "--json"
    )
    assert code == 0 and json.loads(out)["checkpoints_deleted"] == 0  # finished just now
    code, out, _ = cli(
        capsys, "db", "prune", "--db", store["db"], "--finished-before", "2999-01-01T00:00:00Z",
        "--json",
    )  # fmt: skip
    assert code == 0 and json.loads(out)["checkpoints_deleted"] > 0
    code, out, _ = cli(capsys, "threads", "--json", *where(store))
    assert json.loads(out) == []
    code, _, err = cli(capsys, "db", "prune", "--db", store["db"])
    assert code == 2 and "--finished-before" in err
    code, _, err = cli(capsys, "db", "prune", "--db", store["db"], "--finished-before", "soon")
    assert code == 2


@pytest.mark.postgres
def test_a_local_postgres_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    from tests import pg

    schema = pg.new_schema()
    with psycopg.connect(pg.DSN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{pg.DSN}?options=-csearch_path%3D{schema}"
    (tmp_path / "cli_agents_mod.py").write_text(AGENTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("INTERLOCK_URL", raising=False)
    sys.modules.pop("cli_agents_mod", None)
    import cli_agents_mod

    from interlock.checkpoint.postgres import PostgresSaver

    with PostgresSaver(pg.DSN, schema=schema) as saver:
        graph = cli_agents_mod.make(saver)["payments"]
        config = {"configurable": {"thread_id": "pg-1", "user_id": "ann"}}
        rid = graph.invoke({"amount": 7}, config)["__interrupt__"][0].id
    here = ["--db", url, "--app", "cli_agents_mod:make"]
    code, out, _ = cli(capsys, "approvals", "--json", *here)
    assert code == 0 and [a["id"] for a in json.loads(out)] == [rid]
    who = ("--as", "cy", "--group", "finance")
    code, out, err = cli(capsys, "approvals", "decide", rid, "--value", "true", *here, *who)
    assert code == 0, err
    code, _, err = cli(capsys, "approvals", "decide", rid, "--value", "false", *here, *who)
    assert code == 3 and "already resolved by cy" in err
    assert cli_agents_mod.CALLS == [True]
    code, out, _ = cli(capsys, "audit", "verify", "--json", *here)
    assert code == 0 and json.loads(out)["requests"] == 1
