"""The thread protocol once with LangGraph's JavaScript client (`client.threads.stream` of
`@langchain/langgraph-sdk`, pinned in tests/js/package.json; what `useStream` uses), run with
the machine's Node.js against the app served by uvicorn on loopback. Needs
`scripts/ensure-js-sdk` first, as tests/test_agent_server_js.py does."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from interlock.checkpoint.sqlite import SqliteSaver
from interlock.server import ApiKeys, create_app
from tests._http import served
from tests.test_agent_server_sdk import KEYS, SHIPPED, _orders

pytestmark = pytest.mark.slow

JS = Path(__file__).resolve().parent / "js"


def test_the_js_thread_stream_flow(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None or not (JS / "node_modules" / "@langchain" / "langgraph-sdk").exists():
        why = "run scripts/ensure-js-sdk (npm ci --prefix tests/js, and Node.js) first"
        if os.environ.get("CI") == "true":
            pytest.fail(f"the JS client test is required under CI=true: {why}")
        pytest.skip(why)
    SHIPPED.clear()
    saver = SqliteSaver(tmp_path / "js.db")
    app = create_app({"orders": _orders(saver)}, keys=ApiKeys.parse(KEYS), workers=1)
    with served(app, grace=0.5) as http:
        env = {**os.environ, "INTERLOCK_URL": str(http.base_url).rstrip("/")}
        out = subprocess.run(
            [node, str(JS / "threads.mjs")], capture_output=True, text=True, env=env, timeout=60
        )
    saver.close()
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["started"]["run_id"]
    assert seen["seen"] == ["started", "input.requested", "interrupted"]
    assert seen["asked"]["payload"] == seen["asked"]["value"] == {"ship": "book"}
    assert "permission_denied" in seen["requester"]
    assert "no_such_interrupt" in seen["again"]
    assert seen["output"] == {"item": "book", "approved": "yes"}
    assert SHIPPED == ["book"]
