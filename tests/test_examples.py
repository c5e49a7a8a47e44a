"""The tutorial's programs, ported by changing only imports, run against a local server that
speaks DeepSeek's (OpenAI-compatible) wire protocol."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from interlock.agent.models.testing import FakeProvider, Reply

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
COURSE = "Outdated Java Tutorial"


@pytest.fixture
def deepseek(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-local-test")
        monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.url)
        monkeypatch.chdir(tmp_path)
        yield fake


def run_example(name: str) -> str:
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def tool_results(request: dict) -> list[str]:
    return [m["content"] for m in request["json"]["messages"] if m["role"] == "tool"]


def test_complete_approval_workflow(deepseek: FakeProvider) -> None:
    deepseek.replies += [
        Reply.openai_calls([("delete_course", {"course_name": COURSE})]),
        Reply.openai_text(f'Course "{COURSE}" has been deleted.'),
    ]
    out = run_example("tutorial_approval.py")
    assert "Status: ('tools',)" in out
    assert "Interrupt Info: (Interrupt(value={'action': 'delete_course', 'course': " in out
    assert f'Final Response: Course "{COURSE}" has been deleted.' in out
    first, second = deepseek.requests
    assert first["json"]["model"] == "deepseek-v4-flash" and first["json"]["temperature"] == 0
    assert first["json"]["messages"][0]["content"].startswith("You are the administrator")
    assert tool_results(second) == [f'Course "{COURSE}" has been deleted']


def test_breakpoint_before_tools(deepseek: FakeProvider) -> None:
    deepseek.replies += [
        Reply.openai_calls([("delete_course", {"course_name": COURSE})]),
        Reply.openai_text("Deleted as requested."),
    ]
    out = run_example("tutorial_breakpoints.py")
    assert "Status: ('tools',)" in out
    assert "Paused: True" in out
    assert f"Pending tool call: {{'course_name': '{COURSE}'}}" in out
    assert "Final Response: Deleted as requested." in out
    assert tool_results(deepseek.requests[1]) == [f'Course "{COURSE}" has been deleted']


def test_backend_handlers(deepseek: FakeProvider) -> None:
    deepseek.replies += [
        Reply.openai_calls([("delete_course", {"course_name": COURSE})]),
        Reply.openai_text("The deletion was cancelled."),
    ]
    backend = runpy.run_path(str(EXAMPLES / "tutorial_backend.py"), run_name="backend")
    pending = backend["handle_user_message"]("web-1", f'Please delete the course "{COURSE}"')
    assert pending == {
        "status": "pending_approval",
        "interrupt": {
            "action": "delete_course",
            "course": COURSE,
            "message": f'Confirm deletion of course "{COURSE}"? This action cannot be undone.',
        },
        "thread_id": "web-1",
    }
    done = backend["handle_approval"]("web-1", approved=False, reason="still in use")
    assert done == {"status": "completed", "reply": "The deletion was cancelled."}
    assert tool_results(deepseek.requests[1]) == ["Deletion operation cancelled: still in use"]


@pytest.mark.parametrize(
    "example", ["tutorial_approval.py", "tutorial_breakpoints.py", "tutorial_backend.py"]
)
def test_each_tutorial_runs_offline(example: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEEPSEEK_")}
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "run_offline.py"), str(EXAMPLES / example)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    assert "Outdated Java Tutorial" in out.stdout
    assert "deleted" in out.stdout or "cancelled" in out.stdout


def test_agent_streams_tokens_from_a_real_provider(deepseek: FakeProvider) -> None:
    from interlock import HumanMessage, create_agent, init_chat_model

    deepseek.replies.append(Reply.openai_text("Streaming over SSE works", stream=True))
    agent = create_agent(init_chat_model("deepseek:deepseek-v4-flash"), [])
    chunks = list(agent.stream({"messages": [HumanMessage("hi")]}, stream_mode="messages"))
    assert "".join(c.content for c, _ in chunks) == "Streaming over SSE works"
    assert len(chunks) > 3
    assert deepseek.requests[0]["json"]["stream"] is True
