"""`interlock demo --web` (and `interlock serve` with no target): the demo's
course-administration agent behind the HTTP API and the web inbox, on the embedded store,
with a request already waiting for a decision — the inbox with one command.

What it does, in order:

1. opens the store (`--db`, default ~/.interlock/demo.db) and picks the model as
   `interlock demo` does (a provider whose API key is set, else the offline scripted one);
2. makes two keys, new at every start: `admin` (roles: admin — log in to the inbox, decide,
   read the audit log) and `demo-requester` (role: requester — starts the requests), plus
   any from `--keys` / `INTERLOCK_API_KEYS`;
3. listens on `--host`/`--port` (port 0: any free port; the bound one is printed);
4. asks the server, over HTTP as a requester would, for the requests already pending; if
   none, starts one (`POST /v1/threads` with `--message`), so one approval is pending — a
   second start on the same store shows the waiting request instead of adding another;
5. prints the inbox URL, the admin key, and the thread and request of each pending
   approval; serves until Ctrl-C, which stops it cleanly (exit 0) even while a browser keeps
   the inbox's live-update stream open.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

from interlock.errors import InterlockError

__all__ = ["ADMIN", "REQUESTER", "DemoKeys", "serve_demo"]

ADMIN = "admin"
"""The name of the person the printed key signs in (roles: admin)."""
REQUESTER = "demo-requester"
"""The name under which the demo starts its requests (role: requester)."""
SHOWN = 5
"""How many pending requests the banner lists by URL."""


@dataclass(frozen=True, slots=True)
class DemoKeys:
    """The two keys of one demo server process."""

    admin: str
    """Signs the person in: decides in the inbox, reads the audit log."""
    requester: str
    """Starts requests (the first one, and any the person sends over the API)."""

    @classmethod
    def new(cls) -> DemoKeys:
        """Fresh random keys."""
        return cls(
            admin=f"il-admin-{secrets.token_urlsafe(18)}",
            requester=f"il-req-{secrets.token_urlsafe(18)}",
        )

    def spec(self) -> str:
        """The keys in `INTERLOCK_API_KEYS` form."""
        return f"{self.admin}={ADMIN}:admin;{self.requester}={REQUESTER}:requester"


def serve_demo(
    *,
    db: str | None,
    model: str | None,
    message: str,
    host: str,
    port: int,
    keys: str | None = None,
    **options: Any,
) -> int:
    """Serve the demo agent with a pending request until interrupted; returns the exit code.

    `db`: store URL (default ~/.interlock/demo.db); `model`: provider:model or 'scripted'
    (default as `interlock demo`); `message`: the first request's text; `keys`: more keys in
    `INTERLOCK_API_KEYS` form (default: that variable); `options`: `create_app` keywords
    (default `interlock.cli.serve.app_options()`, the flags' defaults)."""
    try:
        import uvicorn  # noqa: F401 - checked here for a clear message

        from interlock.server import ApiKeys, create_app
    except ImportError as exc:
        raise SystemExit(
            f"interlock: serving the inbox needs the server extra ({exc}): "
            "pip install 'interlock[server]'"
        ) from exc
    from interlock.cli._uvicorn import listen, run_until_interrupted
    from interlock.cli.demo import build_demo_agent, choose_model, default_db_path
    from interlock.cli.serve import app_options, open_store

    url = db or f"sqlite:///{default_db_path()}"
    demo_keys = DemoKeys.new()
    extra = keys if keys is not None else os.environ.get("INTERLOCK_API_KEYS", "")
    try:
        table = ApiKeys.parse(";".join(filter(None, [demo_keys.spec(), extra.strip()])))
        chat, label = choose_model(model)
    except (InterlockError, ValueError) as exc:
        raise SystemExit(f"interlock: {exc}") from exc
    with contextlib.ExitStack() as stack:
        store = open_store(url)
        stack.callback(store.close)
        sock = stack.enter_context(listen(host, port, "interlock"))
        agent = build_demo_agent(chat, store)
        app = create_app(agent, keys=table, **(options or app_options()))
        base = _base_url(host, sock.getsockname()[1])
        where = url[len("sqlite:///") :] if url.startswith("sqlite:///") else "the --db store"
        print(f"interlock: the demo agent — store: {where}  model: {label}", flush=True)
        threading.Thread(
            target=_announce,
            args=(base, demo_keys, agent.name, message),
            name="interlock-demo-announce",
            daemon=True,
        ).start()
        # a request sent before the server starts waits in the socket's backlog
        run_until_interrupted(app, sock)
    print("Stopped. Pending requests stay in the store for the next start.", flush=True)
    return 0


def _base_url(host: str, port: int) -> str:
    """The URL a browser on this machine opens (a wildcard address names loopback)."""
    shown = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


class _Refused(Exception):
    """The demo server answered a call of ours with an error."""


def _call(base: str, path: str, key: str, body: Any = None) -> Any:
    """One JSON call to our own server (never through a proxy)."""
    request = urllib.request.Request(
        base + path,
        data=None if body is None else json.dumps(body).encode(),
        method="GET" if body is None else "POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=300) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        text = exc.read().decode(errors="replace")
        with contextlib.suppress(ValueError, AttributeError):
            text = json.loads(text).get("message", text)
        raise _Refused(f"{exc.code}: {text}") from exc


def _pending(base: str, key: str, graph: str) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"status": "pending", "agent": graph, "limit": 500})
    return list(_call(base, f"/v1/approvals?{query}", key)["approvals"])


def _what(approval: dict[str, Any]) -> str:
    """One line saying what a request asks."""
    value = approval.get("value")
    if isinstance(value, dict) and value.get("action_requests"):
        first = value["action_requests"][0]
        return str(first.get("description") or f"{first.get('name')} {first.get('args')}")
    return json.dumps(value)[:120]


def _announce(base: str, keys: DemoKeys, graph: str, message: str) -> None:
    """Start the first request unless one is pending, then print how to reach it."""
    lines: list[str] = []
    try:
        pending = _pending(base, keys.admin, graph)
        if pending:
            lines.append(f"{len(pending)} request(s) from an earlier start still wait:")
        else:
            thread_id = f"admin-{uuid.uuid4().hex[:8]}"
            body = {"thread_id": thread_id, "message": message}
            _call(base, "/v1/threads", keys.requester, body)
            pending = _pending(base, keys.admin, graph)
            lines.append(f"Started a request as {REQUESTER}: {message}")
    except (OSError, _Refused) as exc:
        pending = []
        lines.append(f"The first request could not be started ({exc}); the inbox is empty.")
    for approval in pending[:SHOWN]:
        lines += [
            f"  thread:     {approval['thread_id']}",
            f"  request:    {base}/inbox/{approval['id']}",
            f"              {_what(approval)}",
        ]
    if len(pending) > SHOWN:
        lines.append(f"  ... and {len(pending) - SHOWN} more in the inbox")
    start = json.dumps({"message": 'Please delete the course "Python Basics"'})
    lines += [
        "",
        "Open the inbox in a browser and log in with the admin key (it may decide and read",
        "the audit log):",
        f"  inbox:      {base}/inbox",
        f"  admin key:  {keys.admin}",
        "Start another request as the requester:",
        f"  curl -s {base}/v1/threads -H 'Authorization: Bearer {keys.requester}' \\",
        f"       -H 'Content-Type: application/json' -d '{start}'",
        "The keys are new at every start. Ctrl-C stops the server.",
    ]
    print("\n".join(lines), flush=True)
