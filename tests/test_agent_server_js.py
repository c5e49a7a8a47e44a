"""The Agent Server flow once with LangGraph's JavaScript client (`@langchain/langgraph-sdk`
from npm, pinned in tests/js/package.json), run with the machine's Node.js against the
app served by uvicorn on loopback.

Needs `npm ci --prefix tests/js` first (`scripts/ensure-js-sdk`, which `.ci/run` runs; npm is
reached only then, never by the test): elsewhere the test is skipped with that instruction
when tests/js/node_modules is missing; under CI=true it fails.
"""

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
from tests.test_agent_server_sdk import KEYS, _orders

pytestmark = pytest.mark.slow

JS = Path(__file__).resolve().parent / "js"


def test_the_js_client_flow(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None or not (JS / "node_modules" / "@langchain" / "langgraph-sdk").exists():
        why = "run scripts/ensure-js-sdk (npm ci --prefix tests/js, and Node.js) first"
        if os.environ.get("CI") == "true":
            pytest.fail(f"the JS client test is required under CI=true: {why}")
        pytest.skip(why)
    saver = SqliteSaver(tmp_path / "js.db")
    app = create_app({"orders": _orders(saver)}, keys=ApiKeys.parse(KEYS))
    with served(app) as http:
        env = {**os.environ, "INTERLOCK_URL": str(http.base_url).rstrip("/")}
        out = subprocess.run(
            [node, str(JS / "flow.mjs")], capture_output=True, text=True, env=env, timeout=60
        )
    saver.close()
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    pause = seen["paused"]["__interrupt__"][0]
    assert pause["value"] == {"ship": "book"}
    assert seen["taskInterrupts"] == [pause]
    assert seen["found"] == [seen["tid"]]
    assert (seen["requesterAnswer"], seen["requesterEdit"]) == (403, 403)
    names = [e["event"] for e in seen["events"]]
    assert names[0] == "metadata" and names[-1] == "end"
    assert {"event": "updates", "data": {"ask": {"approved": "yes"}}} in seen["events"]
    assert seen["second"] == 409
    assert seen["values"] == {"item": "book", "approved": "yes"}
