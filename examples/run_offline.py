"""Run a tutorial program offline: a local server that speaks DeepSeek's (OpenAI-compatible)
protocol stands in for the provider, playing the course-administration assistant.

    python examples/run_offline.py examples/tutorial_approval.py
"""

from __future__ import annotations

import json
import os
import re
import runpy
import sys
from typing import Any

from interlock.agent.models.testing import FakeProvider, Reply


def course_admin(request: dict[str, Any]) -> Reply:
    """Ask to delete the quoted course; once the tool answered, report what it said."""
    last = request["messages"][-1]
    if last["role"] == "tool":
        return Reply.openai_text(f"Done. {last['content']}")
    text = last.get("content") or ""
    match = re.search(r"\"([^\"]+)\"", text if isinstance(text, str) else json.dumps(text))
    if not match:
        return Reply.openai_text("Which course should I delete?")
    return Reply.openai_calls([("delete_course", {"course_name": match.group(1)})])


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    with FakeProvider(responder=course_admin) as provider:
        os.environ["DEEPSEEK_API_KEY"] = "offline"
        os.environ["DEEPSEEK_BASE_URL"] = provider.url
        runpy.run_path(sys.argv[1], run_name="__main__")


if __name__ == "__main__":
    main()
