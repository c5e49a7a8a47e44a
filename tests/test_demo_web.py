"""`interlock demo --web` and `interlock serve` without a target, as real processes on a
loopback port: one command serves the demo agent with a pending approval, and prints the
inbox URL and a key that decides it over HTTP and in the inbox."""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from interlock.agent.models.testing import FakeProvider, Reply
from interlock.cli import main

DELETED = 'Course "Outdated Java Tutorial" has been deleted.'
APPROVE = {"value": {"decisions": [{"type": "approve"}]}}


@dataclass
class Demo:
    """A running demo server and what it printed."""

    proc: subprocess.Popen[str]
    lines: queue.Queue[str | None]
    printed: list[str] = field(default_factory=list)
    base: str = ""
    key: str = ""
    threads: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def line(self, timeout: float) -> str:
        """The next line of stdout (fails after `timeout` seconds or at end of output)."""
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no output for {timeout} s; so far: {self.printed}")
        if line is None:
            pytest.fail(f"the process ended (rc {self.proc.poll()}); it printed {self.printed}")
        self.printed.append(line)
        return line

    def read_banner(self, timeout: float = 60.0) -> None:
        """Read lines up to the admin key, collecting the URLs, the key and the threads."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.line(max(deadline - time.monotonic(), 0.01)).strip()
            if m := re.fullmatch(r"thread:\s+(\S+)", line):
                self.threads.append(m.group(1))
            elif m := re.fullmatch(r"request:\s+(http://\S+)/inbox/([0-9a-f]+)", line):
                self.requests.append(m.group(2))
            elif m := re.fullmatch(r"inbox:\s+(http://127\.0\.0\.1:(\d+))/inbox", line):
                self.base = m.group(1)
                assert int(m.group(2)) != 0  # the port actually bound, not the asked-for 0
            elif m := re.fullmatch(r"admin key:\s+(\S+)", line):
                self.key = m.group(1)
                return

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def stop(self) -> str:
        """Ctrl-C; returns what it printed to stderr. Asserts a clean exit (0)."""
        self.proc.send_signal(signal.SIGINT)
        rc = self.proc.wait(timeout=30)
        rest = []
        while (line := self.lines.get(timeout=10)) is not None:
            rest.append(line)
        assert self.proc.stderr is not None
        err = self.proc.stderr.read()
        assert rc == 0, (rc, err)
        assert any(line.startswith("Stopped.") for line in rest), rest
        return err


@contextmanager
def started(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Demo]:
    """Run `python -m interlock.cli *args` in tmp_path (also its HOME), with no provider keys
    or interlock settings from the environment beyond `env`."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(("_API_KEY", "_BASE_URL")) and not k.startswith("INTERLOCK_")
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "interlock.cli", *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**clean, "HOME": str(tmp_path), **(env or {})},
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    demo = Demo(proc, lines)
    try:
        yield demo
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def web(tmp_path: Path, db: str = "demo.db") -> list[str]:
    return ["demo", "--web", "--port", "0", "--db", f"sqlite:///{tmp_path / db}"]


def login(client: httpx.Client, key: str) -> None:
    assert client.get("/inbox").headers["location"] == "/inbox/login"  # signed out
    signed_in = client.post("/inbox/login", data={"key": key})
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/inbox"


def last_message(base: str, auth: dict[str, str], thread_id: str) -> str:
    state = httpx.get(f"{base}/v1/threads/{thread_id}", headers=auth, timeout=10)
    assert state.status_code == 200, state.text
    return str(state.json()["values"]["messages"][-1]["content"])


def test_one_command_serves_a_pending_approval_decided_over_http(tmp_path: Path) -> None:
    with started(tmp_path, *web(tmp_path)) as demo:
        demo.read_banner()
        assert len(demo.threads) == 1 and len(demo.requests) == 1
        assert any("Started a request" in line for line in demo.printed)
        assert any("log in with the admin key" in line for line in demo.printed)

        listed = httpx.get(f"{demo.base}/v1/approvals", headers=demo.auth, timeout=10)
        assert listed.status_code == 200, listed.text
        [approval] = listed.json()["approvals"]
        assert approval["id"] == demo.requests[0]
        assert approval["thread_id"] == demo.threads[0]
        assert approval["requested_by"] == "demo-requester"
        action = approval["value"]["action_requests"][0]
        assert action["args"] == {"course_name": "Outdated Java Tutorial"}

        with httpx.Client(base_url=demo.base, timeout=10) as browser:
            login(browser, demo.key)
            inbox = browser.get("/inbox")
            assert inbox.status_code == 200
            assert f"/inbox/{approval['id']}" in inbox.text
            assert ">delete_course</a>" in inbox.text and demo.threads[0] in inbox.text
            assert "course_name: Outdated Java Tutorial" in inbox.text  # which course
            one = browser.get(f"/inbox/{approval['id']}")
            assert one.status_code == 200
            assert "Confirm deletion of course &#34;Outdated Java Tutorial&#34;?" in one.text

        decided = httpx.post(
            f"{demo.base}/v1/approvals/{approval['id']}/decision",
            json=APPROVE,
            headers=demo.auth,
            timeout=30,
        )
        assert decided.status_code == 200, decided.text
        assert decided.json()["run"]["status"] == "finished"
        assert DELETED in last_message(demo.base, demo.auth, demo.threads[0])
        after = httpx.get(f"{demo.base}/v1/approvals", headers=demo.auth, timeout=10)
        assert after.json()["approvals"] == []
        demo.stop()


