"""The web inbox in a real browser: Debian's Chromium driven by Playwright, against the app
served on a loopback port. Under CI=true a missing Chromium fails the run (`.ci/run`
installs it with scripts/ensure-chromium); elsewhere these tests skip with the reason."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from interlock import AIMessage, create_agent, tool
from interlock.agent.models.scripted import ScriptedChatModel
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.server import ApiKeys, create_app
from tests._http import served

pytestmark = pytest.mark.slow

ran: list[Any] = []
lock = threading.Lock()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
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


@tool
def delete_course(course_name: str) -> str:
    """Delete a course.

    Args:
        course_name: The course.
    """
    with lock:
        ran.append(course_name)
    return f'Course "{course_name}" has been deleted'


def _agent(saver: Any, course: str) -> Any:
    model = ScriptedChatModel(
        [
            AIMessage(
                content="",
                tool_calls=[{"name": "delete_course", "args": {"course_name": course}, "id": "c1"}],
            ),
            "Done.",
        ]
    )
    return create_agent(
        model=model, tools=[delete_course], checkpointer=saver, interrupt_on={"delete_course": True}
    )


def test_an_approver_edits_and_approves_in_the_browser(browser: Any, tmp_path: Path) -> None:
    ran.clear()
    saver = SqliteSaver(tmp_path / "inbox.db")
    keys = ApiKeys.parse("k-ada=ada:approver;k-bob=bob:requester")
    payload = '<img src=x onerror="window.__pwned = 1">'
    with served(create_app({"courses": _agent(saver, payload)}, keys=keys)) as http:
        http.post(
            "/v1/threads", json={"message": "delete that course"}, headers={"X-API-Key": "k-bob"}
        )
        page = browser.new_page()
        base = str(http.base_url).rstrip("/")
        page.goto(f"{base}/inbox")
        assert page.url.endswith("/inbox/login")
        page.fill("#key", "k-ada")
        page.click("button")
        page.wait_for_url(f"{base}/inbox")
        page.click("text=Run delete_course?")
        assert page.evaluate("window.__pwned") is None  # the payload is text, not markup
        assert "<img src=x onerror=" in page.input_value("#args_0")  # shown as typed
        assert not page.is_visible("#diff_0")  # nothing edited: no diff
        page.fill("#args_0", '{"course_name": "Outdated Java Tutorial"}')
        # the edit's diff, live: the old arguments struck out, the new ones added, as text
        assert "Outdated Java Tutorial" in page.inner_text("#diff_0 .add")
        removed = page.locator("#diff_0 .del").all_inner_texts()
        assert any("<img src=x onerror=" in line for line in removed)
        assert page.evaluate("window.__pwned") is None
        page.select_option("#decision_0", "edit")
        page.click("text=Send decision")
        page.wait_for_url(f"{base}/inbox?done=*")
        assert "Decision sent" in page.inner_text("main")
        assert "Nothing is waiting" in page.inner_text("main")
        page.close()
    assert ran == ["Outdated Java Tutorial"]
    saver.close()


def test_a_reject_with_a_reason_reaches_the_model(browser: Any, tmp_path: Path) -> None:
    ran.clear()
    saver = SqliteSaver(tmp_path / "inbox.db")
    agent = _agent(saver, "Advanced Python")
    with served(create_app({"courses": agent})) as http:  # no keys: local use, no login
        iid = http.post("/v1/threads", json={"message": "delete it"}).json()["run"]["interrupts"][
            0
        ]["id"]
        page = browser.new_page()
        base = str(http.base_url).rstrip("/")
        page.goto(f"{base}/inbox/{iid}")
        page.select_option("#decision_0", "reject")
        page.fill("#message_0", "we still teach it")
        page.click("text=Send decision")
        page.wait_for_url(f"{base}/inbox?done=*")
        page.close()
        thread = http.get(
            f"/v1/threads/{http.get('/v1/threads').json()['threads'][0]['thread_id']}"
        )
        messages = thread.json()["values"]["messages"]
    tool_message = next(m for m in messages if m["type"] == "tool")
    assert "we still teach it" in tool_message["content"]
    assert ran == []
    saver.close()


def test_the_inbox_updates_live(browser: Any, tmp_path: Path) -> None:
    ran.clear()
    saver = SqliteSaver(tmp_path / "live.db")
    with served(create_app({"courses": _agent(saver, "Old Course")})) as http:
        page = browser.new_page()
        base = str(http.base_url).rstrip("/")
        page.goto(f"{base}/inbox")
        assert "Nothing is waiting" in page.inner_text("main")
        page.wait_for_function("window.inboxLive === true")  # its event stream is open
        http.post("/v1/threads", json={"message": "delete the old course"})
        page.wait_for_selector("text=Run delete_course?", timeout=20_000)  # no reload by hand
        page.close()
    saver.close()
