"""The web inbox: pending requests across all threads, one request with its conversation,
and forms to decide it. Server-rendered (Jinja2, autoescaped); the list reloads itself on
server-sent events.

People sign in with the company's OpenID provider (`interlock.server._signin`) or log in
with an API key (an approver's); the session is a signed cookie (HttpOnly, SameSite=Lax,
with an expiry) naming the principal, and every form carries a CSRF token derived from it.
A session that expired sends the person through sign-in and back to the page they were on.
A request with `max_auth_age` is decided only by a person who signed in recently enough:
the inbox sends them through the provider again first. Decisions go through the same code
as `POST /v1/approvals/{id}/decision`: exactly once, no self-approval, audited.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeGuard, cast
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from interlock.checkpoint.base import BaseSaver, InterruptRecord
from interlock.errors import InterlockError
from interlock.graph import CompiledStateGraph
from interlock.server._plain import plain
from interlock.server._sessions import COOKIE, Sessions
from interlock.server._signin import mount_signin, safe_next, signin_url
from interlock.server.auth import ANONYMOUS, ApiKeys, Principal, auth_age_problem, may_decide
from interlock.server.oidc import OidcProvider

__all__ = ["mount_inbox"]

SESSION_SECONDS = 12 * 3600


def _templates() -> Any:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("interlock.server", "ui/templates"),
        autoescape=select_autoescape(["html"]),
    )
    env.filters["segment"] = lambda text: quote(str(text), safe="").replace(".", "%2E")
    return env


def mount_inbox(
    app: FastAPI,
    *,
    saver: BaseSaver,
    registry: Mapping[str, CompiledStateGraph],
    keys: ApiKeys | None,
    allow_self_approval: bool,
    secret: str | None = None,
    poll: float = 1.0,
    oidc: OidcProvider | None = None,
    session_seconds: int = SESSION_SECONDS,
) -> None:
    """Add the inbox pages under `/inbox` to `app`. `secret` signs sessions (default: random
    per process — set it, e.g. `INTERLOCK_SESSION_SECRET`, to share sessions across server
    processes and restarts). `poll`: seconds between the store reads behind the page's live
    updates. `oidc`: sign people in with this provider; `session_seconds`: how long a
    session lasts."""
    from interlock.server._errors import ApiError
    from interlock.server._operations import decide_request
    from interlock.server._same_origin import SameOriginPosts

    key = (secret or secrets.token_hex(32)).encode()
    clock = oidc.config.clock if oidc is not None else time.time
    sessions = Sessions(key, seconds=session_seconds, clock=clock)
    sign = sessions.sign
    env = _templates()
    open_inbox = keys is None and oidc is None

    def session_of(request: Request) -> tuple[Principal | None, str]:
        if open_inbox:
            return ANONYMOUS, sign("csrf:anonymous")
        raw = request.cookies.get(COOKIE, "")
        who = sessions.principal(raw, keys)
        return (who, sign(f"csrf:{raw}")) if who is not None else (None, "")

    def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = env.get_template(name).render(
            can_logout=not open_inbox,
            oidc=oidc is not None,
            with_keys=keys is not None,
            **context,
        )
        return HTMLResponse(html, status_code=status)

    def sign_in_again(request: Request, back: str | None = None) -> RedirectResponse:
        """Off to sign in, then back to `back` (default: the page asked for)."""
        if back is None:
            back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        back = safe_next(back)
        if oidc is not None and keys is None:
            return RedirectResponse(signin_url(back), status_code=303)
        query = "" if back == "/inbox" else "?" + urlencode({"next": back})
        return RedirectResponse(f"/inbox/login{query}", status_code=303)

    def notice(status: int, who: Principal, csrf: str, text: str) -> HTMLResponse:
        """The inbox page with only a message (refusals, missing things)."""
        return page(
            "list.html", status, who=who, csrf=csrf, items=[], next_cursor=None, notice=text
        )

    def gate(request: Request, back: str | None = None) -> tuple[Principal, str] | Response:
        who, csrf = session_of(request)
        if who is None:  # a form posted after the session ended returns to its page
            if back is None and request.method == "POST":
                back = request.url.path
            return sign_in_again(request, back)
        if not who.can("approver"):
            return notice(403, who, csrf, f"{who.name} is not an approver")
        return who, csrf

    app.add_middleware(SameOriginPosts, prefix="/inbox")  # forms: the inbox's own pages

    if oidc is not None:
        mount_signin(
            app,
            provider=oidc,
            sessions=sessions,
            failed=lambda status, text: page("login.html", status, who=None, error=text),
        )

    @app.get("/inbox/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(next: str = "/inbox", out: str = "") -> HTMLResponse:
        notice = "You signed out." if out else None
        return page("login.html", who=None, next=safe_next(next), notice=notice)

    @app.post("/inbox/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = await request.form()
        back = safe_next(str(form.get("next", "/inbox")))
        if keys is None:
            return page("login.html", 404, who=None, next=back, error="Sign in instead.")
        who = keys.authenticate(str(form.get("key", "")))
        if who is None:
            return page("login.html", 401, who=None, next=back, error="That key is not valid.")
        response = RedirectResponse(back, status_code=303)
        response.set_cookie(
            COOKIE,
            sessions.issue(who),
            max_age=sessions.seconds,
            httponly=True,
            samesite="strict",  # no provider redirects back to a key's login
            secure=request.url.scheme == "https",
        )
        return response

    @app.post("/inbox/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        who, csrf = session_of(request)
        form = await request.form()
        if who is not None and not hmac.compare_digest(str(form.get("csrf", "")), csrf):
            return page("login.html", 403, who=None, error="The form expired.")
        response = RedirectResponse("/inbox/login?out=1", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @app.get("/inbox", response_class=HTMLResponse, include_in_schema=False)
    def inbox(
        request: Request,
        cursor: str | None = None,
        done: str | None = None,
        agent: str = "",
        by: str = "",
        mine: str = "",
    ) -> Response:
        gated = gate(request)
        if isinstance(gated, Response):
            return gated
        who, csrf = gated
        filters = InboxFilter(
            agent=agent.strip(), by=by.strip(), mine=bool(mine), self_ok=allow_self_approval
        )
        try:
            found, next_cursor = filters.page(saver, who, cursor)
        except (ValueError, TypeError, OverflowError):
            found, next_cursor = filters.page(saver, who, None)
        now = datetime.now(UTC)
        items = [
            {
                "id": r.interrupt_id,
                "summary": _summary(r.value),
                "thread_id": r.thread_id,
                "graph": asked_in(r),
                "requested_by": r.metadata.get("requested_by"),
                "deadline": r.deadline.isoformat(timespec="minutes") if r.deadline else None,
                "age": _age(now - r.created_at),
                "approvers": ", ".join(r.metadata.get("approvers") or ()),
                "level": r.metadata.get("escalation_level", 0),
                "yours": _yours(who, r, allow_self_approval),
            }
            for r in found
        ]
        notice = "Decision sent; the run went on." if done else None
        return page(
            "list.html",
            who=who,
            csrf=csrf,
            items=items,
            next_cursor=next_cursor,
            notice=notice,
            filters=filters,
            agents=sorted(g.name for g in registry.values()),
        )

    @app.get("/inbox/events", include_in_schema=False)
    async def events(request: Request) -> Response:
        """Server-sent events: `changed` whenever the set of waiting requests changes (the
        inbox page reloads on it)."""
        gated = gate(request, "/inbox")
        if isinstance(gated, Response):
            return gated

        def waiting() -> tuple[tuple[str, Any], ...]:
            page = saver.list_interrupts(status="pending", limit=500)
            # an escalation changes who decides: the page shows it, so it reloads on it
            return tuple((r.interrupt_id, r.metadata.get("escalation_level")) for r in page.items)

        first = await asyncio.to_thread(waiting)  # before the response opens: see below

        async def stream() -> AsyncIterator[str]:
            seen = first  # a change after the client sees the stream open is reported
            yield ": watching\n\n"
            while not await request.is_disconnected():
                await asyncio.sleep(poll)
                try:
                    now = await asyncio.to_thread(waiting)
                except InterlockError:
                    continue  # the store is down: try again
                if now != seen:
                    seen = now
                    yield f"event: changed\ndata: {len(now)}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    @app.get("/inbox/audit", response_class=HTMLResponse, include_in_schema=False)
    def audit(request: Request, cursor: str | None = None) -> Response:
        gated = gate(request)
        if isinstance(gated, Response):
            return gated
        who, csrf = gated
        if not who.can("admin"):
            return notice(403, who, csrf, "The audit log is for admins.")
        try:
            entries = saver.list_audit(limit=100, cursor=cursor)
        except ValueError:
            entries = saver.list_audit(limit=100)
        rows = [
            {
                "at": e.at.isoformat(timespec="seconds"),
                "actor": e.actor,
                "action": e.action,
                "thread_id": e.thread_id,
                "detail": _short(plain(e.detail), 400),
            }
            for e in entries.items
        ]
        return page("audit.html", who=who, csrf=csrf, entries=rows, next_cursor=entries.next_cursor)

    @app.get("/inbox/threads/{thread_id}", response_class=HTMLResponse, include_in_schema=False)
    def thread(request: Request, thread_id: str) -> Response:
        gated = gate(request)
        if isinstance(gated, Response):
            return gated
        who, csrf = gated
        info = saver.get_thread(thread_id) if thread_id.isprintable() else None
        if info is None:
            return notice(404, who, csrf, "No such thread.")
        asked = saver.list_interrupts(status=None, thread_id=thread_id, limit=200).items
        requests = [
            {
                "id": r.interrupt_id,
                "summary": _summary(r.value),
                "status": r.status,
                "created_at": r.created_at.isoformat(timespec="seconds"),
                "requested_by": r.metadata.get("requested_by"),
                "decided_by": r.decided_by,
                "decision": None if r.status == "pending" else _short(plain(r.resume), 160),
            }
            for r in asked
        ]
        events = [
            {
                "when": c.created_at,
                "at": c.created_at.isoformat(timespec="seconds"),
                "what": f"step {c.step} ({c.source})"
                + (f" → {', '.join(c.next)}" if c.next else " — finished"),
                "who": None,
            }
            for c in saver.list_checkpoints(thread_id, limit=100)
        ] + [
            {
                "when": e.at,
                "at": e.at.isoformat(timespec="seconds"),
                "what": e.action.replace(".", " "),
                "who": e.actor,
            }
            for e in saver.list_audit(thread_id=thread_id, limit=100).items
        ]
        events.sort(key=lambda e: cast(datetime, e["when"]), reverse=True)
        graph = next((r.metadata.get("graph") for r in asked if r.metadata.get("graph")), None)
        return page(
            "thread.html",
            who=who,
            csrf=csrf,
            thread_id=thread_id,
            thread_status=info.status,
            graph=graph,
            requests=requests,
            events=events,
        )

    @app.get("/inbox/{interrupt_id}", response_class=HTMLResponse, include_in_schema=False)
    def one(request: Request, interrupt_id: str) -> Response:
        gated = gate(request)
        if isinstance(gated, Response):
            return gated
        who, csrf = gated
        record = saver.get_interrupt(interrupt_id) if interrupt_id.isprintable() else None
        if record is None:
            return notice(404, who, csrf, "No such request.")
        stale = None
        if record.status == "pending":
            stale = auth_age_problem(who, record.metadata.get("max_auth_age"), clock())
        if stale and oidc is not None and who.credential == "session":
            stale += "; you will be asked to when you send your decision"
        return _detail(page, saver, registry, record, who, csrf, error=stale)

    @app.post("/inbox/{interrupt_id}", include_in_schema=False)
    async def decide(request: Request, interrupt_id: str) -> Response:
        gated = gate(request)
        if isinstance(gated, Response):
            return gated
        who, csrf = gated
        form = await request.form()
        if not hmac.compare_digest(str(form.get("csrf", "")), csrf):
            return notice(403, who, csrf, "The form expired; open the request again.")
        record = saver.get_interrupt(interrupt_id) if interrupt_id.isprintable() else None
        if record is None:
            return notice(404, who, csrf, "No such request.")
        fresh = record.metadata.get("max_auth_age")
        stale = auth_age_problem(who, fresh, clock())
        if stale and oidc is not None and who.credential == "session" and _seconds(fresh):
            # a risky decision: through the provider again, then back to this request
            return RedirectResponse(signin_url(f"/inbox/{interrupt_id}", int(fresh)), 303)
        try:
            value = _decision_from(form, record)
        except ValueError as exc:
            return _detail(page, saver, registry, record, who, csrf, error=str(exc), status=422)
        from starlette.concurrency import run_in_threadpool

        try:
            await run_in_threadpool(
                decide_request,
                saver,
                registry,
                interrupt_id,
                value,
                who,
                allow_self_approval=allow_self_approval,
            )
        except ApiError as exc:
            fresh = saver.get_interrupt(interrupt_id) or record
            return _detail(
                page, saver, registry, fresh, who, csrf, error=exc.message, status=exc.status
            )
        except InterlockError as exc:
            fresh = saver.get_interrupt(interrupt_id) or record
            return _detail(page, saver, registry, fresh, who, csrf, error=str(exc), status=409)
        return RedirectResponse(f"/inbox?done={interrupt_id}", status_code=303)


def _seconds(value: Any) -> TypeGuard[float]:
    """Whether `value` is a number of seconds (a request's `max_auth_age`)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _detail(
    page: Any,
    saver: BaseSaver,
    registry: Mapping[str, CompiledStateGraph],
    record: InterruptRecord,
    who: Principal,
    csrf: str,
    *,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    value = record.value
    actions = [
        {
            "name": a["name"],
            "description": a.get("description"),
            "args_json": json.dumps(plain(a.get("args")), indent=2),
            "allowed": a["allowed"],
        }
        for a in _actions(value) or []
    ]
    schema = record.metadata.get("response_schema")
    return page(
        "request.html",
        status,
        who=who,
        csrf=csrf,
        r=record,
        summary=_summary(value),
        asked_in=asked_in(record),
        actions=actions,
        value_json=json.dumps(plain(value), indent=2),
        schema_json=json.dumps(schema, indent=2) if schema else None,
        answer_json="true",
        messages=_conversation(saver, registry, record),
        error=error,
        approvers=record.metadata.get("approvers") or [],
        level=record.metadata.get("escalation_level", 0),
        may=may_decide(who, record.metadata.get("approvers")),
        decided=_decided(record),
        decision_json=json.dumps(plain(record.resume), indent=2)
        if record.status != "pending"
        else None,
    )


@dataclass(frozen=True, slots=True)
class InboxFilter:
    """The inbox list's filters: the agent (graph name), who asked, and "only what I may
    decide". They are applied to the store's pages of pending requests in order, so paging
    stays exact; one page scans at most `SCAN` requests."""

    agent: str = ""
    by: str = ""
    mine: bool = False
    self_ok: bool = False
    """Whether people may decide their own requests (`--allow-self-approval`)."""
    SCAN: ClassVar[int] = 2000

    def keeps(self, who: Principal, r: InterruptRecord) -> bool:
        """Whether request `r` passes the filters for `who`."""
        return (
            (not self.agent or r.metadata.get("graph") == self.agent)
            and (not self.by or r.metadata.get("requested_by") == self.by)
            and (not self.mine or _yours(who, r, self.self_ok))
        )

    def page(
        self, saver: BaseSaver, who: Principal, cursor: str | None, size: int = 50
    ) -> tuple[list[InterruptRecord], str | None]:
        """Up to about `size` matching requests from `cursor` on, and the cursor after them."""
        found: list[InterruptRecord] = []
        scanned = 0
        while True:
            listing = saver.list_interrupts(status="pending", limit=size, cursor=cursor)
            found += [r for r in listing.items if self.keeps(who, r)]
            scanned += len(listing.items)
            cursor = listing.next_cursor
            if cursor is None or len(found) >= size or scanned >= self.SCAN:
                return found, cursor

    def query(self) -> str:
        """The filters as a query string (for the next page's link)."""
        from urllib.parse import urlencode

        pairs = {"agent": self.agent, "by": self.by, "mine": "1" if self.mine else ""}
        return urlencode({k: v for k, v in pairs.items() if v})


def _yours(who: Principal, r: InterruptRecord, self_ok: bool) -> bool:
    """Whether `who` may decide `r`: its approver rule names them, and it is not their own
    request (unless self-approval is allowed)."""
    own = r.metadata.get("requested_by") == who.name and who is not ANONYMOUS
    return may_decide(who, r.metadata.get("approvers")) and (self_ok or not own)


def args_diff(before: Any, after: Any) -> list[tuple[str, str]]:
    """A line diff of two argument objects as indented JSON: `(mark, line)` pairs with mark
    `-` (removed), `+` (added) or ` ` (kept)."""
    import difflib

    def lines(value: Any) -> list[str]:
        return json.dumps(plain(value), indent=2, sort_keys=True).splitlines()

    return [
        (line[0], line[2:])
        for line in difflib.ndiff(lines(before), lines(after))
        if line[:1] in ("-", "+", " ")
    ]


def _decided(record: InterruptRecord) -> list[dict[str, Any]]:
    """What was decided for each tool call of a decided review (edits with their diff)."""
    actions = _actions(record.value)
    answer = record.resume
    if actions is None or record.status != "resolved" or not isinstance(answer, dict):
        return []
    decisions = answer.get("decisions")
    if not isinstance(decisions, list):
        return []
    out = []
    for action, decision in zip(actions, decisions, strict=False):
        if not isinstance(decision, dict):
            continue
        kind = str(decision.get("type", ""))
        edited = decision.get("edited_action")
        diff = None
        if kind == "edit" and isinstance(edited, dict):
            diff = args_diff(action.get("args"), edited.get("args"))
        out.append(
            {"name": action["name"], "type": kind, "message": decision.get("message"), "diff": diff}
        )
    return out


def _decision_from(form: Any, record: InterruptRecord) -> Any:
    """The decision value the form describes; ValueError with a message for the person."""
    actions = _actions(record.value)
    if form.get("form") == "actions" and actions is not None:
        decisions = []
        for i, action in enumerate(actions):
            kind = str(form.get(f"decision_{i}", ""))
            if kind not in action["allowed"]:
                raise ValueError(f"choose one of {action['allowed']} for {action['name']}")
            message = str(form.get(f"message_{i}", "")).strip()
            if kind == "edit":
                try:
                    args = json.loads(str(form.get(f"args_{i}", "")))
                except json.JSONDecodeError as exc:
                    name = action["name"]
                    raise ValueError(f"the arguments of {name} are not JSON: {exc}") from exc
                decisions.append(
                    {"type": "edit", "edited_action": {"name": action["name"], "args": args}}
                )
            elif kind in ("reject", "respond"):
                decisions.append({"type": kind, "message": message or f"{kind}ed in the inbox"})
            else:
                decisions.append({"type": kind})
        return {"decisions": decisions}
    if form.get("form") == "actions":
        raise ValueError("this request is not a review of tool calls; answer it as JSON")
    try:
        return json.loads(str(form.get("answer", "")))
    except json.JSONDecodeError as exc:
        raise ValueError(f"the answer is not JSON: {exc}") from exc


def _conversation(
    saver: BaseSaver, registry: Mapping[str, CompiledStateGraph], record: InterruptRecord
) -> list[dict[str, Any]]:
    graph = next((g for g in registry.values() if g.name == record.metadata.get("graph")), None)
    if graph is None:
        return []
    try:
        values = graph.get_state({"configurable": {"thread_id": record.thread_id}}).values
    except InterlockError:
        return []
    messages = values.get("messages") if isinstance(values, dict) else None
    if not isinstance(messages, list):
        return []
    out = []
    for m in plain(messages[-20:]):
        if isinstance(m, dict):
            calls = m.get("tool_calls")
            out.append(
                {
                    "type": m.get("type", "message"),
                    "content": m.get("content")
                    if isinstance(m.get("content"), str)
                    else json.dumps(m.get("content")),
                    "tool_calls": json.dumps(calls) if calls else None,
                }
            )
    return out


def _short(value: Any, limit: int) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _actions(value: Any) -> list[dict[str, Any]] | None:
    """An agent's tool calls under review (`action_requests` with their `review_configs`),
    or None when `value` is not that shape (then the request is answered as plain JSON)."""
    if not isinstance(value, dict) or not isinstance(value.get("action_requests"), list):
        return None
    requests = value["action_requests"]
    configs = value.get("review_configs")
    configs = configs if isinstance(configs, list) else []
    out = []
    for i, action in enumerate(requests):
        if not isinstance(action, dict) or not isinstance(action.get("name"), str):
            return None
        config = configs[i] if i < len(configs) and isinstance(configs[i], dict) else {}
        allowed = config.get("allowed_decisions")
        if not (isinstance(allowed, list) and all(isinstance(a, str) for a in allowed)):
            allowed = ["approve", "edit", "reject", "respond"]
        out.append({**action, "allowed": allowed})
    return out or None


def asked_in(record: InterruptRecord) -> str:
    """The agent that asked, and the subgraph inside it when one did ("orders / review")."""
    graph = str(record.metadata.get("graph") or "")
    sub = record.metadata.get("subgraph")
    return f"{graph} / {sub}" if sub else graph


def _summary(value: Any) -> str:
    actions = _actions(value)
    if actions is not None:
        return "Run " + ", ".join(a["name"] for a in actions) + "?"
    text = json.dumps(plain(value))
    return text if len(text) <= 120 else text[:117] + "…"


def _age(delta: Any) -> str:
    seconds = max(0, int(delta.total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"
