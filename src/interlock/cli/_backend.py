"""Where the terminal commands act: a local store (`--db`) or a running server (`--url`).

Both backends answer in the HTTP API's JSON shapes (an approval is `approval_view`'s dict, a
run is `run_view`'s), so one renderer serves both. The local backend does what the server
does, with the server's own functions (`interlock.server._operations`): a decision goes
through `decide_request`, which checks the approver rule (`may_decide`, again inside the
run through the `authorize_decision` hook), refuses self-approval, records the audit trail,
and resumes exactly once. The person acting is `--as NAME`.

Failures become `CliError(message, code)`: code 3 for "already decided", 1 otherwise.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EXIT_CONFLICT", "EXIT_ERROR", "Backend", "CliError", "LocalBackend", "RemoteBackend"]

EXIT_ERROR = 1
EXIT_CONFLICT = 3


class CliError(Exception):
    """A failure to report as one line, with the process exit code."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message, self.code = message, code


def _api_failure(status: int, error: str, message: str) -> CliError:
    conflict = error == "already_decided"
    return CliError(message, EXIT_CONFLICT if conflict else EXIT_ERROR)


class Backend(ABC):
    """What the commands need, local or remote (each method returns API-shaped dicts)."""

    where: str = ""

    @abstractmethod
    def list_approvals(
        self, *, status: str, agent: str | None, mine: bool, thread_id: str | None, limit: int
    ) -> list[dict[str, Any]]: ...

    @abstractmethod
    def get_approval(self, interrupt_id: str) -> dict[str, Any]: ...

    @abstractmethod
    def decide(self, interrupt_id: str, value: Any) -> dict[str, Any]: ...

    @abstractmethod
    def list_threads(self, *, limit: int) -> list[dict[str, Any]]: ...

    @abstractmethod
    def get_thread(self, thread_id: str) -> dict[str, Any]: ...

    @abstractmethod
    def history(self, thread_id: str, *, limit: int) -> list[dict[str, Any]]: ...

    @abstractmethod
    def audit(
        self, *, thread_id: str | None, interrupt_id: str | None, limit: int
    ) -> list[dict[str, Any]]: ...

    @abstractmethod
    def verify_chain(self, keys: list[Any]) -> dict[str, Any]:
        """The audit chains and signed manifests checked (`VerifyReport.as_dict()`);
        `keys`: public keys for a local store (a server uses its own)."""

    @abstractmethod
    def create_thread(self, agent: str | None, thread_id: str | None) -> dict[str, Any]: ...

    @abstractmethod
    def stream(self, thread_id: str, message: str) -> Iterator[tuple[str, Any]]:
        """Run a user message: `(mode, chunk)` events, then `("end", run_view)`."""
        ...

    def close(self) -> None:  # noqa: B027 - a default that does nothing, on purpose
        """Release the store or the connection."""


# ---- a running server ---------------------------------------------------------------------