@pytest.mark.slow  # three processes, one after the other
def test_a_second_start_shows_the_waiting_request_and_the_inbox_decides_it(
    tmp_path: Path,
) -> None:
    with started(tmp_path, *web(tmp_path)) as first:
        first.read_banner()
        first.stop()

    with started(tmp_path, *web(tmp_path)) as second:
        second.read_banner()
        assert second.requests == first.requests  # no second request while one waits
        assert second.threads == first.threads
        assert any("from an earlier start still wait" in line for line in second.printed)
        assert second.key != first.key
        old = {"Authorization": f"Bearer {first.key}"}
        assert httpx.get(f"{second.base}/v1/approvals", headers=old).status_code == 401
        listed = httpx.get(f"{second.base}/v1/approvals", headers=second.auth, timeout=10)
        assert [a["id"] for a in listed.json()["approvals"]] == first.requests

        with httpx.Client(base_url=second.base, timeout=30) as browser:
            login(browser, second.key)
            page = browser.get(f"/inbox/{first.requests[0]}")
            assert page.status_code == 200
            csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
            assert csrf is not None
            form = {"csrf": csrf.group(1), "form": "actions", "decision_0": "approve"}
            sent = browser.post(f"/inbox/{first.requests[0]}", data=form)
            assert sent.status_code == 303, sent.text
            assert sent.headers["location"] == f"/inbox?done={first.requests[0]}"
        assert DELETED in last_message(second.base, second.auth, first.threads[0])
        second.stop()

    with started(tmp_path, *web(tmp_path)) as third:  # nothing waits: a new request
        third.read_banner()
        assert len(third.requests) == 1 and third.requests != first.requests
        assert third.threads != first.threads
        third.stop()


def test_serve_without_a_target_serves_the_demo_from_the_home_directory(tmp_path: Path) -> None:
    args = ["serve", "--port", "0", "--keys", "k-ada=ada:approver"]
    with started(tmp_path, *args) as demo:
        demo.read_banner()
        home_db = tmp_path / ".interlock" / "demo.db"
        assert any(str(home_db) in line for line in demo.printed)
        listed = httpx.get(f"{demo.base}/v1/approvals", headers=demo.auth, timeout=10)
        assert [a["id"] for a in listed.json()["approvals"]] == demo.requests
        assert len(demo.requests) == 1
        ada = {"Authorization": "Bearer k-ada"}  # --keys are served beside the printed one
        decided = httpx.post(
            f"{demo.base}/v1/approvals/{demo.requests[0]}/decision",
            json=APPROVE,
            headers=ada,
            timeout=30,
        )
        assert decided.status_code == 200, decided.text
        assert DELETED in last_message(demo.base, demo.auth, demo.threads[0])
        demo.stop()
    assert home_db.exists()


def test_a_provider_key_makes_it_use_that_provider(tmp_path: Path) -> None:
    with FakeProvider() as fake:
        fake.replies.append(
            Reply.openai_calls([("delete_course", {"course_name": "SQL for Analysts"})])
        )
        fake.replies.append(Reply.openai_text("It is gone."))
        provider = {"DEEPSEEK_API_KEY": "sk-test", "DEEPSEEK_BASE_URL": fake.url}
        with started(tmp_path, *web(tmp_path), env=provider) as demo:
            demo.read_banner()
            assert "model: deepseek:" in demo.printed[0]
            [approval] = httpx.get(
                f"{demo.base}/v1/approvals", headers=demo.auth, timeout=10
            ).json()["approvals"]
            args = approval["value"]["action_requests"][0]["args"]
            assert args == {"course_name": "SQL for Analysts"}
            decided = httpx.post(
                f"{demo.base}/v1/approvals/{approval['id']}/decision",
                json=APPROVE,
                headers=demo.auth,
                timeout=30,
            )
            assert decided.status_code == 200, decided.text
            assert last_message(demo.base, demo.auth, demo.threads[0]) == "It is gone."
            demo.stop()
        assert len(fake.requests) == 2
        first = fake.requests[0]["json"]["messages"][-1]["content"]
        assert first == 'Please delete the course "Outdated Java Tutorial"'


