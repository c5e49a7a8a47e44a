"""The terminal face driven through a pseudo-terminal like a person would: `interlock chat`
and `interlock approvals` against a local store, and against a live `interlock serve`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pexpect
import pytest

pytestmark = pytest.mark.slow

EXE = str(Path(sys.executable).with_name("interlock"))
DECIDE = r"Decision \[a\]pprove / \[e\]dit / \[r\]eject / \[q\]uit: "  # the demo's policy
THREAD = r"thread: ([0-9a-f]{32})\r?\n"  # the whole id, up to the line's end


def env(tmp_path: Path, **more: str) -> dict[str, str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(("_API_KEY", "_BASE_URL")) and not k.startswith("INTERLOCK_")
        and k not in ("EDITOR", "VISUAL")
    }  # fmt: skip
    return {**base, "HOME": str(tmp_path), "COLUMNS": "100", **more}


def spawn(tmp_path: Path, *args: str, **more: str) -> pexpect.spawn:
    return pexpect.spawn(
        EXE, list(args), env=env(tmp_path, **more), cwd=str(tmp_path), encoding="utf-8",
        timeout=60, dimensions=(40, 100),
    )  # fmt: skip


def finish(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return int(child.exitstatus if child.exitstatus is not None else -1)


def run(tmp_path: Path, *args: str, **more: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXE, *args], env=env(tmp_path, **more), cwd=tmp_path, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


# ---- a local store -------------------------------------------------------------------------


def test_chat_streams_asks_and_approves(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    child = spawn(tmp_path, "chat", "--db", db, "--as", "ada")
    child.expect(THREAD)
    child.expect("You: ")
    child.sendline("Which courses are there?")
    child.expect("Agent: Which course should I delete")
    child.expect("You: ")
    child.sendline('Please delete "Python Basics"')
    child.expect("Approval needed")
    child.expect("action: delete_course")
    child.expect("course_name")
    child.expect("Python Basics")
    child.expect("allowed: approve, edit, reject")
    child.expect(DECIDE)
    child.sendline("a")
    child.expect('Agent: Done. Course "Python Basics" has been deleted.')
    child.expect("You: ")
    child.sendline("")
    child.expect("Bye.")
    assert finish(child) == 0


def test_an_edit_in_the_editor_is_checked_against_the_tools_schema(tmp_path: Path) -> None:
    editor = tmp_path / "editor.py"
    editor.write_text(
        textwrap.dedent(
            """
            import json, pathlib, sys
            count = pathlib.Path(__file__).with_name("edits")
            n = int(count.read_text()) if count.exists() else 0
            count.write_text(str(n + 1))
            args = json.loads(pathlib.Path(sys.argv[1]).read_text())
            assert args == {"course_name": "Outdated Java Tutorial"}, args
            new = {"course_name": 5} if n == 0 else {"course_name": "SQL for Analysts"}
            pathlib.Path(sys.argv[1]).write_text(json.dumps(new))
            """
        )
    )
    db = f"sqlite:///{tmp_path / 'c.db'}"
    child = spawn(
        tmp_path, "chat", "--db", db, "--message", 'delete "Outdated Java Tutorial"',
        EDITOR=f"{sys.executable} {editor}",
    )  # fmt: skip
    child.expect(DECIDE)
    child.sendline("e")
    child.expect("Not sent — the answer does not fit the request:")
    child.expect("course_name: expected string, got int")
    child.expect(DECIDE)
    child.sendline("e")
    child.expect('Agent: Done. Course "SQL for Analysts" has been deleted.')
    child.expect("You: ")
    child.sendeof()
    assert finish(child) == 0


def test_ctrl_c_leaves_the_chat_paused_and_approvals_decides_it(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    child = spawn(
        tmp_path, "chat", "--db", db, "--as", "ann", "--message", 'delete "Python Basics"'
    )
    child.expect(THREAD)
    thread = child.match.group(1)
    child.expect(DECIDE)
    child.sendintr()
    child.expect(f"interlock chat --db {db} --thread {thread}")
    assert finish(child) == 130

    listed = run(tmp_path, "approvals", "--db", db, "--json")
    assert listed.returncode == 0, listed.stderr
    [request] = json.loads(listed.stdout)
    assert request["thread_id"] == thread and request["requested_by"] == "ann"

    again = spawn(tmp_path, "chat", "--db", db, "--as", "ann", "--thread", thread)
    again.expect('Confirm deletion of course "Python Basics"')
    again.expect(DECIDE)
    again.sendline("r")
    again.expect("Reason: ")
    again.sendline("it still has students")
    again.expect("Agent: .*it still has students")
    again.expect("You: ")
    again.sendline("")
    assert finish(again) == 0

    late = run(tmp_path, "approvals", "decide", request["id"], "--approve", "--db", db)
    assert late.returncode == 3
    assert late.stderr.strip().endswith(f"request {request['id']} was already resolved by ann")


# ---- a live server -------------------------------------------------------------------------

AGENTS = textwrap.dedent(
    """
    from interlock.cli.demo import build_demo_agent, choose_model


    def make(checkpointer):
        return {"courses": build_demo_agent(choose_model("scripted")[0], checkpointer)}
    """
)
KEYS = "k-bob=bob:requester;k-ada=ada:approver;k-cy=cy:requester,approver;k-root=root:admin"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(tmp_path: Path, *flags: str) -> Iterator[str]:
    (tmp_path / "cli_served.py").write_text(AGENTS)
    port = _free_port()
    command = [EXE, "serve", "cli_served:make", "--db", f"sqlite:///{tmp_path / 's.db'}",
               "--port", str(port), "--keys", KEYS, *flags]  # fmt: skip
    proc = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**env(tmp_path), "PYTHONPATH": str(tmp_path)},
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:  # readiness: the first answered health check
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


def test_against_a_live_server(tmp_path: Path) -> None:
    with server(tmp_path) as url:
        # bob (a requester) chats; he may not decide, so the request stays pending
        child = spawn(tmp_path, "chat", "--url", url, "--key", "k-bob",
                      "--message", 'delete "Python Basics"')  # fmt: skip
        child.expect(THREAD)
        thread = child.match.group(1)
        child.expect("Approval needed")
        child.expect(DECIDE)
        child.sendline("a")
        child.expect("bob needs the role approver")
        child.expect("stays pending")
        assert finish(child) == 1

        # ada sees it in the inbox (a pty: the rich table) and decides it
        inbox = spawn(tmp_path, "approvals", INTERLOCK_URL=url, INTERLOCK_API_KEY="k-ada")
        inbox.expect("1 request")
        inbox.expect("bob")
        inbox.expect("delete_course")
        assert finish(inbox) == 0
        listed = run(tmp_path, "approvals", "--mine", "--json", INTERLOCK_URL=url,
                     INTERLOCK_API_KEY="k-ada")  # fmt: skip
        [request] = json.loads(listed.stdout)
        assert request["thread_id"] == thread
        bad = run(tmp_path, "approvals", "decide", request["id"], "--edit", '{"course_name": 1}',
                  "--url", url, "--key", "k-ada")  # fmt: skip
        assert bad.returncode == 1 and "not sent" in bad.stderr
        ok = run(tmp_path, "approvals", "decide", request["id"], "--reject", "not today",
                 "--url", url, "--key", "k-ada")  # fmt: skip
        assert ok.returncode == 0, ok.stderr
        assert "resolved" in ok.stdout and "not today" in ok.stdout
        twice = run(tmp_path, "approvals", "decide", request["id"], "--approve",
                    "--url", url, "--key", "k-ada")  # fmt: skip
        assert twice.returncode == 3 and "already resolved by ada" in twice.stderr

        shown = run(tmp_path, "threads", "show", thread, "--json", "--url", url, "--key", "k-ada")
        view = json.loads(shown.stdout)
        assert view["status"] == "finished" and "not today" in json.dumps(view["values"])
        verify = run(tmp_path, "audit", "verify", "--url", url, "--key", "k-root")
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert "checked 1 request(s)" in verify.stdout

        # one-line errors, never a traceback
        for args, message in [
            (["--key", "wrong"], "the server refused the API key"),
            (["--key", "k-bob"], "bob needs the role approver"),
            (["show", "nope", "--key", "k-ada"], "no request 'nope'"),
        ]:
            failed = run(tmp_path, "approvals", *args, "--url", url)
            assert failed.returncode == 1 and failed.stderr.count("\n") == 1, failed.stderr
            assert message in failed.stderr and "Traceback" not in failed.stderr
    gone = run(tmp_path, "approvals", "--url", url, "--key", "k-ada")
    assert gone.returncode == 1 and "cannot reach the server at" in gone.stderr
    assert "Traceback" not in gone.stderr
    bad_url = run(tmp_path, "threads", "--url", "ftp://x")
    assert bad_url.returncode == 1 and "--url must be http://" in bad_url.stderr


def test_a_chat_with_a_server_that_allows_self_approval(tmp_path: Path) -> None:
    with server(tmp_path, "--allow-self-approval") as url:
        child = spawn(tmp_path, "chat", "courses", "--url", url, "--key", "k-cy")
        child.expect(THREAD)
        thread = child.match.group(1)
        child.expect("You: ")
        child.sendline('delete "Python Basics"')
        child.expect(DECIDE)
        child.sendintr()
        child.expect(f"interlock chat courses --url {url} --thread {thread}")
        assert finish(child) == 130
        again = spawn(tmp_path, "chat", "--url", url, "--key", "k-cy", "--thread", thread)
        again.expect("course_name")
        again.expect("Python Basics")
        again.expect(DECIDE)
        again.sendline("s")  # respond: not among the decisions this request allows
        again.expect("This request allows: approve, edit, reject.")
        again.expect(DECIDE)
        again.sendline("a")
        again.expect('Agent: Done. Course "Python Basics" has been deleted.')
        again.expect("You: ")
        again.sendline("")
        assert finish(again) == 0


def test_watch_redraws_the_inbox_when_a_request_is_decided(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    chat = spawn(tmp_path, "chat", "--db", db, "--message", 'delete "Python Basics"')
    chat.expect(DECIDE)
    chat.sendline("q")
    assert finish(chat) == 130
    [request] = json.loads(run(tmp_path, "approvals", "--db", db, "--json").stdout)

    watch = spawn(tmp_path, "approvals", "--watch", "--every", "0.2", "--db", db)
    watch.expect("1 request")
    decided = run(tmp_path, "approvals", "decide", request["id"], "--approve", "--db", db,
                  "--app", "interlock.cli.chat:course_agent", "--as", "ada")  # fmt: skip
    assert decided.returncode == 0, decided.stderr
    watch.expect("0 request")  # the next redraw, whenever it comes
    watch.sendintr()
    assert finish(watch) == 0


def test_an_inline_edit_without_an_editor(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    child = spawn(tmp_path, "chat", "--db", db, "--message", 'delete "Outdated Java Tutorial"')
    child.expect(DECIDE)
    child.sendline("e")
    child.expect(r"course_name \[Outdated Java Tutorial\]: ")
    child.sendline("Python Basics")
    child.expect('Agent: Done. Course "Python Basics" has been deleted.')
    child.expect("You: ")
    child.sendline("")
    assert finish(child) == 0
