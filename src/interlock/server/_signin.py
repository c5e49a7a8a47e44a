"""The inbox's sign-in with the OpenID provider: authorization code with PKCE.

    GET /inbox/login/oidc?next=/inbox/…[&max_age=N]   start: note state, nonce and PKCE
                                                       verifier in a signed cookie, go to
                                                       the provider (`max_age`: a step-up,
                                                       the provider must ask again)
    GET /inbox/auth/callback?code=…&state=…           back from the provider: check the
                                                       state, trade the code, check the ID
                                                       token, open the session, return to
                                                       `next`

The redirect URL is `<public_url>/inbox/auth/callback` (the request's own base URL when no
public URL is configured).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from interlock.server._sessions import COOKIE, SIGNIN_COOKIE, Sessions
from interlock.server._tokens import TokenRejected
from interlock.server.oidc import OidcProvider, OidcUnavailable

__all__ = ["mount_signin", "safe_next", "signin_url"]

MAX_COOKIE = 3800
"""The largest session cookie sent (browsers keep cookies up to about 4 KB)."""

SIGNIN_SECONDS = 600
"""How long a person may take at the provider before the sign-in must start again."""


def safe_next(value: str | None) -> str:
    """A place inside the inbox to return to (anything else: the inbox itself), so a link
    cannot send a person elsewhere after they sign in."""
    if value and value.startswith("/inbox") and not value.startswith("//") and "\\" not in value:
        return value
    return "/inbox"


def signin_url(next_path: str, max_age: int | None = None) -> str:
    """The inbox's own URL that starts a sign-in returning to `next_path`."""
    query = {"next": safe_next(next_path)}
    if max_age is not None:
        query["max_age"] = str(max_age)
    return "/inbox/login/oidc?" + urlencode(query)


def mount_signin(
    app: FastAPI,
    *,
    provider: OidcProvider,
    sessions: Sessions,
    failed: Callable[[int, str], HTMLResponse],
) -> None:
    """Add the sign-in routes; `failed(status, message)` renders a refused sign-in."""
    public = (provider.config.public_url or "").rstrip("/")

    def redirect_uri(request: Request) -> str:
        base = public or str(request.base_url).rstrip("/")
        return f"{base}/inbox/auth/callback"

    def secure(request: Request) -> bool:
        return (public or str(request.base_url)).startswith("https://")

    @app.get("/inbox/login/oidc", include_in_schema=False)
    def start(request: Request, next: str = "/inbox", max_age: int | None = None) -> Response:
        if max_age is not None and max_age < 0:
            max_age = 0
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)
        note = {
            "state": state,
            "nonce": nonce,
            "verifier": verifier,
            "next": safe_next(next),
            "max_age": max_age,
        }
        url = provider.authorization_url(
            redirect_uri(request),
            state=state,
            nonce=nonce,
            code_verifier=verifier,
            max_age=max_age,
        )
        response = RedirectResponse(url, status_code=303)
        response.set_cookie(
            SIGNIN_COOKIE,
            sessions.seal(note, SIGNIN_SECONDS),
            max_age=SIGNIN_SECONDS,
            path="/inbox/auth",
            httponly=True,
            samesite="lax",  # sent on the provider's (cross-site) redirect back
            secure=secure(request),
        )
        return response

    @app.get("/inbox/auth/callback", include_in_schema=False)
    def callback(
        request: Request,
        code: str | None = None,
        state: str | None = None,
        error: str | None = None,
        error_description: str | None = None,
    ) -> Response:
        note: dict[str, Any] | None = sessions.open(request.cookies.get(SIGNIN_COOKIE))
        if note is None:
            return failed(400, "The sign-in took too long or was started elsewhere; sign in again.")
        if error:
            return failed(
                401, f"The identity provider refused the sign-in: {error_description or error}."
            )
        if not code or not state or not secrets.compare_digest(state, str(note.get("state"))):
            return failed(400, "The sign-in's state does not match; sign in again.")
        max_age = note.get("max_age")
        try:
            who = provider.exchange(
                redirect_uri(request),
                code=code,
                code_verifier=str(note["verifier"]),
                nonce=str(note["nonce"]),
                max_age=max_age if isinstance(max_age, int) else None,
            )
        except TokenRejected as exc:
            return failed(401, f"The sign-in was refused: {exc}")
        except OidcUnavailable as exc:
            return failed(503, f"The identity provider cannot be reached: {exc}")
        session = sessions.issue(who)
        if len(session) > MAX_COOKIE:  # a browser would drop it and sign-in would loop
            return failed(
                431,
                f"Your identity provider sent {len(who.groups)} groups, more than a session "
                "can hold: filter them at the provider, or keep only those that matter "
                "(--oidc-groups-claim '' with --oidc-claim-map naming them).",
            )
        response = RedirectResponse(safe_next(str(note.get("next"))), status_code=303)
        response.delete_cookie(SIGNIN_COOKIE, path="/inbox/auth")
        response.set_cookie(
            COOKIE,
            session,
            max_age=sessions.seconds,
            httponly=True,
            samesite="lax",
            secure=secure(request),
        )
        return response