def test_a_failing_first_request_is_reported_and_the_inbox_still_served(tmp_path: Path) -> None:
    with FakeProvider() as fake:
        fake.replies.append(Reply.status(401, '{"error": {"message": "bad key"}}'))
        provider = {"DEEPSEEK_API_KEY": "sk-wrong", "DEEPSEEK_BASE_URL": fake.url}
        with started(tmp_path, *web(tmp_path), env=provider) as demo:
            demo.read_banner()
            assert demo.requests == []
            assert any("could not be started" in line for line in demo.printed)
            listed = httpx.get(f"{demo.base}/v1/approvals", headers=demo.auth, timeout=10)
            assert listed.status_code == 200 and listed.json()["approvals"] == []
            demo.stop()


def test_ctrl_c_stops_while_a_browser_watches_the_inbox(tmp_path: Path) -> None:
    with started(tmp_path, *web(tmp_path)) as demo:
        demo.read_banner()
        with httpx.Client(base_url=demo.base, timeout=30) as browser:
            login(browser, demo.key)
            with browser.stream("GET", "/inbox/events") as events:
                assert events.status_code == 200
                lines = events.iter_lines()  # held: a dropped iterator closes the stream
                assert next(lines) == ": watching"
                err = demo.stop()  # the live-update stream is still open
                assert [line for line in lines if line] == []  # ended by the server, cleanly
        # it ended because the server told it the client left, not by the shutdown timeout
        assert "graceful shutdown exceeded" not in err


def test_demo_help_documents_web(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--web", "--host", "--port", "--db", "--message"):
        assert flag in text
    assert "inbox" in text


def test_serve_help_makes_the_target_optional(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = capsys.readouterr().out
    assert "[target]" in text and "demo --web" in text


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["demo", "--web", "--thread", "t1"], "--thread"),
        (["demo", "--web", "--port", "70000"], "0 to 65535"),
        (["serve", "--port", "-1"], "0 to 65535"),
        (["serve", "--port", "http"], "must be a port number"),
        (["demo", "--port", "0"], "are for --web"),
    ],
)
def test_bad_flags_are_refused(
    args: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    assert says in capsys.readouterr().err


def test_a_busy_port_is_refused_with_its_address(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = [*web(tmp_path), "--model", "scripted", "--port", str(port)]
        with pytest.raises(SystemExit) as exit_:
            main(args)
    assert f"cannot listen on 127.0.0.1:{port}" in str(exit_.value.code)


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (see tests/test_inbox_browser.py)."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        if os.environ.get("CI") == "true":
            raise RuntimeError("Chromium is required under CI=true: bash scripts/ensure-chromium")
        pytest.skip("Chromium is not installed (bash scripts/ensure-chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.mark.slow  # a browser
def test_a_newcomer_decides_in_the_browser_with_what_was_printed(
    browser: Any, tmp_path: Path
) -> None:
    with started(tmp_path, *web(tmp_path)) as demo:
        demo.read_banner()
        page = browser.new_page()
        page.goto(f"{demo.base}/inbox")
        assert page.url.endswith("/inbox/login")
        page.fill("#key", demo.key)
        page.click("button")
        page.wait_for_url(f"{demo.base}/inbox")
        assert page.locator(f'[title="thread {demo.threads[0]}"]').count() == 1
        assert "course_name: Outdated Java Tutorial" in page.inner_text("main")
        page.click("a.act:has-text('delete_course')")
        assert page.url == f"{demo.base}/inbox/{demo.requests[0]}"
        assert 'Confirm deletion of course "Outdated Java Tutorial"?' in page.inner_text("main")
        page.click("#do-approve")
        page.wait_for_url(f"{demo.base}/inbox?done=*")
        assert "Nothing is waiting" in page.inner_text("main")
        page.wait_for_function("window.inboxLive === true")  # its live-update stream is open
        assert DELETED in last_message(demo.base, demo.auth, demo.threads[0])
        err = demo.stop()  # with the page still open
        assert "graceful shutdown exceeded" not in err
        page.close()
