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
import functools
import hmac
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any, TypeGuard, cast
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from interlock.checkpoint.base import BaseSaver, InterruptRecord
from interlock.errors import InterlockError
from interlock.graph import CompiledStateGraph
from interlock.server._inbox_form import bulk_value, decision_from
from interlock.server._inbox_request import InboxFilter, args_diff, request_context
from interlock.server._inbox_view import exact, kind_of, relative, row, short, summary
from interlock.server._plain import plain
from interlock.server._sessions import COOKIE, Sessions
from interlock.server._signin import mount_signin, safe_next, signin_url
from interlock.server.auth import ANONYMOUS, ApiKeys, Principal, auth_age_problem
from interlock.server.oidc import OidcProvider

__all__ = ["args_diff", "mount_inbox"]

SESSION_SECONDS = 12 * 3600
BULK_MAX = 100
"""The most requests one bulk decision takes."""
DONE = {"approve": "approved", "reject": "rejected"}
STATIC = {"inbox.js": "text/javascript", "inbox.css": "text/css"}
"""The files under ui/static/ the inbox serves, with their media types."""


def _templates() -> Any:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("interlock.server", "ui/templates"),
        autoescape=select_autoescape(["html"]),
    )
    env.filters["segment"] = lambda text: quote(str(text), safe="").replace(".", "%2E")
    env.filters["ago"] = _ago
    return env


def _static(name: str) -> str:
    from importlib.resources import files

    return files("interlock.server").joinpath("ui", "static", name).read_text("utf-8")


def _ago(at: datetime | None) -> Any:
    """`at` as a `<time>` element: "4 min ago", the exact time on hover (the page's script
    keeps the words current)."""
    from markupsafe import Markup, escape

    if at is None:
        return ""
    now = datetime.now(UTC)
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        escape(at.isoformat()), escape(exact(at)), escape(relative(at, now))
    )


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
    from interlock.server._operations import decide_request, quorum_view, votes_of
    from interlock.server.grants import GrantTerms, decide_with_grants

    def quorum_of_record(record: InterruptRecord) -> dict[str, Any] | None:
        """A quorum request's votes as `approval_view` shows them (None without one)."""
        return quorum_view(record, votes_of(saver, record))

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
            "list.html",
            status,
            who=who,
            csrf=csrf,
            items=[],
            next_cursor=None,
            notice=text,
            refused=status >= 400,
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
            row(r, who, now, self_ok=allow_self_approval, quorum=quorum_of_record(r)) for r in found
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

        def waiting() -> tuple[tuple[str, Any, int], ...]:
            page = saver.list_interrupts(status="pending", limit=500)
            # an escalation changes who decides, a vote of a quorum what it still needs: the
            # pages show both, so they update on them
            return tuple(
                (r.interrupt_id, r.metadata.get("escalation_level"), len(votes_of(saver, r) or ()))
                for r in page.items
            )

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
                "at": e.at,
                "actor": e.actor,
                "action": e.action,
                "thread_id": e.thread_id,
                "detail": short(plain(e.detail), 400),
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
                "summary": " · ".join(t for t in summary(r.value) if t),
                "status": r.status,
                "created_at": r.created_at,
                "requested_by": r.metadata.get("requested_by"),
                "decided_by": r.decided_by,
                "decision": None if r.status == "pending" else short(plain(r.resume), 160),
            }
            for r in asked
        ]
        events = [
            {
                "when": c.created_at,
                "what": f"step {c.step} ({c.source})"
                + (f" → {', '.join(c.next)}" if c.next else " — finished"),
                "who": None,
            }
            for c in saver.list_checkpoints(thread_id, limit=100)
        ] + [
            {
                "when": e.at,
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

    @app.get("/inbox/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        """The inbox's hand-written script and style sheet (no sign-in needed: no data)."""
        if name not in STATIC:
            return Response("not found", status_code=404, media_type="text/plain")
        return Response(
            _static(name), media_type=STATIC[name], headers={"Cache-Control": "no-cache"}
        )

    @app.post("/inbox/bulk", include_in_schema=False)
    async def bulk(request: Request) -> Response:
        """Approve or reject several requests of one kind: each is decided on its own through
        the same code as a single decision (exactly once, audited one by one), and the list
        shows what became of each."""
        gated = gate(request, "/inbox")
        if isinstance(gated, Response):
            return gated
        who, csrf = gated
        form = await request.form()
        if not hmac.compare_digest(str(form.get("csrf", "")), csrf):
            return notice(403, who, csrf, "The form expired; select the requests again.")
        decision = str(form.get("decision", ""))
        message = str(form.get("message", "")).strip()
        ids = list(dict.fromkeys(str(i) for i in form.getlist("id")))[:BULK_MAX]
        if decision not in ("approve", "reject") or not ids:
            return notice(422, who, csrf, "Choose requests, then Approve or Reject.")
        if decision == "reject" and not message:
            return notice(422, who, csrf, "Say why you reject them: the agent reads it.")
        records = [saver.get_interrupt(i) if i.isprintable() else None for i in ids]
        kinds = {kind_of(r.value) for r in records if r is not None}
        if len(kinds) > 1:
            return notice(422, who, csrf, "Select requests of one kind to decide them together.")
        from starlette.concurrency import run_in_threadpool

        results = []
        for iid, record in zip(ids, records, strict=True):
            outcome: dict[str, Any] = {"id": iid, "ok": False, "action": iid, "args": ""}
            if record is None:
                results.append({**outcome, "text": "no such request"})
                continue
            outcome["action"], outcome["args"] = summary(record.value)
            try:
                value = bulk_value(record, decision, message)
                await run_in_threadpool(
                    decide_request,
                    saver,
                    registry,
                    iid,
                    value,
                    who,
                    allow_self_approval=allow_self_approval,
                )
            except ValueError as exc:
                outcome["text"] = str(exc)
            except ApiError as exc:
                outcome["text"] = exc.message
            except InterlockError as exc:
                outcome["text"] = str(exc)
            else:
                outcome.update(ok=True, text=DONE[decision])
            results.append(outcome)
        failed = sum(not r["ok"] for r in results)
        filters = InboxFilter(self_ok=allow_self_approval)
        found, next_cursor = filters.page(saver, who, None)
        now = datetime.now(UTC)
        return page(
            "list.html",
            who=who,
            csrf=csrf,
            items=[
                row(r, who, now, self_ok=allow_self_approval, quorum=quorum_of_record(r))
                for r in found
            ],
            next_cursor=next_cursor,
            notice=f"{len(results) - failed} of {len(results)} {DONE[decision]}."
            + (" The others are marked below." if failed else ""),
            results=results,
            filters=filters,
            agents=sorted(g.name for g in registry.values()),
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
            value = decision_from(form, record)
        except ValueError as exc:
            return _detail(page, saver, registry, record, who, csrf, error=str(exc), status=422)
        from starlette.concurrency import run_in_threadpool

        decide = functools.partial(
            decide_request,
            saver,
            registry,
            interrupt_id,
            value,
            who,
            allow_self_approval=allow_self_approval,
        )
        # "and allow the same call for 1 hour": a standing grant made with the decision
        terms = GrantTerms(expires_in=3600, uses=None, match=None) if form.get("grant") else None
        try:
            await run_in_threadpool(decide_with_grants, decide, saver, value, terms, who)
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
    context = request_context(saver, registry, record, who, datetime.now(UTC))
    return page("request.html", status, who=who, csrf=csrf, error=error, **context)
