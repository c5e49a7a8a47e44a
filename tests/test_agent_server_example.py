"""examples/sdk_backend.py: the tutorial's backend over langgraph-sdk, against the tutorial's
agent served by interlock (a local server speaking DeepSeek's protocol plays the model)."""

from __future__ import annotations

import runpy
from collections.abc import Iterator
from pathlib import Path

import pytest

from interlock.agent.models.testing import FakeProvider, Reply
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.server import ApiKeys, create_app
from tests._http import served

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
COURSE = "Outdated Java Tutorial"


@pytest.fixture
def deepseek(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-local-test")
        monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.url)
        yield fake


def test_the_tutorial_backend_over_the_sdk(
    deepseek: FakeProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deepseek.replies += [
        Reply.openai_calls([("delete_course", {"course_name": COURSE})]),
        Reply.openai_text("The deletion was cancelled."),
    ]
    agents = runpy.run_path(str(EXAMPLES / "sdk_agents.py"))
    saver = SqliteSaver(tmp_path / "example.db")
    app = create_app(
        agents["make"](saver), keys=ApiKeys.parse("k-req=rita:requester;k-app=abe:approver")
    )
    with served(app) as http:
        monkeypatch.setenv("INTERLOCK_URL", str(http.base_url).rstrip("/"))
        monkeypatch.setenv("INTERLOCK_REQUESTER_KEY", "k-req")
        monkeypatch.setenv("INTERLOCK_APPROVER_KEY", "k-app")
        backend = runpy.run_path(str(EXAMPLES / "sdk_backend.py"), run_name="backend")
        try:
            pending = backend["handle_user_message"](
                "web-1", f'Please delete the course "{COURSE}"'
            )
            assert pending == {
                "status": "pending_approval",
                "interrupt": {
                    "action": "delete_course",
                    "course": COURSE,
                    "message": f'Confirm deletion of course "{COURSE}"? '
                    "This action cannot be undone.",
                },
                "thread_id": "web-1",
            }
            done = backend["handle_approval"]("web-1", approved=False, reason="still in use")
            assert done == {"status": "completed", "reply": "The deletion was cancelled."}
        finally:
            backend["requester"].close()
            backend["approver"].close()
    tool_results = [
        m["content"] for m in deepseek.requests[1]["json"]["messages"] if m["role"] == "tool"
    ]
    assert tool_results == ["Deletion operation cancelled: still in use"]
    decided = saver.list_audit(thread_id="web-1", limit=100).items
    assert [e.actor for e in decided if e.action == "approval.decided"] == ["abe"]
    saver.close()


def test_the_docs_page_python_blocks_run() -> None:
    page = (Path(__file__).resolve().parents[1] / "docs" / "agent-server.md").read_text()
    blocks = [b.split("```", 1)[0] for b in page.split("```python\n")[1:]]
    assert blocks
    for block in blocks:
        exec(compile(block, "docs/agent-server.md", "exec"), {"__name__": "docs"})
