"""The /v1 API keeps its OpenAPI contract under fuzz: schemathesis generates requests for
every /v1 operation from the app's own `/openapi.json` (valid and invalid ones), with and
without credentials, on SQLite and on Postgres, and checks that no answer is a 5xx and
that every status, content type and body is one the spec documents."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any, TypedDict

import pytest

import interlock as il
from interlock.server import create_app
from tests._http import served

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

EXAMPLES = 15
"""Examples per operation and generation mode (valid, invalid), per caller, per store."""
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)
KEYS = "k-root=root:admin;k-bob=bob:requester"
CALLERS = {
    "no key": [],
    "a wrong key": ["-H", "Authorization: Bearer nope"],
    "an admin": ["-H", "Authorization: Bearer k-root"],
    "a requester": ["-H", "X-API-Key: k-bob"],
}


class Pay(TypedDict, total=False):
    amount: int
    note: str
    answer: Any


def pay_graph(saver: Any) -> il.CompiledStateGraph:
    def ask(state: Pay) -> dict:
        return {"answer": il.interrupt({"pay": state.get("amount")})}

    def done(state: Pay) -> dict:
        return {"note": f"answered {state.get('answer')!r}"}

    g = il.StateGraph(Pay)
    g.add_node("ask", ask)
    g.add_node("done", done)
    g.add_edge(il.START, "ask")
    g.add_edge("ask", "done")
    return g.compile(checkpointer=saver, name="pay")


def _store(kind: str, tmp_path: Path) -> Any:
    if kind == "sqlite":
        return il.SqliteSaver(tmp_path / "fuzz.db")
    from tests.pg import fresh_postgres_saver

    return fresh_postgres_saver()


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_v1_api_keeps_its_openapi_contract_under_fuzz(kind: str, tmp_path: Path) -> None:
    """schemathesis's own command line (its coverage phase: boundary values such as an
    offset past 2**63; then its fuzzing phase), as an operator would run it."""
    saver = _store(kind, tmp_path)
    app = create_app({"pay": pay_graph(saver)}, keys=KEYS, workers=1, expire_every=5.0)
    failures: list[str] = []
    started = time.monotonic()
    cases = 0
    try:
        with served(app) as http:
            for amount in range(3):  # something to list: threads, pending requests, audit
                made = http.post("/v1/threads", json={"input": {"amount": amount}}, headers=_ROOT)
                assert made.status_code == 201, made.text
            for caller, headers in CALLERS.items():
                done = _schemathesis(f"{http.base_url}/openapi.json", headers, tmp_path)
                out = done.stdout + done.stderr
                if done.returncode != 0 or "No issues found" not in out:
                    failures.append(f"---- {caller}: exit {done.returncode}\n{out[-6000:]}")
                cases += _generated(out)
    finally:
        saver.close()
    took = time.monotonic() - started
    print(f"{kind}: {cases} cases in {took:.1f} s")
    assert failures == [], "\n".join(failures)
    assert cases > 1500  # every caller reached every operation
    assert took < 150  # the two stores together in under 5 minutes


_ROOT = {"Authorization": "Bearer k-root"}


def _schemathesis(url: str, headers: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "--no-color", "run", url),
        *("--checks", CHECKS, "--max-examples", str(EXAMPLES)),
        *("--include-path-regex", "^/v1/", "--phases", "examples,coverage,fuzzing"),
        "--generation-deterministic",  # the same cases every run (and no example database)
        *("--workers", "1", "--warnings", "off", "--request-timeout", "30"),
        *headers,
    ]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=240)


def _generated(output: str) -> int:
    """The number of test cases schemathesis reports it generated."""
    for line in output.splitlines():
        words = line.split()
        if len(words) > 1 and words[1] == "generated,":
            return int(words[0])
    raise AssertionError(f"no case count in schemathesis's output:\n{output[-3000:]}")
