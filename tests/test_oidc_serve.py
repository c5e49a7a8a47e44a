"""`interlock serve --oidc-*` as a real process: its flags reach the provider, the claim map
and the public URL; bearer tokens from the (loopback) issuer work over real HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests._oidc import Issuer

pytestmark = pytest.mark.slow

AGENTS = textwrap.dedent(
    """
    import interlock as il
    from typing import Any, TypedDict


    class Pay(TypedDict, total=False):
        answer: Any


    def make(checkpointer):
        def ask(state):
            return {"answer": il.interrupt({"pay": 1}, approvers=["group:finance"])}

        g = il.StateGraph(Pay)
        g.add_node("ask", ask)
        g.add_edge(il.START, "ask")
        return g.compile(checkpointer=checkpointer, name="pay")
    """
)


def test_serve_with_an_openid_provider(tmp_path: Path) -> None:
    (tmp_path / "agents.py").write_text(AGENTS)
    (tmp_path / "claims.json").write_text(
        json.dumps({"groups": {"fin-team": ["group:finance", "role:approver"]}})
    )
    issuer = Issuer()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).with_name("interlock")
    command = [
        str(exe), "serve", "agents:make", "--db", f"sqlite:///{tmp_path / 's.db'}",
        "--port", str(port), "--oidc-issuer", issuer.url, "--oidc-client-id", "inbox",
        "--oidc-audience", "api://interlock", "--oidc-claim-map", "claims.json",
        "--oidc-default-role", "requester", "--public-url", "https://approve.example.com",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "INTERLOCK_OIDC_CLIENT_SECRET": "s"}
    proc = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
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
        bob = {"Authorization": f"Bearer {issuer.mint('bob')}"}  # a requester by default
        made = httpx.post(f"{base}/v1/threads", json={"input": {}}, headers=bob, timeout=10)
        assert made.status_code == 201, made.text
        iid = made.json()["run"]["interrupts"][0]["id"]
        ada = {"Authorization": f"Bearer {issuer.mint('ada', groups=['fin-team'])}"}
        done = httpx.post(
            f"{base}/v1/approvals/{iid}/decision", json={"value": 1}, headers=ada, timeout=10
        )
        assert done.status_code == 200 and done.json()["approval"]["decided_by"] == "ada"
        nobody = httpx.get(f"{base}/v1/agents", timeout=10)
        assert nobody.status_code == 401  # a provider configured: nobody is anonymous
        url = f"{base}/inbox"  # follow the redirects up to the provider, not into it
        for _ in range(5):
            location = httpx.get(url, timeout=10).headers["location"]
            url = location if location.startswith("http") else base + location
            if url.startswith(issuer.url):
                break
        assert url.startswith(f"{issuer.url}/authorize?"), url
        query = parse_qs(urlsplit(url).query)
        assert query["client_id"] == ["inbox"]
        assert query["redirect_uri"] == ["https://approve.example.com/inbox/auth/callback"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
        issuer.close()