@dataclass
class RemoteBackend(Backend):
    """The HTTP API of `interlock serve` at `url`, with an API key."""

    url: str
    key: str | None
    timeout: float = 60.0
    _client: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        import httpx

        url = self.url.rstrip("/")
        if not url.startswith(("http://", "https://")) or url[-3:] == "://":
            raise CliError(f"--url must be http://host[:port] or https://..., not {self.url!r}")
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        try:
            self._client = httpx.Client(base_url=url, headers=headers, timeout=self.timeout)
        except (ValueError, httpx.InvalidURL) as exc:
            raise CliError(f"bad --url {self.url!r}: {exc}") from None
        self.where = url

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.InvalidURL as exc:
            raise CliError(f"bad --url {self.url!r}: {exc}") from None
        except httpx.TransportError as exc:
            raise CliError(f"cannot reach the server at {self.where}: {exc}") from None
        return self._answer(response)

    def _answer(self, response: Any) -> Any:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            error = body.get("error", "") if isinstance(body, dict) else ""
            message = body.get("message", "") if isinstance(body, dict) else ""
            if response.status_code == 401:
                message = "the server refused the API key (--key / $INTERLOCK_API_KEY)"
            if not message:
                message = f"the server answered {response.status_code} {response.reason_phrase}"
            return_error = _api_failure(response.status_code, error, message)
            raise return_error
        if body is None:
            raise CliError(f"{self.where} did not answer with JSON: is it an interlock server?")
        return body

    def list_approvals(
        self, *, status: str, agent: str | None, mine: bool, thread_id: str | None, limit: int
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"status": status, "limit": min(limit, 500)}
        if agent:
            params["agent"] = agent
        if mine:
            params["mine"] = "true"
        if thread_id:
            params["thread_id"] = thread_id
        out: list[dict[str, Any]] = []
        while len(out) < limit:
            page = self._call("GET", "/v1/approvals", params=params)
            out.extend(page["approvals"])
            if not page.get("next_cursor"):
                break
            params["cursor"] = page["next_cursor"]
        return out[:limit]

    def get_approval(self, interrupt_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/v1/approvals/{_segment(interrupt_id)}"))

    def decide(self, interrupt_id: str, value: Any) -> dict[str, Any]:
        path = f"/v1/approvals/{_segment(interrupt_id)}/decision"
        return dict(self._call("POST", path, json={"value": value}))

    def list_threads(self, *, limit: int) -> list[dict[str, Any]]:
        page = self._call("GET", "/v1/threads", params={"limit": min(limit, 500)})
        return list(page["threads"])

    def get_thread(self, thread_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/v1/threads/{_segment(thread_id)}"))

    def history(self, thread_id: str, *, limit: int) -> list[dict[str, Any]]:
        path = f"/v1/threads/{_segment(thread_id)}/history"
        return list(self._call("GET", path, params={"limit": min(limit, 200)})["checkpoints"])

    def audit(
        self, *, thread_id: str | None, interrupt_id: str | None, limit: int
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": min(limit, 1000)}
        if thread_id:
            params["thread_id"] = thread_id
        if interrupt_id:
            params["interrupt_id"] = interrupt_id
        out: list[dict[str, Any]] = []
        while len(out) < limit:
            page = self._call("GET", "/v1/audit", params=params)
            out.extend(page["entries"])
            if not page.get("next_cursor") or not page["entries"]:
                break
            params["cursor"] = page["next_cursor"]
        return out[:limit]

    def verify_chain(self, keys: list[Any]) -> dict[str, Any]:
        return dict(self._call("GET", "/v1/audit/verify"))

    def create_thread(self, agent: str | None, thread_id: str | None) -> dict[str, Any]:
        body = {k: v for k, v in {"agent": agent, "thread_id": thread_id}.items() if v}
        return dict(self._call("POST", "/v1/threads", json=body))

    def stream(self, thread_id: str, message: str) -> Iterator[tuple[str, Any]]:
        import httpx

        path = f"/v1/threads/{_segment(thread_id)}/runs/stream"
        try:
            with self._client.stream("POST", path, json={"message": message}) as response:
                if response.status_code >= 400:
                    response.read()
                    self._answer(response)
                event = "message"
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        event = line[len("event: ") :]
                    elif line.startswith("data: "):
                        data = json.loads(line[len("data: ") :])
                        if event == "error":
                            raise CliError(str(data.get("message") or data))
                        yield event, data
        except httpx.TransportError as exc:
            raise CliError(f"cannot reach the server at {self.where}: {exc}") from None

    def close(self) -> None:
        self._client.close()


def _segment(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


# ---- a local store ------------------------------------------------------------------------


@dataclass
class LocalBackend(Backend):
    """A store opened in this process, with the graphs that resume its runs (`registry`:
    agent name -> compiled graph; may be empty for read-only commands)."""

    saver: Any
    registry: Mapping[str, Any]
    who: Any  # interlock.server.auth.Principal
    allow_self_approval: bool = False
    where: str = "local store"

    def _guard(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        from interlock.errors import InterlockError
        from interlock.server._errors import STATUS, ApiError

        try:
            return call(*args, **kwargs)
        except ApiError as exc:
            raise _api_failure(exc.status, exc.code, exc.message) from None
        except InterlockError as exc:
            code = next((c for k, _, c in STATUS if isinstance(exc, k)), "failed")
            raise _api_failure(0, code, str(exc)) from None

    def _need_agents(self, what: str) -> None:
        if not self.registry:
            raise CliError(
                f"{what} resumes the run, which needs its agent: name it with "
                "--app module:factory (or use --url to ask a running server)"
            )

    def list_approvals(
        self, *, status: str, agent: str | None, mine: bool, thread_id: str | None, limit: int
    ) -> list[dict[str, Any]]:
        from interlock.server._operations import approval_view
        from interlock.server.auth import may_decide

        out: list[dict[str, Any]] = []
        cursor = None
        while len(out) < limit:
            page = self._guard(
                self.saver.list_interrupts,
                status=None if status == "all" else status,
                thread_id=thread_id,
                limit=min(limit, 500),
                cursor=cursor,
            )
            for r in page.items:
                meta = r.metadata
                if agent is not None and meta.get("graph") != agent:
                    continue
                if mine and not (
                    may_decide(self.who, meta.get("approvers"))
                    and (self.allow_self_approval or meta.get("requested_by") != self.who.name)
                ):
                    continue
                out.append(approval_view(r))
            cursor = page.next_cursor
            if not cursor:
                break
        return out[:limit]

    def get_approval(self, interrupt_id: str) -> dict[str, Any]:
        from interlock.server._operations import approval_view, interrupt_or_404

        return approval_view(self._guard(interrupt_or_404, self.saver, interrupt_id))

    def decide(self, interrupt_id: str, value: Any) -> dict[str, Any]:
        from interlock.server._operations import decide_request

        self.get_approval(interrupt_id)  # an unknown id is "not found", not "name the agent"
        self._need_agents("deciding")
        return dict(
            self._guard(
                decide_request,
                self.saver,
                self.registry,
                interrupt_id,
                value,
                self.who,
                allow_self_approval=self.allow_self_approval,
            )
        )

    def list_threads(self, *, limit: int) -> list[dict[str, Any]]:
        return [
            {
                "thread_id": t.thread_id,
                "status": t.status,
                "created_at": t.created_at.isoformat(),
                "updated_at": t.updated_at.isoformat(),
            }
            for t in self._guard(self.saver.list_threads, limit=limit)
        ]

    def get_thread(self, thread_id: str) -> dict[str, Any]:
        from interlock.server._operations import approval_view, plausible_id

        info = self.saver.get_thread(thread_id) if plausible_id(thread_id) else None
        if info is None:
            raise CliError(f"no thread {thread_id!r}")
        pending = self._guard(
            self.saver.list_interrupts, status="pending", thread_id=thread_id, limit=100
        )
        view: dict[str, Any] = {
            "thread_id": thread_id,
            "agent": None,
            "status": info.status,
            "pending": [approval_view(r) for r in pending.items],
        }
        graph = self._graph_or_none(thread_id)
        if graph is not None:
            from interlock.server._plain import plain

            name, compiled = graph
            snapshot = compiled.get_state({"configurable": {"thread_id": thread_id}})
            view.update(agent=name, values=plain(snapshot.values), next=list(snapshot.next))
            view.update(
                graph_version=(snapshot.metadata or {}).get("graph_version"),
                agent_version=compiled.version,
            )
        else:
            head = self.saver.get_checkpoint(thread_id)
            meta = getattr(getattr(head, "record", None), "metadata", None) or {}
            view["agent"] = (getattr(head, "metadata", None) or meta).get("graph")
            view["graph_version"] = meta.get("graph_version")
        return view

    def _graph_or_none(self, thread_id: str) -> tuple[str, Any] | None:
        from interlock.server._errors import ApiError
        from interlock.server._operations import graph_of

        if not self.registry:
            return None
        try:
            return graph_of(self.saver, self.registry, thread_id)
        except ApiError:
            return None

    def history(self, thread_id: str, *, limit: int) -> list[dict[str, Any]]:
        from interlock.server._plain import plain

        self.get_thread(thread_id)
        graph = self._graph_or_none(thread_id)
        if graph is None:
            return [
                {
                    "checkpoint_id": c.checkpoint_id,
                    "created_at": c.created_at.isoformat() if c.created_at else None,
                    "metadata": plain(c.metadata),
                    "next": None,
                    "values": None,
                }
                for c in self._guard(self.saver.list_checkpoints, thread_id, limit=limit)
            ]
        return [
            {
                "checkpoint_id": (s.config.get("configurable") or {}).get("checkpoint_id"),
                "created_at": s.created_at,
                "metadata": plain(s.metadata),
                "next": list(s.next),
                "values": plain(s.values),
            }
            for s in graph[1].get_state_history(
                {"configurable": {"thread_id": thread_id}}, limit=limit
            )
        ]

    def verify_chain(self, keys: list[Any]) -> dict[str, Any]:
        import contextlib

        from interlock.checkpoint._audit.verify import verify_store

        with getattr(self.saver, "maintenance", contextlib.nullcontext)():
            return verify_store(self.saver, keys).as_dict()

    def audit(
        self, *, thread_id: str | None, interrupt_id: str | None, limit: int
    ) -> list[dict[str, Any]]:
        from interlock.server._plain import plain

        out: list[dict[str, Any]] = []
        cursor = None
        while len(out) < limit:
            page = self._guard(
                self.saver.list_audit,
                thread_id=thread_id,
                interrupt_id=interrupt_id,
                limit=min(limit, 1000),
                cursor=cursor,
            )
            out.extend(
                {
                    "entry_id": e.entry_id,
                    "at": e.at.isoformat(),
                    "actor": e.actor,
                    "action": e.action,
                    "thread_id": e.thread_id,
                    "interrupt_id": e.interrupt_id,
                    "detail": plain(e.detail),
                }
                for e in page.items
            )
            cursor = page.next_cursor
            if not cursor or not page.items:
                break
        return out[:limit]

    def create_thread(self, agent: str | None, thread_id: str | None) -> dict[str, Any]:
        import uuid

        from interlock.server._operations import only_agent, plausible_id, record_audit

        self._need_agents("a chat")
        name = agent or self._guard(only_agent, self.registry)
        if name not in self.registry:
            raise CliError(f"no agent {name!r}; have {sorted(self.registry)}")
        thread_id = thread_id or uuid.uuid4().hex
        if not plausible_id(thread_id):
            raise CliError("a thread id must be printable text")
        if self.saver.get_checkpoint(thread_id) is not None:
            raise CliError(f"thread {thread_id!r} already exists")
        record_audit(self.saver, self.who, "thread.created", thread_id, detail={"agent": name})
        return {"thread_id": thread_id, "agent": name, "status": "idle", "run": None}

    def stream(self, thread_id: str, message: str) -> Iterator[tuple[str, Any]]:
        from interlock.server._operations import (
            graph_of,
            record_audit,
            run_config,
            run_view,
        )
        from interlock.server._plain import plain

        self._need_agents("a chat")
        name, graph = self._guard(graph_of, self.saver, self.registry, thread_id)
        update = {"messages": [{"role": "user", "content": message}]}
        config = run_config(thread_id, user_id=self.who.name)
        record_audit(
            self.saver, self.who, "run.started", thread_id, detail={"agent": name, "input": update}
        )
        chunks = graph.stream(update, config, stream_mode=["updates", "custom", "messages"])
        for mode, chunk in _guarded(self, chunks):
            yield mode, plain(chunk)
        snapshot = graph.get_state(config)
        yield (
            "end",
            run_view(graph, thread_id, {**snapshot.values, "__interrupt__": snapshot.interrupts}),
        )

    def close(self) -> None:
        self.saver.close()


def _guarded(backend: LocalBackend, chunks: Iterator[Any]) -> Iterator[Any]:
    while True:
        item = backend._guard(next, chunks, None)
        if item is None:
            return
        yield item
